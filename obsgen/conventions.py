"""Names that the rules, dashboards and tests share: the recording-rule contract.

Every alert and every panel reads only these recorded series, so they do not depend on which
metric source filled them. Names follow ``level:metric:operations``; the metric part carries the
``obsgen_`` prefix because obsgen defines what each series means. Container-level series carry the
labels in ``CONTAINER_LABELS`` plus ``obsgen_source`` (the source that produced them).
"""

from __future__ import annotations

from obsgen import promql

SOURCE_LABEL = "obsgen_source"
SERVICE_LABEL = "obsgen_service"
TEAM_LABEL = "team"

_LEVEL = "namespace_pod_container"

# Gauges per container (bytes), one series per container whatever its restarts.
WORKING_SET = f"{_LEVEL}:obsgen_memory_working_set_bytes"
RSS = f"{_LEVEL}:obsgen_memory_rss_bytes"
CACHE = f"{_LEVEL}:obsgen_memory_cache_bytes"
USAGE = f"{_LEVEL}:obsgen_memory_usage_bytes"
#: The memory limit; absent for containers without one (never 0 or +Inf).
LIMIT = f"{_LEVEL}:obsgen_memory_limit_bytes"
REQUEST = f"{_LEVEL}:obsgen_memory_request_bytes"
#: Memory of the node the container runs on, for containers without a limit.
NODE_MEMORY = f"{_LEVEL}:obsgen_node_memory_bytes"
#: Container restarts counter (kubernetes source).
RESTARTS = f"{_LEVEL}:obsgen_container_restarts_total"
#: Non-reclaimable memory (RSS) as a share of the limit.
RSS_LIMIT_RATIO = f"{_LEVEL}:obsgen_memory_rss_bytes:ratio_limit"
WORKING_SET_LIMIT_RATIO = f"{_LEVEL}:obsgen_memory_working_set_bytes:ratio_limit"
# Exporter-only signals.
HIGH_EVENTS_RATE = f"{_LEVEL}:obsgen_memory_high_events:rate5m"
PRESSURE_RATE = f"{_LEVEL}:obsgen_memory_pressure_seconds:rate5m"
#: Major page faults per second (pages read back from disk or swap).
MAJOR_FAULTS_RATE = f"{_LEVEL}:obsgen_memory_major_faults:rate5m"
SWAP = f"{_LEVEL}:obsgen_memory_swap_bytes"
PEAK = f"{_LEVEL}:obsgen_memory_peak_bytes"
MEMORY_HIGH = f"{_LEVEL}:obsgen_memory_high_bytes"
#: Membership: one series per container with the obsgen_service and team labels.
SERVICE_INFO = f"{_LEVEL}:obsgen_service:info"


def oom_kills(window_s: int) -> str:
    """Name of the series counting OOM kills per container over the last ``window_s``."""
    return f"{_LEVEL}:obsgen_oom_kills:increase{promql.duration(window_s)}"


def floor(window_s: int) -> str:
    """Name of the RSS floor: the minimum over ``window_s``, which hides GC sawtooth."""
    return f"{_LEVEL}:obsgen_memory_rss_bytes:min_over_time{promql.duration(window_s)}"


def ceiling(window_s: int) -> str:
    """Name of the RSS ceiling: the maximum over ``window_s``, the peaks that meet the limit first."""
    return f"{_LEVEL}:obsgen_memory_rss_bytes:max_over_time{promql.duration(window_s)}"


def floor_drop(floor_window_s: int, window_s: int) -> str:
    """Name of how far (bytes) the floor sits below its own highest value of the last ``window_s``."""
    return f"{_LEVEL}:obsgen_memory_rss_floor{promql.duration(floor_window_s)}:drop{promql.duration(window_s)}"


def floor_slope(floor_window_s: int, window_s: int) -> str:
    """Name of the growth rate (bytes per second) of the floor fitted over ``window_s``."""
    return f"{_LEVEL}:obsgen_memory_rss_floor{promql.duration(floor_window_s)}:deriv{promql.duration(window_s)}"


# Right-sizing. A rollup group evaluated every ROLLUP_WINDOW_S records the working set's peak and
# mean over that same window, so consecutive windows tile time (exactly under the left-open ranges
# of Prometheus 3.x; under 2.x a sample on a window edge counts in both, which moves neither a max
# nor a mean measurably). Long-window statistics then read 288 rollup samples per day instead of
# the raw series at scrape resolution.
ROLLUP_WINDOW_S = 300
#: Windows of the long-window right-sizing series: one day and one week.
RIGHTSIZING_WINDOWS_S = (86400, 7 * 86400)
#: The percentile of the 5-minute peaks that the long-window series record (label ``quantile``).
RIGHTSIZING_QUANTILE = 0.95
WORKING_SET_PEAK_5M = f"{_LEVEL}:obsgen_memory_working_set_bytes:max_over_time5m"
WORKING_SET_AVG_5M = f"{_LEVEL}:obsgen_memory_working_set_bytes:avg_over_time5m"
#: Request minus the 5-minute mean working set, at least 0 (bytes): memory reserved and unused.
REQUEST_IDLE_5M = f"{_LEVEL}:obsgen_memory_request_idle_bytes:avg_over_time5m"


def _over_window(metric: str, operation: str, window_s: int) -> str:
    return f"{_LEVEL}:{metric}:{operation}{promql.duration(window_s)}"


def working_set_avg(window_s: int) -> str:
    """Name of the mean working set (bytes) over ``window_s``, from the 5-minute means."""
    return _over_window("obsgen_memory_working_set_bytes", "avg_over_time", window_s)


def working_set_peak(window_s: int) -> str:
    """Name of the peak working set (bytes) over ``window_s``, from the 5-minute peaks."""
    return _over_window("obsgen_memory_working_set_bytes", "max_over_time", window_s)


def working_set_quantile(window_s: int) -> str:
    """Name of the ``RIGHTSIZING_QUANTILE`` of the 5-minute peaks over ``window_s`` (bytes)."""
    return _over_window("obsgen_memory_working_set_bytes", "quantile_over_time", window_s)


def request_idle(window_s: int) -> str:
    """Name of the mean idle request (request minus mean use, bytes) over ``window_s``."""
    return _over_window("obsgen_memory_request_idle_bytes", "avg_over_time", window_s)


def request_idle_byte_seconds(window_s: int) -> str:
    """Name of the idle request integrated over ``window_s`` (byte-seconds), for cost reports."""
    return _over_window("obsgen_memory_request_idle_byte_seconds", "sum_over_time", window_s)


def container_labels(cluster_label: str) -> tuple[str, ...]:
    """Labels that identify one container across the fleet."""
    return (cluster_label, "namespace", "pod", "container")


GROUP_PREFIX = "obsgen"


def source_group(source: str) -> str:
    return f"{GROUP_PREFIX}-source-{source}"


def service_group(service: str) -> str:
    return f"{GROUP_PREFIX}-service-{service}"
