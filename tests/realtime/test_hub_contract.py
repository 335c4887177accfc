"""Contract rules checked through real hub processes and real WebSocket clients (the Lua
and unit tests check them below the hub): the rewards kill switch, the daily cap's reset at
local midnight, the `viewers` push throttle, what `stop` and a content switch credit, and
close 1013 when a new user cannot be provisioned. Where money moves, the worker drains the
outbox and the conservation oracle compares what the player saw with the ledger."""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from live import keys
from tests.realtime.conftest import FAST, Client
from tests.support.conservation import Watch, conserved
from tests.support.waiting import wait_until

HEARTBEAT_MS = int(FAST["HEARTBEAT_INTERVAL_MS"])
PARTITIONS = int(FAST["REDIS_PARTITIONS"])


async def set_runtime(engine: Any, key: str, value: Any) -> None:
    """A runtime settings row, as `PUT /api/admin/settings` writes it."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO runtime_settings (key, value, updated_at) VALUES (:k, CAST(:v AS"
                " jsonb), now()) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            {"k": key, "v": json.dumps(value)},
        )


async def clear_runtime(engine: Any, key: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM runtime_settings WHERE key = :k"), {"k": key})


async def watched_beat(p: Client, seconds: float = 0.3) -> dict[str, Any]:
    """Watch for `seconds` (real watching time), then heartbeat playing and visible."""
    await asyncio.sleep(seconds)
    return await p.request("heartbeat", "tick", playing=True, visible=True)


def of_type(p: Client, type_: str) -> list[dict[str, Any]]:
    return [f for f in p.frames if f["type"] == type_]


async def session_rows(engine: Any, user_id: int) -> dict[str, tuple[int, str | None, int]]:
    """session id -> (content_id, end_reason, credited_ms) of the user's ended sessions."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT session_id, content_id, end_reason, credited_ms FROM watch_sessions"
                " WHERE user_id = :u AND ended_at IS NOT NULL"
            ),
            {"u": user_id},
        )
        return {r[0]: (int(r[1]), r[2], int(r[3])) for r in rows}


# --- 1. the rewards kill switch ---------------------------------------------------------------


async def test_rewards_paused_credits_time_and_forfeits_the_boundaries(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """`rewards_paused` on (a runtime settings row, read by the hub at start-up): heartbeats
    still credit their time, but the boundaries crossed meanwhile grant nothing, no `reward`
    frame, no ledger row, and are forfeited (docs/architecture.md): once the switch is off
    again (the hub's poll sees the row gone) the next reward is the next boundary's, never
    one of the paused ones."""
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    await set_runtime(engine, "rewards_paused", True)
    cid = await content(reward_interval_ms=1000)
    p = await player(hub(), 31)
    watch = Watch(31, [p.frames])
    assert (await p.start(cid))["type"] == "started"
    ticks = [await watched_beat(p, 0.4)]
    while ticks[-1]["elapsed_ms"] < 2500:
        ticks.append(await watched_beat(p, 0.4))
    assert all(t["credited_ms"] > 0 for t in ticks), ticks
    assert ticks[-1]["elapsed_ms"] == sum(t["credited_ms"] for t in ticks)
    assert of_type(p, "reward") == [] and of_type(p, "notice") == []
    paused_boundaries = ticks[-1]["elapsed_ms"] // 1000
    assert paused_boundaries >= 2

    await clear_runtime(engine, "rewards_paused")

    async def rewarded() -> list[dict[str, Any]]:
        ticks.append(await watched_beat(p))
        return of_type(p, "reward")

    rewards = await wait_until(rewarded, 15, "a reward once the kill switch is off")
    n = ticks[-1]["elapsed_ms"] // 1000
    assert n > paused_boundaries
    assert [r["reward_id"] for r in rewards] == [f"w:31:{cid}:{n}"]
    stopped = await p.request("stop", "stopped")
    watch.ended = time.time()
    assert stopped["watched_ms"] == watch.credited_ms()
    paid = await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)
    assert list(paid) == [f"w:31:{cid}:{n}"]


# --- 2. the daily cap resets at local midnight ------------------------------------------------


def fixed_zone(offset_s: int) -> bytes:
    """A TZif file (RFC 8536, version 2) for a zone at a fixed UTC offset, to the second."""
    abbr = b"TST\0"
    header = b"TZif2" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 0, 1, len(abbr))
    block = header + struct.pack(">lBB", offset_s, 0, 0) + abbr
    sign = "-" if offset_s >= 0 else "+"  # POSIX TZ strings count west of Greenwich
    a = abs(offset_s)
    footer = f"\n<TST>{sign}{a // 3600}:{a % 3600 // 60:02d}:{a % 60:02d}\n".encode()
    return block + block + footer


