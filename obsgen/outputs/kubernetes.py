"""Kubernetes objects: rules as prometheus-operator PrometheusRule objects, dashboards as ConfigMaps
for the Grafana sidecar, and a kustomization that lists them all.

prometheus-operator (and kube-prometheus-stack) loads a PrometheusRule only when its labels match
the Prometheus object's ``ruleSelector``; with ``release: <helm release>`` as the chart's default,
objects without that label are ignored without any error. ``output.kubernetes.rule_labels`` sets it.
"""

from __future__ import annotations


from obsgen.catalog.model import Catalog
from obsgen.catalog.validation import output_of
from obsgen.outputs.common import FORMAT_FOLDERS, Generated, dashboards, managed_labels, render_yaml

FOLDER = FORMAT_FOLDERS["kubernetes"]
KUSTOMIZATION_FILE = f"{FOLDER}/kustomization.yaml"
#: The API server rejects a ConfigMap whose data exceeds 1 MiB (bytes).
MAX_CONFIGMAP_BYTES = 1024 * 1024


def object_name(prefix: str, relative_path: str, suffix: str) -> str:
    """Return an object name from a file path, such as ``obsgen-services-frontend`` for
    ``services/frontend.rules.yaml`` with the prefix ``obsgen-``.

    Names are lowercase letters, digits and ``-``, which is valid for both kinds as long as the
    generated file names come from catalog names (DNS labels).
    """
    stem = relative_path[:-len(suffix)] if relative_path.endswith(suffix) else relative_path
    stem = stem.removeprefix("obsgen-")
    return prefix + stem.replace("/", "-").replace(".", "-").replace("_", "-").lower()


def prometheus_rule(catalog: Catalog, name: str, groups: list[dict[str, object]]) -> dict[str, object]:
    """Return one PrometheusRule object (monitoring.coreos.com/v1)."""
    settings = output_of(catalog).kubernetes
    labels = {**managed_labels(catalog), **dict(settings.rule_labels)}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        "spec": {"groups": groups},
    }


def dashboard_configmap(catalog: Catalog, name: str, key: str, folder: str, content: bytes) -> dict[str, object]:
    """Return a ConfigMap holding one dashboard under ``key``, labelled for the Grafana sidecar."""
    settings = output_of(catalog).kubernetes
    if len(content) > MAX_CONFIGMAP_BYTES:
        raise RuntimeError(f"dashboard {key} is {len(content)} bytes, over the ConfigMap limit of "
                           f"{MAX_CONFIGMAP_BYTES} bytes")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": {**managed_labels(catalog), **dict(settings.dashboard_labels)},
            "annotations": {settings.folder_annotation: folder},
        },
        "data": {key: content.decode("utf-8")},
    }


def files(catalog: Catalog, generated: Generated) -> dict[str, bytes]:
    """Return one file per PrometheusRule and per dashboard ConfigMap, and the kustomization."""
    output: dict[str, bytes] = {}
    for rule_file in generated.rule_files:
        name = object_name("obsgen-", rule_file.name, ".rules.yaml")
        path = f"{FOLDER}/prometheus-rules/{name}.yaml"
        output[path] = render_yaml(prometheus_rule(catalog, name, rule_file.groups), catalog)
    for dashboard in dashboards(catalog, generated, output_of(catalog).grafana.shared_folder):
        name = object_name("obsgen-dashboard-", dashboard.key, ".json")
        path = f"{FOLDER}/dashboards/{name}.yaml"
        configmap = dashboard_configmap(catalog, name, dashboard.key, dashboard.folder, dashboard.content)
        output[path] = render_yaml(configmap, catalog)
    # NOTE: client-side `kubectl apply` stores the whole object in an annotation limited to
    # 256 KiB, which a large dashboard exceeds. Apply with --server-side (Flux does; Argo CD needs
    # the ServerSideApply=true sync option).
    resources = sorted(path[len(FOLDER) + 1:] for path in output)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": resources}
    output[KUSTOMIZATION_FILE] = render_yaml(kustomization, catalog)
    return output
