// expect: <catalog>: jsonnet evaluation timed out
// env: OBSGEN_JSONNET_TIMEOUT=2
local spin(n) = if n == 0 then 0 else spin(n - 1) tailstrict;
{ apiVersion: spin(1e15) }
