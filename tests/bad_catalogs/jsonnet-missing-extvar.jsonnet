// expect: <catalog>: jsonnet evaluation failed: RUNTIME ERROR: undefined external variable
{
  apiVersion: std.extVar('version'),  //<
}
