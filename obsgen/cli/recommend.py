"""``obsgen recommend``: recommend memory requests and limits from what Prometheus observed."""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import datetime, timezone

import click

from obsgen.catalog.validation import parse_duration
from obsgen.cli.common import load_catalog, resolve_catalog_path
from obsgen.rightsizing import report
from obsgen.rightsizing.client import Prometheus, PrometheusError
from obsgen.rightsizing.collect import Progress, fetch
from obsgen.rightsizing.method import Policy, recommend


def _duration(value: str, option: str) -> int:
    seconds = parse_duration(value)
    if not seconds:
        raise click.BadParameter(f"invalid duration {value!r}; write one such as 7d, 36h or 2w", param_hint=option)
    return seconds


def _time(value: str | None) -> float:
    """Return ``value`` (RFC 3339 or Unix seconds) as Unix seconds; None means now."""
    if value is None:
        return time.time()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"invalid time {value!r}; write RFC 3339 such as 2026-01-31T12:00:00Z "
                                 f"or Unix seconds", param_hint="--at") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _progress_printer() -> Progress | None:
    """Return a progress callback that redraws one stderr line, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        click.echo(f"\robsgen: querying Prometheus {done}/{total}", err=True, nl=done == total)

    return show


@click.command("recommend")
@click.argument("catalog", required=False, type=click.Path(dir_okay=False))
@click.option("--prometheus", "url", required=True, metavar="URL",
              help="Prometheus to query, such as http://127.0.0.1:9090.")
@click.option("--window", default="7d", show_default=True,
              help="How much history to read, ending at --at (a Prometheus duration).")
@click.option("--at", "at", metavar="TIME", help="End of the window: RFC 3339 or Unix seconds. [default: now]")
@click.option("--output", type=click.Choice(["table", "json", "catalog"]), default="table", show_default=True,
              help="table for people; json or a catalog patch (YAML of services' memory) for pipelines.")
@click.option("--series", "mode", type=click.Choice(["auto", "recorded", "raw"]), default="auto",
              show_default=True, help="Read obsgen's recorded 5-minute rollups, raw cAdvisor and "
              "kube-state-metrics series, or the rollups when they cover the window (auto).")
@click.option("--service", "services", multiple=True, metavar="NAME",
              help="Only this catalog service (repeatable); 'fleet' is the unclaimed containers.")
@click.option("--min-history", default="1d", show_default=True,
              help="Containers with less usage history than this get no recommendation.")
def recommend_command(catalog: str | None, url: str, window: str, at: str | None, output: str, mode: str,
                      services: tuple[str, ...], min_history: str) -> None:
    """Recommend memory requests and limits for the containers of CATALOG (default: ./obsgen.yaml).

    Reads each container's working set, request, limit and OOM kills from Prometheus, and prints
    the current and recommended request and limit, the observed average, 95th percentile and
    peak, and the reason for each number. docs/rightsizing.md explains the method.
    """
    window_s = _duration(window, "--window")
    policy = Policy(min_history_s=_duration(min_history, "--min-history"))
    end = _time(at)
    model = load_catalog(resolve_catalog_path(catalog))
    unknown = sorted(set(services) - {service.name for service in model.services} - {"fleet"})
    if unknown:
        raise click.BadParameter(f"not a service of {model.file}: {', '.join(unknown)}", param_hint="--service")

    try:
        fetched = fetch(Prometheus(url), model, end, window_s, mode, _progress_printer())
    except PrometheusError as error:
        raise click.ClickException(str(error)) from None
    histories = [h for h in fetched.histories if not services or h.unit.service in services]
    recommendations = [recommend(history, policy) for history in histories]
    if not recommendations:
        click.echo(f"obsgen: no container of {model.file} has memory samples in {url} over the {window} "
                   f"before {_rfc3339(end)}", err=True)

    meta = {"prometheus": url, "window": window, "end": end, "end_rfc3339": _rfc3339(end), "mode": fetched.mode,
            "policy": dataclasses.asdict(policy)}
    if output == "json":
        click.echo(report.as_json(recommendations, meta), nl=False)
    elif output == "catalog":
        click.echo(report.catalog_patch(recommendations, model.name, meta), nl=False)
    else:
        click.echo(f"# {len(recommendations)} workload containers, {window} ending {meta['end_rfc3339']}, "
                   f"{fetched.mode} series from {url}")
        click.echo(report.table(recommendations), nl=False)


def _rfc3339(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
