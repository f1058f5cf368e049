"""What the end-to-end test records: guest events and the alerts in webhook notifications."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.stack import Notification


@dataclass(frozen=True)
class Event:
    """A guest event (started, oom_kill, exited, ...) with the host time it was read."""

    name: str
    host_time: float
    fields: dict[str, Any]


@dataclass(frozen=True)
class Alert:
    """One alert in one webhook notification."""

    received: float
    receiver: str
    status: str
    name: str
    labels: dict[str, str]
    starts_at: float


class EventReader:
    """Reads the guest's events file as it grows and stamps each new line with the host time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[Event]:
        if not self.path.exists():
            return []
        with open(self.path) as handle:
            handle.seek(self.offset)
            text = handle.read()
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        now = time.time()
        events = []
        for line in complete.splitlines():
            record = json.loads(line)
            events.append(Event(record.pop("event"), now, record))
        return events


def alerts_of(notifications: list[Notification]) -> list[Alert]:
    """Flatten webhook notifications into one Alert per alert they carry."""
    alerts = []
    for notification in notifications:
        for alert in notification.payload.get("alerts", []):
            starts = alert.get("startsAt", "")
            alerts.append(Alert(notification.received, notification.receiver, alert.get("status", ""),
                                alert.get("labels", {}).get("alertname", ""), dict(alert.get("labels", {})),
                                parse_time(starts)))
    return alerts


def parse_time(text: str) -> float:
    """Parse Alertmanager's RFC 3339 time (nanosecond fraction allowed) into Unix seconds."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        return float("nan")
    zone = "+00:00" if match[3] == "Z" else match[3]
    whole = datetime.fromisoformat(match[1] + zone).timestamp()
    return whole + float("0" + match[2]) if match[2] else whole
