// expect: <catalog>: the jsonnet catalog is nested deeper than
local nest(n) = if n == 0 then [] else [nest(n - 1)];
{ apiVersion: 'obsgen/v1', teams: nest(100) }
