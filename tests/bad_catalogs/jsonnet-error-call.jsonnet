// expect: <catalog>: jsonnet evaluation failed: RUNTIME ERROR: no teams yet
{
  apiVersion: 'obsgen/v1',
  teams: error 'no teams yet',  //<
}
