"""GitOps outputs: files that Grafana, prometheus-operator, Alertmanager, jsonnet-bundler and the
Thanos and Mimir rulers read as they are.

Each module's ``files(catalog, generated)`` is pure: it reads the catalog and the files the base
generators (rules, dashboards) produced, and returns new files keyed by path.
"""
