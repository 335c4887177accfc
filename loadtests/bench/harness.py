"""The state of a run and its plumbing: the servers under test, the load generator's
connections and sessions, and measured windows (the server's CPU over the same seconds)."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.launch import HUB_WS
from devkit.procs import Proc
from loadtests.bench.config import CONNECT_CONCURRENCY
from loadtests.bench.measure import (
    UsageFields,
    add_histogram_quantiles,
    heartbeat_histogram,
    latency,
    sleep_until,
    snapshot,
    usage,
)
from loadtests.bench.results import Diag, Latency, SessionStart, Setup
from loadtests.loadgen import LoadGen, split
from loadtests.stack import Stack

Reply = dict[str, Any]  # a load worker's answer to a command


def summed(replies: Sequence[Reply], key: str = "errors") -> dict[str, int]:
    """The workers' counters under `key`, added up."""
    total: Counter[str] = Counter()
    for r in replies:
        total.update(r[key])
    return dict(total)


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.stamp = f"{'quick' if args.quick else 'full'}-{time.strftime('%Y%m%d-%H%M%S')}"
        ncpu = os.cpu_count() or 1
        pin = ncpu >= 2 and not args.no_pin
        self.server_cpus: set[int] | None = {args.server_cpu} if pin else None
        self.aux_cpus: set[int] | None = {args.aux_cpu} if pin else None
        self.workers: int = args.workers
        self.stack = Stack(
            service_cpus=self.aux_cpus, aof=True, keep=args.keep, cluster_masters=args.redis_cluster
        )
        self.lg: LoadGen | None = None
        self.tokens: list[str] = []
        self.token_next = 0
        self.notes: list[str] = []
        self.flood_s = 3.0 if self.quick else 5.0
        self.warmup_s = 1.0
        self.reps = 1 if self.quick else 3

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

    def diag(self, app: Proc, *, reset: bool = False) -> Diag | None:
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
    ) -> Setup:
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
        errors = summed(replies)
        elapsed = max(r["t_end"] for r in replies) - min(r["t_start"] for r in replies)
        if failed:
            self.notes.append(f"{app.name}: {failed} of {n} connections failed: {errors}")
        return Setup(
            requested=n,
            opened=opened,
            failed=failed,
            errors=errors,
            seconds=round(elapsed, 3),
            per_s=round(opened / elapsed, 1) if elapsed else None,
            handshake=Latency(**latency(v for r in replies for v in r["samples"])),
        )

    def start_sessions(self) -> SessionStart:
        replies = self.gen().broadcast(
            {
                "op": "start",
                "content_ids": self.stack.content_ids,
                "concurrency": 32,
                "timeout": 30.0,
            },
            timeout=300,
        )
        return SessionStart(
            outcome=summed(replies, "outcome"),
            seconds=round(max(r["elapsed"] for r in replies), 3),
            rtt=Latency(**latency(v for r in replies for v in r["samples"])),
        )

    def close_all(self) -> dict[str, int]:
        closes: Counter[str] = Counter()
        for r in self.gen().broadcast({"op": "close"}, timeout=60):
            closes.update({str(k): v for k, v in r["closes"].items()})
        return dict(closes)

    def window(
        self, cmd: dict[str, Any], server: Proc, duration: float, *, workers: int | None = None
    ) -> tuple[list[Reply], UsageFields]:
        """Run `cmd` as a timed window (warm-up, then `duration` measured seconds) on all the
        workers (or the first `workers`; the others idle), and measure the server over the
        measured seconds."""
        t0 = time.perf_counter() + 0.3
        ws = t0 + self.warmup_s
        we = ws + duration
        timed = {**cmd, "t0": t0, "warmup": self.warmup_s, "duration": duration}
        n = workers or self.workers
        cmds: list[dict[str, Any] | None] = [timed] * n + [None] * (self.workers - n)
        lg = self.gen()
        lg.send(cmds)
        pids = [server.pid, *self.stack.redis_pids]
        hub = server.name.startswith("hub")
        sleep_until(ws)
        a = snapshot(pids)
        before = heartbeat_histogram(server.port) if hub else None
        sleep_until(we)
        b = snapshot(pids)
        after = heartbeat_histogram(server.port) if hub else None
        use = usage(a, b, server.pid, self.stack.redis_pids)
        if before and after:
            add_histogram_quantiles(use, before, after)
        if self.server_cpus:
            # Busy time on the server's core that was not the server: other people's work
            # (nothing else of this benchmark runs there during a window).
            core = str(min(self.server_cpus))
            use["other_on_server_core"] = round(use["core_busy"][core] - use["server_cpu"], 3)
        return lg.collect(cmds, timeout=60), use
