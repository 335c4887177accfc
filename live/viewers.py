"""Viewer counts: how many live sessions each content has, and live sessions in all.

A content's viewers are the members of its viewer set (`{c<id>}:viewers`, user id → session
deadline) whose deadline has not passed, so a dead hub's sessions stop counting at their
deadline even before the sweep removes them. The hub, the api's catalog and its admin live
view all count through here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from live import keys

CHUNK = 1000  # ZCOUNTs per pipeline round trip


def _now_ms(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


async def _zcounts(redis: Any, names: Sequence[str], now_ms: int) -> list[int]:
    out: list[int] = []
    for start in range(0, len(names), CHUNK):
        pipe = redis.pipeline(transaction=False)
        for name in names[start : start + CHUNK]:
            pipe.zcount(name, now_ms, "+inf")
        out += [int(n) for n in await pipe.execute()]
    return out


async def counts(redis: Any, content_ids: Sequence[int], now_ms: int | None = None) -> list[int]:
    """Live viewers of each content, in order. Raises what Redis raises."""
    return await _zcounts(redis, [keys.viewers(c) for c in content_ids], _now_ms(now_ms))


async def sessions_live(redis: Any, partitions: int, now_ms: int | None = None) -> int:
    """Live watch sessions in all partitions (members of the deadline sets not yet past)."""
    names = [keys.deadlines(p) for p in range(partitions)]
    return sum(await _zcounts(redis, names, _now_ms(now_ms)))


async def prune(redis: Any, content_ids: Sequence[int], now_ms: int | None = None) -> None:
    """Drop the members whose deadline has passed from each content's viewer set."""
    now = _now_ms(now_ms)
    pipe = redis.pipeline(transaction=False)
    for cid in content_ids:
        pipe.zremrangebyscore(keys.viewers(cid), "-inf", now - 1)
    await pipe.execute()
