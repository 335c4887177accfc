"""The benchmark: physical baselines and the hub, side by side, in one run.

    bash loadtests/bench.sh            # full (~10 min)
    bash loadtests/bench.sh --quick    # ~2 min, for iteration
    .venv/bin/python -m loadtests.bench --help

It starts its own redis-server (AOF everysec, as deployed) and PostgreSQL in a throwaway
folder, then measures:

1. Redis: tick.lua EVALSHA calls/s (pipelined raw client, and redis-benchmark).
2. A bare uvicorn WebSocket echo (loadtests/echo_app.py) and the hub (`realtime.app:app`),
   one process each, started with the same uvicorn flags: round trips (echo) and heartbeats
   (hub: every one a full tick.lua, earning, grants on) per second with p50/p99 round trip at
   1k and 10k flooding connections; p50/p99 at 50% of the max rate; connection setup rate;
   idle memory per connection at 10k and 20k connections (RSS after minus RSS before, divided)
   for websockets-sansio and wsproto with per-message-deflate on and off; p99 of 20k live
   sessions heartbeating every 10 s.
3. REST catalog list (GET /api/contents) max rps and p99 at 1k rps; outbox drain grants/s
   (loadtests/drain_bench.py, when it exists).

CPU plan (2 cores): the process under test is pinned to --server-cpu (0); Redis,
PostgreSQL, the load generator processes and this controller share --aux-cpu (1). Every
measured window also records the server's own CPU seconds and each core's busy share, so a
figure disturbed by other work on the machine can be recognised (and heartbeats per server
CPU-second stay comparable under noise).

Results: a table on stdout, and JSON under loadtests/results/.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.launch import HUB_WS
from devkit.procs import Proc
from loadtests import redisbench
from loadtests.loadgen import LoadGen, heartbeat_frame, split
from loadtests.stack import (
    BENCH_ARGS,
    ROOT,
    Stack,
    core_busy,
    cpu_seconds,
    loadavg,
    rss_kib,
)

RESULTS = ROOT / "loadtests" / "results"
FIRST_UID = 100_000
FD_LIMIT_CONNS = 19_800  # one process may hold 20,000 open files here (hard limit)
KIB_TARGET = 26.0

# The per-address gates are lifted: all load comes from a few 127.0.0.x addresses.
GATES_OFF = {"WS_MAX_CONNECTIONS_PER_IP": 1_000_000, "WS_CONNECTS_PER_IP_PER_MINUTE": 1_000_000}
# Hub settings for flooding: every heartbeat credits (interval 100 ms, so a flood of ~10
# heartbeats/s per connection credits ~100 ms each), a reward every 1 s credited (about one
# heartbeat in ten grants, like one in six at the real 10 s / 60 s), no daily cap, no rate limit.
# Session TTL 1 h: setting up 10k sessions can take longer than 30 s on a busy machine, and
# the first ones must still be live when the flood begins (the heartbeat path is the same).
FLOOD_ENV = {
    "HEARTBEAT_INTERVAL_MS": 100,
    "REWARD_INTERVAL_MS": 1000,
    "DAILY_REWARD_CAP": 0,
    "SESSION_TTL_MS": 3_600_000,
    "WS_MAX_MESSAGES_PER_SECOND": 10_000,
    "NODE_ID": "bench-hub",
    **GATES_OFF,
}
# Hub settings for the memory and 20k-sessions runs: the production defaults (heartbeat 10 s,
# reward every 60 s), except a session TTL of 1 h: starting 20k sessions takes longer than
# the 30 s TTL on a busy machine, and the first ones must still be live when the heartbeats
# begin. The heartbeat path is the same.
REAL_ENV = {"NODE_ID": "bench-hub", "DAILY_REWARD_CAP": 0, "SESSION_TTL_MS": 3_600_000, **GATES_OFF}
CONNECT_CONCURRENCY = 64  # per load worker: 256 handshakes in flight with 4 workers


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- figures -------------------------------------------------------------------------------


def pct(sorted_values: Sequence[int], q: float) -> float | None:
    """Nearest-rank percentile of microsecond samples, in milliseconds."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i] / 1000


def latency(samples: Iterable[int]) -> dict[str, float | int | None]:
    s = sorted(samples)
    return {
        "n": len(s),
        "p50_ms": pct(s, 0.50),
        "p90_ms": pct(s, 0.90),
        "p99_ms": pct(s, 0.99),
        "p999_ms": pct(s, 0.999),
        "max_ms": s[-1] / 1000 if s else None,
    }


