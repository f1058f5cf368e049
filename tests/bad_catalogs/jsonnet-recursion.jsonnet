// expect: <catalog>: jsonnet evaluation failed: RUNTIME ERROR: max stack frames exceeded
local grow(n) = grow(n + 1) + 1;  //<
{ apiVersion: grow(0) }
