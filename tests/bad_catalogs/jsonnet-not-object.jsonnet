// expect: <catalog>: expected a mapping
[1, 2, 3]
