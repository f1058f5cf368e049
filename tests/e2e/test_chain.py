"""End to end: from a catalog to pages, on a real kernel, a real Prometheus and a real Alertmanager.

One scenario run feeds every test below. ``obsgen build`` turns catalog.yaml into rules. A VM
with cgroup v2 runs the workloads of scenario.py as a Kubernetes node would, and obsgen-exporter
serves their memory over the VM's one forwarded port. Debian's Prometheus scrapes it and
evaluates the generated rules, and Debian's Alertmanager routes the alerts per team to webhooks
that a sink on 127.0.0.1 records. The tests then check what the on-call engineers received, and
run every panel query of the generated dashboards against that Prometheus.

All times are host times (Unix seconds): the host stamps each guest event when it reads it from
the exchange folder, and Prometheus' alert start times use the same clock.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from obsgen.catalog import load
from obsgen.catalog.model import Catalog
from obsgen.rules.alerts import LEAK, NEAR_LIMIT, OOM_KILLED, THROTTLED
from tests.conftest import require_binary
from tests.e2e import panels, routing, scenario, stack
from tests.e2e.records import Alert, Event, EventReader, alerts_of
from tests.e2e.scenario import Workload
from tests.vm import harness

REPO = Path(__file__).resolve().parents[2]
CATALOG = Path(__file__).with_name("catalog.yaml")
EXPORTER = [sys.executable, "-c", "import sys; from obsgen.exporter.cli import main; sys.exit(main())"]

#: Hard limit on the whole scenario, boot included; the fixture raises TimeoutError past it.
HARD_TIMEOUT_S = 900
#: How long the host waits for the scenario's alerts once the exporter serves.
SCENARIO_DEADLINE_S = 480
EVENT_POLL_S = 0.25
#: Slack between a kill and its host stamp: the poll interval plus the exchange share's delay.
STAMP_SLACK_S = EVENT_POLL_S + 1.0
# NOTE: the exporter source has series of a container only while its cgroup exists, so the OOM alert of a
# killed container waits for the kubelet's restart (10 s, then 20 s) to see the container again.
# The bound is that back-off plus four scrape intervals, which cover the scrape that sees the new
# container, the three rule groups that pass it on (each evaluated every 5 s) and delivery.
OOM_ALERT_BOUND_S = max(scenario.RESTART_BACKOFF[:2]) + 4 * scenario.SCRAPE_INTERVAL
#: Alerts each service may raise; anything else reaching a receiver is a false page.
EXPECTED_ALERTS = {
    "ledger": set(),
    "indexer": {LEAK, OOM_KILLED, NEAR_LIMIT},
    "checkout": {OOM_KILLED},
    "thumbnailer": {THROTTLED},
}


@dataclass
class Chain:
    """What one scenario run recorded, for the tests to check."""

    catalog: Catalog
    ready: float = 0.0
    events: list[Event] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    panel_results: dict[str, str] = field(default_factory=dict)
    dashboards: int = 0
    generated_alertmanager: bool = False
    failed_scrapes: float = 0.0
    scrape_seconds: tuple[float, float] = (0.0, 0.0)
    diagnostics: str = ""

    def kills(self, service: str) -> list[Event]:
        return [event for event in self.events if event.name == "oom_kill" and event.fields["service"] == service]

    def firing(self, alertname: str, workload: Workload) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status == "firing" and alert.name == alertname
                and alert.labels.get("pod") == workload.pod and alert.labels.get("container") == workload.container]


# ---- helpers ----------------------------------------------------------------------------------------


@contextmanager
def hard_timeout(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the main thread if the block runs longer than ``seconds``."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"the end-to-end scenario exceeded its hard timeout of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def scenario_mismatches(catalog: Catalog) -> list[str]:
    """Return how the scenario's workloads disagree with the catalog's services (empty if they agree)."""
    problems = []
    for workload in scenario.WORKLOADS:
        service = next((s for s in catalog.services if s.name == workload.service), None)
        if service is None:
            problems.append(f"service {workload.service} is not in {CATALOG.name}")
            continue
        if service.team != workload.team:
            problems.append(f"{workload.service}: team {service.team} in the catalog, {workload.team} in the scenario")
        selector = service.selector
        for label, value in (("namespace", workload.namespace), ("pod", workload.pod),
                             ("container", workload.container)):
            pattern = getattr(selector, label)
            if pattern is not None and re.fullmatch(pattern, value) is None:
                problems.append(f"{workload.service}: {label} {value!r} does not match the selector {pattern!r}")
    return problems


def exporter_job(catalog: Catalog) -> str:
    """Return the scrape job name that the catalog's exporter selector expects."""
    match = re.search(r'\bjob\s*=\s*"([^"]+)"', catalog.selectors.exporter)
    assert match, f"the test needs a job matcher in scrape_selectors.exporter, got {catalog.selectors.exporter!r}"
    return match[1]


