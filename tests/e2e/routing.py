"""The Alertmanager configuration of the end-to-end test: the one ``obsgen build`` generated.

The catalog gives every receiver a webhook with a placeholder URL. The test replaces only those
URLs, so that each receiver posts to the webhook sink under its own name. Routes, grouping and
timings stay as generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

GENERATED = Path("alertmanager") / "alertmanager.yml"


def fill_receivers(config: dict[str, Any], sink_url: str) -> dict[str, Any]:
    """Point every webhook of every receiver at ``sink_url/<receiver name>``; nothing else changes.

    Raises ValueError naming a receiver without a webhook, which the test could not observe.
    """
    for receiver in config.get("receivers", []):
        webhooks = receiver.get("webhook_configs")
        if not webhooks:
            raise ValueError(f"receiver {receiver['name']} has no webhook; give it one in the test catalog "
                             "(output.alertmanager.receivers)")
        for webhook in webhooks:
            webhook["url"] = f"{sink_url}/{receiver['name']}"
    return config


def alertmanager_config(build_dir: Path, sink_url: str) -> str:
    """Return the generated configuration with its webhook URLs pointed at the sink.

    Raises FileNotFoundError when the build wrote no Alertmanager configuration.
    """
    generated = build_dir / GENERATED
    if not generated.is_file():
        raise FileNotFoundError(f"obsgen build wrote no {GENERATED}; list alertmanager under "
                                "output.formats in the test catalog")
    return yaml.safe_dump(fill_receivers(yaml.safe_load(generated.read_text()), sink_url), sort_keys=False)
