"""The conservation oracle: what players sent and saw, against what the hub credited and what
the ledger holds. Every test where watch money moves ends with it.

From the players' side (`Watch`: the frames each of a user's connections received, in order,
and the wall-clock span in which the user was watching):

- credited time ≤ real time: a user's credited milliseconds (the sum of every `tick`'s
  `credited_ms`, over all their connections) never exceed the time they were watching plus
  one credit cap (1.5 heartbeat intervals: the first heartbeat may credit a gap that began
  just before the span);
- a session's `watched_ms` (its `stopped` reply, or its `watch_sessions` row once ended) is
  the sum of the credits of the ticks of that session;
- the rewards the players were shown (`reward` frames) are the ledger's watch rows, id for
  id and amount for amount; no reward is shown twice;
- `users.balance` is the sum of the user's ledger rows, and the balance a `reward` frame
  showed never exceeds what the ledger ends up paying.

From the stores' side (`assert_ledger`): the ledger holds exactly the expected reward ids,
each once; balances equal the ledger's sums; Redis shows no pending coins and caches
PostgreSQL's balance; the outbox is empty and nothing is pending in its group.

The tick frames carry no session id: a connection's ticks belong to the session its last
`started` named. A page on the HTTP fallback reports its replies as the same events (the
browser tests read them from the page), so one oracle serves both transports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from live import keys


@dataclass
class Watch:
    """One user's side of the story: `streams` are the frames each connection received, in
    order; `began`/`ended` (time.time()) bound the span in which the user watched."""

    user_id: int
    streams: list[list[dict[str, Any]]] = field(default_factory=list)
    began: float = field(default_factory=time.time)
    ended: float | None = None
    # The HTTP fallback's out-event may carry the last period (docs/protocol-notes.md): its
    # credit is in `watched_ms` but in no tick, so it may exceed them by one credit cap.
    stop_credits: bool = False

    def frames(self) -> Iterable[dict[str, Any]]:
        for stream in self.streams:
            yield from stream

    def credited_ms(self) -> int:
        return sum(int(f["credited_ms"]) for f in self.frames() if f["type"] == "tick")

    def rewards(self) -> list[tuple[str, int]]:
        return [(f["reward_id"], int(f["amount"])) for f in self.frames() if f["type"] == "reward"]

    def session_credits(self) -> dict[str, int]:
        """session id -> the credits of its ticks, over every connection."""
        out: dict[str, int] = {}
        for stream in self.streams:
            sid: str | None = None
            for f in stream:
                if f["type"] == "started":
                    sid = f["session_id"]
                    out.setdefault(sid, 0)
                elif f["type"] == "tick":
                    assert sid is not None, f"a tick before any start: {f}"
                    out[sid] += int(f["credited_ms"])
        return out

    def stopped(self) -> dict[str, int]:
        """session id -> the `watched_ms` of its `stopped` reply."""
        out: dict[str, int] = {}
        for stream in self.streams:
            sid: str | None = None
            for f in stream:
                if f["type"] == "started":
                    sid = f["session_id"]
                elif f["type"] == "stopped":
                    assert sid is not None, f"stopped before any start: {f}"
                    out[sid] = int(f["watched_ms"])
        return out


def assert_time_conserved(watches: Sequence[Watch], heartbeat_ms: int) -> None:
    """Per user: credited ≤ watched span + one credit cap; per session: `stopped.watched_ms`
    equals its ticks' credits."""
    cap = heartbeat_ms * 3 // 2
    for w in watches:
        ended = w.ended if w.ended is not None else time.time()
        span_ms = int((ended - w.began) * 1000)
        credited = w.credited_ms()
        assert credited <= span_ms + cap, (
            f"user {w.user_id} was credited {credited} ms in {span_ms} ms of watching"
        )
        credits = w.session_credits()
        for sid, watched in w.stopped().items():
            extra = watched - credits[sid]
            allowed = cap if w.stop_credits else 0
            assert 0 <= extra <= allowed, (
                f"session {sid} of user {w.user_id}: stopped says {watched} ms, "
                f"its ticks credited {credits[sid]} ms"
            )
            assert credited + extra <= span_ms + cap, (w.user_id, credited, extra, span_ms)


async def assert_sessions_persisted(
    engine: Any, watches: Sequence[Watch], *, timeout: float = 20.0
) -> None:
    """Every session a player saw stopped gets an ended `watch_sessions` row (waiting,
    bounded, for the drain) holding its `watched_ms`; every ended row of these users that
    a player saw holds its ticks' credits (with the out-event's last period, if any)."""
    stopped = {(w.user_id, sid): ms for w in watches for sid, ms in w.stopped().items()}
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT user_id, session_id, credited_ms FROM watch_sessions"
                        " WHERE user_id = ANY(:u) AND ended_at IS NOT NULL"
                    ),
                    {"u": [w.user_id for w in watches]},
                )
            ).all()
        ended = {(uid, sid): credited for uid, sid, credited in rows}
        if set(stopped) <= set(ended) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    missing = sorted(set(stopped) - set(ended))
    assert not missing, f"sessions stopped but without an ended row: {missing[:5]}"
    for key, ms in stopped.items():
        assert ended[key] == ms, f"session {key}: the row says {ended[key]} ms, stopped {ms}"
    for w in watches:
        credits = w.session_credits()
        for (uid, sid), credited in ended.items():
            if uid == w.user_id and sid in credits and (uid, sid) not in stopped:
                assert credited == credits[sid], (
                    f"session {sid} of user {uid}: the row says {credited} ms, "
                    f"its ticks credited {credits[sid]} ms"
                )