def receiver_of(catalog: Catalog, workload: Workload) -> str:
    team = catalog.team(workload.team)
    assert team is not None, f"team {workload.team} is not in the catalog"
    return team.receiver


def scenario_complete(chain: Chain) -> bool:
    """Tell whether every kill the scenario plans has happened and has had its alert delivered."""
    leak = scenario.by_behaviour(scenario.LEAK)
    crashloop = scenario.by_behaviour(scenario.CRASHLOOP)
    throttled = scenario.by_behaviour(scenario.THROTTLED)
    kills = chain.kills(leak.service) + chain.kills(crashloop.service)
    planned = 1 + len([after for after in crashloop.spike_after if after < 1e6])
    if len(kills) < planned:
        return False
    last_kill = max(event.host_time for event in kills)
    oom_alerts = chain.firing(OOM_KILLED, leak) + chain.firing(OOM_KILLED, crashloop)
    delivered = any(alert.starts_at >= last_kill - STAMP_SLACK_S for alert in oom_alerts)
    return delivered and bool(chain.firing(THROTTLED, throttled))


def timeline(chain: Chain) -> str:
    """Return the run's events and notifications, in seconds since the exporter served."""
    rows = []
    for event in chain.events:
        who = event.fields.get("pod", "")
        rows.append((event.host_time, f"guest  {event.name:<10} {who} {event.fields.get('container_id', '')[:12]}"))
    for alert in chain.alerts:
        rows.append((alert.received, f"page   {alert.status:<10} {alert.name} {alert.labels.get('pod', '')} "
                                     f"-> {alert.receiver} (started {alert.starts_at - chain.ready:+.1f} s)"))
    return "\n".join(f"{when - chain.ready:8.1f} s  {text}" for when, text in sorted(rows))


# ---- the scenario run ---------------------------------------------------------------------------------


def run_scenario(chain: Chain, folder: Path, servers: list[stack.Server], sink: stack.WebhookSink,
                 vms: list[harness.VM]) -> None:
    """Build, start the stack and the VM, and record events and notifications until done or late."""
    catalog = chain.catalog
    build_dir = folder / "build"
    built = subprocess.run([sys.executable, "-m", "obsgen", "build", str(CATALOG), "--out", str(build_dir)],
                           capture_output=True, text=True, cwd=REPO, timeout=120)
    assert built.returncode == 0, f"obsgen build failed:\n{built.stderr}"

    config, chain.generated_alertmanager = routing.alertmanager_config(build_dir, catalog, sink.url)
    alertmanager = stack.start_alertmanager(folder, config)
    servers.append(alertmanager)
    exporter_port = harness.free_local_port()
    rule_globs = [str(build_dir / "alerts" / "*.rules.yaml"), str(build_dir / "alerts" / "services" / "*.rules.yaml")]
    prometheus = stack.start_prometheus(folder, stack.prometheus_config(
        rule_globs, f"127.0.0.1:{exporter_port}", alertmanager.url.removeprefix("http://"),
        scenario.SCRAPE_INTERVAL, exporter_job(catalog)))
    servers.append(prometheus)

    exchange = folder / "exchange"
    exchange.mkdir()
    vm = harness.start(
        [sys.executable, "-m", "tests.e2e.guest_cluster", f"{harness.GUEST_EXCHANGE}/events.jsonl", "--", *EXPORTER],
        memory_mb=768, cpus=2, timeout=HARD_TIMEOUT_S, exchange=exchange, cwd=str(REPO),
        forward=(exporter_port, scenario.EXPORTER_PORT),
    )
    vms.append(vm)

    reader = EventReader(exchange / "events.jsonl")
    deadline = None
    while deadline is None or time.time() < deadline:
        if not vm.running():
            break
        for event in reader.read():
            chain.events.append(event)
            if event.name == "ready":
                chain.ready = event.host_time
                deadline = event.host_time + SCENARIO_DEADLINE_S
        chain.alerts = alerts_of(sink.snapshot())
        if chain.ready and scenario_complete(chain):
            break
        time.sleep(EVENT_POLL_S)

    chain.events.extend(reader.read())
    chain.alerts = alerts_of(sink.snapshot())
    end = time.time()
    if chain.ready:
        job = exporter_job(catalog)
        span = f"{max(1, round(end - chain.ready))}s"
        chain.failed_scrapes = _scalar(prometheus, f'count_over_time(up{{job="{job}"}}[{span}]) '
                                                   f'- sum_over_time(up{{job="{job}"}}[{span}])')
        chain.scrape_seconds = (_scalar(prometheus, f'avg_over_time(scrape_duration_seconds{{job="{job}"}}[{span}])'),
                                _scalar(prometheus, f'max_over_time(scrape_duration_seconds{{job="{job}"}}[{span}])'))
        check_panels(chain, build_dir, prometheus, chain.ready, end)
    chain.diagnostics = (f"timeline:\n{timeline(chain)}\nfailed scrapes: {chain.failed_scrapes}, scrape "
                         f"duration average and maximum: {chain.scrape_seconds} s\n"
                         f"exporter log (tail):\n{_tail(exchange / 'exporter.log')}\n"
                         f"VM stderr (tail):\n{_tail(exchange / harness.CONTROL_DIR / 'stderr')}")


