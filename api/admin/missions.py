"""Admin missions: create, read, replace (pause and resume are `status`), delete, each with
its figures (users joined, completed, paid, over all windows) and audited (`mission.*`).

A deleted mission is hidden (`deleted_at`), never removed: its completions and payments
keep pointing at it. A body is checked whole before anything is written: the kinds that
name a content or a tag need it (and the others must not have one), a `range` mission
needs `starts_at` < `ends_at`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.mission_rules import WATCH_CONTENT_MINUTES, WATCH_TAG_MINUTES
from api.missions import MISSION_COLUMNS, MissionView, load_mission
from api.pages import Page, PageQuery, sql_page
from core import audit
from core.errors import NotFound
from core.web import decode_json, decode_query, invalid, ok
from core.web.spec import api_route

Kind = Literal[
    "watch_minutes",
    "watch_content_minutes",
    "watch_tag_minutes",
    "watch_contents",
    "open_boxes",
    "watch_streak_days",
]


class MissionBody(Struct, forbid_unknown_fields=True):
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    kind: Kind
    target: Annotated[int, Meta(ge=1, le=1_000_000)]  # minutes, contents, boxes or days
    period: Literal["daily", "weekly", "range"]
    reward_kind: Literal["coins", "gold_box"]
    reward_amount: Annotated[int, Meta(ge=1, le=1_000_000)]
    content_id: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None
    tag: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    join_required: bool = False
    status: Literal["active", "paused"] = "active"


class MissionFigures(Struct, frozen=True):
    joined: int
    completed: int  # (user, window) pairs that reached the target
    paid: int  # of those, rewards paid


class AdminMission(Struct, frozen=True):
    id: int
    mission: MissionView
    figures: MissionFigures


async def _check(session: AsyncSession, body: MissionBody) -> None:
    if body.kind == WATCH_CONTENT_MINUTES:
        if body.content_id is None:
            raise invalid("content_id", "required for watch_content_minutes")
        found = (
            await session.execute(
                text("SELECT 1 FROM contents WHERE id = :c AND deleted_at IS NULL"),
                {"c": body.content_id},
            )
        ).first()
        if found is None:
            raise invalid("content_id", "no such content")
    elif body.content_id is not None:
        raise invalid("content_id", "only for watch_content_minutes")
    if body.kind == WATCH_TAG_MINUTES and body.tag is None:
        raise invalid("tag", "required for watch_tag_minutes")
    if body.kind != WATCH_TAG_MINUTES and body.tag is not None:
        raise invalid("tag", "only for watch_tag_minutes")
    for name in ("starts_at", "ends_at"):
        value = getattr(body, name)
        if value is not None and value.tzinfo is None:
            raise invalid(name, "needs a time zone offset")
        if value is not None and not 2000 <= value.year <= 2999:
            raise invalid(name, "must be in the years 2000-2999")
    if body.period == "range" and (body.starts_at is None or body.ends_at is None):
        raise invalid("ends_at", "a range mission needs starts_at and ends_at")
    if body.starts_at and body.ends_at and body.starts_at >= body.ends_at:
        raise invalid("ends_at", "must be after starts_at")


_FIGURES = (
    "(SELECT count(*) FROM mission_joins j WHERE j.mission_id = m.id) AS joined,"
    " (SELECT count(*) FROM mission_completions c WHERE c.mission_id = m.id) AS completed,"
    " (SELECT count(*) FROM mission_completions c WHERE c.mission_id = m.id"
    " AND c.claimed_at IS NOT NULL) AS paid"
)
_COLUMNS = ", ".join(f"m.{c.strip()}" for c in MISSION_COLUMNS.split(","))


def _admin_view(**row: object) -> AdminMission:
    figures = MissionFigures(row.pop("joined"), row.pop("completed"), row.pop("paid"))  # type: ignore[arg-type]
    mission = MissionView(**row)  # type: ignore[arg-type]
    return AdminMission(mission.id, mission, figures)


async def _one(session: AsyncSession, mission_id: int) -> AdminMission:
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS}, {_FIGURES} FROM missions m"
                " WHERE m.id = :id AND m.deleted_at IS NULL"
            ),
            {"id": mission_id},
        )
    ).first()
    if row is None:
        raise NotFound(f"no mission {mission_id}")
    return _admin_view(**row._mapping)


_WRITE = {
    "title": ":title",
    "kind": ":kind",
    "target": ":target",
    "content_id": ":content_id",
    "tag": ":tag",
    "period": ":period",
    "starts_at": ":starts_at",
    "ends_at": ":ends_at",
    "reward_kind": ":reward_kind",
    "reward_amount": ":reward_amount",
    "join_required": ":join_required",
    "status": ":status",
}


def _params(body: MissionBody) -> dict[str, object]:
    return {name: getattr(body, name) for name in _WRITE}


async def list_missions(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        found = await sql_page(
            session,
            query,
            "admin_missions",
            f"SELECT {_COLUMNS}, {_FIGURES} FROM missions m WHERE m.deleted_at IS NULL"
            " AND (CAST(:after AS bigint) IS NULL OR m.id < :after) ORDER BY m.id DESC LIMIT :n",
            _admin_view,
        )
    return ok(request, found)


async def get_mission(request: Request) -> Response:
    await authenticate(request, ADMIN)
    mission_id = path_id(request)
    async with request.app.state.sessions() as session:
        return ok(request, await _one(session, mission_id))


async def create_mission(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = decode_json(await request.body(), MissionBody)
    async with request.app.state.sessions.begin() as session:
        await _check(session, body)
        columns = ", ".join(_WRITE)
        mission_id = (
            await session.execute(
                text(
                    f"INSERT INTO missions ({columns}) VALUES ({', '.join(_WRITE.values())})"
                    " RETURNING id"
                ),
                _params(body),
            )
        ).scalar_one()
        view = await _one(session, mission_id)
        audit.record(
            session, identity.user_id, "mission.create", f"mission:{mission_id}", None, view.mission
        )
    return ok(request, view, 201)


async def replace_mission(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    mission_id = path_id(request)
    body = decode_json(await request.body(), MissionBody)
    async with request.app.state.sessions.begin() as session:
        before = await load_mission(session, mission_id)
        if before is None:
            raise NotFound(f"no mission {mission_id}")
        await _check(session, body)
        sets = ", ".join(f"{k} = {v}" for k, v in _WRITE.items())
        await session.execute(
            text(f"UPDATE missions SET {sets}, updated_at = now() WHERE id = :id"),
            {**_params(body), "id": mission_id},
        )
        view = await _one(session, mission_id)
        audit.record(
            session,
            identity.user_id,
            "mission.update",
            f"mission:{mission_id}",
            before,
            view.mission,
        )
    return ok(request, view)


async def delete_mission(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    mission_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        before = await load_mission(session, mission_id)
        if before is None:
            raise NotFound(f"no mission {mission_id}")
        await session.execute(
            text("UPDATE missions SET deleted_at = now(), updated_at = now() WHERE id = :id"),
            {"id": mission_id},
        )
        audit.record(
            session, identity.user_id, "mission.delete", f"mission:{mission_id}", before, None
        )
    return ok(request, None)


TAGS = ("admin",)
_ID = "/api/admin/missions/{id:int}"
routes = [
    api_route(
        "GET",
        "/api/admin/missions",
        list_missions,
        summary="Missions with their figures (joined, completed, paid), newest first",
        auth="admin",
        query=PageQuery,
        response=Page[AdminMission],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/missions",
        create_mission,
        summary="Create a mission (audited)",
        auth="admin",
        body=MissionBody,
        response=AdminMission,
        status=201,
        tags=TAGS,
    ),
    api_route(
        "GET",
        _ID,
        get_mission,
        summary="One mission with its figures",
        auth="admin",
        response=AdminMission,
        errors=["not_found"],
        tags=TAGS,
    ),
    api_route(
        "PUT",
        _ID,
        replace_mission,
        summary="Replace a mission; status paused pauses it (audited)",
        auth="admin",
        body=MissionBody,
        response=AdminMission,
        errors=["not_found"],
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        _ID,
        delete_mission,
        summary="Delete a mission (hidden; its payments stay; audited)",
        auth="admin",
        errors=["not_found"],
        tags=TAGS,
    ),
]
