"""2. WebSocket throughput: one server (echo, Starlette echo or the hub) flooded by 1k
connections, at half that rate, then flooded by 10k."""

from __future__ import annotations

from loadtests.bench.config import FLOOD_ENV, log
from loadtests.bench.harness import Harness
from loadtests.bench.profile import profile
from loadtests.bench.results import Throughput
from loadtests.bench.windows import flood, rate
from loadtests.stack import rss_kib


def bench_throughput(
    h: Harness, kind: str, *, deflate: bool = False, with_10k: bool = True, with_half: bool = True
) -> Throughput:
    log(f"{kind}: flood throughput (deflate {'on' if deflate else 'off'})")
    h.token_next = 0
    h.stack.flush_redis()
    ws = h.args.ws_impl
    server = h.start_server(kind, ws=ws, deflate=deflate, env=FLOOD_ENV if kind == "hub" else None)
    typed = kind == "hub"
    out = Throughput(ws=ws, deflate=deflate)
    try:
        out.connect_1k = h.connect(server, kind, 1000, deflate=deflate, typed=typed)
        if kind == "hub":
            out.start_1k = h.start_sessions()
        h.diag(server, reset=True)
        out.flood_1k = flood_1k = flood(h, server, 1000)
        flood_1k.diag = h.diag(server)
        if h.args.profile and kind == "hub" and not deflate:
            out.profile_flood_1k = profile(
                h,
                server,
                "hub-flood-1k",
                lambda secs: flood(h, server, 1000, reps=1, duration=secs - h.warmup_s),
            )
        if with_half:
            h.diag(server, reset=True)
            half = rate(h, server, flood_1k.per_s / 2, max(h.flood_s, 5.0), reps=h.reps)
            half.diag = h.diag(server)
            out.half_rate_1k = half
        if with_10k:
            out.connect_to_10k = h.connect(server, kind, 9000, deflate=deflate, typed=typed)
            if kind == "hub":
                out.start_10k = h.start_sessions()
            out.flood_10k = flood(h, server, 10_000)
        out.closes = h.close_all()
        out.server_rss_kib_end = rss_kib(server.pid)
    finally:
        h.stop_server(server)
    return out
