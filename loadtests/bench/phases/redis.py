"""1. Redis: tick.lua EVALSHA calls/s, pipelined (without and with the viewers ZADD), and
redis-benchmark on one user's keys."""

from __future__ import annotations

import os

import msgspec

from loadtests import redisbench
from loadtests.bench.config import log
from loadtests.bench.harness import Harness
from loadtests.bench.measure import median_of, snapshot, usage
from loadtests.bench.results import Redis, RedisBenchmark, TickWindow


def bench_redis(h: Harness) -> Redis:
    log("Redis baseline: tick.lua EVALSHA rate")
    assert h.stack.redis is not None and h.stack.redis.proc is not None
    port = h.stack.redis.port
    users = 5000 if h.quick else 10_000
    first = 10_000_000  # not the hub's users
    cid = h.stack.content_ids[0]
    # The client runs on the server core (nothing else runs there now); Redis on its own.
    old = os.sched_getaffinity(0)
    if h.server_cpus:
        os.sched_setaffinity(0, h.server_cpus)
    try:
        sha = redisbench.prepare(port, users, first, cid)
        secs = 2.0 if h.quick else 3.0
        redis_pid = h.stack.redis.proc.pid
        ticks: dict[str, TickWindow] = {}
        for label, zadd in (("tick", False), ("tick_zadd", True)):
            runs = []
            for _ in range(h.reps):
                a = snapshot([redis_pid])
                r = redisbench.tick_rate(port, sha, users, first, cid, secs, with_zadd=zadd)
                use = usage(a, snapshot([redis_pid]), redis_pid)
                cpu = use["server_cpu"]
                runs.append(
                    TickWindow(
                        **r,
                        core_busy=use["core_busy"],
                        redis_cpu=cpu,
                        per_redis_cpu_s=round(r["ticks_per_s"] / cpu, 1) if cpu else None,
                    )
                )
            ticks[label] = median_of(runs)
        cpus = ",".join(map(str, sorted(h.server_cpus))) if h.server_cpus else None
        stock = redisbench.redis_benchmark(
            port, sha, first, cid, 100_000 if h.quick else 300_000, cpus
        )
        return Redis(
            tick=ticks["tick"],
            tick_zadd=ticks["tick_zadd"],
            redis_benchmark=msgspec.convert(stock, RedisBenchmark),
        )
    finally:
        os.sched_setaffinity(0, old)
        h.stack.flush_redis()
