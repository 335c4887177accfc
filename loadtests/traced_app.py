"""Any ASGI app with tracemalloc on, for loadtests/memprofile.py:
`TRACED_APP=realtime.app:app uvicorn loadtests.traced_app:app`.

Two extra GET routes, answered before the wrapped app sees the request: `/__mem/base` takes a
snapshot (after a full collection), `/__mem/diff?n=N&by=lineno|filename` answers the
allocations grown since then, per N connections, as JSON. The wrapped app is not changed.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import tracemalloc
from typing import Any
from urllib.parse import parse_qs

tracemalloc.start(int(os.environ.get("TRACE_FRAMES", "1")))

_module, _, _attr = os.environ.get("TRACED_APP", "realtime.app:app").partition(":")
inner: Any = getattr(importlib.import_module(_module), _attr)
_base: tracemalloc.Snapshot | None = None
_IGNORE = (tracemalloc.Filter(False, tracemalloc.__file__),)


async def _answer(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _diff(query: dict[str, list[str]]) -> dict[str, Any]:
    assert _base is not None
    n = max(1, int(query.get("n", ["1"])[0]))
    by = query.get("by", ["lineno"])[0]
    snap = tracemalloc.take_snapshot().filter_traces(_IGNORE)
    stats = snap.compare_to(_base, by)
    total = sum(s.size_diff for s in stats)
    rows = [
        {
            "where": str(s.traceback),
            "bytes_per_conn": round(s.size_diff / n, 1),
            "blocks_per_conn": round(s.count_diff / n, 2),
        }
        for s in stats[:60]
        if s.size_diff > 0
    ]
    return {"n": n, "by": by, "bytes_per_conn": round(total / n, 1), "top": rows}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _base
    if scope["type"] == "http" and scope["path"] in ("/__mem/base", "/__mem/diff"):
        gc.collect()
        if scope["path"] == "/__mem/base":
            _base = tracemalloc.take_snapshot().filter_traces(_IGNORE)
            await _answer(send, b'{"ok": true}')
        else:
            query = parse_qs(scope.get("query_string", b"").decode())
            await _answer(send, json.dumps(_diff(query)).encode())
        return
    await inner(scope, receive, send)
