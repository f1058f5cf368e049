// expect: <catalog>: jsonnet evaluation failed: RUNTIME ERROR: every service needs a team
{
  assert std.length(self.services) == 0 : 'every service needs a team',  //<
  apiVersion: 'obsgen/v1',
  services: [1],
}
