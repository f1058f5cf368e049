// expect: <catalog>: jsonnet evaluation failed: STATIC ERROR
{
  apiVersion: 'obsgen/v1',
  teams: [,],  //<
}
