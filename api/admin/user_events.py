"""Admin query of the user event log (core/user_events.py): by user, type and time,
newest first (by id: the order the events were written in), paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate
from api.pages import Page, PageQuery, sql_page
from core.web import decode_query, invalid, ok
from core.web.spec import api_route

EventType = Literal[
    "session_start",
    "session_end",
    "reward",
    "box_open",
    "gold_box_open",
    "mission_join",
    "mission_complete",
    "mission_claim",
    "ad_impression",
    "ad_click",
    "login",
    "block",
]


class UserEventQuery(PageQuery):
    user_id: Annotated[int, Meta(ge=0, le=BIGINT_MAX)] | None = None
    type: EventType | None = None
    since: Annotated[datetime, Meta(description="events at or after (with an offset)")] | None = (
        None
    )
    until: Annotated[datetime, Meta(description="events before (with an offset)")] | None = None


class UserEventItem(Struct, frozen=True):
    id: int
    user_id: int
    type: str
    data: Any
    at: datetime


async def list_user_events(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, UserEventQuery)
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None and value.tzinfo is None:
            raise invalid(name, "needs a time zone offset")
    async with request.app.state.sessions() as session:
        found = await sql_page(
            session,
            query,
            "user_events",
            "SELECT id, user_id, type, data, at FROM user_events"
            " WHERE (CAST(:after AS bigint) IS NULL OR id < :after)"
            " AND (CAST(:u AS bigint) IS NULL OR user_id = :u)"
            " AND (CAST(:t AS text) IS NULL OR type = :t)"
            " AND (CAST(:s AS timestamptz) IS NULL OR at >= :s)"
            " AND (CAST(:e AS timestamptz) IS NULL OR at < :e)"
            " ORDER BY id DESC LIMIT :n",
            UserEventItem,
            u=query.user_id,
            t=query.type,
            s=query.since,
            e=query.until,
        )
    return ok(request, found)


routes = [
    api_route(
        "GET",
        "/api/admin/user-events",
        list_user_events,
        summary="The user event log, newest first, by user, type and time",
        auth="admin",
        query=UserEventQuery,
        response=Page[UserEventItem],
        tags=("admin",),
    ),
]