async def test_the_daily_cap_resets_at_local_midnight_in_the_app_timezone(
    hub, player, content, engine, worker, redis, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The hub takes its clock from Redis `TIME` and its day from APP_TIMEZONE, with no way
    to shift either. So the hub gets a zone of its own (a TZif file on PYTHONTZPATH) whose
    fixed UTC offset puts local midnight 12 s after the test begins: the player reaches the
    cap of 1 before midnight (one reward, then the notice, and a boundary that grants
    nothing), keeps watching across midnight, and the first boundary after it is granted:
    the day's count began again at 0, in the zone's day, not in UTC's. The day hash then
    holds the new local day with one reward."""
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    midnight = int(time.time()) + 12  # UTC second at which the zone's day begins
    offset = -midnight % 86_400
    if offset > 43_200:
        offset -= 86_400
    zones = tmp_path / "zones"
    (zones / "Test").mkdir(parents=True)
    (zones / "Test" / "Midnight").write_bytes(fixed_zone(offset))
    h = hub(
        APP_TIMEZONE="Test/Midnight",
        PYTHONTZPATH=str(zones),
        DAILY_REWARD_CAP="1",
        HEARTBEAT_INTERVAL_MS="2000",
    )
    cid = await content(reward_interval_ms=1000)
    p = await player(h, 32)
    watch = Watch(32, [p.frames])
    await p.start(cid)
    ticks = [await watched_beat(p, 0.4)]
    while not of_type(p, "notice"):
        ticks.append(await watched_beat(p, 0.4))
    assert time.time() < midnight, "the cap was reached only after local midnight"
    assert [r["reward_id"] for r in of_type(p, "reward")] == [f"w:32:{cid}:1"]
    assert [n["code"] for n in of_type(p, "notice")] == ["daily_cap_reached"]
    capped_at = ticks[-1]["elapsed_ms"] // 1000

    async def rewarded_again() -> bool:
        ticks.append(await watched_beat(p, 0.4))
        return len(of_type(p, "reward")) == 2

    await wait_until(rewarded_again, 30, "a reward after local midnight")
    assert time.time() >= midnight, "granted again before the zone's midnight"
    second = of_type(p, "reward")[1]
    n = ticks[-1]["elapsed_ms"] // 1000
    assert n > capped_at and second["reward_id"] == f"w:32:{cid}:{n}"
    day = await redis.hgetall(keys.user_prefix(32, PARTITIONS) + "day")
    assert (int(day[b"d"]), int(day[b"c"])) == ((midnight + offset) // 86_400, 1)
    stopped = await p.request("stop", "stopped")
    watch.ended = time.time()
    assert stopped["watched_ms"] == watch.credited_ms()
    paid = await conserved(engine, [watch], heartbeat_ms=2000)
    assert sorted(paid) == sorted([f"w:32:{cid}:1", f"w:32:{cid}:{n}"])


# --- 3. the viewers push throttle -------------------------------------------------------------


async def test_viewers_pushes_come_at_most_every_2_s_under_churn(hub, player, content) -> None:  # type: ignore[no-untyped-def]
    """PROTOCOL 4.2: at most one `viewers` push per 2 s per content. Twelve other viewers
    start and stop on the content, ten times a second each, for 7 s while one watcher
    keeps its session live and records when each push arrives: the count changed hundreds of
    times, the watcher got a handful of pushes, 2 s apart or more (less 100 ms for the
    loopback delivery of two frames), and the last push it got is the count that stayed."""
    h = hub()
    cid = await content()
    watcher = await player(h, 300)
    assert (await watcher.start(cid))["viewers"] == 1
    churners = [await player(h, 301 + i) for i in range(12)]
    arrivals: list[tuple[float, dict[str, Any]]] = []
    churning = asyncio.Event()
    churning.set()

    async def read() -> None:
        while True:
            frame = await watcher.recv(30)
            arrivals.append((time.monotonic(), frame))

    async def keep_alive() -> None:
        while churning.is_set():
            await asyncio.sleep(0.5)
            await watcher.send(type="heartbeat", playing=True, visible=True)

    changes = 0

    async def churn(c: Client) -> None:
        nonlocal changes
        while churning.is_set():
            started = await c.start(cid)
            assert started["type"] == "started", started
            await asyncio.sleep(0.1)  # pacing: under the 20 messages/s of one connection
            assert (await c.request("stop", "stopped"))["content_id"] == cid
            await asyncio.sleep(0.1)
            changes += 2

    reader = asyncio.create_task(read())
    alive = asyncio.create_task(keep_alive())
    churn_tasks = [asyncio.create_task(churn(c)) for c in churners]
    await asyncio.sleep(7)  # the churn whose pushes are being counted
    churning.clear()
    await asyncio.gather(alive, *churn_tasks)

    async def settled() -> bool:
        pushes = [f for _, f in arrivals if f["type"] == "viewers"]
        return bool(pushes) and pushes[-1]["count"] == 1

    await wait_until(settled, 10, "a last push with the watcher alone")
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    pushes = [(t, f) for t, f in arrivals if f["type"] == "viewers"]
    assert changes >= 100, changes
    assert all(f["content_id"] == cid for _, f in pushes)
    assert len({f["count"] for _, f in pushes}) >= 2, pushes
    gaps = [round(b[0] - a[0], 3) for a, b in itertools.pairwise(pushes)]
    assert gaps and min(gaps) >= 1.9, gaps


# --- 4. stop -----------------------------------------------------------------------------------


async def test_stop_credits_its_sessions_ticks_and_not_its_own_period(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """docs/protocol-notes.md: `stop` reports no player state, so it credits nothing of the
    time since the last heartbeat; `stopped.watched_ms` is the sum of the session's tick
    credits. The player waits 0.8 s (real watching) between its last heartbeat and the stop:
    a stop that credited it would show. The session row holds the same time, and a new
    session on the content starts from exactly the ticks' elapsed time."""
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    h = hub()
    cid = await content(reward_interval_ms=60_000)
    p = await player(h, 33)
    watch = Watch(33, [p.frames])
    started = await p.start(cid)
    ticks = [await watched_beat(p) for _ in range(4)]
    assert all(t["credited_ms"] > 0 for t in ticks), ticks
    await asyncio.sleep(0.8)  # watched, but reported by no heartbeat
    stopped = await p.request("stop", "stopped", id="s")
    watch.ended = time.time()
    credited = sum(t["credited_ms"] for t in ticks)
    assert stopped == {"type": "stopped", "content_id": cid, "watched_ms": credited, "ref": "s"}
    await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)
    rows = await session_rows(engine, 33)
    assert rows == {started["session_id"]: (cid, "stop", credited)}
    again = await p.start(cid)
    assert (again["resumed"], again["elapsed_ms"]) == (False, ticks[-1]["elapsed_ms"])


