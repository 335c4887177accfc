"""Staff accounts (admins and advertisers), for admins: list, create or invite, re-role;
disabling is the user block (api/admin/users.py), which keeps the last admin too.

- `POST /api/admin/accounts` with a password creates a ready account; without one it
  invites: the account exists without a password and the answer carries a one-time
  `invite_token` (INVITE_TTL_S) that the invitee trades for a password at
  `POST /api/auth/invite`. Only the token's SHA-256 is stored.
- `PUT /api/admin/accounts/{id}/roles` replaces an account's roles; the last active admin
  cannot lose `admin` (api/staff.py, race-safe). New roles reach the account's tokens at
  its next refresh (ACCESS_TTL_S at most); a block applies at once.
Every change is audited in its transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api import passwords, staff
from api.access import ADMIN, authenticate, path_id
from api.auth import NewPassword, clean_email
from api.pages import Page, PageQuery, sql_page
from core import audit
from core.errors import Conflict, NotFound
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

INVITE_TTL_S = 72 * 3600
Role = Literal["viewer", "advertiser", "admin"]
Roles = Annotated[list[Role], Meta(min_length=1, max_length=3)]


class StaffQuery(PageQuery):
    role: Literal["admin", "advertiser"] | None = None


class StaffItem(Struct, frozen=True):
    id: int
    email: str | None
    roles: list[str]
    blocked: bool
    has_password: bool
    providers: list[str]
    created_at: datetime


class NewAccountBody(Struct, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=3, max_length=254)]
    roles: Roles
    password: NewPassword | None = None  # none: an invitation


class NewAccount(Struct, frozen=True):
    account: StaffItem
    invite_token: str | None  # hand it to the invitee; shown once
    invite_expires_in: int | None


class RolesBody(Struct, forbid_unknown_fields=True):
    roles: Roles


_ITEM = (
    "SELECT u.id, u.email, u.roles, u.blocked_at IS NOT NULL AS blocked,"
    " u.password_hash IS NOT NULL AS has_password,"
    " COALESCE((SELECT array_agg(i.provider ORDER BY i.provider) FROM user_identities i"
    "           WHERE i.user_id = u.id), '{}') AS providers, u.created_at FROM users u"
)


async def list_staff(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, StaffQuery)
    roles = [query.role] if query.role else list(staff.STAFF_ROLES)
    async with request.app.state.sessions() as session:
        found = await sql_page(
            session,
            query,
            "staff",
            _ITEM + " WHERE u.roles && CAST(:roles AS text[])"
            " AND (CAST(:after AS bigint) IS NULL OR u.id > :after) ORDER BY u.id LIMIT :n",
            StaffItem,
            roles=roles,
        )
    return ok(request, found)


async def _item(session: AsyncSession, user_id: int) -> StaffItem:
    row = (await session.execute(text(_ITEM + " WHERE u.id = :id"), {"id": user_id})).first()
    if row is None:
        raise NotFound("no such account")
    return StaffItem(**row._mapping)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, NewAccountBody)
    email = clean_email(body.email)
    roles = list(dict.fromkeys(body.roles))
    hashed = await passwords.hash_password(body.password) if body.password else None
    invite = None if body.password else secrets.token_urlsafe(32)
    async with request.app.state.sessions.begin() as session:
        row = (
            await session.execute(
                text(
                    "INSERT INTO users (email, password_hash, roles) VALUES (:e, :h, :r)"
                    " ON CONFLICT (email) DO NOTHING RETURNING id"
                ),
                {"e": email, "h": hashed, "r": roles},
            )
        ).first()
        if row is None:
            raise Conflict("this email is already registered", details={"field": "email"})
        if invite is not None:
            await session.execute(
                text(
                    "INSERT INTO account_invites (user_id, token_hash, created_by, expires_at)"
                    " VALUES (:u, :t, :by, now() + make_interval(secs => :ttl))"
                ),
                {"u": row.id, "t": _digest(invite), "by": identity.user_id, "ttl": INVITE_TTL_S},
            )
        item = await _item(session, row.id)
        action = "account.invite" if invite else "account.create"
        audit.record(session, identity.user_id, action, f"user:{row.id}", after=item)
    return ok(
        request,
        NewAccount(item, invite, INVITE_TTL_S if invite else None),
        201,
    )


async def set_roles(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    user_id = path_id(request)
    body = await decode_body(request, RolesBody)
    roles = list(dict.fromkeys(body.roles))
    async with request.app.state.sessions.begin() as session:
        before = await _item(session, user_id)
        await staff.keep_an_admin(session, user_id, after=roles, blocked=before.blocked)
        await session.execute(
            text("UPDATE users SET roles = :r, updated_at = now() WHERE id = :id"),
            {"r": roles, "id": user_id},
        )
        after = await _item(session, user_id)
        audit.record(session, identity.user_id, "account.roles", f"user:{user_id}", before, after)
    return ok(request, after)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/accounts",
        list_staff,
        summary="List admin and advertiser accounts",
        auth="admin",
        query=StaffQuery,
        response=Page[StaffItem],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/accounts",
        create_account,
        summary="Create a staff account (with a password) or invite one (without)",
        auth="admin",
        body=NewAccountBody,
        response=NewAccount,
        status=201,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "PUT",
        "/api/admin/accounts/{id:int}/roles",
        set_roles,
        summary="Replace an account's roles (never the last admin's admin role)",
        auth="admin",
        body=RolesBody,
        response=StaffItem,
        errors=["conflict"],
        tags=TAGS,
    ),
]
