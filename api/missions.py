"""Missions (the replaced service's "tasks"): `GET /api/tasks` lists the missions open now
with the caller's progress, `POST /api/tasks/{id}/join`, `POST /api/tasks/{id}/claim`.

Progress is measured here from `mission_activity`, the server's own events (credited watch
time of ended sessions, written by the drain; boxes opened, written by the box open), each
counted once by its event id, within the current window (api/mission_rules.py) and, for a
mission that must be joined, from the moment of joining. A claim locks the user's row,
measures again, and pays the reward id `m:<mission>:<user>:<window>` (unique in the ledger,
or as gold box grants named after it): once per user and window, 409 `not_complete` before
the target and `already_claimed` after the payment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api import gold
from api.access import authenticate, path_id
from api.mission_rules import (
    OPEN_BOXES,
    WATCH_CONTENT_MINUTES,
    WATCH_CONTENTS,
    WATCH_STREAK_DAYS,
    WATCH_TAG_MINUTES,
    Window,
    longest_streak,
    progress_of,
    reward_id,
    window_at,
)
from api.rewards import lock_user, pay
from core import user_events
from core.errors import AlreadyClaimed, NotComplete, NotFound
from core.web import ok
from core.web.spec import api_route
from live.balance_cache import cache_balance


class MissionView(Struct, frozen=True):
    id: int
    title: str
    kind: str
    target: int
    content_id: int | None
    tag: str | None
    period: str
    starts_at: datetime | None
    ends_at: datetime | None
    reward_kind: str  # coins | gold_box
    reward_amount: int  # coins, or gold boxes
    join_required: bool
    status: str  # active | paused
    created_at: datetime
    updated_at: datetime


MISSION_COLUMNS = (
    "id, title, kind, target, content_id, tag, period, starts_at, ends_at, reward_kind,"
    " reward_amount, join_required, status, created_at, updated_at"
)


class TaskView(Struct, frozen=True):
    mission: MissionView
    window_key: str
    window_start: datetime
    window_end: datetime
    joined: bool
    progress: int  # minutes, contents, boxes or days, as the kind counts
    complete: bool
    claimed: bool


class ClaimView(Struct, frozen=True):
    mission_id: int
    window_key: str
    reward_id: str
    reward_kind: str
    amount: int  # coins paid, or gold boxes granted
    balance: int | None  # the coin balance after a coin reward
    transaction_id: int | None


async def load_mission(session: AsyncSession, mission_id: int) -> MissionView | None:
    row = (
        await session.execute(
            text(f"SELECT {MISSION_COLUMNS} FROM missions WHERE id = :id AND deleted_at IS NULL"),
            {"id": mission_id},
        )
    ).first()
    return None if row is None else MissionView(**row._mapping)


async def _joined_at(session: AsyncSession, mission_id: int, user_id: int) -> datetime | None:
    found: datetime | None = (
        await session.execute(
            text("SELECT joined_at FROM mission_joins WHERE mission_id = :m AND user_id = :u"),
            {"m": mission_id, "u": user_id},
        )
    ).scalar()
    return found


async def measure(
    session: AsyncSession, m: MissionView, user_id: int, since: datetime, until: datetime, tz: str
) -> int:
    """The user's progress on `m` from the activity in [since, until)."""
    where = "user_id = :u AND at >= :s AND at < :e AND kind = :k"
    params: dict[str, Any] = {"u": user_id, "s": since, "e": until, "k": "watch"}
    if m.kind == OPEN_BOXES:
        params["k"] = "box"
        sql = f"SELECT count(*) FROM mission_activity WHERE {where}"
    elif m.kind == WATCH_CONTENTS:
        sql = f"SELECT count(DISTINCT content_id) FROM mission_activity WHERE {where}"
    elif m.kind == WATCH_STREAK_DAYS:
        sql = f"SELECT DISTINCT (at AT TIME ZONE :tz)::date FROM mission_activity WHERE {where}"
        days = (await session.execute(text(sql), {**params, "tz": tz})).scalars().all()
        return longest_streak(days)
    else:
        if m.kind == WATCH_CONTENT_MINUTES:
            where += " AND content_id = :c"
            params["c"] = m.content_id
        elif m.kind == WATCH_TAG_MINUTES:
            where += " AND content_id IN (SELECT id FROM contents WHERE :tag = ANY(tags))"
            params["tag"] = m.tag
        sql = f"SELECT coalesce(sum(amount), 0) FROM mission_activity WHERE {where}"
    total = int((await session.execute(text(sql), params)).scalar_one())
    return progress_of(m.kind, total)


async def _state(
    session: AsyncSession, m: MissionView, user_id: int, window: Window, tz: str
) -> TaskView:
    joined_at = await _joined_at(session, m.id, user_id)
    if m.join_required and joined_at is None:
        progress = 0
    else:
        since = max(window.start, joined_at) if m.join_required and joined_at else window.start
        progress = await measure(session, m, user_id, since, window.end, tz)
    claimed = (
        await session.execute(
            text("SELECT claimed_at IS NOT NULL FROM mission_completions WHERE reward_id = :r"),
            {"r": reward_id(m.id, user_id, window)},
        )
    ).scalar()
    return TaskView(
        m,
        window.key,
        window.start,
        window.end,
        joined_at is not None,
        progress,
        progress >= m.target,
        bool(claimed),
    )


