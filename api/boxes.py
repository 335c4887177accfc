"""Random boxes: watch rewards earn them, the admin reward table sets their odds, and opening
one pays coins through the ledger exactly once.

- Progress: one box per `REWARDS_PER_BOX` paid watch rewards in the PostgreSQL ledger
  (grants still waiting in the hub's outbox count once they are written; held ones once an
  admin approves them, void ones never).
- Opening locks the user's row, so opens of one user run one at a time: the n-th open gets
  box number n, and `box_opens (user_id, box_no)` is unique, so more boxes than earned can
  never be opened. The payment is a `coin_transactions` row of kind `box` with
  `reward_id` `b:<user>:<box_no>` and `users.balance` / `balance_version` change in the
  same transaction; the hub's cached balance is refreshed after the commit. The same
  transaction records the open for mission progress and the user event log, and grants the
  gold box that the admin's rule gives for every N-th box (api/gold.py).
- `Idempotency-Key`: an open with a key this user used before answers the stored result of
  the first open (header `Idempotent-Replayed: true`) and pays nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api import gold, progress
from api.access import authenticate, path_id
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.pages import Page, PageQuery, sql_page
from api.rewards import RewardRow, current_table, draw, lock_user, pay
from core import user_events
from core.errors import NoBoxAvailable, NotFound, Unavailable
from core.web import decode_query, ok
from core.web.spec import api_route
from live.balance_cache import cache_balance

REWARDS_PER_BOX = 10


class BoxStatus(Struct, frozen=True):
    watch_rewards: int  # watch rewards in the ledger so far
    rewards_per_box: int
    earned: int  # boxes earned, ever
    opened: int
    available: int  # earned - opened
    progress: int  # watch rewards toward the next box (0 .. rewards_per_box - 1)
    next_box_in: int  # watch rewards still needed for the next box
    reward_table_id: int | None  # the odds in force; null until an admin uploads a table
    odds: list[RewardRow]


class BoxOpenView(Struct, frozen=True):
    id: int
    box_no: int  # this is the user's box_no-th box
    amount: int  # coins paid
    balance: int  # the user's PostgreSQL balance right after this open
    reward_id: str  # the ledger entry's reward_id: b:<user>:<box_no>
    transaction_id: int
    reward_table_id: int
    created_at: datetime


_OPEN_COLUMNS = (
    "b.id, b.box_no, b.amount, b.balance_after AS balance, t.reward_id, b.transaction_id,"
    " b.reward_table_id, b.created_at"
)
_OPEN_FROM = " FROM box_opens b JOIN coin_transactions t ON t.id = b.transaction_id"


def _open_view(row: Row[Any]) -> BoxOpenView:
    return BoxOpenView(**row._mapping)


async def counts(session: AsyncSession, user_id: int) -> tuple[int, int]:
    """(paid watch rewards in the ledger, boxes opened) of a user."""
    row = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM coin_transactions WHERE user_id = :u AND kind = 'watch'"
                " AND status = 'paid'),"
                " (SELECT count(*) FROM box_opens WHERE user_id = :u)"
            ),
            {"u": user_id},
        )
    ).one()
    return int(row[0]), int(row[1])


def status_of(watch: int, opened: int) -> tuple[int, int, int]:
    """(earned, available, progress) for `watch` rewards and `opened` boxes."""
    earned = watch // REWARDS_PER_BOX
    return earned, max(0, earned - opened), watch % REWARDS_PER_BOX


async def get_box_status(request: Request) -> Response:
    identity = await authenticate(request)
    async with request.app.state.sessions() as session:
        watch, opened = await counts(session, identity.user_id)
        table = await current_table(session)
    earned, available, progress = status_of(watch, opened)
    return ok(
        request,
        BoxStatus(
            watch_rewards=watch,
            rewards_per_box=REWARDS_PER_BOX,
            earned=earned,
            opened=opened,
            available=available,
            progress=progress,
            next_box_in=REWARDS_PER_BOX - progress,
            reward_table_id=table.id if table else None,
            odds=table.rows if table else [],
        ),
    )


async def _find_by_key(session: AsyncSession, user_id: int, key: str) -> BoxOpenView | None:
    row = (
        await session.execute(
            text(
                f"SELECT {_OPEN_COLUMNS}{_OPEN_FROM} WHERE b.user_id = :u AND b.idempotency_key = :k"
            ),
            {"u": user_id, "k": key},
        )
    ).first()
    return None if row is None else _open_view(row)


async def open_box(
    session: AsyncSession, user_id: int, key: str | None
) -> tuple[BoxOpenView, bool, int]:
    """Open the user's next box: (the open, replayed?, balance_version). Raises
    NoBoxAvailable, or Unavailable before any reward table exists. No commit."""
    # The user's row lock serialises this user's opens (and any other balance writer).
    await lock_user(session, user_id)
    if key is not None:
        found = await _find_by_key(session, user_id, key)
        if found is not None:
            return found, True, 0
    watch, opened = await counts(session, user_id)
    earned, available, _ = status_of(watch, opened)
    if available <= 0:
        raise NoBoxAvailable(
            "no unopened box: watch more to earn the next one",
            details={
                "earned": earned,
                "opened": opened,
                "next_box_in": REWARDS_PER_BOX - watch % REWARDS_PER_BOX,
            },
        )
    table = await current_table(session)
    if table is None:
        raise Unavailable("boxes cannot be opened before a reward table is uploaded")
    amount = draw(table)
    box_no = opened + 1
    reward_id = f"b:{user_id}:{box_no}"
    tx_id, balance, version = await pay(session, user_id, "box", amount, reward_id)
    open_id, created_at = (
        await session.execute(
            text(
                "INSERT INTO box_opens (user_id, box_no, idempotency_key, amount, balance_after,"
                " reward_table_id, transaction_id) VALUES (:u, :n, :k, :a, :b, :t, :tx)"
                " RETURNING id, created_at"
            ),
            {
                "u": user_id,
                "n": box_no,
                "k": key,
                "a": amount,
                "b": balance,
                "t": table.id,
                "tx": tx_id,
            },
        )
    ).one()
    result = BoxOpenView(open_id, box_no, amount, balance, reward_id, tx_id, table.id, created_at)
    # In the same transaction: the gold box this open may earn, mission progress, the log.
    await gold.earn_from_boxes(session, user_id, box_no)
    await progress.record_box(session, user_id, reward_id)
    await user_events.record(
        session, user_id, user_events.BOX_OPEN, {"reward_id": reward_id, "amount": amount}
    )
    return result, False, version


async def post_open(request: Request) -> Response:
    identity = await authenticate(request)
    key = idempotency_key(request, required=False)
    async with request.app.state.sessions.begin() as session:
        result, replayed, version = await open_box(session, identity.user_id, key)
    if not replayed:
        state = request.app.state
        await cache_balance(
            state.redis, identity.user_id, state.settings.redis_partitions, result.balance, version
        )
    return ok(request, result, 201, headers=replay_headers(replayed))


async def list_opens(request: Request) -> Response:
    identity = await authenticate(request)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        opens = await sql_page(
            session,
            query,
            "box_opens",
            f"SELECT {_OPEN_COLUMNS}{_OPEN_FROM} WHERE b.user_id = :u"
            " AND (CAST(:after AS bigint) IS NULL OR b.id < :after)"
            " ORDER BY b.id DESC LIMIT :n",
            BoxOpenView,
            u=identity.user_id,
        )
    return ok(request, opens)


async def get_open(request: Request) -> Response:
    identity = await authenticate(request)
    open_id = path_id(request)
    async with request.app.state.sessions() as session:
        row = (
            await session.execute(
                text(f"SELECT {_OPEN_COLUMNS}{_OPEN_FROM} WHERE b.id = :id AND b.user_id = :u"),
                {"id": open_id, "u": identity.user_id},
            )
        ).first()
    if row is None:  # another user's open is as unknown as a missing one
        raise NotFound(f"no box open {open_id}")
    return ok(request, _open_view(row))


TAGS = ("boxes",)
routes = [
    api_route(
        "GET",
        "/api/boxes",
        get_box_status,
        summary="Random box progress, boxes available and the odds in force",
        response=BoxStatus,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/boxes/open",
        post_open,
        summary="Open the next earned box (Idempotency-Key: a retry answers the first result)",
        response=BoxOpenView,
        status=201,
        errors=["bad_request", "no_box_available", "unavailable"],
        headers=[HEADER],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/boxes/opens",
        list_opens,
        summary="The caller's box opens, newest first",
        query=PageQuery,
        response=Page[BoxOpenView],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/boxes/opens/{id:int}",
        get_open,
        summary="One of the caller's box opens",
        response=BoxOpenView,
        tags=TAGS,
    ),
]
