// expect: <catalog>: jsonnet evaluation failed
local teams = import 'no-such-file.libsonnet';  //<
{ apiVersion: 'obsgen/v1', teams: teams }