# --- 5. a tab switches content ----------------------------------------------------------------


async def test_start_on_another_content_switches_the_tabs_session(
    hub, player, content, engine, worker
) -> None:  # type: ignore[no-untyped-def]
    """docs/protocol-notes.md: `start` from the same tab and device while its session is
    live on another content is no conflict: the old session ends with reason `switched` and
    the time its ticks credited, a new one starts on the new content. Checked in the
    session history the worker writes (`watch_sessions`), and in what the player sees: the
    old content's heartbeats are over, the viewer counts moved."""
    worker(REDIS_PARTITIONS=str(PARTITIONS))
    h = hub()
    first_cid, second_cid = await content(title="A"), await content(title="B")
    p = await player(h, 34)
    watch = Watch(34, [p.frames])
    first = await p.start(first_cid, tab="T", device="D")
    first_ticks = [await watched_beat(p) for _ in range(3)]
    second = await p.start(second_cid, tab="T", device="D")
    assert second["type"] == "started", second
    assert (second["content_id"], second["resumed"], second["elapsed_ms"]) == (
        second_cid,
        False,
        0,
    )
    assert second["session_id"] != first["session_id"] and second["viewers"] == 1
    second_ticks = [await watched_beat(p) for _ in range(2)]
    assert all(t["content_id"] == second_cid for t in second_ticks)
    other = await player(h, 35)  # the first content's count has no one left
    assert (await other.start(first_cid))["viewers"] == 1
    stopped = await p.request("stop", "stopped")
    watch.ended = time.time()
    assert stopped["watched_ms"] == sum(t["credited_ms"] for t in second_ticks)

    async def both_ended() -> dict[str, tuple[int, str | None, int]] | None:
        rows = await session_rows(engine, 34)
        return rows if len(rows) == 2 else None

    rows = await wait_until(both_ended, 20, "both sessions' rows")
    assert rows == {
        first["session_id"]: (first_cid, "switched", sum(t["credited_ms"] for t in first_ticks)),
        second["session_id"]: (second_cid, "stop", stopped["watched_ms"]),
    }
    await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)


# --- 6. close 1013 when provisioning fails ----------------------------------------------------


async def test_a_new_user_is_closed_1013_while_postgres_is_down_and_admitted_after(
    hub, player, pg_server, token, engine
) -> None:  # type: ignore[no-untyped-def]
    """A new user's first connection creates the user's row; with PostgreSQL stopped that
    fails and the hub closes the connection 1013 (try again later, docs/protocol-notes.md)
    instead of admitting a user it cannot pay. The hub stays up (`/health`), a user it has
    provisioned before still gets in, and once PostgreSQL is back the same new user does
    and has a row."""
    h = hub()
    known = await player(h, 36)
    await known.close()
    pg_server.stop()
    try:
        fresh = await player(h, 37, hello=False)
        assert await fresh.closed_with() == 1013
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{h.url}/health")).status_code == 200
        again = await player(h, 36)
        assert (await again.request("ping", "pong"))["type"] == "pong"
    finally:
        pg_server.start()
    back = await player(h, 37)
    assert (await back.request("ping", "pong"))["type"] == "pong"
    async with engine.connect() as conn:
        ids = (await conn.execute(text("SELECT id FROM users WHERE id IN (36, 37)"))).all()
    assert sorted(r[0] for r in ids) == [36, 37]
    assert h.proc.poll() is None
