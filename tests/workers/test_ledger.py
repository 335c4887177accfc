"""One batch written to PostgreSQL (workers.ledger), in a transaction, and written again:
a replay changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from workers import ledger
from workers.entries import Batch, Grant, SessionEnd, SessionStart


async def _write(app: Any, batch: Batch, known: set[int] | None = None) -> ledger.Written:
    async with app.pool.acquire() as conn, conn.transaction():
        return await ledger.write(conn, batch, known or set())


async def _rows(engine: Any, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def test_grants_are_written_once_and_balances_grow_by_new_rows_only(
    app: Any, engine: Any
) -> None:
    a = Grant("1-0", "w:1:5:1", 1, 5, 10, 1_795_000_000_000)
    b = Grant("1-1", "w:1:5:2", 1, 5, 10, 1_795_000_000_001)
    c = Grant("1-2", "w:2:5:1", 2, 5, 7, 1_795_000_000_002)
    first = await _write(app, Batch.build([a, b]))
    assert first.balances == {1: (20, 1)} and first.grants_inserted == 2
    # A replay of b with a new grant c: b is skipped, c is added; user 1's balance is read
    # (its cache may need it) but not changed.
    second = await _write(app, Batch.build([b, c]))
    assert second.balances == {1: (20, 1), 2: (7, 1)}
    assert (second.grants_inserted, second.grants_replayed) == (1, 1)
    rows = await _rows(
        engine,
        "SELECT reward_id, user_id, amount, kind, content_id,"
        " created_at = to_timestamp(1795000000.0) FROM coin_transactions"
        " ORDER BY id",
    )
    assert rows == [
        ("w:1:5:1", 1, 10, "watch", 5, True),
        ("w:1:5:2", 1, 10, "watch", 5, False),
        ("w:2:5:1", 2, 7, "watch", 5, False),
    ]
    # Users are provisioned (the ledger's foreign key) unless known to exist.
    assert await _rows(engine, "SELECT id, balance, balance_version FROM users ORDER BY id") == [
        (1, 20, 1),
        (2, 7, 1),
    ]


async def test_sessions_merge_start_and_end_and_count_a_view_once(app: Any, engine: Any) -> None:
    async with engine.begin() as conn:
        cid = (
            await conn.execute(
                text(
                    "INSERT INTO contents (title, source_url, duration_s)"
                    " VALUES ('c', 'u', 1) RETURNING id"
                )
            )
        ).scalar_one()
    start = SessionStart("1-0", "s1", 3, cid, "dev", "tab", 1_795_000_000_000)
    end = SessionEnd("1-1", "s1", 3, cid, 4200, 1_795_000_060_000, "stop")
    w = await _write(app, Batch.build([start]))
    assert (w.sessions, w.views) == (1, 1)
    w = await _write(app, Batch.build([start, end]))  # the start again (a replay), and the end
    assert w.views == 0
    lone_end = SessionEnd("2-0", "s2", 3, cid, 900, 1_795_000_090_000, "expired")
    await _write(app, Batch.build([lone_end]))  # its start was lost: a row from the end alone
    late_start = SessionStart("2-1", "s2", 3, cid, "dev2", "tab2", 1_795_000_080_000)
    await _write(app, Batch.build([late_start, end]))  # s1's end again changes nothing
    rows = await _rows(
        engine,
        "SELECT session_id, device_id, tab_id, extract(epoch FROM"
        " started_at)::bigint, extract(epoch FROM ended_at)::bigint,"
        " credited_ms, end_reason FROM watch_sessions ORDER BY session_id",
    )
    assert rows == [
        ("s1", "dev", "tab", 1_795_000_000, 1_795_000_060, 4200, "stop"),
        ("s2", "dev2", "tab2", 1_795_000_080, 1_795_000_090, 900, "expired"),
    ]
    # One view per session row first inserted from its start (s2's row came from its end).
    assert await _rows(engine, f"SELECT view_count FROM contents WHERE id = {cid}") == [(1,)]