async def ledger_rows(engine: Any, users: Sequence[int]) -> dict[str, tuple[int, int]]:
    """reward id -> (user, amount) of these users' watch rows."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT reward_id, user_id, amount FROM coin_transactions"
                    " WHERE kind = 'watch' AND user_id = ANY(:u)"
                ),
                {"u": list(users)},
            )
        ).all()
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert len(got) == len(rows), "a reward id is in the ledger twice"
    return got


async def assert_rewards_paid(
    engine: Any, watches: Sequence[Watch], *, timeout: float = 20.0
) -> dict[str, tuple[int, int]]:
    """The rewards the players saw are the ledger's watch rows of these users, exactly
    (waiting, bounded, for the drain); balances equal the ledger's sums, and no `reward`
    frame showed a balance above what the ledger pays. Returns the ledger rows."""
    seen: dict[str, tuple[int, int]] = {}
    for w in watches:
        for rid, amount in w.rewards():
            assert rid not in seen, f"reward {rid} shown twice"
            seen[rid] = (w.user_id, amount)
    users = [w.user_id for w in watches]
    deadline = time.monotonic() + timeout
    while (got := await ledger_rows(engine, users)) != seen and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    missing = sorted(set(seen) - set(got))
    extra = sorted(set(got) - set(seen))
    assert not missing, f"{len(missing)} rewards shown but not in the ledger: {missing[:5]}"
    assert not extra, f"{len(extra)} ledger rows no player was shown: {extra[:5]}"
    assert got == seen, "a reward's amount differs between the frame and the ledger"
    await assert_balances_are_ledger_sums(engine, users)
    async with engine.connect() as conn:
        balances = dict(
            (
                await conn.execute(
                    text("SELECT id, balance FROM users WHERE id = ANY(:u)"), {"u": users}
                )
            ).all()
        )
    for w in watches:
        shown = [int(f["balance"]) for f in w.frames() if f["type"] == "reward"]
        if shown:
            assert max(shown) <= balances[w.user_id], (w.user_id, max(shown))
    return got


async def assert_balances_are_ledger_sums(engine: Any, users: Sequence[int]) -> None:
    """users.balance == the sum of the user's paid ledger rows (every kind)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT u.id, u.balance, COALESCE(SUM(t.amount)"
                    " FILTER (WHERE t.status = 'paid'), 0)"
                    " FROM users u LEFT JOIN coin_transactions t ON t.user_id = u.id"
                    " WHERE u.id = ANY(:u) GROUP BY u.id, u.balance"
                ),
                {"u": list(users)},
            )
        ).all()
    for uid, balance, total in rows:
        assert balance == total, f"user {uid}: balance {balance}, ledger sums to {total}"


async def conserved(
    engine: Any, watches: Sequence[Watch], *, heartbeat_ms: int, timeout: float = 20.0
) -> dict[str, tuple[int, int]]:
    """The whole oracle: time, sessions, rewards and balances. Returns the ledger rows."""
    assert_time_conserved(watches, heartbeat_ms)
    paid = await assert_rewards_paid(engine, watches, timeout=timeout)
    await assert_sessions_persisted(engine, watches)
    return paid


async def shown_balances(
    redis: Any, users: Sequence[int], partitions: int
) -> dict[int, tuple[int | None, int | None, int]]:
    """user -> (pg, v, pend) from the balance hashes."""
    pipe = redis.pipeline(transaction=False)
    for u in users:
        pipe.hmget(keys.UserKeys(u, partitions).balance, "pg", "v", "pend")
    out = {}
    for u, (pg, v, pend) in zip(users, await pipe.execute(), strict=False):
        out[u] = (None if pg is None else int(pg), None if v is None else int(v), int(pend or 0))
    return out


async def outbox_total(redis: Any, partitions: int) -> int:
    pipe = redis.pipeline(transaction=False)
    for p in range(partitions):
        pipe.xlen(keys.outbox(p))
    return sum(await pipe.execute())


async def assert_ledger(
    engine: Any, redis: Any, expected: dict[str, tuple[int, int]], partitions: int
) -> None:
    """The end state every money test requires. `expected`: reward id -> (user, amount) of
    every grant that must be in the ledger, and nothing else may be.
    - the ledger holds exactly these reward ids, each once, with their amounts;
    - users.balance == the sum of the user's ledger rows;
    - Redis: pend == 0, and the cached pg/v equal PostgreSQL's balance/balance_version;
    - the outbox is empty and nothing is pending in the group."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT reward_id, user_id, amount FROM coin_transactions"))
        ).all()
        users = {
            r[0]: (r[1], r[2])
            for r in (
                await conn.execute(text("SELECT id, balance, balance_version FROM users"))
            ).all()
        }
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert len(rows) == len(got), "a reward id is in the ledger twice"
    missing = set(expected) - set(got)
    extra = set(got) - set(expected)
    assert not missing, f"{len(missing)} grants missing from the ledger, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected ledger rows, e.g. {sorted(extra)[:5]}"
    assert got == expected
    per_user: dict[int, int] = {}
    for uid, amount in got.values():
        per_user[uid] = per_user.get(uid, 0) + amount
    for uid, total in per_user.items():
        assert users[uid][0] == total, (uid, users[uid][0], total)
    shown = await shown_balances(redis, sorted(per_user), partitions)
    for uid, (pg, v, pend) in shown.items():
        assert pend == 0, (uid, pend)
        assert (pg, v) == users[uid], (uid, pg, v, users[uid])
    assert await outbox_total(redis, partitions) == 0
    for p in range(partitions):
        info = await redis.xpending(keys.outbox(p), keys.OUTBOX_GROUP)
        assert info["pending"] == 0, (p, info)
