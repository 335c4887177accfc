"""Admin audit log: every admin change, newest first, filtered by action, actor or target."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate
from api.campaigns import NO_NUL
from api.pages import Page, PageQuery, sql_page
from core.web import decode_query, ok
from core.web.spec import api_route


class AuditQuery(PageQuery):
    action: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=100,
                pattern=NO_NUL,
                description="exact action, e.g. ad.approve",
            ),
        ]
        | None
    ) = None
    actor_id: Annotated[int, Meta(ge=0, le=BIGINT_MAX)] | None = None
    target: (
        Annotated[
            str,
            Meta(
                min_length=1, max_length=200, pattern=NO_NUL, description="exact target, e.g. ad:12"
            ),
        ]
        | None
    ) = None


class AuditItem(Struct, frozen=True):
    id: int
    actor_id: int | None
    action: str
    target: str
    before: Any
    after: Any
    created_at: datetime


async def list_audit(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, AuditQuery)
    async with request.app.state.sessions() as session:
        audit_page = await sql_page(
            session,
            query,
            "audit",
            "SELECT id, actor_id, action, target, before, after, created_at FROM audit_log"
            " WHERE (CAST(:after AS bigint) IS NULL OR id < :after)"
            " AND (CAST(:action AS text) IS NULL OR action = :action)"
            " AND (CAST(:actor AS bigint) IS NULL OR actor_id = :actor)"
            " AND (CAST(:target AS text) IS NULL OR target = :target)"
            " ORDER BY id DESC LIMIT :n",
            AuditItem,
            action=query.action,
            actor=query.actor_id,
            target=query.target,
        )
    return ok(request, audit_page)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/audit-log",
        list_audit,
        summary="The audit log of admin changes, newest first",
        auth="admin",
        query=AuditQuery,
        response=Page[AuditItem],
        tags=TAGS,
    ),
]
