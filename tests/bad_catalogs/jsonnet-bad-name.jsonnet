// expect: services[0].name: invalid name
{
  apiVersion: 'obsgen/v1',
  teams: [{ name: 'web', receiver: 'x' }],
  services: [{ name: '../etc', team: 'web', selector: { namespace: 'a' } }],
}