def check_panels(chain: Chain, build_dir: Path, prometheus: stack.Server, start: float, end: float) -> None:
    """Run every panel query of every generated dashboard over the run and record the outcome."""
    files = panels.dashboard_files(build_dir)
    chain.dashboards = len(files)

    def values(label: str, selector: str) -> list[str]:
        return stack.label_values(prometheus, label, selector)

    for path in files:
        for panel_query in panels.panel_queries(path, values):
            try:
                series = stack.query_range(prometheus, panel_query.expr, start, end, scenario.SCRAPE_INTERVAL)
            except RuntimeError as error:
                chain.panel_results[panel_query.name] = f"error: {error}"
                continue
            chain.panel_results[panel_query.name] = "data" if series else f"no data: {panel_query.expr}"


def _scalar(prometheus: stack.Server, expr: str) -> float:
    result = stack.query(prometheus, expr)
    return float(result[0]["value"][1]) if result else float("nan")


def _tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(missing)"
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def chain(vm_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """Run the scenario once; keep Prometheus and Alertmanager up while the tests read the results."""
    for binary in ("prometheus", "prometheus-alertmanager"):
        require_binary(binary)
    catalog = load(str(CATALOG))
    mismatches = scenario_mismatches(catalog)
    assert not mismatches, "scenario.py and catalog.yaml disagree:\n" + "\n".join(mismatches)

    folder = tmp_path_factory.mktemp("chain")
    recorded = Chain(catalog)
    servers: list[stack.Server] = []
    vms: list[harness.VM] = []
    sink = stack.start_sink()
    started = time.monotonic()
    try:
        with hard_timeout(HARD_TIMEOUT_S):
            run_scenario(recorded, folder, servers, sink, vms)
        print(f"\nend-to-end scenario took {time.monotonic() - started:.0f} s\n{recorded.diagnostics}")
        yield recorded
    finally:
        for vm in vms:
            vm.stop()
        for server in reversed(servers):
            stack.stop_process(server)
        sink.stop()


# ---- what the on-call engineers see -----------------------------------------------------------------


def test_scenario_ran_as_planned(chain: Chain) -> None:
    assert chain.ready, f"the exporter never served in the VM\n{chain.diagnostics}"
    unexpected = [event for event in chain.events if event.name in ("exited", "exporter_exited")]
    assert not unexpected, f"processes ended other than by an OOM kill: {unexpected}\n{chain.diagnostics}"
    assert len(chain.kills("indexer")) >= 1, chain.diagnostics
    assert len(chain.kills("checkout")) >= 2, chain.diagnostics


def test_leak_pages_owner_before_oom_kill(chain: Chain) -> None:
    leak = scenario.by_behaviour(scenario.LEAK)
    kills = chain.kills(leak.service)
    pages = [alert for alert in chain.firing(LEAK, leak) if alert.receiver == receiver_of(chain.catalog, leak)]

    assert kills, f"{leak.service} was never OOM-killed\n{chain.diagnostics}"
    assert pages, f"no {LEAK} page reached {receiver_of(chain.catalog, leak)}\n{chain.diagnostics}"
    assert pages[0].received < kills[0].host_time, (
        f"{LEAK} arrived {pages[0].received - kills[0].host_time:.1f} s after the OOM kill\n{chain.diagnostics}")


def test_leak_page_names_team(chain: Chain) -> None:
    leak = scenario.by_behaviour(scenario.LEAK)
    pages = chain.firing(LEAK, leak)

    assert pages, chain.diagnostics
    for page in pages:
        assert page.labels.get("team") == leak.team
        assert page.labels.get("namespace") == leak.namespace
        assert page.receiver == receiver_of(chain.catalog, leak)


@pytest.mark.parametrize("behaviour", [scenario.CRASHLOOP, scenario.LEAK])
def test_each_oom_kill_pages_owner(chain: Chain, behaviour: str) -> None:
    workload = scenario.by_behaviour(behaviour)
    kills = chain.kills(workload.service)
    receiver = receiver_of(chain.catalog, workload)
    pages = [alert for alert in chain.firing(OOM_KILLED, workload)
             if alert.receiver == receiver and alert.labels.get("team") == workload.team
             and alert.labels.get("namespace") == workload.namespace]

    assert kills, f"{workload.service} was never OOM-killed\n{chain.diagnostics}"
    boundaries = [kill.host_time - STAMP_SLACK_S for kill in kills] + [float("inf")]
    for index, kill in enumerate(kills):
        # The alert of this kill started after it and before the next kill.
        matching = [page for page in pages if boundaries[index] <= page.starts_at < boundaries[index + 1]]
        assert matching, (f"kill {index + 1} of {workload.service} (container {kill.fields['container_id'][:12]}) "
                          f"produced no {OOM_KILLED} page at {receiver}\n{chain.diagnostics}")
        delay = min(page.received for page in matching) - kill.host_time
        assert delay <= OOM_ALERT_BOUND_S, (f"kill {index + 1} of {workload.service} paged after {delay:.1f} s, "
                                            f"bound {OOM_ALERT_BOUND_S} s\n{chain.diagnostics}")


def test_steady_service_pages_nobody(chain: Chain) -> None:
    steady = scenario.by_behaviour(scenario.STEADY)
    about_steady = [alert for alert in chain.alerts if alert.labels.get("pod") == steady.pod]
    at_its_receiver = [alert for alert in chain.alerts if alert.receiver == receiver_of(chain.catalog, steady)]

    assert not about_steady, f"{steady.service} paged: {about_steady}"
    assert not at_its_receiver, f"{steady.team}'s receiver was paged: {at_its_receiver}"


def test_throttled_service_raises_throttled_alert(chain: Chain) -> None:
    throttled = scenario.by_behaviour(scenario.THROTTLED)
    started = next(event.host_time for event in chain.events
                   if event.name == "started" and event.fields["service"] == throttled.service)
    pages = [alert for alert in chain.firing(THROTTLED, throttled)
             if alert.receiver == receiver_of(chain.catalog, throttled) and alert.labels.get("team") == throttled.team]
    settings = next(s for s in chain.catalog.services if s.name == throttled.service).settings
    bound = settings.throttling.for_s + 12 * scenario.SCRAPE_INTERVAL

    assert pages, f"no {THROTTLED} page reached {receiver_of(chain.catalog, throttled)}\n{chain.diagnostics}"
    assert pages[0].received - started <= bound, (
        f"{THROTTLED} paged {pages[0].received - started:.1f} s after the start, bound {bound} s\n{chain.diagnostics}")


def test_no_unexpected_pages(chain: Chain) -> None:
    by_pod = {workload.pod: workload for workload in scenario.WORKLOADS}
    unexpected = []
    for alert in chain.alerts:
        workload = by_pod.get(alert.labels.get("pod", ""))
        if workload is None or alert.name not in EXPECTED_ALERTS[workload.service]:
            unexpected.append(f"{alert.name} {alert.labels} -> {alert.receiver}")

    assert not unexpected, "unexpected pages:\n" + "\n".join(unexpected)


def test_alert_routes_to_owning_team(chain: Chain) -> None:
    receivers = {team.name: team.receiver for team in chain.catalog.teams}
    misrouted = [f"{alert.name} team={alert.labels.get('team')} -> {alert.receiver}" for alert in chain.alerts
                 if receivers.get(alert.labels.get("team", "")) != alert.receiver]

    assert chain.alerts, chain.diagnostics
    assert not misrouted, "pages at the wrong receiver:\n" + "\n".join(misrouted)


def test_dashboard_panels_return_data(chain: Chain) -> None:
    if chain.dashboards == 0:
        pytest.skip("obsgen build generated no dashboards (dashboards/**/*.json) from the test catalog")
    empty = {name: outcome for name, outcome in chain.panel_results.items() if outcome != "data"}

    assert chain.panel_results, f"{chain.dashboards} dashboards but no panel queries found"
    assert not empty, "panel queries without data:\n" + "\n".join(f"{k}: {v}" for k, v in sorted(empty.items()))
