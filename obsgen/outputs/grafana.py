"""Grafana file provisioning: the Prometheus datasource and a dashboards provider, one folder per team.

Grafana reads ``grafana/provisioning/`` from ``/etc/grafana/provisioning``. The provider uses
``foldersFromFilesStructure``: each subfolder of ``grafana/dashboards/`` becomes a Grafana folder,
so the layout on disk is the folder layout in Grafana.
"""

from __future__ import annotations


from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs.common import FORMAT_FOLDERS, Generated, dashboards, render_yaml

FOLDER = FORMAT_FOLDERS["grafana"]
DATASOURCES_FILE = f"{FOLDER}/provisioning/datasources/obsgen.yaml"
PROVIDERS_FILE = f"{FOLDER}/provisioning/dashboards/obsgen.yaml"
DASHBOARDS_FOLDER = f"{FOLDER}/dashboards"


def datasource_uids(catalog: Catalog) -> list[str]:
    """Return every datasource uid that the catalog's dashboards reference, the default first."""
    uids = [catalog.defaults.datasource]
    for settings in [service.settings for service in catalog.services] + [catalog.fleet.settings]:
        if settings.datasource not in uids:
            uids.append(settings.datasource)
    return uids


def datasources(catalog: Catalog) -> dict[str, object]:
    """Return the datasource provisioning document.

    Only the default uid is provisioned: a service that overrides ``datasource`` names a
    Prometheus that obsgen knows nothing about, and the build warns about it.
    """
    grafana = output_of(catalog).grafana
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": grafana.datasource_name,
            "uid": catalog.defaults.datasource,
            "type": "prometheus",
            "access": "proxy",
            "url": grafana.prometheus_url,
            # Not the default: a second default datasource in one organisation fails provisioning.
            "isDefault": False,
            "editable": False,
            "jsonData": {"timeInterval": "30s"},
        }],
    }


def providers(catalog: Catalog) -> dict[str, object]:
    """Return the dashboards provider document."""
    grafana = output_of(catalog).grafana
    return {
        "apiVersion": 1,
        "providers": [{
            "name": f"obsgen-{catalog.name}",
            "orgId": 1,
            "type": "file",
            # Generated dashboards are changed in the catalog, not in the Grafana UI.
            "allowUiUpdates": False,
            "disableDeletion": True,
            "updateIntervalSeconds": 60,
            "options": {"path": grafana.dashboards_path, "foldersFromFilesStructure": True},
        }],
    }


def files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return the provisioning files and a copy of each generated dashboard in its team's folder."""
    output = {
        DATASOURCES_FILE: render_yaml(datasources(catalog), catalog),
        PROVIDERS_FILE: render_yaml(providers(catalog), catalog),
    }
    for dashboard in dashboards(catalog, generated, output_of(catalog).grafana.shared_folder):
        path = f"{DASHBOARDS_FOLDER}/{dashboard.folder}/{dashboard.key}"
        if path in output:
            raise RuntimeError(f"two dashboards map to {path}")
        output[path] = dashboard.content
    return output