async def _complete(session: AsyncSession, m: MissionView, user_id: int, window: Window) -> None:
    """Record that the user reached the target in this window (once, with its event)."""
    rid = reward_id(m.id, user_id, window)
    new = (
        await session.execute(
            text(
                "INSERT INTO mission_completions (mission_id, user_id, window_key, reward_id)"
                " VALUES (:m, :u, :w, :r) ON CONFLICT DO NOTHING RETURNING 1"
            ),
            {"m": m.id, "u": user_id, "w": window.key, "r": rid},
        )
    ).first()
    if new is not None:
        data = {"mission_id": m.id, "window": window.key}
        await user_events.record(session, user_id, user_events.MISSION_COMPLETE, data)


def _open_window(m: MissionView, tz: Any) -> Window | None:
    if m.status != "active":
        return None
    return window_at(m.period, m.starts_at, m.ends_at, datetime.now(UTC), tz)


async def list_tasks(request: Request) -> Response:
    identity = await authenticate(request)
    state = request.app.state
    async with state.sessions.begin() as session:
        rows = await session.execute(
            text(
                f"SELECT {MISSION_COLUMNS} FROM missions"
                " WHERE status = 'active' AND deleted_at IS NULL ORDER BY id"
            )
        )
        tasks: list[TaskView] = []
        for row in rows.all():
            m = MissionView(**row._mapping)
            window = _open_window(m, state.tz)
            if window is None:
                continue
            task = await _state(session, m, identity.user_id, window, state.settings.app_timezone)
            if task.complete and not task.claimed:
                await _complete(session, m, identity.user_id, window)
            tasks.append(task)
    return ok(request, tasks)


async def _open_mission(
    session: AsyncSession, mission_id: int, tz: Any
) -> tuple[MissionView, Window]:
    m = await load_mission(session, mission_id)
    window = None if m is None else _open_window(m, tz)
    if m is None or window is None:  # paused, deleted or outside its dates: not open to users
        raise NotFound(f"no open mission {mission_id}")
    return m, window


async def join_task(request: Request) -> Response:
    identity = await authenticate(request)
    mission_id = path_id(request)
    state = request.app.state
    async with state.sessions.begin() as session:
        m, window = await _open_mission(session, mission_id, state.tz)
        joined = (
            await session.execute(
                text(
                    "INSERT INTO mission_joins (mission_id, user_id) VALUES (:m, :u)"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {"m": m.id, "u": identity.user_id},
            )
        ).first()
        if joined is not None:  # joining twice is answered like the first time
            data = {"mission_id": m.id}
            await user_events.record(session, identity.user_id, user_events.MISSION_JOIN, data)
        task = await _state(session, m, identity.user_id, window, state.settings.app_timezone)
    return ok(request, task)


async def claim_task(request: Request) -> Response:
    identity = await authenticate(request)
    mission_id, user_id = path_id(request), identity.user_id
    state = request.app.state
    async with state.sessions.begin() as session:
        # The user's row lock serialises this user's claims (and every other balance writer).
        await lock_user(session, user_id)
        m, window = await _open_mission(session, mission_id, state.tz)
        task = await _state(session, m, user_id, window, state.settings.app_timezone)
        rid = reward_id(m.id, user_id, window)
        if task.claimed:
            raise AlreadyClaimed(
                "this mission's reward for this window was paid already",
                details={"reward_id": rid, "window": window.key},
            )
        if not task.complete:
            reason = "not_joined" if m.join_required and not task.joined else "below_target"
            raise NotComplete(
                "the mission is not complete",
                details={"progress": task.progress, "target": m.target, "reason": reason},
            )
        await _complete(session, m, user_id, window)
        balance = tx_id = version = None
        if m.reward_kind == "coins":
            tx_id, balance, version = await pay(session, user_id, "mission", m.reward_amount, rid)
        else:
            for n in range(1, m.reward_amount + 1):
                await gold.grant(session, user_id, "mission", f"{rid}:{n}")
        await session.execute(
            text("UPDATE mission_completions SET claimed_at = now() WHERE reward_id = :r"),
            {"r": rid},
        )
        data = {"mission_id": m.id, "window": window.key, "reward_id": rid}
        await user_events.record(session, user_id, user_events.MISSION_CLAIM, data)
    if balance is not None and version is not None:
        await cache_balance(state.redis, user_id, state.settings.redis_partitions, balance, version)
    view = ClaimView(m.id, window.key, rid, m.reward_kind, m.reward_amount, balance, tx_id)
    return ok(request, view, 201)


TAGS = ("missions",)
routes = [
    api_route(
        "GET",
        "/api/tasks",
        list_tasks,
        summary="The missions open now, with the caller's progress in the current window",
        response=list[TaskView],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/tasks/{id:int}/join",
        join_task,
        summary="Join a mission (needed before progress counts when it says join_required)",
        response=TaskView,
        errors=["not_found"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/tasks/{id:int}/claim",
        claim_task,
        summary="Claim a complete mission's reward: paid once per user and window",
        response=ClaimView,
        status=201,
        errors=["not_found", "not_complete", "already_claimed"],
        tags=TAGS,
    ),
]
