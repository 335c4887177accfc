"""Accounts that the service keeps itself (PROTOCOL 3 and 6): register, login, refresh with
rotation and reuse detection, logout.

- Passwords are hashed with scrypt (api/passwords.py). Emails are trimmed and lower-cased.
- Login answers a short-lived access token (core.tokens.issue_access, roles from
  `users.roles`) and an opaque refresh token (32 random bytes, URL-safe base64). Only the
  refresh token's SHA-256 is stored.
- A login starts a refresh-token family. Each refresh marks the presented token used and
  answers a new one of the same family. Presenting a used token again means that two
  parties hold it (a stolen copy, or a replayed request): the whole family is revoked, and
  both the thief's and the owner's next refresh fail with 401, so the owner logs in again.
- Logout revokes the family of the given refresh token. Access tokens already issued stay
  valid until they expire (ACCESS_TTL_S): they are checked without a database round trip.
- With `REFRESH_COOKIE=1` the refresh token is also handed as an httpOnly, Secure,
  SameSite=Strict cookie scoped to /api/auth/refresh (docs/security.md): a page then
  refreshes with an empty body and signs out with `DELETE /api/auth/refresh`, and its
  script never holds the refresh token.
- These routes admit callers by IP: 403 for a blocked address, 429 past
  `AUTH_RATE_LIMIT_PER_MINUTE` per IP (password guessing). Registration also counts
  against `REGISTER_LIMIT_PER_HOUR` per IP (account farms: docs/security.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api import limits, login_guard, passwords
from api.access import anonymous
from api.state import control
from core import audit, user_events
from core.errors import Conflict, Forbidden, TokenExpiredError, Unauthorized
from core.tokens import issue_access
from core.web import client_ip, decode_body, invalid, ok
from core.web.spec import api_route

log = logging.getLogger(__name__)

ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 30 * 86_400
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

Email = Annotated[str, Meta(min_length=3, max_length=254)]
NewPassword = Annotated[str, Meta(min_length=8, max_length=256)]
Password = Annotated[str, Meta(min_length=1, max_length=256)]
OpaqueToken = Annotated[str, Meta(min_length=1, max_length=200)]


class RegisterBody(Struct, forbid_unknown_fields=True):
    email: Email
    password: NewPassword
    # Advertisers sign up themselves; `admin` is never self-assigned.
    account_type: Literal["viewer", "advertiser"] = "viewer"


class LoginBody(Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class RefreshBody(Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class InviteBody(Struct, forbid_unknown_fields=True):
    invite_token: OpaqueToken
    password: NewPassword


class Account(Struct, frozen=True):
    id: int
    email: str | None
    roles: list[str]
    blocked: bool
    created_at: datetime


class Tokens(Struct, frozen=True):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int  # seconds, of the access token
    refresh_expires_in: int
    user_id: int
    roles: list[str]


def clean_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise invalid("email", "must be an email address")
    return email


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


ACCOUNT_COLUMNS = "id, email, roles, blocked_at, created_at"  # of `users`, for account_of


def account_of(row: object) -> Account:
    m = row._mapping  # type: ignore[attr-defined]
    return Account(
        m["id"], m["email"], list(m["roles"]), m["blocked_at"] is not None, m["created_at"]
    )


async def new_refresh(session: object, user_id: int, family: str) -> str:
    token = secrets.token_urlsafe(32)
    await session.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)"
            " VALUES (:u, :f, :t, now() + make_interval(secs => :ttl))"
        ),
        {"u": user_id, "f": family, "t": _digest(token), "ttl": REFRESH_TTL_S},
    )
    return token


REFRESH_COOKIE = "refresh_token"
REFRESH_PATH = "/api/auth/refresh"


def hand_refresh(request: Request, response: Response, refresh_token: str) -> None:
    """Also set the refresh token as its cookie, when the cookie option is on."""
    if request.app.state.settings.refresh_cookie:
        response.set_cookie(
            REFRESH_COOKIE,
            refresh_token,
            max_age=REFRESH_TTL_S,
            path=REFRESH_PATH,
            secure=True,
            httponly=True,
            samesite="strict",
        )


async def _presented_refresh(request: Request) -> str:
    """The refresh token of the body, else of the cookie (an empty body)."""
    body = await decode_body(request, RefreshBody | None)  # type: ignore[arg-type]
    if body is not None:
        return body.refresh_token
    cookie = (
        request.cookies.get(REFRESH_COOKIE) if request.app.state.settings.refresh_cookie else None
    )
    if not cookie or len(cookie) > 200:
        raise Unauthorized("no refresh token (neither in the body nor in its cookie)")
    return cookie


def tokens_for(request: Request, user_id: int, roles: list[str], refresh: str) -> Tokens:
    settings = request.app.state.settings
    access = issue_access(settings, user_id, tuple(roles), ttl_s=ACCESS_TTL_S)
    return Tokens(access, refresh, "bearer", ACCESS_TTL_S, REFRESH_TTL_S, user_id, roles)


async def register(request: Request) -> Response:
    await anonymous(request, auth_route=True)
    await limits.hit(
        request.app.state.redis,
        "register",
        f"ip{client_ip(request)}",
        control(request).settings.register_limit_per_hour,
        window_s=3600,
    )
    body = await decode_body(request, RegisterBody)
    email = clean_email(body.email)
    hashed = await passwords.hash_password(body.password)
    query = text(
        "INSERT INTO users (email, password_hash, roles) VALUES (:e, :h, ARRAY[:role])"
        f" ON CONFLICT (email) DO NOTHING RETURNING {ACCOUNT_COLUMNS}"
    )
    async with request.app.state.sessions.begin() as session:
        row = (
            await session.execute(query, {"e": email, "h": hashed, "role": body.account_type})
        ).first()
    if row is None:
        raise Conflict("this email is already registered", details={"field": "email"})
    return ok(request, account_of(row), 201)


async def login(request: Request) -> Response:
    """Password login. The refusal never says which part was wrong, and locks out with a
    growing delay after repeated failures (api/login_guard.py). Admin logins, and failed
    ones of admin accounts, are audited (`admin.login`, `admin.login_failed`)."""
    await anonymous(request, auth_route=True)
    body = await decode_body(request, LoginBody)
    email = body.email.strip().lower()
    redis, ip, settings = request.app.state.redis, client_ip(request), request.app.state.settings
    await login_guard.check(redis, email, ip)
    query = text("SELECT id, password_hash, roles, blocked_at FROM users WHERE email = :e")
    async with request.app.state.sessions() as session:
        row = (await session.execute(query, {"e": email})).first()
    stored = row.password_hash if row is not None else None
    if not await passwords.verify_password(body.password, stored) or row is None:
        await login_guard.failed(
            redis,
            email,
            ip,
            per_account=settings.login_failures_per_account,
            per_ip=settings.login_failures_per_ip,
            max_s=settings.login_lockout_max_s,
        )
        if row is not None and "admin" in row.roles:
            async with request.app.state.sessions.begin() as session:
                audit.record(
                    session, None, "admin.login_failed", f"user:{row.id}", after={"ip": ip}
                )
        raise Unauthorized("invalid email or password")
    if row.blocked_at is not None:
        raise Forbidden("this user is blocked")
    await login_guard.succeeded(redis, email)
    request.scope["user_id"] = row.id
    async with request.app.state.sessions.begin() as session:
        if passwords.needs_rehash(stored or ""):
            rehashed = await passwords.hash_password(body.password)
            await session.execute(
                text("UPDATE users SET password_hash = :h WHERE id = :u"),
                {"h": rehashed, "u": row.id},
            )
        refresh = await new_refresh(session, row.id, uuid.uuid4().hex)
        await user_events.record(session, row.id, user_events.LOGIN, {"ip": ip})
        if "admin" in row.roles:
            audit_login(session, row.id, ip, "password")
    response = ok(request, tokens_for(request, row.id, list(row.roles), refresh))
    hand_refresh(request, response, refresh)
    return response


def audit_login(session: object, user_id: int, ip: str, method: str) -> None:
    """An admin signed in (password, or a provider's name): who, from where, how."""
    audit.record(
        session,  # type: ignore[arg-type]
        user_id,
        "admin.login",
        f"user:{user_id}",
        after={"ip": ip, "method": method},
    )


_TAKE_INVITE = text(
    "UPDATE account_invites SET used_at = now()"
    " WHERE token_hash = :t AND used_at IS NULL AND expires_at > now() RETURNING user_id"
)


async def accept_invite(request: Request) -> Response:
    """An invited staff account sets its password with the invite token (once, before it
    expires; api/admin/accounts.py) and is signed in."""
    await anonymous(request, auth_route=True)
    body = await decode_body(request, InviteBody)
    hashed = await passwords.hash_password(body.password)
    async with request.app.state.sessions.begin() as session:
        user_id = (await session.execute(_TAKE_INVITE, {"t": _digest(body.invite_token)})).scalar()
        if user_id is None:
            raise Unauthorized("this invitation is unknown, used or expired")
        row = (
            await session.execute(
                text(
                    "UPDATE users SET password_hash = :h, updated_at = now() WHERE id = :u"
                    " RETURNING roles, blocked_at"
                ),
                {"h": hashed, "u": user_id},
            )
        ).one()
        if row.blocked_at is not None:
            raise Forbidden("this user is blocked")
        refresh = await new_refresh(session, user_id, uuid.uuid4().hex)
    request.scope["user_id"] = user_id
    response = ok(request, tokens_for(request, user_id, list(row.roles), refresh))
    hand_refresh(request, response, refresh)
    return response


async def _revoke_family(session: object, family: str) -> None:
    await session.execute(  # type: ignore[attr-defined]
        text(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE family_id = :f AND revoked_at IS NULL"
        ),
        {"f": family},
    )


_FIND_REFRESH = text(
    "SELECT r.id, r.user_id, r.family_id, r.used_at, r.revoked_at,"
    " r.expires_at <= now() AS expired, u.roles, u.blocked_at"
    " FROM refresh_tokens r JOIN users u ON u.id = r.user_id WHERE r.token_hash = :t"
    " FOR UPDATE OF r"  # concurrent refreshes of one token serialise
)


async def refresh(request: Request) -> Response:
    await anonymous(request, auth_route=True)
    presented = await _presented_refresh(request)
    refused: Exception | None = None
    async with request.app.state.sessions.begin() as session:
        row = (await session.execute(_FIND_REFRESH, {"t": _digest(presented)})).first()
        if row is None:
            refused = Unauthorized("invalid refresh token")
        elif row.revoked_at is not None:
            refused = Unauthorized("refresh token revoked")
        elif row.used_at is not None:
            # Reuse: the token was already exchanged. Revoke the family (committed here,
            # before the refusal is raised outside the transaction).
            await _revoke_family(session, row.family_id)
            log.warning(
                "refresh token reuse: family %s of user %d revoked",
                row.family_id,
                row.user_id,
                extra={"user_id": row.user_id},
            )
            refused = Unauthorized("refresh token already used; its sessions are revoked")
        elif row.expired:
            refused = TokenExpiredError("refresh token expired")
        elif row.blocked_at is not None:
            refused = Forbidden("this user is blocked")
        else:
            await session.execute(
                text("UPDATE refresh_tokens SET used_at = now() WHERE id = :id"), {"id": row.id}
            )
            token = await new_refresh(session, row.user_id, row.family_id)
    if refused is not None:
        raise refused
    request.scope["user_id"] = row.user_id
    response = ok(request, tokens_for(request, row.user_id, list(row.roles), token))
    hand_refresh(request, response, token)
    return response


async def _logout(request: Request, presented: str) -> Response:
    async with request.app.state.sessions.begin() as session:
        family = (
            await session.execute(
                text("SELECT family_id FROM refresh_tokens WHERE token_hash = :t"),
                {"t": _digest(presented)},
            )
        ).scalar()
        if family is not None:
            await _revoke_family(session, family)
    response = ok(request, None)
    if request.app.state.settings.refresh_cookie:
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict"
        )
    return response


