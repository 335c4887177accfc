"""The headline figures of a run (`summary`, its `targets`), the windows other work
disturbed, and several runs compared. These read the JSON layout as plain data (dicts): the
files under loadtests/results/ and a run's own result, encoded."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtests.bench.config import FD_LIMIT_CONNS, KIB_TARGET


def disturbed_windows(r: Any, path: str = "", limit: float = 0.15) -> list[tuple[str, float]]:
    """The measured windows (medians, not single repetitions) in which other work took more
    than `limit` of the server's core."""
    out: list[tuple[str, float]] = []
    if isinstance(r, dict):
        share = r.get("other_on_server_core")
        if isinstance(share, (int, float)) and share > limit and "runs" in r:
            out.append((path, float(share)))
        for key, value in r.items():
            if key not in ("runs", "meta"):
                out += disturbed_windows(value, f"{path}/{key}" if path else key, limit)
    return out


def get(d: dict[str, Any] | None, *path: str) -> Any:
    """`d[path[0]][path[1]]...`, or None where a level is missing."""
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def ratio(a: Any, b: Any) -> float | None:
    """a / b when both are figures (and b is not 0)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return round(a / b, 3)
    return None


def summary(r: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    e1, h1 = get(r, "echo", "flood_1k"), get(r, "hub", "flood_1k")
    s["echo_rt_per_s_1k"] = get(e1, "per_s")
    s["hub_hb_per_s_1k"] = get(h1, "per_s")
    s["hub_over_echo_1k"] = ratio(s["hub_hb_per_s_1k"], s["echo_rt_per_s_1k"])
    s["hub_over_echo_1k_per_cpu_s"] = ratio(
        get(h1, "per_server_cpu_s"), get(e1, "per_server_cpu_s")
    )
    e10, h10 = get(r, "echo", "flood_10k"), get(r, "hub", "flood_10k")
    s["echo_rt_per_s_10k"] = get(e10, "per_s")
    s["hub_hb_per_s_10k"] = get(h10, "per_s")
    s["hub_over_echo_10k"] = ratio(s["hub_hb_per_s_10k"], s["echo_rt_per_s_10k"])
    s["echo_us_per_msg_1k"] = get(e1, "server_us_per_msg")
    s["hub_us_per_msg_1k"] = get(h1, "server_us_per_msg")
    s["echo_half_rate_p99_ms"] = get(r, "echo", "half_rate_1k", "p99_ms")
    s["hub_half_rate_p99_ms"] = get(r, "hub", "half_rate_1k", "p99_ms")
    s["echo_setup_per_s"] = get(
        r, "memory", "echo/websockets-sansio/plain", "at_10000", "setup", "per_s"
    )
    s["hub_setup_per_s"] = get(
        r, "memory", "hub/websockets-sansio/plain", "at_10000", "setup", "per_s"
    )
    mem = r.get("memory") or {}
    for n in (10_000, FD_LIMIT_CONNS):
        e = get(mem, "echo/websockets-sansio/plain", f"at_{n}", "kib_per_conn")
        h = get(mem, "hub/websockets-sansio/plain", f"at_{n}", "kib_per_conn")
        if e is not None or h is not None:
            s[f"echo_kib_per_conn_{n}"] = e
            s[f"hub_kib_per_conn_{n}"] = h
            s[f"hub_over_echo_kib_{n}"] = ratio(h, e)
    sess = get(mem, "hub/websockets-sansio/plain", "sessions_p99")
    s["sessions"] = get(sess, "sessions")
    s["sessions_p99_ms"] = get(sess, "p99_ms")
    s["rest_max_rps"] = get(r, "rest", "max", "per_s")
    s["rest_p99_ms_at_1k"] = get(r, "rest", "at_1k", "p99_ms")
    drain = get(r, "drain", "drain_grants_per_s")
    s["drain_grants_per_s"] = drain
    s["drain_over_target"] = ratio(drain, 20_000)
    s["targets"] = targets(s)
    return s


def targets(s: dict[str, Any]) -> list[dict[str, Any]]:
    def check(name: str, value: Any, ok: Callable[[Any], bool], target: str) -> dict[str, Any]:
        return {
            "target": name,
            "want": target,
            "value": value,
            "met": None if value is None else bool(ok(value)),
        }

    kib = s.get(f"hub_kib_per_conn_{FD_LIMIT_CONNS}") or s.get("hub_kib_per_conn_10000")
    kib_ratio = s.get(f"hub_over_echo_kib_{FD_LIMIT_CONNS}") or s.get("hub_over_echo_kib_10000")
    return [
        check(
            "hub heartbeats/s vs echo round trips/s (1k conns)",
            s.get("hub_over_echo_1k"),
            lambda v: v >= 0.70,
            ">= 0.70",
        ),
        check("idle memory per connection, hub / echo", kib_ratio, lambda v: v <= 1.15, "<= 1.15"),
        check("idle memory per connection, hub (KiB)", kib, lambda v: v <= KIB_TARGET, "<= 26"),
        check(
            f"heartbeat p99 with {s.get('sessions')} live sessions (ms)",
            s.get("sessions_p99_ms"),
            lambda v: v < 50,
            "< 50 (20k sessions)",
        ),
        check(
            "REST catalog list p99 at 1k rps (ms)",
            s.get("rest_p99_ms_at_1k"),
            lambda v: v < 20,
            "< 20",
        ),
        check(
            "outbox drain grants/s / 20k", s.get("drain_over_target"), lambda v: v >= 1.0, ">= 1.0"
        ),
    ]


def _num(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    if abs(v) < 10 and v != int(v):
        return f"{v:.2f}"
    if abs(v) < 1000 and v != int(v):
        return f"{v:.1f}"
    return f"{v:,.0f}"


def compare(paths: Sequence[Path]) -> str:
    """Min / median / max of the headline figures over several runs' JSON files."""
    runs = [json.loads(p.read_text()) for p in paths]
    sums = [summary(r) for r in runs]
    keys = [k for k in sums[0] if k != "targets"]
    lines = [f"{len(runs)} runs: " + ", ".join(str(p.name) for p in paths)]
    lines.append(f"{'figure':<34}{'min':>12}{'median':>12}{'max':>12}   per run")
    for key in keys:
        values = [s.get(key) for s in sums]
        nums = [v for v in values if isinstance(v, (int, float))]
        if not nums:
            continue
        each = " ".join(_num(v) for v in values)
        lines.append(
            f"{key:<34}{_num(min(nums)):>12}{_num(statistics.median(nums)):>12}"
            f"{_num(max(nums)):>12}   {each}"
        )
    return "\n".join(lines)
