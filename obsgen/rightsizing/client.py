"""A minimal client of the Prometheus HTTP API (``/api/v1/query`` and ``/api/v1/query_range``).

Standard library only. Queries go as POST forms, because right-sizing queries can be longer
than some proxies accept in a URL.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

#: Prometheus rejects range queries of more than 11,000 points per series; stay below that.
MAX_POINTS = 10_000


class PrometheusError(Exception):
    """Prometheus could not be reached or rejected a query."""


Series = dict[str, Any]


class Prometheus:
    """A Prometheus server at ``url`` (such as ``http://127.0.0.1:9090``)."""

    def __init__(self, url: str, timeout_s: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _post(self, path: str, form: dict[str, str]) -> Any:
        data = urllib.parse.urlencode(form).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise PrometheusError(f"{self.url}{path} failed: HTTP {error.code}: {_api_error(error)}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError as error:
            raise PrometheusError(f"{self.url}{path} returned invalid JSON: {error}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{self.url}{path} failed: {body.get('error', body)}")
        return body["data"]

    def instant(self, query: str, time: float) -> list[Series]:
        """Return the instant vector of ``query`` at ``time`` (Unix seconds)."""
        data = self._post("/api/v1/query", {"query": query, "time": _stamp(time)})
        if data.get("resultType") != "vector":
            raise PrometheusError(f"expected an instant vector from {query!r}, got {data.get('resultType')}")
        return data["result"]

    def range(self, query: str, start: float, end: float, step_s: int) -> list[Series]:
        """Return the range result of ``query`` from ``start`` to ``end``, in one request.

        Raise PrometheusError when it would exceed ``MAX_POINTS`` per series; ``range_chunks``
        splits longer ranges.
        """
        if (end - start) / step_s + 1 > MAX_POINTS:
            raise PrometheusError(f"range of {(end - start) / step_s:.0f} steps exceeds {MAX_POINTS}")
        data = self._post("/api/v1/query_range", {"query": query, "start": _stamp(start), "end": _stamp(end),
                                                  "step": str(step_s)})
        return data["result"]


def range_chunks(start: float, end: float, step_s: int, chunk_s: int) -> list[tuple[float, float]]:
    """Split the steps ``start, start + step, ... <= end`` into ranges of at most ``chunk_s`` that share no step."""
    per_chunk = max(1, min(MAX_POINTS, chunk_s // step_s))
    count = int(math.floor((end - start) / step_s)) + 1
    chunks = []
    for first in range(0, count, per_chunk):
        last = min(first + per_chunk, count) - 1
        chunks.append((start + first * step_s, start + last * step_s))
    return chunks


def _stamp(time: float) -> str:
    return f"{time:.3f}"


def _api_error(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read().decode("utf-8"))
        return str(body.get("error", body))
    except ValueError:
        return str(error.reason)
