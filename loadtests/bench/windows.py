"""The load windows the WebSocket parts measure: a flood (every connection keeps one
heartbeat in flight) and a fixed total rate; each repeated, and the median reported."""

from __future__ import annotations

import time

from devkit.procs import Proc
from loadtests.bench.harness import Harness, summed
from loadtests.bench.measure import latency, median_of
from loadtests.bench.results import FloodWindow, RateWindow
from loadtests.loadgen import heartbeat_frame


def flood(
    h: Harness, server: Proc, conns: int, *, reps: int | None = None, duration: float | None = None
) -> FloodWindow:
    runs = []
    duration = duration or h.flood_s
    for _ in range(reps or h.reps):
        replies, use = h.window(
            {"op": "flood", "frame": heartbeat_frame(), "depth": 1}, server, duration
        )
        count = sum(r["count"] for r in replies)
        cpu_s = use["server_cpu_s"]
        runs.append(
            FloodWindow(
                conns=conns,
                per_s=round(count / duration, 1),
                **latency(v for r in replies for v in r["samples"]),
                **use,
                server_us_per_msg=round(cpu_s * 1e6 / count, 2) if count else None,
                per_server_cpu_s=round(count / cpu_s, 1) if cpu_s else None,
                client_cpu=round(sum(r["cpu_s"] for r in replies) / duration, 3),
                errors=summed(replies),
                unanswered=sum(r["unanswered"] for r in replies),
                pushes=summed(replies, "pushes"),
            )
        )
        time.sleep(0.3)
    return median_of(runs)


def rate(
    h: Harness,
    server: Proc,
    total_rate: float,
    duration: float,
    *,
    reps: int = 1,
    max_backlog: int = 8,
) -> RateWindow:
    runs = []
    for _ in range(reps):
        cmd = {
            "op": "rate",
            "frame": heartbeat_frame(),
            "rate": total_rate / h.workers,
            "max_backlog": max_backlog,
        }
        replies, use = h.window(cmd, server, duration)
        count = sum(r["count"] for r in replies)
        runs.append(
            RateWindow(
                target_per_s=round(total_rate, 1),
                per_s=round(count / duration, 1),
                **latency(v for r in replies for v in r["samples"]),
                **use,
                send_lag_p99_ms=latency(v for r in replies for v in r["lag_samples"])["p99_ms"],
                skipped=sum(r["skipped"] for r in replies),
                errors=summed(replies),
                pushes=summed(replies, "pushes"),
                unanswered=sum(r["unanswered"] for r in replies),
                client_cpu=round(sum(r["cpu_s"] for r in replies) / duration, 3),
            )
        )
        time.sleep(0.3)
    return median_of(runs)
