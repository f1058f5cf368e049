// The Online Boutique catalog computed with jsonnet: it builds the same output as obsgen.yaml.
// Build it with:  obsgen build examples/online-boutique/obsgen.jsonnet --ext-str namespace=default
//
// The table below lists each service once; the function turns a row into a catalog entry, so a
// new service is one line, and the namespace comes from the command line.
local namespace = std.extVar('namespace');

// [name, team, description, container, request, limit, runtime or null]
local services = [
  ['frontend', 'storefront', 'Serves the web site; Go.', 'server', '64Mi', '128Mi', 'go'],
  ['adservice', 'storefront', 'Text ads for the pages; Java.', 'server', '180Mi', '300Mi', 'jvm'],
  ['recommendationservice', 'storefront', 'Recommends products from the cart; Python.', 'server', '220Mi', '450Mi', 'python'],
  ['cartservice', 'checkout', 'Stores the shopping cart in Redis; C#.', 'server', '64Mi', '128Mi', null],
  ['redis-cart', 'checkout', 'Redis holding the carts.', 'redis', '200Mi', '256Mi', null],
  ['checkoutservice', 'checkout', 'Places orders; Go.', 'server', '64Mi', '128Mi', 'go'],
  ['paymentservice', 'checkout', 'Charges the card (mock); Node.js.', 'server', '64Mi', '128Mi', 'node'],
  ['shippingservice', 'checkout', 'Quotes and ships orders (mock); Go.', 'server', '64Mi', '128Mi', 'go'],
  ['emailservice', 'checkout', 'Sends order confirmations (mock); Python.', 'server', '64Mi', '128Mi', 'python'],
  ['currencyservice', 'catalog', 'Converts currencies; Node.js.', 'server', '64Mi', '128Mi', 'node'],
  ['productcatalogservice', 'catalog', 'Lists products from a JSON file; Go.', 'server', '64Mi', '128Mi', 'go'],
  ['loadgenerator', 'platform', 'Sends simulated user traffic; Python (Locust).', 'main', '256Mi', '512Mi', 'python'],
];

// Per-service overrides, with the same reasons as in obsgen.yaml.
local overrides = {
  adservice: { near_limit: { warning: 0.97 } },
  'redis-cart': { leak: { horizon: '24h' } },
  loadgenerator: { oom: { severity: 'warning' } },
};

local service(row) = {
  name: row[0],
  team: row[1],
  description: row[2],
  selector: { namespace: namespace, workload: row[0], container: row[3] },
  memory: { request: row[4], limit: row[5] },
} + (if row[6] != null then { runtime: row[6] } else {})
  + (if std.objectHas(overrides, row[0]) then { overrides: overrides[row[0]] } else {});

local teams = ['storefront', 'checkout', 'catalog', 'platform'];

{
  apiVersion: 'obsgen/v1',
  name: 'online-boutique',
  defaults: {
    sources: ['kubernetes'],
    datasource: 'prometheus',
    runbook_url: 'https://github.com/obsgen/obsgen/blob/main/docs/alerts.md#{alert_lower}',
    labels: { app_suite: 'online-boutique' },
  },
  teams: [{ name: team, receiver: team + '-pager' } for team in teams],
  services: [service(row) for row in services],
  fleet: { team: 'platform' },
  output: {
    formats: ['rules', 'dashboards', 'grafana', 'kubernetes', 'alertmanager', 'mixin', 'thanos', 'mimir'],
    kubernetes: { namespace: 'monitoring', rule_labels: { release: 'kube-prometheus-stack' } },
    alertmanager: {
      receivers: [
        { name: 'storefront-pager',
          slack: { api_url_file: '/etc/alertmanager/secrets/storefront-slack-url', channel: '#storefront-alerts' } },
        { name: 'checkout-pager',
          pagerduty: { routing_key_file: '/etc/alertmanager/secrets/checkout-pagerduty-key' } },
        { name: 'catalog-pager',
          email: {
            to: 'catalog-oncall@example.com',
            from: 'alertmanager@example.com',
            smarthost: 'smtp.example.com:587',
            auth_username: 'alertmanager@example.com',
            auth_password_file: '/etc/alertmanager/secrets/smtp-password',
          } },
        { name: 'platform-pager' },
      ],
    },
  },
}
