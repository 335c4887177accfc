"""The caller's own account: profile, balance and coin ledger.

Balance follows the hub's rule (docs/architecture.md): balance = `pg` + `pend` of the
user's Redis hash `{pN}:u:<uid>:bal`, where `pg` caches the PostgreSQL balance and `pend` is
what was granted and not yet written to PostgreSQL. When `pg` is not cached, the PostgreSQL
balance is loaded and cached with the hub's `setbal.lua` (only a newer balance_version
replaces a cached copy), which answers both fields read in the same atomic step: the outbox
consumer moves coins from `pend` to `pg` in one script, so reading both at once never
counts a grant twice or misses it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from msgspec import Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate
from api.auth import ACCOUNT_COLUMNS, Account, account_of
from api.pages import Page, PageQuery, sql_page
from core.errors import NotFound, Unavailable
from core.users import load_balance
from core.web import decode_query, ok
from core.web.spec import api_route
from live.balance_cache import set_cached_balance
from live.keys import UserKeys
from live.review import REVIEW_NOTICE

REDIS_TIMEOUT_S = 2.0


class Balance(Struct, frozen=True, omit_defaults=True):
    balance: int  # every coin granted so far, also those not yet in PostgreSQL
    pending: int  # the part not yet written to PostgreSQL
    # The account is on multi-account review: its new rewards are granted but wait for a
    # person's check (docs/money.md "What a held viewer sees"); `held` of them reached the
    # ledger so far. Never says which rule or threshold held it. Left out of the answer
    # while not on review, so the ordinary answer is what it always was.
    on_review: bool = False
    held: int = 0
    notice: str | None = None  # what a player shows while on_review (REVIEW_NOTICE)


class CoinTransactionView(Struct, frozen=True):
    id: int
    kind: str  # watch, box, adjust
    amount: int
    reward_id: str | None
    content_id: int | None
    created_at: datetime
    # paid; held: granted while the account is on review, not in the balance until approved;
    # void: rejected on review, never paid
    status: str = "paid"


async def get_me(request: Request) -> Response:
    identity = await authenticate(request)
    async with request.app.state.sessions() as session:
        row = (
            await session.execute(
                text(f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = :u"),
                {"u": identity.user_id},
            )
        ).first()
    if row is None:  # provisioned by authenticate; gone only if deleted meanwhile
        raise NotFound("no such user")
    return ok(request, account_of(row))


def _int(value: bytes | int | None) -> int:
    return int(value) if value is not None else 0


async def read_balance(request: Request, user_id: int) -> Balance:
    """The user's balance by the hub's rule (module docstring). 503 when Redis fails: the
    pending part cannot be known without it."""
    state = request.app.state
    redis, partitions = state.redis, state.settings.redis_partitions
    key = UserKeys(user_id, partitions).balance
    try:
        pg, pend, hold = await asyncio.wait_for(
            redis.hmget(key, "pg", "pend", "hold"), REDIS_TIMEOUT_S
        )
        if pg is None:
            async with state.engine.connect() as conn:
                balance, version = await load_balance(conn, user_id)
            pg, pend = await asyncio.wait_for(
                set_cached_balance(redis, key, balance, version), REDIS_TIMEOUT_S
            )
    except Exception as exc:  # noqa: BLE001 - any Redis failure is a 503, never a 500
        raise Unavailable(f"balance unavailable ({type(exc).__name__})") from None
    pending = _int(pend)
    if _int(hold) != 1:
        return Balance(_int(pg) + pending, pending)
    async with state.engine.connect() as conn:
        held = (
            await conn.execute(
                text(
                    "SELECT CAST(COALESCE(sum(amount), 0) AS bigint) FROM coin_transactions"
                    " WHERE user_id = :u AND status = 'held'"
                ),
                {"u": user_id},
            )
        ).scalar_one()
    return Balance(_int(pg) + pending, pending, True, int(held), REVIEW_NOTICE)


async def get_balance(request: Request) -> Response:
    identity = await authenticate(request)
    return ok(request, await read_balance(request, identity.user_id))


_LEDGER = (
    "SELECT id, kind, amount, reward_id, content_id, created_at, status FROM coin_transactions"
    " WHERE user_id = :u AND (CAST(:after AS bigint) IS NULL OR id < :after)"
    " ORDER BY id DESC LIMIT :n"
)


async def coin_transactions(request: Request) -> Response:
    """The caller's ledger, newest first (keyset on id, index (user_id, id))."""
    identity = await authenticate(request)
    q = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        ledger = await sql_page(
            session, q, "coins", _LEDGER, CoinTransactionView, u=identity.user_id
        )
    return ok(request, ledger)


TAGS = ("me",)
routes = [
    api_route(
        "GET", "/api/me", get_me, summary="The caller's account", response=Account, tags=TAGS
    ),
    api_route(
        "GET",
        "/api/me/balance",
        get_balance,
        summary="The caller's coin balance, with the part not yet in PostgreSQL",
        response=Balance,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/coin-transactions",
        coin_transactions,
        summary="The caller's coin ledger, newest first",
        query=PageQuery,
        response=Page[CoinTransactionView],
        tags=("coins",),
    ),
]
