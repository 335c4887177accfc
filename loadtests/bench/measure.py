"""Figures from samples and from the machine: percentiles, latency summaries, medians of
repetitions, CPU and RSS snapshots, the hub's own heartbeat histogram, quiet-machine waits."""

from __future__ import annotations

import http.client
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, TypeVar

import msgspec

from loadtests.bench.config import log
from loadtests.stack import core_busy, cpu_seconds, rss_kib


class LatencyFields(TypedDict):
    """A latency summary, spread into a window's figures or nested as `results.Latency`."""

    n: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


class UsageFields(TypedDict):
    """CPU over a measured window (the hub's histogram and the server core's other work when
    there are any), spread into the window's figures."""

    server_cpu: float
    server_cpu_s: float
    core_busy: dict[str, float]
    redis_cpu: NotRequired[float]
    hub_metric_n: NotRequired[int]
    hub_metric_p50_le_ms: NotRequired[float | None]
    hub_metric_p99_le_ms: NotRequired[float | None]
    other_on_server_core: NotRequired[float]


def pct(sorted_values: Sequence[int], q: float) -> float | None:
    """Nearest-rank percentile of microsecond samples, in milliseconds."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i] / 1000


def latency(samples: Iterable[int]) -> LatencyFields:
    s = sorted(samples)
    return {
        "n": len(s),
        "p50_ms": pct(s, 0.50),
        "p90_ms": pct(s, 0.90),
        "p99_ms": pct(s, 0.99),
        "p999_ms": pct(s, 0.999),
        "max_ms": s[-1] / 1000 if s else None,
    }


S = TypeVar("S", bound=msgspec.Struct)


def median_of(runs: Sequence[S]) -> S:
    """The repetitions' per-field median of the numeric fields (others from the first), with
    `reps` and `runs` set: `S` has both fields."""
    first = runs[0]
    medians: dict[str, Any] = {}
    for name in first.__struct_fields__:
        values = [getattr(r, name) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            medians[name] = statistics.median(values)
    return msgspec.structs.replace(first, **medians, reps=len(runs), runs=list(runs))


@dataclass
class Snapshot:
    t: float
    cpu: dict[int, float]
    cores: dict[int, float]


def snapshot(pids: Iterable[int]) -> Snapshot:
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = cpu_seconds(pid)
        except OSError:
            cpu[pid] = 0.0
    return Snapshot(time.perf_counter(), cpu, core_busy())


def usage(a: Snapshot, b: Snapshot, server_pid: int, redis_pids: Sequence[int] = ()) -> UsageFields:
    """CPU shares over a window; `redis_cpu` sums the given redis-servers (a cluster's nodes)."""
    dt = b.t - a.t
    out: UsageFields = {
        "server_cpu": round((b.cpu[server_pid] - a.cpu[server_pid]) / dt, 3),
        "server_cpu_s": b.cpu[server_pid] - a.cpu[server_pid],
        "core_busy": {str(c): round((b.cores[c] - a.cores[c]) / dt, 3) for c in b.cores},
    }
    pids = [p for p in redis_pids if p in b.cpu]
    if pids:
        out["redis_cpu"] = round(sum(b.cpu[p] - a.cpu[p] for p in pids) / dt, 3)
    return out


def steady_rss(pid: int) -> int:
    values = []
    for _ in range(3):
        values.append(rss_kib(pid))
        time.sleep(0.3)
    return int(statistics.median(values))


def heartbeat_histogram(port: int | None) -> dict[float, float] | None:
    """The hub's own `hub_heartbeat_seconds` histogram (cumulative count per upper bound)
    from /metrics: the server-side view of a heartbeat (frame handled to reply sent,
    Redis round trip included), free of the load generator's scheduling."""
    conn = http.client.HTTPConnection("127.0.0.1", port or 0, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("hub_heartbeat_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
    return out or None


def add_histogram_quantiles(
    use: UsageFields, before: dict[float, float], after: dict[float, float]
) -> None:
    """p50/p99 of the heartbeats observed between two scrapes, as bucket upper bounds."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0

    def quantile(q: float) -> float | None:
        bound = next(
            (b for b, c in zip(bounds, counts, strict=False) if total and c >= q * total), None
        )
        return None if bound is None or bound == float("inf") else bound * 1000

    use["hub_metric_n"] = int(total)
    use["hub_metric_p50_le_ms"] = quantile(0.5)
    use["hub_metric_p99_le_ms"] = quantile(0.99)


def background_load(seconds: float) -> dict[str, float]:
    """Each core's busy share over `seconds` while this benchmark runs nothing: the other work
    on the machine."""
    a = core_busy()
    time.sleep(seconds)
    b = core_busy()
    return {str(c): round((b[c] - a[c]) / seconds, 2) for c in b}


def wait_quiet(limit_s: float, threshold: float) -> dict[str, float]:
    """Wait (at most `limit_s`) until no core is busier than `threshold` with other work."""
    deadline = time.monotonic() + limit_s
    while True:
        load = background_load(5.0)
        if max(load.values()) <= threshold or time.monotonic() >= deadline:
            return load
        log(f"machine busy ({load}); waiting for it to calm down")


def sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
