"""What the output formats share: where each writes, and how they read the generated rules and dashboards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from obsgen.catalog.model import Catalog
from obsgen.writers.rules_yaml import dump_yaml
from obsgen.writers.header import header

#: The top-level folder of each output format. A file in a folder not listed here is always written.
FORMAT_FOLDERS = {
    "rules": "alerts",
    "dashboards": "dashboards",
    "grafana": "grafana",
    "kubernetes": "kubernetes",
    "alertmanager": "alertmanager",
    "mixin": "mixin",
    "thanos": "thanos",
    "mimir": "mimir",
}

RULES_FOLDER = FORMAT_FOLDERS["rules"] + "/"
DASHBOARDS_FOLDER = FORMAT_FOLDERS["dashboards"] + "/"
SERVICE_DASHBOARDS_FOLDER = DASHBOARDS_FOLDER + "services/"


@dataclass(frozen=True)
class RuleFileData:
    """A generated rule file, parsed: its path relative to ``alerts/`` and its groups."""

    name: str
    groups: list[dict[str, Any]]


@dataclass(frozen=True)
class Dashboard:
    """A generated dashboard: a key unique among dashboards, its Grafana folder and its JSON bytes."""

    key: str
    folder: str
    content: bytes


@dataclass(frozen=True)
class Generated:
    """The files a build generated before packaging, and its rule files as values.

    ``rule_files`` contains the groups that the files under ``alerts/`` were rendered from, in path
    order, so that packagers need not parse YAML again. Packagers must not change them.
    """

    files: Mapping[str, bytes]
    rule_files: tuple[RuleFileData, ...]

    @classmethod
    def parse(cls, files: Mapping[str, bytes]) -> Generated:
        """Return the Generated of ``files`` with each rule file parsed from its YAML."""
        return cls(files, tuple(rule_files(files)))


def select(files: Mapping[str, bytes], formats: tuple[str, ...]) -> dict[str, bytes]:
    """Keep the files of the chosen formats, and every file in a folder that no format owns."""
    owned = {folder: name for name, folder in FORMAT_FOLDERS.items()}
    kept = {}
    for path, content in files.items():
        format_name = owned.get(path.split("/", 1)[0])
        if format_name is None or format_name in formats:
            kept[path] = content
    return kept


#: libyaml's loader where PyYAML has it: packagers re-read every rule file, and the pure-Python
#: parser made that most of a build's time.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def rule_files(generated: Mapping[str, bytes]) -> list[RuleFileData]:
    """Parse every generated rule file, in path order."""
    parsed = []
    for path in sorted(generated):
        if path.startswith(RULES_FOLDER) and path.endswith((".yaml", ".yml")):
            document = yaml.load(generated[path], Loader=_LOADER) or {}
            parsed.append(RuleFileData(path[len(RULES_FOLDER):], list(document.get("groups") or [])))
    return parsed


def dashboards(catalog: Catalog, generated: Generated, shared_folder: str) -> list[Dashboard]:
    """Return the generated dashboards with their folders: a service's team, else ``shared_folder``.

    The key is the path under ``dashboards/`` with ``/`` replaced by ``-``, such as
    ``services-frontend.json``; ConfigMap keys and mixin dashboard names cannot contain ``/``.
    """
    teams = {service.name: service.team for service in catalog.services}
    found = []
    for path in sorted(generated.files):
        if not (path.startswith(DASHBOARDS_FOLDER) and path.endswith(".json")):
            continue
        folder = shared_folder
        if path.startswith(SERVICE_DASHBOARDS_FOLDER):
            service = path[len(SERVICE_DASHBOARDS_FOLDER):-len(".json")]
            folder = teams.get(service, shared_folder)
        key = path[len(DASHBOARDS_FOLDER):].replace("/", "-")
        found.append(Dashboard(key, folder, generated.files[path]))
    return found


def render_yaml(data: object, catalog: Catalog) -> bytes:
    """Return ``data`` as a YAML document with the generated-file header."""
    return (header("#", catalog.name) + dump_yaml(data)).encode("utf-8")


def managed_labels(catalog: Catalog) -> dict[str, str]:
    """Return the recommended Kubernetes labels that mark an object as obsgen's."""
    return {"app.kubernetes.io/managed-by": "obsgen", "app.kubernetes.io/part-of": catalog.name}
