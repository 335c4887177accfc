"""Any ASGI app with pause diagnostics, for `python -m loadtests.bench --diag`:
`DIAG_APP=realtime.app:app uvicorn loadtests.diag_app:app`.

It records, without changing the wrapped app: every garbage collection's duration per
generation (`gc.callbacks`), and the event loop's lag (a timer every 10 ms, how late it
runs). `GET /__diag` answers the figures since the last `GET /__diag/reset` as JSON. These
tell whether a latency tail comes from collector pauses or from the loop being busy.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import time
from typing import Any

_module, _, _attr = os.environ.get("DIAG_APP", "realtime.app:app").partition(":")
inner: Any = getattr(importlib.import_module(_module), _attr)

LAG_EVERY_S = 0.010
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_lags: list[float] = []
_started: dict[int, float] = {}
_monitor: asyncio.TimerHandle | None = None


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    gen = int(info.get("generation", 0))
    if phase == "start":
        _started[gen] = time.perf_counter()
    elif gen in _started and len(_pauses[gen]) < 1_000_000:
        _pauses[gen].append(time.perf_counter() - _started.pop(gen))


gc.callbacks.append(_on_gc)


def _tick(loop: asyncio.AbstractEventLoop, due: float) -> None:
    global _monitor
    now = loop.time()
    if len(_lags) < 1_000_000:
        _lags.append(max(0.0, now - due))
    _monitor = loop.call_at(now + LAG_EVERY_S, _tick, loop, now + LAG_EVERY_S)


def _summary(values: list[float]) -> dict[str, Any]:
    s = sorted(values)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "total_ms": round(sum(s) * 1000, 1),
        "p50_ms": round(s[len(s) // 2] * 1000, 2),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 2),
        "max_ms": round(s[-1] * 1000, 2),
    }


def report() -> dict[str, Any]:
    return {
        "gc_pauses": {f"gen{g}": _summary(v) for g, v in _pauses.items()},
        "loop_lag": _summary(_lags),
        "gc_threshold": gc.get_threshold(),
        "gc_count": gc.get_count(),
        "gc_freeze_count": gc.get_freeze_count(),
    }


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] in ("/__diag", "/__diag/reset"):
        if scope["path"] == "/__diag/reset":
            for v in _pauses.values():
                v.clear()
            _lags.clear()
        body = json.dumps(report()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    global _monitor
    if _monitor is None:
        loop = asyncio.get_running_loop()
        _monitor = loop.call_at(loop.time() + LAG_EVERY_S, _tick, loop, loop.time() + LAG_EVERY_S)
    await inner(scope, receive, send)