async def logout(request: Request) -> Response:
    """Revoke the refresh token's family. An unknown or already revoked token is not an
    error: the caller is logged out either way."""
    await anonymous(request, auth_route=True)
    body = await decode_body(request, RefreshBody)
    return await _logout(request, body.refresh_token)


async def logout_cookie(request: Request) -> Response:
    """Sign out a page: revoke the family of the refresh cookie (or of the body's token),
    and clear the cookie. Lives on the refresh path, the only one the cookie is sent to."""
    await anonymous(request, auth_route=True)
    return await _logout(request, await _presented_refresh(request))


TAGS = ("auth",)
routes = [
    api_route(
        "POST",
        "/api/auth/register",
        register,
        summary="Create an account",
        auth="none",
        body=RegisterBody,
        response=Account,
        status=201,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/auth/login",
        login,
        summary="Log in: an access token and a refresh token",
        auth="none",
        body=LoginBody,
        response=Tokens,
        errors=["unauthorized", "rate_limited"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/auth/refresh",
        refresh,
        summary="Exchange a refresh token (body, or its cookie) for new tokens (rotation)",
        auth="none",
        body=RefreshBody | None,
        response=Tokens,
        errors=["unauthorized", "token_expired"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/auth/logout",
        logout,
        summary="Revoke the refresh token's family",
        auth="none",
        body=RefreshBody,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/auth/invite",
        accept_invite,
        summary="Accept a staff invitation: set the password, get tokens",
        auth="none",
        body=InviteBody,
        response=Tokens,
        errors=["unauthorized"],
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        "/api/auth/refresh",
        logout_cookie,
        summary="Sign out with the refresh cookie (or a body's token): revoke, clear it",
        auth="none",
        body=RefreshBody | None,
        errors=["unauthorized"],
        tags=TAGS,
    ),
]
