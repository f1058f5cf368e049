"""The Alertmanager configuration of the end-to-end test: one route per catalog team.

When ``obsgen build`` wrote an Alertmanager configuration (``alertmanager/alertmanager.yml``),
the test uses it and only points each receiver at the webhook sink. Otherwise it writes a
minimal configuration from the catalog's teams: a route per team to the team's receiver, and a
catch-all receiver that records anything no team claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from obsgen.catalog.model import Catalog

GENERATED = Path("alertmanager") / "alertmanager.yml"
UNROUTED = "obsgen-unrouted"
#: Labels that make one notification group: one group per alert and container, so that every
#: container's alert is delivered on its own.
GROUP_BY = ["alertname", "namespace", "pod", "container"]


def webhook(sink_url: str, receiver: str) -> dict[str, Any]:
    """Return the webhook integration that delivers ``receiver``'s notifications to the sink."""
    return {"url": f"{sink_url}/{receiver}", "send_resolved": True}


def minimal_config(catalog: Catalog, sink_url: str) -> dict[str, Any]:
    """Return a route-per-team configuration with the short timings a test needs.

    A group_wait of 1 s delivers a new alert almost at once. A group_interval of 5 s delivers
    changes to a group, such as a resolved alert, soon after.
    """
    receivers = sorted({team.receiver for team in catalog.teams} | {UNROUTED})
    return {
        "route": {
            "receiver": UNROUTED,
            "group_by": GROUP_BY,
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
            "routes": [{"receiver": team.receiver, "matchers": [f'team="{team.name}"']} for team in catalog.teams],
        },
        "receivers": [{"name": name, "webhook_configs": [webhook(sink_url, name)]} for name in receivers],
    }


def fill_receivers(config: dict[str, Any], sink_url: str) -> dict[str, Any]:
    """Point every receiver of a generated configuration at the sink; nothing else changes."""
    for receiver in config.get("receivers", []):
        for key in [key for key in receiver if key.endswith("_configs")]:
            del receiver[key]
        receiver["webhook_configs"] = [webhook(sink_url, receiver["name"])]
    return config


def alertmanager_config(build_dir: Path, catalog: Catalog, sink_url: str) -> tuple[str, bool]:
    """Return (configuration text, whether it is the one ``obsgen build`` generated)."""
    generated = build_dir / GENERATED
    if generated.is_file():
        config = fill_receivers(yaml.safe_load(generated.read_text()), sink_url)
        return yaml.safe_dump(config, sort_keys=False), True
    # NOTE: obsgen build writes no Alertmanager configuration yet. Once it does, the branch above
    # takes over, and the catalog must then scale the route's group_wait and group_interval down
    # like its other windows, or the second OOM alert of a group arrives minutes late.
    return yaml.safe_dump(minimal_config(catalog, sink_url), sort_keys=False), False
