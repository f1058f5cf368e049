"""cgroup v2 memory exporter for Prometheus.

Imports only the standard library and prometheus_client, so the exporter's
container image carries nothing of the obsgen generator.
"""
