"""The cron jobs, called as arq calls them (a ctx dict), each run twice: idempotent."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from sqlalchemy import text

from live import keys
from tests.workers.conftest import PARTITIONS
from workers import jobs


async def _content(engine: Any, **cols: Any) -> int:
    names = ", ".join(cols)
    values = ", ".join(f":{k}" for k in cols)
    async with engine.begin() as conn:
        row = await conn.execute(
            text(
                "INSERT INTO contents (title, source_url, duration_s"
                + (", " + names if cols else "")
                + ") VALUES ('c', 'https://example.test/v.mp4', 60"
                + (", " + values if cols else "")
                + ") RETURNING id"
            ),
            cols,
        )
        return int(row.scalar_one())


async def _row(engine: Any, cid: int, cols: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(text(f"SELECT {cols} FROM contents WHERE id = :c"), {"c": cid})
        ).one()


async def test_viewer_counts_are_copied_from_redis_and_gone_viewers_drop_to_zero(
    app: Any, redis: Any, engine: Any
) -> None:
    busy, idle, gone = await _content(engine), await _content(engine), await _content(engine)
    now = int(time.time() * 1000)
    await redis.zadd(keys.viewers(busy), {"1": now + 30_000, "2": now + 30_000, "3": now - 5})
    await redis.zadd(keys.viewers(gone), {"1": now + 30_000})
    ctx = {"app": app}
    assert await jobs.sync_viewer_counts(ctx) == 3
    assert tuple(await _row(engine, busy, "live_viewers, live_viewers_at IS NOT NULL")) == (2, True)
    assert (await _row(engine, idle, "live_viewers"))[0] == 0
    assert (await _row(engine, gone, "live_viewers"))[0] == 1
    # The content is deleted and its viewers leave: its count still goes back to 0.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE contents SET deleted_at = now() WHERE id = :c"), {"c": gone}
        )
    await redis.delete(keys.viewers(gone))
    await jobs.sync_viewer_counts(ctx)
    await jobs.sync_viewer_counts(ctx)
    assert (await _row(engine, gone, "live_viewers"))[0] == 0
    assert (await _row(engine, busy, "live_viewers"))[0] == 2


async def test_expiry_marks_contents_past_their_end_once_and_unmarks_extended_ones(
    app: Any, engine: Any
) -> None:
    past = await _content(engine)
    future = await _content(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE contents SET expires_at = now() - interval '1 minute',"
                " updated_at = now() - interval '1 day' WHERE id = :c"
            ),
            {"c": past},
        )
        await conn.execute(
            text("UPDATE contents SET expires_at = now() + interval '1 day' WHERE id = :c"),
            {"c": future},
        )
    ctx = {"app": app}
    assert await jobs.expire_contents(ctx) == (1, 0)
    expired_at, bumped = await _row(
        engine, past, "expired_at, updated_at > now() - interval '1 minute'"
    )
    assert expired_at is not None and bumped  # caches that follow updated_at see it
    assert (await _row(engine, future, "expired_at"))[0] is None
    assert await jobs.expire_contents(ctx) == (0, 0)  # a second run finds it done
    assert (await _row(engine, past, "expired_at"))[0] == expired_at
    async with engine.begin() as conn:  # an admin extends it
        await conn.execute(
            text("UPDATE contents SET expires_at = now() + interval '1 hour' WHERE id = :c"),
            {"c": past},
        )
    assert await jobs.expire_contents(ctx) == (0, 1)
    assert (await _row(engine, past, "expired_at"))[0] is None


async def test_sweep_ends_sessions_past_their_deadline_like_the_hubs_do(
    app: Any, redis: Any
) -> None:
    r = await app.store.start(5, 8, "t", "d", False, "sid5", "n", "c", "ws", 1)  # ttl 1 ms
    assert r.status == "new"
    await asyncio.sleep(0.01)
    ctx = {"app": app}
    assert await jobs.sweep_sessions(ctx) == 1
    assert await jobs.sweep_sessions(ctx) == 0
    entries = await redis.xrange(keys.outbox(5 % PARTITIONS))
    assert [e[1][b"t"] for e in entries] == [b"s", b"e"]
    assert entries[1][1][b"why"] == b"expired"


async def test_dead_letter_report_logs_while_any_wait(
    app: Any, redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = {"app": app}
    assert await jobs.report_dead_letters(ctx) == {}
    await redis.xadd(keys.dead_letters(2), {"t": "g", "dl_why": "x"})
    await redis.xadd(keys.dead_letters(2), {"t": "g", "dl_why": "y"})
    caplog.set_level(logging.ERROR, logger="workers.jobs")
    assert await jobs.report_dead_letters(ctx) == {2: 2}
    assert any("dead letters waiting: 2 entries" in r.getMessage() for r in caplog.records)
    assert app.metrics.dead_letter_entries.labels("2")._value.get() == 2
