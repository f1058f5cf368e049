"""Collector output on captured 6.1 trees and on damaged and older-kernel trees."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from obsgen.exporter.collector import STAT_ALL, CollectorOptions, MemoryCollector

from .helpers import (
    LOCAL_FIXTURES, MEMORY_STAT_61, REPO, add_container_log, add_pod_log_dir, find, parse_exposition,
    write_cgroup, write_root,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
# Varies from run to run, so it is left out of golden files.
_VOLATILE = re.compile(r"^(obsgen_exporter_scrape_duration_seconds) \S+$", re.M)


def scrape(root: Path, **options) -> dict:
    """Run one scrape of ``root`` and return the parsed samples."""
    return parse_exposition(scrape_text(root, **options))


def scrape_text(root: Path, **options) -> str:
    options.setdefault("pod_log_dir", None)
    options.setdefault("container_log_dir", None)
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(root), **options), registry=registry)
    return generate_latest(registry).decode()


SYSTEMD_POD_A = ("/kubepods.slice/kubepods-burstable.slice/"
                 "kubepods-burstable-podc2b9546e_0f02_40f3_adb7_f1d5cbf15150.slice")
CONTAINER_A = SYSTEMD_POD_A + "/cri-containerd-c60f8fe0a626"


def _container_path(tree: Path, prefix: str) -> str:
    matches = [p for p in tree.glob(prefix.lstrip("/") + "*") if p.is_dir()]
    assert len(matches) == 1, matches
    return "/" + str(matches[0].relative_to(tree))


def test_working_set_matches_kernel_files(shared_fixtures):
    tree = shared_fixtures / "k8s-systemd"
    cgroup = _container_path(tree, CONTAINER_A)
    current = int((tree / cgroup.lstrip("/") / "memory.current").read_text())
    stat = dict(line.split() for line in (tree / cgroup.lstrip("/") / "memory.stat").read_text().splitlines())
    samples = scrape(tree)
    assert find(samples, "obsgen_memory_current_bytes", cgroup=cgroup) == [current]
    assert find(samples, "obsgen_memory_working_set_bytes", cgroup=cgroup) == [current - int(stat["inactive_file"])]
    assert find(samples, "obsgen_memory_stat_bytes", cgroup=cgroup, item="inactive_file") == [16777216]


def test_literal_max_produces_no_limit_series(shared_fixtures):
    tree = shared_fixtures / "k8s-systemd"
    cgroup = _container_path(tree, CONTAINER_A)
    samples = scrape(tree)
    assert find(samples, "obsgen_memory_max_bytes", cgroup=cgroup) == [134217728]
    assert find(samples, "obsgen_memory_high_bytes", cgroup=cgroup) == []
    assert find(samples, "obsgen_memory_min_bytes", cgroup=cgroup) == [0]


def test_root_cgroup_has_only_stat_and_pressure(shared_fixtures):
    samples = scrape(shared_fixtures / "high-throttle")
    assert find(samples, "obsgen_memory_current_bytes", cgroup="/") == []
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/", item="anon")
    some = find(samples, "obsgen_memory_pressure_seconds_total", cgroup="/", kind="some", cgroup_kind="other")
    full = find(samples, "obsgen_memory_pressure_seconds_total", cgroup="/", kind="full")
    raw = (shared_fixtures / "high-throttle" / "memory.pressure").read_text()
    totals = [int(field.split("=")[1]) for field in raw.split() if field.startswith("total=")]
    assert some == [totals[0] / 1e6]
    assert full == [totals[1] / 1e6]


def test_events_are_counters_from_the_kernel_files(shared_fixtures):
    samples = scrape(shared_fixtures / "oom")
    assert find(samples, "obsgen_memory_events_total", cgroup="/kubepods.slice", event="oom_kill") == [7]
    assert find(samples, "obsgen_memory_events_total", cgroup="/kubepods.slice", event="oom_group_kill") == [1]
    assert find(samples, "obsgen_memory_swap_events_total", cgroup="/kubepods.slice", event="fail") == [0]


def test_exporter_self_metrics(shared_fixtures):
    samples = scrape(shared_fixtures / "k8s-cgroupfs")
    directories = [p for p in (shared_fixtures / "k8s-cgroupfs").rglob("*") if p.is_dir()]
    assert find(samples, "obsgen_exporter_cgroups") == [len(directories) + 1]
    assert find(samples, "obsgen_exporter_scrape_duration_seconds")[0] > 0
    assert find(samples, "obsgen_exporter_cgroups_dropped_total") == [0]


def test_old_kernel_lacks_series_instead_of_zero():
    samples = scrape(LOCAL_FIXTURES / "old-kernel")
    container = "/kubepods/burstable/pod0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1/" + "1" * 64
    assert find(samples, "obsgen_memory_current_bytes", cgroup=container) == [50069504]
    assert find(samples, "obsgen_memory_peak_bytes") == []
    assert find(samples, "obsgen_memory_events_total", cgroup=container, event="oom_kill") == [2]
    assert find(samples, "obsgen_memory_events_total", event="oom_group_kill") == []
    assert find(samples, "obsgen_exporter_errors_total") == []


def test_damaged_files_cost_only_their_series(caplog):
    tree = LOCAL_FIXTURES / "damaged"
    with caplog.at_level(logging.WARNING):
        samples = scrape(tree)
    svc = "/system.slice/"
    # Each damaged file is counted once, by file name and reason.
    assert find(samples, "obsgen_exporter_errors_total", file="memory.stat", reason="parse") == [1]
    assert find(samples, "obsgen_exporter_errors_total", file="memory.current", reason="parse") == [1]
    assert find(samples, "obsgen_exporter_errors_total", file="memory.max", reason="parse") == [1]
    assert find(samples, "obsgen_exporter_errors_total", file="memory.events", reason="parse") == [1]
    assert find(samples, "obsgen_exporter_errors_total", file="memory.pressure", reason="parse") == [1]
    # The damaged file's series are missing, the cgroup's other series are there.
    assert find(samples, "obsgen_memory_stat_bytes", cgroup=svc + "malformed-stat.service") == []
    assert find(samples, "obsgen_memory_working_set_bytes", cgroup=svc + "malformed-stat.service") == []
    assert find(samples, "obsgen_memory_current_bytes", cgroup=svc + "malformed-stat.service") == [9437184]
    assert find(samples, "obsgen_memory_current_bytes", cgroup=svc + "empty-current.service") == []
    assert find(samples, "obsgen_memory_stat_bytes", cgroup=svc + "empty-current.service", item="anon") == [8388608]
    assert find(samples, "obsgen_memory_max_bytes", cgroup=svc + "overflow-max.service") == []
    assert find(samples, "obsgen_memory_high_bytes", cgroup=svc + "overflow-max.service") == []
    assert find(samples, "obsgen_memory_events_total", cgroup=svc + "junk-events.service") == []
    assert find(samples, "obsgen_memory_events_local_total", cgroup=svc + "junk-events.service", event="oom_kill") == [0]
    assert find(samples, "obsgen_memory_pressure_seconds_total", cgroup=svc + "bad-pressure.service") == []
    assert find(samples, "obsgen_memory_peak_bytes", cgroup=svc + "limited.service") == [220000000]
    # No memory controller: the cgroup is not exported and not an error.
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/no-memory.slice") == []
    assert find(samples, "obsgen_exporter_cgroups") == [8]
    messages = [r.getMessage() for r in caplog.records]
    assert any("malformed-stat.service/memory.stat" in msg and "'file twelve'" in msg for msg in messages)


def test_file_errors_logged_once_counted_every_scrape(caplog):
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(LOCAL_FIXTURES / "damaged"), pod_log_dir=None,
                                     container_log_dir=None), registry=registry)
    with caplog.at_level(logging.WARNING):
        generate_latest(registry)
        second = parse_exposition(generate_latest(registry).decode())
    stat_logs = [r for r in caplog.records if "memory.stat" in r.getMessage()]
    assert len(stat_logs) == 1
    assert find(second, "obsgen_exporter_errors_total", file="memory.stat", reason="parse") == [2]


def test_unknown_stat_keys_with_all(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice", stat=MEMORY_STAT_61 + "pgdemote_future 5\nshiny_new_bytes 4096\n")
    samples = scrape(root, memory_stat=STAT_ALL)
    assert find(samples, "obsgen_memory_stat_events_total", cgroup="/a.slice", item="pgdemote_future") == [5]
    assert find(samples, "obsgen_memory_stat_other", cgroup="/a.slice", item="shiny_new_bytes") == [4096]
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/a.slice", item="sec_pagetables") == [0]
    assert find(samples, "obsgen_memory_stat_events_total", cgroup="/a.slice", item="pgfault") == [1200]


def test_default_stat_keys_skip_unknown_and_rare(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice", stat=MEMORY_STAT_61 + "shiny_new_bytes 4096\n")
    samples = scrape(root)
    assert find(samples, "obsgen_memory_stat_other") == []
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/a.slice", item="sec_pagetables") == []
    assert find(samples, "obsgen_memory_stat_bytes", cgroup="/a.slice", item="anon") == [8388608]
    served = {dict(labels)["item"] for name, labels in samples
              if name.startswith("obsgen_memory_stat") and dict(labels)["cgroup"] == "/a.slice"}
    # What the rules, dashboards and docs read; kernel_stack, pgscan and the like only with "all".
    assert served == {"anon", "file", "kernel", "shmem", "sock", "slab", "file_mapped", "file_dirty",
                      "inactive_anon", "active_anon", "inactive_file", "active_file",
                      "workingset_refault_anon", "workingset_refault_file", "pgfault", "pgmajfault"}


def test_working_set_floors_at_zero(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / "a.slice", current=100000)
    assert find(scrape(root), "obsgen_memory_working_set_bytes", cgroup="/a.slice") == [0]


def test_include_exclude_and_depth(tmp_path):
    root = write_root(tmp_path / "root")
    for path in ("kubepods.slice", "kubepods.slice/inner.slice", "kubepods.slice/inner.slice/deep.scope",
                 "system.slice", "system.slice/cron.service"):
        write_cgroup(root / path)
    included = scrape(root, include=re.compile(r"^/kubepods\.slice"), exclude=re.compile(r"deep"))
    cgroups = {dict(labels)["cgroup"] for name, labels in included if name == "obsgen_memory_current_bytes"}
    assert cgroups == {"/kubepods.slice", "/kubepods.slice/inner.slice"}
    shallow = scrape(root, max_depth=1)
    cgroups = {dict(labels)["cgroup"] for name, labels in shallow if name == "obsgen_memory_current_bytes"}
    assert cgroups == {"/kubepods.slice", "/system.slice"}


def test_max_cgroups_drops_and_counts(tmp_path, caplog):
    root = write_root(tmp_path / "root")
    for index in range(5):
        write_cgroup(root / f"s{index}.slice")
    registry = CollectorRegistry()
    MemoryCollector(CollectorOptions(root=str(root), max_cgroups=3, pod_log_dir=None, container_log_dir=None),
                    registry=registry)
    with caplog.at_level(logging.WARNING):
        first = parse_exposition(generate_latest(registry).decode())
        second = parse_exposition(generate_latest(registry).decode())
    assert find(first, "obsgen_exporter_cgroups") == [3]
    assert find(first, "obsgen_exporter_cgroups_dropped_total") == [3]
    assert find(second, "obsgen_exporter_cgroups_dropped_total") == [6]
    assert len([r for r in caplog.records if "--max-cgroups" in r.getMessage()]) == 1


def test_vanished_cgroup_is_skipped_silently(tmp_path):
    from obsgen.exporter.cgroupfs import FileCache, WalkEntry
    from obsgen.exporter.collector import _Reader

    cgroup = write_cgroup(tmp_path / "gone.scope")
    errors = []
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        entry = WalkEntry("/gone.scope", 1, fd, os.fstat(fd).st_ino)
        shutil.rmtree(cgroup)
        assert _Reader(str(tmp_path), FileCache(100), errors.append).read(entry) is None
    finally:
        os.close(fd)
    assert errors == []


def test_kubernetes_names_from_log_dirs(shared_fixtures, tmp_path):
    tree = shared_fixtures / "k8s-systemd"
    cgroup = _container_path(tree, CONTAINER_A)
    container_id = cgroup.rsplit("cri-containerd-", 1)[1].removesuffix(".scope")
    uid = "c2b9546e-0f02-40f3-adb7-f1d5cbf15150"
    add_pod_log_dir(tmp_path / "pods", "shop", "cart-7d9f", uid)
    add_container_log(tmp_path / "containers", "cart-7d9f", "shop", "server", container_id)
    samples = scrape(tree, pod_log_dir=str(tmp_path / "pods"), container_log_dir=str(tmp_path / "containers"))
    assert find(samples, "obsgen_memory_current_bytes", cgroup=cgroup, namespace="shop", pod="cart-7d9f",
                container="server")
    assert find(samples, "obsgen_memory_current_bytes", cgroup=SYSTEMD_POD_A, namespace="shop", pod="cart-7d9f")
    assert find(samples, "obsgen_container_oom_kills_total", namespace="shop", pod="cart-7d9f", container="server",
                pod_uid=uid) == [0]


def test_info_series_holds_identity_labels(shared_fixtures, tmp_path):
    tree = shared_fixtures / "k8s-systemd"
    cgroup = _container_path(tree, CONTAINER_A)
    container_id = cgroup.rsplit("cri-containerd-", 1)[1].removesuffix(".scope")
    uid = "c2b9546e-0f02-40f3-adb7-f1d5cbf15150"
    add_container_log(tmp_path / "containers", "cart-7d9f", "shop", "server", container_id)
    samples = scrape(tree, container_log_dir=str(tmp_path / "containers"))
    info = [dict(labels) for name, labels in samples if name == "obsgen_cgroup_info" and dict(labels)["cgroup"] == cgroup]
    assert info == [{"cgroup": cgroup, "cgroup_kind": "container", "pod_uid": uid, "qos_class": "burstable",
                     "container_id": container_id, "container_runtime": "containerd",
                     "namespace": "shop", "pod": "cart-7d9f", "container": "server"}]
    assert samples[("obsgen_cgroup_info", frozenset(info[0].items()))] == 1
    current = [dict(labels) for name, labels in samples
               if name == "obsgen_memory_current_bytes" and dict(labels)["cgroup"] == cgroup]
    assert current == [{"cgroup": cgroup, "cgroup_kind": "container", "namespace": "shop", "pod": "cart-7d9f",
                        "container": "server"}]
    # One info series per exported cgroup, and no value series carries an info-only label.
    assert (len([1 for name, _ in samples if name == "obsgen_cgroup_info"])
            == find(samples, "obsgen_exporter_cgroups")[0])
    moved = {"pod_uid", "qos_class", "container_id", "container_runtime", "systemd_unit"}
    assert not [name for name, labels in samples if name.startswith("obsgen_memory_") and moved & dict(labels).keys()]


def _render_text(root: Path, **options) -> str:
    options.setdefault("pod_log_dir", None)
    options.setdefault("container_log_dir", None)
    return MemoryCollector(CollectorOptions(root=str(root), **options)).render_text().decode()


@pytest.mark.parametrize("tree", ["k8s-systemd", "k8s-cgroupfs", "oom", "high-throttle", "leak-series/t05"])
def test_fast_text_equals_prometheus_client_output(shared_fixtures, tree):
    fast = parse_exposition(_VOLATILE.sub(r"\1 0", _render_text(shared_fixtures / tree, memory_stat=STAT_ALL)))
    reference = parse_exposition(_VOLATILE.sub(r"\1 0", scrape_text(shared_fixtures / tree, memory_stat=STAT_ALL)))
    assert len(fast) > 100
    assert fast == reference


def test_fast_text_escapes_label_values(tmp_path):
    root = write_root(tmp_path / "root")
    write_cgroup(root / 'odd\\x2d"name".service')
    fast = parse_exposition(_render_text(root))
    reference = parse_exposition(scrape_text(root))
    assert find(fast, "obsgen_memory_current_bytes", cgroup='/odd\\x2d"name".service') == [9437184]
    assert fast.keys() == reference.keys()


def test_golden_exposition(shared_fixtures):
    """The served output for the captured systemd-driver tree; refresh with OBSGEN_UPDATE_GOLDEN=1."""
    text = _VOLATILE.sub(r"\1 0", _render_text(shared_fixtures / "k8s-systemd"))
    golden = GOLDEN / "k8s-systemd.prom"
    if os.environ.get("OBSGEN_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), "golden file missing: run with OBSGEN_UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_once_output_passes_promtool(shared_fixtures, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not installed; the README test command installs the prometheus package")
    for tree in ("k8s-systemd", "k8s-cgroupfs", "oom", "high-throttle"):
        output = tmp_path / f"{tree}.prom"
        result = subprocess.run(
            [sys.executable, "-m", "obsgen.exporter.cli", "--once", "--memory-stat", "all",
             "--cgroup-root", str(shared_fixtures / tree), "--output", str(output)],
            cwd=REPO, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        check = subprocess.run([promtool, "check", "metrics"], input=output.read_text(), capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        assert output.read_text().startswith("# generated by obsgen-exporter, do not edit\n")


def test_non_utf8_cgroup_name_escaped(tmp_path):
    """A directory name that is not UTF-8 is exported with \\xNN escapes through both outputs."""
    root = write_root(tmp_path / "root")
    write_cgroup(Path(os.fsdecode(bytes(root) + b"/caf\xe9-\xff.scope")), current=4096)
    registry = CollectorRegistry()
    collector = MemoryCollector(CollectorOptions(root=str(root), pod_log_dir=None, container_log_dir=None),
                                registry=registry)
    outputs = {"render_text": collector.render_text(), "collect": generate_latest(registry)}
    collector.close()
    for source, output in outputs.items():
        samples = parse_exposition(output.decode("utf-8"))
        assert find(samples, "obsgen_memory_current_bytes", cgroup="/caf\\xe9-\\xff.scope") == [4096], source
        assert find(samples, "obsgen_cgroup_info", systemd_unit="caf\\xe9-\\xff.scope") == [1], source
