"""The text table of a run (stdout, and `--table` of an earlier run's JSON)."""

from __future__ import annotations

from typing import Any

from loadtests.bench.config import FD_LIMIT_CONNS
from loadtests.bench.report import get, ratio


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
            _f(get(red, "redis_benchmark", "requests_per_s")),
            "",
            "",
        )
        lines.append("")
    kinds = ("echo", "starlette", "hub")

    def ws_rows(label: str, key: str, *, with_ratio: bool = True) -> None:
        parts = [get(r, k, key) for k in kinds]
        if not any(parts):
            return
        e, _, h = parts
        row(
            label,
            *(_f(get(x, "per_s")) for x in parts),
            _f(ratio(get(h, "per_s"), get(e, "per_s")), 2) if with_ratio else "",
        )
        row(
            "  p50 / p99 ms",
            *(f"{_f(get(x, 'p50_ms'), 1)} / {_f(get(x, 'p99_ms'), 1)}" if x else "" for x in parts),
            "",
        )
        if get(h, "server_us_per_msg") is not None or get(e, "server_us_per_msg") is not None:
            row(
                "  server CPU share",
                *(_f(get(x, "server_cpu"), 2) if x else "" for x in parts),
                "",
            )
            row(
                "  µs of server CPU per message (ratio: per CPU-s)",
                *(_f(get(x, "server_us_per_msg"), 1) if x else "" for x in parts),
                _f(ratio(get(h, "per_server_cpu_s"), get(e, "per_server_cpu_s")), 2),
            )

    impl = get(r, "hub", "ws") or "websockets-sansio"
    row(f"WebSocket ({impl}, deflate off)", "echo", "Starlette echo", "hub", "hub/echo")
    ws_rows("round trips/s, flood, 1k conns", "flood_1k")
    ws_rows("round trips/s, flood, 10k conns", "flood_10k")
    ws_rows("at 50% of own max, 1k conns", "half_rate_1k", with_ratio=False)
    e, h = get(r, "echo_deflate", "flood_1k"), get(r, "hub_deflate", "flood_1k")
    if e or h:
        row(
            "round trips/s, flood, 1k conns, deflate ON",
            _f(get(e, "per_s")),
            "",
            _f(get(h, "per_s")),
            _f(ratio(get(h, "per_s"), get(e, "per_s")), 2),
        )
    mem = r.get("memory") or {}
    if mem:
        lines.append("")
        row("Idle memory (KiB per connection)", "echo", "Starlette echo", "hub", "hub/echo")
        for ws in ("websockets-sansio", "wsproto"):
            for d in ("plain", "deflate"):
                for n in (10_000, FD_LIMIT_CONNS):
                    e, st, h = (get(mem, f"{k}/{ws}/{d}", f"at_{n}", "kib_per_conn") for k in kinds)
                    if e is None and h is None:
                        continue
                    row(
                        f"{ws}, deflate {'on' if d == 'deflate' else 'off'}, {n} conns",
                        _f(e, 1),
                        _f(st, 1),
                        _f(h, 1),
                        _f(ratio(h, e), 2),
                    )
        h = get(mem, "hub/websockets-sansio/plain", "with_sessions", "kib_per_conn")
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
            get(mem, f"{k}/websockets-sansio/plain", "at_10000", "setup", "per_s") for k in kinds
        )
        row("websockets-sansio, deflate off", _f(e), _f(st), _f(h), _f(ratio(h, e), 2))
        sess = get(mem, "hub/websockets-sansio/plain", "sessions_p99")
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
        ("hub flood, 1k conns", get(r, "hub", "flood_1k", "diag")),
        ("hub at 50% of max", get(r, "hub", "half_rate_1k", "diag")),
        ("hub, live sessions", get(mem, "hub/websockets-sansio/plain", "sessions_p99", "diag")),
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
            _f(get(rest, "max", "per_s")),
            _f(get(rest, "max", "p50_ms"), 1),
            _f(get(rest, "max", "p99_ms"), 1),
        )
        row(
            "at 1k rps (64 conns)",
            _f(get(rest, "at_1k", "per_s")),
            _f(get(rest, "at_1k", "p50_ms"), 1),
            _f(get(rest, "at_1k", "p99_ms"), 1),
        )
    drain = r.get("drain") or {}
    if drain.get("skipped"):
        lines.append(f"Drain: {drain['skipped']}")
    elif drain:
        rate = drain.get("drain_grants_per_s")
        lag = drain.get("lag_ms") or {}
        lines.append(
            f"Outbox drain into PostgreSQL: {_f(rate)} grants/s "
            f"({_f(ratio(rate, 20_000), 2)} of the 20k/s target); lag at "
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
