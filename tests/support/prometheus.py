"""A real Prometheus for tests: backfill data and recorded series, start the server, query it.

Uses Debian's ``/usr/bin/prometheus`` and ``/usr/bin/promtool`` (2.42). The server listens on
127.0.0.1 at a free port and is stopped by its pid. Typical use::

    with loaded_prometheus(workdir, openmetrics_text, [rule_file_text], start, end) as server:
        vector = server.query("up", at=end)

API:
- ``create_blocks_from_openmetrics(text, data_dir)``: backfill raw samples.
- ``backfill_rules(rule_texts, data_dir, start, end)``: evaluate recording rules over
  ``[start, end]`` and add their series, level by level (a rule reading another rule's series is
  evaluated after it), starting and stopping a server on ``data_dir`` for each level.
- ``backfill_rule_file(rule_file, data_dir, start, end)``: the same for one rule file whose
  levels the caller has split.
- ``running_prometheus(data_dir)``: a context manager yielding a ``Prometheus`` with ``query``.
- ``loaded_prometheus(...)``: the three steps together.
- ``api_data(url, path, params)``: one HTTP API call, for servers started elsewhere (``tests/e2e``).

``tests/support/promtool.py`` runs ``promtool check rules`` and ``promtool test rules``.

Times are Unix seconds. Tests skip (with the reason) when the binaries are missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import start_process, stop_process, wait_ready
from tests.vm.harness import free_local_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
#: Evaluation step of backfilled rules; matches the generated groups' default interval.
EVAL_INTERVAL_S = 60
_START_TIMEOUT_S = 60.0
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class PrometheusError(RuntimeError):
    """A Prometheus binary failed or the server returned an error; the message contains its output."""


def binaries_missing() -> str | None:
    """Return why the Prometheus binaries cannot be used, or None when both are present."""
    for path in (PROMETHEUS, PROMTOOL):
        if not os.access(path, os.X_OK):
            return f"{path} not found (install the Debian package prometheus)"
    return None


def _run(args: Sequence[str], timeout_s: float = 600) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise PrometheusError(f"{' '.join(args[:4])} ... failed ({result.returncode}):\n"
                              f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout + result.stderr


def create_blocks_from_openmetrics(text: str, data_dir: str) -> None:
    """Write ``text`` (OpenMetrics with timestamps, ending in ``# EOF``) as TSDB blocks into ``data_dir``."""
    os.makedirs(data_dir, exist_ok=True)
    source = os.path.join(os.path.dirname(os.path.abspath(data_dir)), "backfill.om")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write(text)
    _run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", source, data_dir])
    os.remove(source)


def api_data(url: str, path: str, params: dict[str, str], timeout_s: float = 60) -> Any:
    """GET a Prometheus HTTP API endpoint below ``url`` and return its ``data``.

    Raise PrometheusError naming the endpoint, the parameters and the server's error when the
    status is not success.
    """
    address = f"{url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(address, timeout=timeout_s) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    if body.get("status") != "success":
        raise PrometheusError(f"{path} failed for {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


@dataclass
class Prometheus:
    """A running server; ``query`` returns the instant vector of an expression."""

    url: str

    def _get(self, path: str, params: dict[str, str]) -> Any:
        return api_data(self.url, path, params)

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """Return the result of an instant query at Unix time ``at`` (a list of series)."""
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def series(self, selector: str, start: float, end: float) -> list[dict[str, str]]:
        """Return the label sets of the series matching ``selector`` between ``start`` and ``end``."""
        return list(self._get("/api/v1/series", {"match[]": selector, "start": str(start), "end": str(end)}))


@contextmanager
def running_prometheus(data_dir: str) -> Iterator[Prometheus]:
    """Start Prometheus on ``data_dir`` (no scrape targets) and stop it by pid on exit."""
    workdir = os.path.dirname(os.path.abspath(data_dir))
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("global:\n  evaluation_interval: 1m\n")
    port = free_local_port()
    argv = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
            "--query.lookback-delta=5m"]
    server = start_process("prometheus", argv, f"http://127.0.0.1:{port}", Path(workdir))
    try:
        wait_ready(server, "/-/ready", _START_TIMEOUT_S)
        yield Prometheus(server.url)
    finally:
        stop_process(server, grace=30)


def recording_levels(rule_texts: Sequence[str]) -> list[list[dict[str, Any]]]:
    """Split the recording rules of rule files into levels that can be backfilled in order.

    Rules are taken in file and group order, as Prometheus evaluates them. A rule's level is one
    more than the highest level among the rules before it that record a series it reads, so a
    rule's inputs are backfilled before it is evaluated. Alerting rules are left out.
    """
    levels: list[list[dict[str, Any]]] = []
    recorded_at: dict[str, int] = {}
    for text in rule_texts:
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "record" not in rule:
                    continue
                reads = set(_METRIC_NAME.findall(rule["expr"]))
                level = 1 + max((recorded_at[name] for name in reads if name in recorded_at), default=-1)
                while len(levels) <= level:
                    levels.append([])
                levels[level].append(rule)
                recorded_at[rule["record"]] = max(recorded_at.get(rule["record"], -1), level)
    return levels


def backfill_rules(rule_texts: Sequence[str], data_dir: str, start: float, end: float,
                   eval_interval_s: int = EVAL_INTERVAL_S) -> None:
    """Add the series of every recording rule in ``rule_texts`` over ``[start, end]`` to ``data_dir``."""
    workdir = os.path.dirname(os.path.abspath(data_dir))
    for number, rules in enumerate(recording_levels(rule_texts)):
        rule_file = os.path.join(workdir, f"level-{number}.rules.yaml")
        with open(rule_file, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"groups": [{"name": f"level-{number}", "rules": rules}]}, handle)
        backfill_rule_file(rule_file, data_dir, start, end, eval_interval_s)


def backfill_rule_file(rule_file: str, data_dir: str, start: float, end: float,
                       eval_interval_s: int = EVAL_INTERVAL_S) -> None:
    """Evaluate the recording rules of ``rule_file`` over ``[start, end]`` and add their series to ``data_dir``.

    promtool evaluates every rule against a server started on ``data_dir``, so a rule that reads
    another rule's series needs that series backfilled by an earlier call. A group's own
    ``interval`` takes precedence over ``eval_interval_s``.
    """
    output = os.path.join(os.path.dirname(os.path.abspath(data_dir)), "rule-blocks")
    shutil.rmtree(output, ignore_errors=True)
    with running_prometheus(data_dir) as server:
        _run([PROMTOOL, "tsdb", "create-blocks-from", "rules", f"--url={server.url}",
              f"--start={int(start)}", f"--end={int(end)}", f"--eval-interval={eval_interval_s}s",
              f"--output-dir={output}", rule_file])
    for block in os.listdir(output):
        shutil.move(os.path.join(output, block), os.path.join(data_dir, block))
    shutil.rmtree(output)


@contextmanager
def loaded_prometheus(workdir: str, openmetrics: str, rule_texts: Sequence[str], start: float,
                      end: float) -> Iterator[Prometheus]:
    """Yield a server holding ``openmetrics`` and the recorded series of ``rule_texts`` over ``[start, end]``."""
    data_dir = os.path.join(workdir, "data")
    create_blocks_from_openmetrics(openmetrics, data_dir)
    backfill_rules(rule_texts, data_dir, start, end)
    with running_prometheus(data_dir) as server:
        yield server