def median_of(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-key median of the numeric fields of several repetitions (others from the first)."""
    if not reps:
        return {}
    out: dict[str, Any] = {}
    for key, value in reps[0].items():
        values = [r.get(key) for r in reps]
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and all(isinstance(v, (int, float)) for v in values)
        ):
            out[key] = statistics.median(values)  # type: ignore[type-var]
        else:
            out[key] = value
    out["reps"] = len(reps)
    return out


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


def usage(
    a: Snapshot, b: Snapshot, server_pid: int, redis_pids: Sequence[int] = ()
) -> dict[str, Any]:
    """CPU shares over a window; `redis_cpu` sums the given redis-servers (a cluster's nodes)."""
    dt = b.t - a.t
    out = {
        "server_cpu": round((b.cpu[server_pid] - a.cpu[server_pid]) / dt, 3),
        "server_cpu_s": b.cpu[server_pid] - a.cpu[server_pid],
        "core_busy": {str(c): round((b.cores[c] - a.cores[c]) / dt, 3) for c in b.cores},
    }
    pids = [p for p in redis_pids if p in b.cpu]
    if pids:
        out["redis_cpu"] = round(sum(b.cpu[p] - a.cpu[p] for p in pids) / dt, 3)
    return out


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


def histogram_quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """p50/p99 of the heartbeats observed between two scrapes, as bucket upper bounds."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    out: dict[str, Any] = {"hub_metric_n": int(total)}
    for q, key in ((0.5, "hub_metric_p50_le_ms"), (0.99, "hub_metric_p99_le_ms")):
        bound = next(
            (b for b, c in zip(bounds, counts, strict=False) if total and c >= q * total), None
        )
        out[key] = None if bound is None or bound == float("inf") else bound * 1000
    return out


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


def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


# --- the benchmark ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.stamp = f"{'quick' if args.quick else 'full'}-{time.strftime('%Y%m%d-%H%M%S')}"
        ncpu = os.cpu_count() or 1
        pin = ncpu >= 2 and not args.no_pin
        self.server_cpus = {args.server_cpu} if pin else None
        self.aux_cpus = {args.aux_cpu} if pin else None
        self.workers: int = args.workers
        self.stack = Stack(
            service_cpus=self.aux_cpus, aof=True, keep=args.keep, cluster_masters=args.redis_cluster
        )
        self.lg: LoadGen | None = None
        self.tokens: list[str] = []
        self.token_next = 0
        self.notes: list[str] = []
        self.result: dict[str, Any] = {}
        self.flood_s = 3.0 if self.quick else 5.0
        self.warmup_s = 1.0
        self.reps = 1 if self.quick else 3

    # Plumbing.

    def gen(self) -> LoadGen:
        assert self.lg is not None
        return self.lg

    def start_server(
        self,
        kind: str,
        *,
        ws: str = "websockets-sansio",
        deflate: bool = False,
        env: dict[str, Any] | None = None,
    ) -> Proc:
        target = {
            "hub": "realtime.app:app",
            "echo": "loadtests.echo_app:app",
            "starlette": "loadtests.echo_app:starlette_app",
        }[kind]
        if kind == "hub":
            env = {**(env or {}), **self.args.hub_env}
            if self.stack.cluster is not None:  # --redis-cluster: the hub ticks on the cluster
                env.update(REDIS_URL=self.stack.cluster.url, REDIS_CLUSTER="1")
            if self.args.diag:
                target, env["DIAG_APP"] = "loadtests.diag_app:app", target
        name = f"{kind}-{ws}-{'deflate' if deflate else 'plain'}"
        if kind == "hub" and ws == "websockets-sansio" and self.args.hub_lane == "direct":
            ws = HUB_WS  # also when --diag wraps the hub
        app = self.stack.start_uvicorn(
            name,
            target,
            self.stack.env(**(env or {})),
            cpus=self.server_cpus,
            ws=ws,
            deflate=deflate,
        )
        time.sleep(0.5)  # let start-up work (gc.freeze, first control poll) finish
        return app

    def stop_server(self, app: Proc) -> None:
        self.stack.stop_app(app)

    def diag(self, app: Proc, *, reset: bool = False) -> dict[str, Any] | None:
        """GC pauses and loop lag since the last reset (hub run with --diag only)."""
        if not (self.args.diag and app.name.startswith("hub")):
            return None
        conn = http.client.HTTPConnection("127.0.0.1", app.port or 0, timeout=30)
        try:
            conn.request("GET", "/__diag/reset" if reset else "/__diag")
            return dict(json.loads(conn.getresponse().read()))
        except (OSError, ValueError) as exc:
            return {"error": repr(exc)}
        finally:
            conn.close()

    def connect(
        self,
        app: Proc,
        kind: str,
        n: int,
        *,
        deflate: bool,
        typed: bool,
        concurrency: int = CONNECT_CONCURRENCY,
    ) -> dict[str, Any]:
        """Open `n` more connections spread over the workers; returns setup figures."""
        lg = self.gen()
        shares = split(n, self.workers)
        cmds = []
        for i, k in enumerate(shares):
            tokens = None
            if kind == "hub":
                tokens = self.tokens[self.token_next : self.token_next + k]
                if len(tokens) < k:
                    raise RuntimeError("not enough tokens minted")
                self.token_next += k
            cmds.append(
                {
                    "op": "connect",
                    "host": "127.0.0.1",
                    "port": app.port,
                    "path": "/ws",
                    "tokens": tokens,
                    "n": k,
                    "src": lg.src(i),
                    "deflate": deflate,
                    "typed": typed,
                    "concurrency": concurrency,
                    "timeout": 30.0,
                    "t0": time.perf_counter() + 0.2,
                }
            )
        replies = lg.call(cmds, timeout=60 + n / 200)
        opened = sum(r["opened"] for r in replies)
        failed = sum(r["failed"] for r in replies)
        errors: Counter[str] = Counter()
        for r in replies:
            errors.update(r["errors"])
        elapsed = max(r["t_end"] for r in replies) - min(r["t_start"] for r in replies)
        out = {
            "requested": n,
            "opened": opened,
            "failed": failed,
            "errors": dict(errors),
            "seconds": round(elapsed, 3),
            "per_s": round(opened / elapsed, 1) if elapsed else None,
            "handshake": latency(v for r in replies for v in r["samples"]),
        }
        if failed:
            self.notes.append(f"{app.name}: {failed} of {n} connections failed: {dict(errors)}")
        return out

    def start_sessions(self) -> dict[str, Any]:
        replies = self.gen().broadcast(
            {
                "op": "start",
                "content_ids": self.stack.content_ids,
                "concurrency": 32,
                "timeout": 30.0,
            },
            timeout=300,
        )
        outcome: Counter[str] = Counter()
        for r in replies:
            outcome.update(r["outcome"])
        return {
            "outcome": dict(outcome),
            "seconds": round(max(r["elapsed"] for r in replies), 3),
            "rtt": latency(v for r in replies for v in r["samples"]),
        }

    def close_all(self) -> dict[str, int]:
        closes: Counter[str] = Counter()
        for r in self.gen().broadcast({"op": "close"}, timeout=60):
            closes.update({str(k): v for k, v in r["closes"].items()})
        return dict(closes)

    def timed(
        self, cmd: dict[str, Any], server: Proc, warmup: float, duration: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Run a timed phase on all workers; measure the server over the same window."""
        t0 = time.perf_counter() + 0.3
        cmds = [{**cmd, "t0": t0, "warmup": warmup, "duration": duration}] * self.workers
        return self.timed_cmds(cmds, server, t0 + warmup, t0 + warmup + duration)

    def timed_cmds(
        self, cmds: Sequence[dict[str, Any] | None], server: Proc, ws: float, we: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        lg = self.gen()
        lg.send(cmds)
        pids = [server.pid, *self.stack.redis_pids]
        hub = server.name.startswith("hub")
        _sleep_until(ws)
        a = snapshot(pids)
        before = heartbeat_histogram(server.port) if hub else None
        _sleep_until(we)
        b = snapshot(pids)
        after = heartbeat_histogram(server.port) if hub else None
        use = usage(a, b, server.pid, self.stack.redis_pids)
        if before and after:
            use.update(histogram_quantiles(before, after))
        if self.server_cpus:
            # Busy time on the server's core that was not the server: other people's work
            # (nothing else of this benchmark runs there during a window).
            core = str(min(self.server_cpus))
            use["other_on_server_core"] = round(use["core_busy"][core] - use["server_cpu"], 3)
        return lg.collect(cmds, timeout=60), use

    def flood(
        self, server: Proc, conns: int, *, reps: int | None = None, duration: float | None = None
    ) -> dict[str, Any]:
        runs = []
        duration = duration or self.flood_s
        for _ in range(reps or self.reps):
            replies, use = self.timed(
                {"op": "flood", "frame": heartbeat_frame(), "depth": 1},
                server,
                self.warmup_s,
                duration,
            )
            count = sum(r["count"] for r in replies)
            errors: Counter[str] = Counter()
            for r in replies:
                errors.update(r["errors"])
            run = {
                "conns": conns,
                "per_s": round(count / duration, 1),
                **latency(v for r in replies for v in r["samples"]),
                **use,
                "server_us_per_msg": round(use["server_cpu_s"] * 1e6 / count, 2) if count else None,
                "per_server_cpu_s": round(count / use["server_cpu_s"], 1)
                if use["server_cpu_s"]
                else None,
                "client_cpu": round(sum(r["cpu_s"] for r in replies) / duration, 3),
                "errors": dict(errors),
                "unanswered": sum(r["unanswered"] for r in replies),
            }
            pushes: Counter[str] = Counter()
            for r in replies:
                pushes.update(r["pushes"])
            run["pushes"] = dict(pushes)
            runs.append(run)
            time.sleep(0.3)
        out = median_of(runs)
        out["runs"] = runs
        return out

    def rate(
        self,
        server: Proc,
        total_rate: float,
        duration: float,
        *,
        reps: int = 1,
        max_backlog: int = 8,
    ) -> dict[str, Any]:
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter() + 0.3
            cmds = [
                {
                    "op": "rate",
                    "frame": heartbeat_frame(),
                    "rate": total_rate / self.workers,
                    "t0": t0,
                    "warmup": self.warmup_s,
                    "duration": duration,
                    "max_backlog": max_backlog,
                }
            ] * self.workers
            replies, use = self.timed_cmds(
                cmds, server, t0 + self.warmup_s, t0 + self.warmup_s + duration
            )
            count = sum(r["count"] for r in replies)
            errors: Counter[str] = Counter()
            pushes: Counter[str] = Counter()
            for r in replies:
                errors.update(r["errors"])
                pushes.update(r["pushes"])
            runs.append(
                {
                    "target_per_s": round(total_rate, 1),
                    "per_s": round(count / duration, 1),
                    **latency(v for r in replies for v in r["samples"]),
                    **use,
                    "send_lag_p99_ms": latency(v for r in replies for v in r["lag_samples"])[
                        "p99_ms"
                    ],
                    "skipped": sum(r["skipped"] for r in replies),
                    "errors": dict(errors),
                    "pushes": dict(pushes),
                    "unanswered": sum(r["unanswered"] for r in replies),
                    "client_cpu": round(sum(r["cpu_s"] for r in replies) / duration, 3),
                }
            )
            time.sleep(0.3)
        out = median_of(runs)
        out["runs"] = runs
        return out

    @staticmethod
    def steady_rss(pid: int) -> int:
        values = []
        for _ in range(3):
            values.append(rss_kib(pid))
            time.sleep(0.3)
        return int(statistics.median(values))

    # 1. Redis.

    def bench_redis(self) -> dict[str, Any]:
        log("Redis baseline: tick.lua EVALSHA rate")
        assert self.stack.redis is not None
        port = self.stack.redis.port
        users = 5000 if self.quick else 10_000
        first = 10_000_000  # not the hub's users
        cid = self.stack.content_ids[0]
        # The client runs on the server core (nothing else runs there now); Redis on its own.
        old = os.sched_getaffinity(0)
        if self.server_cpus:
            os.sched_setaffinity(0, self.server_cpus)
        try:
            sha = redisbench.prepare(port, users, first, cid)
            secs = 2.0 if self.quick else 3.0
            redis_pid = self.stack.redis.proc.pid  # type: ignore[union-attr]
            out: dict[str, Any] = {}
            for label, zadd in (("tick", False), ("tick_zadd", True)):
                runs = []
                for _ in range(self.reps):
                    a = snapshot([redis_pid])
                    r = redisbench.tick_rate(port, sha, users, first, cid, secs, with_zadd=zadd)
                    b = snapshot([redis_pid])
                    r.update(usage(a, b, redis_pid))
                    r["redis_cpu"] = r.pop("server_cpu")
                    r.pop("server_cpu_s")
                    r["per_redis_cpu_s"] = (
                        round(r["ticks_per_s"] / r["redis_cpu"], 1) if r["redis_cpu"] else None
                    )
                    runs.append(r)
                out[label] = median_of(runs) | {"runs": runs}
            cpus = ",".join(map(str, sorted(self.server_cpus))) if self.server_cpus else None
            out["redis_benchmark"] = redisbench.redis_benchmark(
                port, sha, first, cid, 100_000 if self.quick else 300_000, cpus
            )
            return out
        finally:
            os.sched_setaffinity(0, old)
            self.stack.flush_redis()

    # 2. WebSocket: throughput.

    def bench_throughput(
        self, kind: str, *, deflate: bool = False, with_10k: bool = True, with_half: bool = True
    ) -> dict[str, Any]:
        log(f"{kind}: flood throughput (deflate {'on' if deflate else 'off'})")
        self.token_next = 0
        self.stack.flush_redis()
        ws = self.args.ws_impl
        server = self.start_server(
            kind, ws=ws, deflate=deflate, env=FLOOD_ENV if kind == "hub" else None
        )
        typed = kind == "hub"
        out: dict[str, Any] = {"ws": ws, "deflate": deflate}
        try:
            out["connect_1k"] = self.connect(server, kind, 1000, deflate=deflate, typed=typed)
            if kind == "hub":
                out["start_1k"] = self.start_sessions()
            self.diag(server, reset=True)
            out["flood_1k"] = self.flood(server, 1000)
            out["flood_1k"]["diag"] = self.diag(server)
            if self.args.profile and kind == "hub" and not deflate:
                out["profile_flood_1k"] = self.profile(
                    server,
                    "hub-flood-1k",
                    lambda secs: self.flood(server, 1000, reps=1, duration=secs - self.warmup_s),
                )
            if with_half:
                half = out["flood_1k"]["per_s"] / 2
                self.diag(server, reset=True)
                out["half_rate_1k"] = self.rate(
                    server, half, max(self.flood_s, 5.0), reps=self.reps
                )
                out["half_rate_1k"]["diag"] = self.diag(server)
            if with_10k:
                out["connect_to_10k"] = self.connect(
                    server, kind, 9000, deflate=deflate, typed=typed
                )
                if kind == "hub":
                    out["start_10k"] = self.start_sessions()
                out["flood_10k"] = self.flood(server, 10_000)
            out["closes"] = self.close_all()
            out["server_rss_kib_end"] = rss_kib(server.pid)
        finally:
            self.stop_server(server)
        return out

    # 2. WebSocket: memory, setup rate, 20k sessions.

    def bench_memory(
        self, kind: str, ws: str, deflate: bool, counts: Sequence[int], sessions: bool
    ) -> dict[str, Any]:
        log(
            f"{kind}: idle memory per connection ({ws}, deflate {'on' if deflate else 'off'}, "
            f"{'/'.join(str(c) for c in counts)} conns)"
        )
        self.token_next = 0
        self.stack.flush_redis()
        server = self.start_server(
            kind, ws=ws, deflate=deflate, env=REAL_ENV if kind == "hub" else None
        )
        out: dict[str, Any] = {"ws": ws, "deflate": deflate}
        try:
            # Warm up: code paths, allocator pools and the first control poll.
            self.connect(server, kind, 200, deflate=deflate, typed=False)
            self.close_all()
            time.sleep(1.0)
            self.token_next = 0
            rss0 = self.steady_rss(server.pid)
            out["rss_before_kib"] = rss0
            opened = 0
            for i, target in enumerate(counts):
                n = target - opened
                if self.args.profile and kind == "hub" and i == 1:
                    # Where a connection's setup goes (the first increment stays unprofiled:
                    # it is the reported setup rate).
                    box: dict[str, Any] = {}

                    def connect_more(
                        secs: float, n: int = n, box: dict[str, Any] = box
                    ) -> dict[str, Any]:
                        box.update(self.connect(server, kind, n, deflate=deflate, typed=sessions))
                        return {"per_s": box["per_s"]}

                    out["profile_connect"] = self.profile(server, "hub-connect", connect_more)
                    setup = box
                else:
                    setup = self.connect(server, kind, n, deflate=deflate, typed=sessions)
                opened += setup["opened"]
                time.sleep(2.0)
                rss = self.steady_rss(server.pid)
                a = snapshot([server.pid])
                time.sleep(3.0)
                b = snapshot([server.pid])
                out[f"at_{target}"] = {
                    "opened": opened,
                    "rss_kib": rss,
                    "kib_per_conn": round((rss - rss0) / opened, 2) if opened else None,
                    "idle_server_cpu": usage(a, b, server.pid)["server_cpu"],
                    "setup": setup,
                }
            if sessions:
                out["start"] = self.start_sessions()
                time.sleep(2.0)
                rss = self.steady_rss(server.pid)
                out["with_sessions"] = {
                    "opened": opened,
                    "rss_kib": rss,
                    "kib_per_conn": round((rss - rss0) / opened, 2),
                }
                interval = 10.0
                secs = 10.0 if self.quick else 40.0
                log(
                    f"hub: {opened} live sessions, one heartbeat per {interval:.0f} s each, {secs:.0f} s"
                )
                self.diag(server, reset=True)
                out["sessions_p99"] = self.rate(server, opened / interval, secs, reps=1)
                out["sessions_p99"]["diag"] = self.diag(server)
                out["sessions_p99"]["sessions"] = opened
                out["sessions_p99"]["interval_s"] = interval
                if self.args.profile:
                    out["profile_sessions"] = self.profile(
                        server,
                        f"hub-sessions-{opened}",
                        lambda secs: self.rate(server, opened / interval, secs - self.warmup_s),
                    )
            out["closes"] = self.close_all()
        finally:
            self.stop_server(server)
        return out

    # Profile.

    def profile(
        self, app: Proc, name: str, run: Callable[[float], dict[str, Any]]
    ) -> dict[str, Any]:
        """py-spy samples `app` while `run(seconds)` loads it once more (an extra window, not
        one of the measured ones: sampling costs the target a little)."""
        pyspy = Path(sys.executable).parent / "py-spy"
        if not pyspy.exists():
            self.notes.append("py-spy not installed (.venv/bin/pip install py-spy): no profile")
            return {"skipped": "py-spy not installed"}
        secs = 8 if self.quick else 15
        raw = RESULTS / f"profile-{self.stamp}-{name}.txt"
        argv = [
            str(pyspy),
            "record",
            "--pid",
            str(app.pid),
            "--duration",
            str(secs),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(raw),
        ]
        if self.aux_cpus:
            argv = ["taskset", "-c", ",".join(map(str, sorted(self.aux_cpus))), *argv]
        log(f"{app.name}: py-spy record {secs}s ({name})")
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        load = run(secs - 1)
        try:
            _, err = proc.communicate(timeout=secs + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"skipped": "py-spy did not finish"}
        if proc.returncode != 0 or not raw.exists():
            return {"skipped": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
        summary = summarize_profile(raw, expected=int(200 * secs))
        summary["load_under_profiler"] = {
            k: load.get(k) for k in ("per_s", "p50_ms", "p99_ms", "server_cpu")
        }
        summary["file"] = str(raw.relative_to(ROOT))
        return summary

    # 3. REST and drain.

    def bench_rest(self) -> dict[str, Any]:
        log("REST: GET /api/contents")
        env = self.stack.env(RATE_LIMIT_PER_MINUTE=1_000_000, ADMIN_RATE_LIMIT_PER_MINUTE=1_000_000)
        try:
            api = self.stack.start_uvicorn("api", "api.app:app", env, cpus=self.server_cpus)
        except RuntimeError as exc:
            self.notes.append(f"REST skipped: the api did not start ({str(exc)[:200]})")
            return {"skipped": "api did not start"}
        try:
            token = self.stack.tokens([2])[0]
            path = "/api/contents?limit=20"
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status != 200:
                note = f"REST skipped: GET {path} answered {resp.status} (route not there yet?)"
                self.notes.append(note)
                return {
                    "skipped": note,
                    "status": resp.status,
                    "body": body[:200].decode(errors="replace"),
                }
            from loadtests.clients import http_request

            request = http_request("GET", "127.0.0.1", api.port, path, token)
            out: dict[str, Any] = {"path": path, "response_bytes": len(body)}
            secs = 3.0 if self.quick else 5.0

            def run(
                mode: str, rate: float, conns: int, reps: int = self.reps, secs: float = secs
            ) -> dict[str, Any]:
                runs = []
                for _ in range(reps):
                    t0 = time.perf_counter() + 0.3
                    cmd = {
                        "op": "http",
                        "host": "127.0.0.1",
                        "port": api.port,
                        "request": request,
                        "conns": conns,
                        "mode": mode,
                        "rate": rate,
                        "t0": t0,
                        "warmup": self.warmup_s,
                        "duration": secs,
                    }
                    cmds = [cmd] + [None] * (self.workers - 1)
                    replies, use = self.timed_cmds(
                        cmds, api, t0 + self.warmup_s, t0 + self.warmup_s + secs
                    )
                    r = replies[0]
                    runs.append(
                        {
                            "mode": mode,
                            "target_per_s": rate if mode == "rate" else None,
                            "conns": conns,
                            "per_s": round(r["count"] / secs, 1),
                            **latency(r["samples"]),
                            **use,
                            "statuses": r["statuses"],
                            "client_cpu": round(r["cpu_s"] / secs, 3),
                        }
                    )
                    time.sleep(0.3)
                return median_of(runs) | {"runs": runs}

            out["max"] = run("closed", 0, 32)
            out["at_1k"] = run("rate", 1000.0, 64)
            if self.args.profile:
                out["profile_max"] = self.profile(
                    api, "api-contents", lambda t: run("closed", 0, 32, 1, t - self.warmup_s)
                )
            return out
        finally:
            self.stack.stop_app(api)

    def bench_drain(self) -> dict[str, Any]:
        """loadtests/drain_bench.py (the money path's benchmark) starts its own Redis,
        PostgreSQL and worker, and prints/writes one JSON object with `drain_grants_per_s`."""
        script = ROOT / "loadtests" / "drain_bench.py"
        if not script.exists():
            note = "drain skipped: loadtests/drain_bench.py does not exist yet"
            self.notes.append(note)
            return {"skipped": note}
        log("drain: python -m loadtests.drain_bench (its own servers and worker, unpinned)")
        out_path = self.stack.dir / "drain.json"
        argv = [sys.executable, "-m", "loadtests.drain_bench", "--out", str(out_path)]
        if self.quick:
            argv += ["--grants", "50000", "--seconds", "5"]
        try:
            proc = subprocess.run(
                argv,
                cwd=ROOT,
                env=self.stack.env(),
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.notes.append("drain: drain_bench did not finish in 15 min")
            return {"skipped": "timeout"}
        if proc.returncode != 0 or not out_path.exists():
            tail = (proc.stderr or proc.stdout)[-400:]
            note = f"drain failed (exit {proc.returncode}): {tail}"
            self.notes.append(note)
            return {"skipped": note}
        result = dict(json.loads(out_path.read_text()))
        result["command"] = " ".join(argv[1:3] + argv[5:])
        return result

    # The run.

    def run(self) -> dict[str, Any]:
        started = time.time()
        t_start = time.monotonic()
        meta = {
            "mode": "quick" if self.quick else "full",
            "stamp": self.stamp,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "git": git_rev(),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "versions": versions(),
            "cpu_plan": {
                "server": sorted(self.server_cpus) if self.server_cpus else "unpinned",
                "aux (redis, postgres, load workers, controller, py-spy)": sorted(self.aux_cpus)
                if self.aux_cpus
                else "unpinned",
                "load_workers": self.workers,
            },
            "uvicorn_flags": " ".join(BENCH_ARGS) + " + core/launch.py",
            "hub_env_extra": self.args.hub_env,
            "hub_env_flood": FLOOD_ENV,
            "hub_env_memory_sessions": REAL_ENV,
            "loadavg_before": loadavg(),
        }
        self.result = {"meta": meta}
        if self.args.wait_quiet:
            meta["background_core_busy_before"] = wait_quiet(self.args.wait_quiet, 0.3)
        else:
            meta["background_core_busy_before"] = background_load(3.0)
        log(f"other work on the machine (core busy share): {meta['background_core_busy_before']}")
        log(f"starting redis-server and PostgreSQL (load average now {meta['loadavg_before']})")
        self.stack.start()
        big = 10_000 if self.quick else FD_LIMIT_CONNS
        self.stack.provision_users(FIRST_UID, big)
        log(f"minting {big} access tokens")
        self.tokens = self.stack.tokens(range(FIRST_UID, FIRST_UID + big))
        self.token_next = 0
        self.lg = LoadGen(self.workers, self.aux_cpus)
        try:
            r = self.result
            phases: dict[str, float] = {}
            meta["phase_seconds"] = phases
            mark = t_start

            def phase(name: str) -> None:
                nonlocal mark
                phases[name] = round(time.monotonic() - mark, 1)
                mark = time.monotonic()

            phase("setup")
            if "redis" in self.args.only:
                r["redis"] = self.bench_redis()
                phase("redis")
            if "ws" in self.args.only:
                r["echo"] = self.bench_throughput("echo", with_10k=not self.quick)
                r["hub"] = self.bench_throughput("hub", with_10k=not self.quick)
                if not self.quick:
                    r["starlette"] = self.bench_throughput(
                        "starlette", with_10k=False, with_half=False
                    )
                    r["echo_deflate"] = self.bench_throughput(
                        "echo", deflate=True, with_10k=False, with_half=False
                    )
                    r["hub_deflate"] = self.bench_throughput(
                        "hub", deflate=True, with_10k=False, with_half=False
                    )
                phase("ws")
            mem: dict[str, Any] = {}
            if "memory" in self.args.only:
                counts = [10_000] if self.quick else [10_000, FD_LIMIT_CONNS]
                for kind in ("echo", "hub"):
                    mem[f"{kind}/websockets-sansio/plain"] = self.bench_memory(
                        kind, "websockets-sansio", False, counts, sessions=kind == "hub"
                    )
                if not self.quick:
                    mem["starlette/websockets-sansio/plain"] = self.bench_memory(
                        "starlette", "websockets-sansio", False, [10_000], sessions=False
                    )
            if "matrix" in self.args.only and not self.quick:
                for ws, deflate in (
                    ("websockets-sansio", True),
                    ("wsproto", False),
                    ("wsproto", True),
                ):
                    for kind in ("echo", "hub"):
                        key = f"{kind}/{ws}/{'deflate' if deflate else 'plain'}"
                        mem[key] = self.bench_memory(kind, ws, deflate, [10_000], sessions=False)
            if mem:
                r["memory"] = mem
                phase("memory")
            if "rest" in self.args.only:
                r["rest"] = self.bench_rest()
                phase("rest")
            if "drain" in self.args.only:
                r["drain"] = self.bench_drain()
                phase("drain")
        finally:
            self.gen().close()
            self.stack.stop()
        meta["loadavg_after"] = loadavg()
        meta["background_core_busy_after"] = background_load(3.0)
        meta["seconds"] = round(time.time() - started, 1)
        self.result["summary"] = summary(self.result)
        disturbed = sorted(disturbed_windows(self.result))
        if disturbed:
            self.notes.append(
                "other work used more than 15% of the server's core during: "
                + ", ".join(f"{path} ({share:.0%})" for path, share in disturbed)
                + " - treat those figures with care, or run again (--wait-quiet)"
            )
        self.result["notes"] = self.notes
        return self.result


# --- profile summary ---------------------------------------------------------------------------


def summarize_profile(path: Path, expected: int, top: int = 30) -> dict[str, Any]:
    """Where the samples are, from py-spy's collapsed stacks: self share per function, self
    share per package (uvicorn, websockets, redis, realtime, ...) and inclusive share per
    function (start-up frames that are on every stack left out)."""
    self_counts: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf = _short(frames[-1])
        self_counts[leaf] += count
        by_package[_package(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            incl[name] += count

    def rows(counter: Counter[str], limit: int) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(limit)]

    most = max(incl.values(), default=0)
    on_every_stack = {name for name, n in incl.items() if n >= 0.95 * most}
    inclusive = Counter({k: v for k, v in incl.items() if k not in on_every_stack})
    return {
        "samples": total,
        "expected_if_always_busy": expected,
        "note": "shares are of the samples in which the thread was not idle; py-spy also "
        "counts time a runnable thread waited for the CPU",
        "self_pct": rows(self_counts, top),
        "self_pct_by_package": rows(by_package, 20),
        "inclusive_pct": rows(inclusive, top),
    }


def _short(frame: str) -> str:
    """`func (path/to/module.py:123)` -> `func (module path)`: one row per function."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})"


def _package(frame: str) -> str:
    where = _short(frame).rsplit(" (", 1)[-1].rstrip(")")
    if where == "asyncio/runners.py":  # uvloop's C: epoll, socket reads, running callbacks
        return "event loop (uvloop)"
    head = where.split("/", 1)[0]
    head = head.removesuffix(".py")
    return head


# --- summary table ---------------------------------------------------------------------------


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


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return round(a / b, 3)
    return None


def summary(r: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    e1, h1 = _get(r, "echo", "flood_1k"), _get(r, "hub", "flood_1k")
    s["echo_rt_per_s_1k"] = _get(e1, "per_s")
    s["hub_hb_per_s_1k"] = _get(h1, "per_s")
    s["hub_over_echo_1k"] = _ratio(s["hub_hb_per_s_1k"], s["echo_rt_per_s_1k"])
    s["hub_over_echo_1k_per_cpu_s"] = _ratio(
        _get(h1, "per_server_cpu_s"), _get(e1, "per_server_cpu_s")
    )
    e10, h10 = _get(r, "echo", "flood_10k"), _get(r, "hub", "flood_10k")
    s["echo_rt_per_s_10k"] = _get(e10, "per_s")
    s["hub_hb_per_s_10k"] = _get(h10, "per_s")
    s["hub_over_echo_10k"] = _ratio(s["hub_hb_per_s_10k"], s["echo_rt_per_s_10k"])
    s["echo_us_per_msg_1k"] = _get(e1, "server_us_per_msg")
    s["hub_us_per_msg_1k"] = _get(h1, "server_us_per_msg")
    s["echo_half_rate_p99_ms"] = _get(r, "echo", "half_rate_1k", "p99_ms")
    s["hub_half_rate_p99_ms"] = _get(r, "hub", "half_rate_1k", "p99_ms")
    s["echo_setup_per_s"] = _get(
        r, "memory", "echo/websockets-sansio/plain", "at_10000", "setup", "per_s"
    )
    s["hub_setup_per_s"] = _get(
        r, "memory", "hub/websockets-sansio/plain", "at_10000", "setup", "per_s"
    )
    mem = r.get("memory") or {}
    for n in (10_000, FD_LIMIT_CONNS):
        e = _get(mem, "echo/websockets-sansio/plain", f"at_{n}", "kib_per_conn")
        h = _get(mem, "hub/websockets-sansio/plain", f"at_{n}", "kib_per_conn")
        if e is not None or h is not None:
            s[f"echo_kib_per_conn_{n}"] = e
            s[f"hub_kib_per_conn_{n}"] = h
            s[f"hub_over_echo_kib_{n}"] = _ratio(h, e)
    sess = _get(mem, "hub/websockets-sansio/plain", "sessions_p99")
    s["sessions"] = _get(sess, "sessions")
    s["sessions_p99_ms"] = _get(sess, "p99_ms")
    s["rest_max_rps"] = _get(r, "rest", "max", "per_s")
    s["rest_p99_ms_at_1k"] = _get(r, "rest", "at_1k", "p99_ms")
    drain = _get(r, "drain", "drain_grants_per_s")
    s["drain_grants_per_s"] = drain
    s["drain_over_target"] = _ratio(drain, 20_000)
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


def _f(v: Any, digits: int = 0) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and digits:
        return f"{v:,.{digits}f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}"
    return str(v)


def table(r: dict[str, Any]) -> str:
    lines: list[str] = []
    w = 50

    def row(label: str, *cols: str) -> None:
        lines.append(f"{label:<{w}}" + "".join(f"{c:>15}" for c in cols))

    meta = r["meta"]
    lines.append(f"watch-hub benchmark ({meta['mode']}), {meta['started']}, git {meta['git']}")
    lines.append(f"CPU plan: {meta['cpu_plan']}")
    lines.append(
        f"other work on the machine: load average before {meta['loadavg_before']}, "
        f"after {meta.get('loadavg_after')}; core busy share before "
        f"{meta.get('background_core_busy_before')}, after "
        f"{meta.get('background_core_busy_after')}"
    )
    lines.append("")
    red = r.get("redis") or {}
    if red:
        row("Redis", "calls/s", "Redis CPU", "per CPU-second")
        for key, label in (
            ("tick", "tick.lua EVALSHA, pipelined, 10k users"),
            ("tick_zadd", "tick.lua + viewers ZADD (a heartbeat's Redis work)"),
        ):
            x = red.get(key) or {}
            row(
                label,
                _f(x.get("ticks_per_s")),
                _f(x.get("redis_cpu"), 2),
                _f(x.get("per_redis_cpu_s")),
            )
        row(
            "redis-benchmark EVALSHA tick.lua (one user, P=32)",
            _f(_get(red, "redis_benchmark", "requests_per_s")),
            "",
            "",
        )
        lines.append("")
    kinds = ("echo", "starlette", "hub")

    def ws_rows(label: str, key: str, *, ratio: bool = True) -> None:
        parts = [_get(r, k, key) for k in kinds]
        if not any(parts):
            return
        e, _, h = parts
        row(
            label,
            *(_f(_get(x, "per_s")) for x in parts),
            _f(_ratio(_get(h, "per_s"), _get(e, "per_s")), 2) if ratio else "",
        )
        row(
            "  p50 / p99 ms",
            *(
                f"{_f(_get(x, 'p50_ms'), 1)} / {_f(_get(x, 'p99_ms'), 1)}" if x else ""
                for x in parts
            ),
            "",
        )
        if _get(h, "server_us_per_msg") is not None or _get(e, "server_us_per_msg") is not None:
            row(
                "  server CPU share",
                *(_f(_get(x, "server_cpu"), 2) if x else "" for x in parts),
                "",
            )
            row(
                "  µs of server CPU per message (ratio: per CPU-s)",
                *(_f(_get(x, "server_us_per_msg"), 1) if x else "" for x in parts),
                _f(_ratio(_get(h, "per_server_cpu_s"), _get(e, "per_server_cpu_s")), 2),
            )

    impl = _get(r, "hub", "ws") or "websockets-sansio"
    row(f"WebSocket ({impl}, deflate off)", "echo", "Starlette echo", "hub", "hub/echo")
    ws_rows("round trips/s, flood, 1k conns", "flood_1k")
    ws_rows("round trips/s, flood, 10k conns", "flood_10k")
    ws_rows("at 50% of own max, 1k conns", "half_rate_1k", ratio=False)
    e, h = _get(r, "echo_deflate", "flood_1k"), _get(r, "hub_deflate", "flood_1k")
    if e or h:
        row(
            "round trips/s, flood, 1k conns, deflate ON",
            _f(_get(e, "per_s")),
            "",
            _f(_get(h, "per_s")),
            _f(_ratio(_get(h, "per_s"), _get(e, "per_s")), 2),
        )
    mem = r.get("memory") or {}
    if mem:
        lines.append("")
        row("Idle memory (KiB per connection)", "echo", "Starlette echo", "hub", "hub/echo")
        for ws in ("websockets-sansio", "wsproto"):
            for d in ("plain", "deflate"):
                for n in (10_000, FD_LIMIT_CONNS):
                    e, st, h = (
                        _get(mem, f"{k}/{ws}/{d}", f"at_{n}", "kib_per_conn") for k in kinds
                    )
                    if e is None and h is None:
                        continue
                    row(
                        f"{ws}, deflate {'on' if d == 'deflate' else 'off'}, {n} conns",
                        _f(e, 1),
                        _f(st, 1),
                        _f(h, 1),
                        _f(_ratio(h, e), 2),
                    )
        h = _get(mem, "hub/websockets-sansio/plain", "with_sessions", "kib_per_conn")
        if h is not None:
            row("hub with a live session on each connection", "", "", _f(h, 1), "")
        lines.append("")
        row(
            "Connection setup (conns/s, 10k, 256 in flight)",
            "echo",
            "Starlette echo",
            "hub",
            "hub/echo",
        )
        e, st, h = (
            _get(mem, f"{k}/websockets-sansio/plain", "at_10000", "setup", "per_s") for k in kinds
        )
        row("websockets-sansio, deflate off", _f(e), _f(st), _f(h), _f(_ratio(h, e), 2))
        sess = _get(mem, "hub/websockets-sansio/plain", "sessions_p99")
        if sess:
            lines.append("")
            row(
                f"{_f(sess.get('sessions'))} live sessions, 1 heartbeat / 10 s each",
                "heartbeats/s",
                "p50 ms",
                "p99 ms",
                "server CPU",
            )
            row(
                "hub (round trip at the client)",
                _f(sess.get("per_s")),
                _f(sess.get("p50_ms"), 1),
                _f(sess.get("p99_ms"), 1),
                _f(sess.get("server_cpu"), 2),
            )
            if sess.get("hub_metric_n"):
                row(
                    "  hub's own histogram (bucket upper bounds)",
                    "",
                    f"<= {_f(sess.get('hub_metric_p50_le_ms'), 1)}",
                    f"<= {_f(sess.get('hub_metric_p99_le_ms'), 1)}",
                    "",
                )
            other = sess.get("other_on_server_core")
            if other is not None:
                lines.append(
                    f"  other work on the server's core during the window: {other:.0%}; "
                    f"Redis CPU {_f(sess.get('redis_cpu'), 2)}; load generator send lag p99 "
                    f"{_f(sess.get('send_lag_p99_ms'), 1)} ms"
                )
    for label, d in (
        ("hub flood, 1k conns", _get(r, "hub", "flood_1k", "diag")),
        ("hub at 50% of max", _get(r, "hub", "half_rate_1k", "diag")),
        ("hub, live sessions", _get(mem, "hub/websockets-sansio/plain", "sessions_p99", "diag")),
    ):
        if not d or "gc_pauses" not in d:
            continue
        g = d["gc_pauses"]
        parts = [
            f"gen{i} {_f(g[f'gen{i}'].get('n'))}x max {_f(g[f'gen{i}'].get('max_ms'), 1)} ms"
            for i in range(3)
        ]
        lag = d["loop_lag"]
        lines.append(
            f"  --diag {label}: GC {', '.join(parts)}; loop lag p99 "
            f"{_f(lag.get('p99_ms'), 1)} ms, max {_f(lag.get('max_ms'), 1)} ms"
        )
    rest = r.get("rest") or {}
    lines.append("")
    if rest.get("skipped"):
        lines.append(f"REST: {rest['skipped']}")
    elif rest:
        row("REST GET /api/contents", "rps", "p50 ms", "p99 ms")
        row(
            "max (32 keep-alive conns)",
            _f(_get(rest, "max", "per_s")),
            _f(_get(rest, "max", "p50_ms"), 1),
            _f(_get(rest, "max", "p99_ms"), 1),
        )
        row(
            "at 1k rps (64 conns)",
            _f(_get(rest, "at_1k", "per_s")),
            _f(_get(rest, "at_1k", "p50_ms"), 1),
            _f(_get(rest, "at_1k", "p99_ms"), 1),
        )
    drain = r.get("drain") or {}
    if drain.get("skipped"):
        lines.append(f"Drain: {drain['skipped']}")
    elif drain:
        rate = drain.get("drain_grants_per_s")
        lag = drain.get("lag_ms") or {}
        lines.append(
            f"Outbox drain into PostgreSQL: {_f(rate)} grants/s "
            f"({_f(_ratio(rate, 20_000), 2)} of the 20k/s target); lag at "
            f"{_f(drain.get('lag_rate_grants_per_s'))} grants/s: p50 {_f(lag.get('p50'), 1)} ms, "
            f"p99 {_f(lag.get('p99'), 1)} ms"
        )
    lines.append("")
    row("Targets", "want", "value", "met")
    for t in r["summary"]["targets"]:
        v = t["value"]
        row(
            t["target"][:w],
            t["want"],
            _f(v, 2) if isinstance(v, float) else _f(v),
            {True: "yes", False: "NO", None: "-"}[t["met"]],
        )
    for note in r.get("notes") or []:
        lines.append(f"note: {note}")
    return "\n".join(lines)


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


# --- environment ------------------------------------------------------------------------------


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "realtime", "core", "api"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "uvicorn",
        "websockets",
        "wsproto",
        "starlette",
        "redis",
        "hiredis",
        "uvloop",
        "httptools",
        "msgspec",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    try:
        out["redis-server"] = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2]
    except (OSError, IndexError):
        out["redis-server"] = "?"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~2 minutes: fewer, shorter runs")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated parts to run (default: all): redis, ws (throughput), memory "
        "(websockets-sansio without deflate at 10k/20k, and 20k live sessions), matrix (the "
        "other --ws and deflate settings, full mode only), rest, drain; --quick leaves out "
        "drain unless named",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--aux-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--workers", type=int, default=4, help="load generator processes")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy the hub under flood (default: on in full mode)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other work on the machine to calm "
        "down (every core under 30%% busy)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the servers' folder and logs")
    parser.add_argument(
        "--hub-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for every hub process (repeatable), "
        "e.g. GC_THRESHOLD=700,10,10 to compare with the default",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON path (default loadtests/results/bench-<mode>-<time>.json)"
    )
    parser.add_argument(
        "--ws-impl",
        default="websockets-sansio",
        choices=["websockets-sansio", "wsproto", "websockets"],
        help="uvicorn --ws for the throughput part (the memory parts measure them all)",
    )
    parser.add_argument(
        "--redis-cluster",
        type=int,
        default=0,
        metavar="MASTERS",
        help="run the hub on a local Redis Cluster of this many masters (REDIS_CLUSTER=1); "
        "the Redis baseline stays on the single server",
    )
    parser.add_argument(
        "--hub-lane",
        default="direct",
        choices=["direct", "asgi"],
        help="the hub on websockets-sansio: with its direct lane (realtime.wsdirect, as "
        "deployed) or over uvicorn's plain ASGI events",
    )
    parser.add_argument(
        "--diag",
        action="store_true",
        help="run the hub inside loadtests/diag_app.py: GC pauses per generation and event "
        "loop lag during the flood, the 50%% run and the 20k sessions",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print min/median/max of the headline figures of earlier runs and exit",
    )
    parser.add_argument(
        "--table", type=Path, metavar="JSON", help="print the table of an earlier run and exit"
    )
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(args.compare))
        return 0
    if args.table:
        result = json.loads(args.table.read_text())
        result["summary"] = summary(result)
        print(table(result))
        return 0
    if args.only is None:
        args.only = "redis,ws,memory,rest" if args.quick else "redis,ws,memory,matrix,rest,drain"
    args.only = set(args.only.split(","))
    args.hub_env = dict(kv.split("=", 1) for kv in args.hub_env)
    if args.profile is None:
        args.profile = not args.quick
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = Bench(args).run()
    text = table(result)
    print(text, flush=True)
    out = args.out or RESULTS / f"bench-{result['meta']['stamp']}.json"
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nJSON: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
