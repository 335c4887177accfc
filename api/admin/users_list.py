"""Admin user list: cursor-paginated by id, searchable by id or email. (Blocking lives in
api/admin/users.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate
from api.campaigns import NO_NUL
from api.pages import Page, PageQuery, sql_page
from core.web import decode_query, ok
from core.web.spec import api_route


class UsersQuery(PageQuery):
    q: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=200,
                pattern=NO_NUL,
                description="a user id, or part of an email",
            ),
        ]
        | None
    ) = None


class UserItem(Struct, frozen=True):
    id: int
    email: str | None
    roles: list[str]
    balance: int
    blocked: bool
    blocked_at: datetime | None
    block_reason: str | None
    created_at: datetime


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_users(request: Request) -> Response:
    """Users by id ascending. `q`: a number matches that id (and emails containing it),
    anything else matches emails containing it, case-insensitively."""
    await authenticate(request, ADMIN)
    query = decode_query(request, UsersQuery)
    q = query.q.strip() if query.q else None
    # isascii: str.isdigit also takes "²", which int() refuses.
    user_id = int(q) if q and q.isascii() and q.isdigit() and int(q) <= BIGINT_MAX else None
    async with request.app.state.sessions() as session:
        users = await sql_page(
            session,
            query,
            "users",
            "SELECT id, email, roles, balance, blocked_at IS NOT NULL AS blocked, blocked_at,"
            " block_reason, created_at FROM users"
            " WHERE (CAST(:after AS bigint) IS NULL OR id > :after)"
            " AND (CAST(:like AS text) IS NULL OR email ILIKE :like"
            "      OR id = CAST(:uid AS bigint))"
            " ORDER BY id LIMIT :n",
            UserItem,
            like=_like(q) if q else None,
            uid=user_id,
        )
    return ok(request, users)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/users",
        list_users,
        summary="List users (search by id or email)",
        auth="admin",
        query=UsersQuery,
        response=Page[UserItem],
        tags=TAGS,
    ),
]
