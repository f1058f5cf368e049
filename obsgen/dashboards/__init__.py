"""Grafana dashboards built with grafanalib from the catalog and the recording-rule contract."""

from obsgen.dashboards.build import dashboard_files

__all__ = ["dashboard_files"]
