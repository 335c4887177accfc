"""2. WebSocket idle memory: RSS per connection at 10k (and FD_LIMIT_CONNS) connections, the
connection setup rate, and for the hub a live session on each connection heartbeating at the
real interval."""

from __future__ import annotations

import time

from loadtests.bench.config import FD_LIMIT_CONNS, REAL_ENV, log
from loadtests.bench.harness import Harness
from loadtests.bench.measure import snapshot, steady_rss, usage
from loadtests.bench.profile import profile
from loadtests.bench.results import IdlePoint, Memory, Setup, WithSessions
from loadtests.bench.windows import rate


def bench_memory(
    h: Harness, kind: str, ws: str, deflate: bool, *, big: bool, sessions: bool
) -> Memory:
    """`big`: go on from 10k connections to FD_LIMIT_CONNS; `sessions`: then start a session
    on each and heartbeat (the hub)."""
    counts = [10_000, FD_LIMIT_CONNS] if big else [10_000]
    log(
        f"{kind}: idle memory per connection ({ws}, deflate {'on' if deflate else 'off'}, "
        f"{'/'.join(str(c) for c in counts)} conns)"
    )
    h.token_next = 0
    h.stack.flush_redis()
    server = h.start_server(kind, ws=ws, deflate=deflate, env=REAL_ENV if kind == "hub" else None)
    out = Memory(ws=ws, deflate=deflate)
    try:
        # Warm up: code paths, allocator pools and the first control poll.
        h.connect(server, kind, 200, deflate=deflate, typed=False)
        h.close_all()
        time.sleep(1.0)
        h.token_next = 0
        rss0 = out.rss_before_kib = steady_rss(server.pid)
        opened = 0
        for i, target in enumerate(counts):
            n = target - opened
            box: list[Setup] = []
            if h.args.profile and kind == "hub" and i == 1:
                # Where a connection's setup goes (the first increment stays unprofiled:
                # it is the reported setup rate).
                def connect_more(secs: float, n: int = n, box: list[Setup] = box) -> Setup:
                    box.append(h.connect(server, kind, n, deflate=deflate, typed=sessions))
                    return box[0]

                out.profile_connect = profile(h, server, "hub-connect", connect_more)
            setup = box[0] if box else h.connect(server, kind, n, deflate=deflate, typed=sessions)
            opened += setup.opened
            time.sleep(2.0)
            rss = steady_rss(server.pid)
            a = snapshot([server.pid])
            time.sleep(3.0)
            b = snapshot([server.pid])
            point = IdlePoint(
                opened=opened,
                rss_kib=rss,
                kib_per_conn=round((rss - rss0) / opened, 2) if opened else None,
                idle_server_cpu=usage(a, b, server.pid)["server_cpu"],
                setup=setup,
            )
            if target == 10_000:
                out.at_10000 = point
            else:
                out.at_19800 = point
        if sessions:
            out.start = h.start_sessions()
            time.sleep(2.0)
            rss = steady_rss(server.pid)
            out.with_sessions = WithSessions(
                opened=opened, rss_kib=rss, kib_per_conn=round((rss - rss0) / opened, 2)
            )
            interval = 10.0
            secs = 10.0 if h.quick else 40.0
            log(
                f"hub: {opened} live sessions, one heartbeat per {interval:.0f} s each, {secs:.0f} s"
            )
            h.diag(server, reset=True)
            window = rate(h, server, opened / interval, secs, reps=1)
            window.diag = h.diag(server)
            window.sessions = opened
            window.interval_s = interval
            out.sessions_p99 = window
            if h.args.profile:
                out.profile_sessions = profile(
                    h,
                    server,
                    f"hub-sessions-{opened}",
                    lambda secs: rate(h, server, opened / interval, secs - h.warmup_s),
                )
        out.closes = h.close_all()
    finally:
        h.stop_server(server)
    return out
