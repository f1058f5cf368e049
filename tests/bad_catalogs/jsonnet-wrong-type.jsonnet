// expect: teams: expected a list
{ apiVersion: 'obsgen/v1', teams: 'web' }
