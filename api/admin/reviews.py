"""Admin multi-account review (docs/money.md, "Multi-account review"): the accounts the hub
put on hold because one device or one IP address carried too many of them, their held coins,
and the decision on each user.

- approve: the user's held grants are paid (status held -> paid, `users.balance` and
  `balance_version` grow by them) and its open reviews are closed as approved, in one
  transaction under the user's row lock; then the hold is lifted in Redis (with an exemption
  from new flags for one review window) and the cached balance refreshed.
- reject: the held grants are void (never paid; their reward ids stay used), the open
  reviews are closed as rejected, and the account stays on hold: what it earns later is held
  too, for a later decision.

Both are idempotent per user (the row lock serialises concurrent ones: approving twice pays
once) and audited (`review.approve`, `review.reject`) when they change anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate, path_id
from api.pages import Page, PageQuery, sql_page
from core import audit
from core.errors import NotFound, Unavailable
from core.web import decode_query, ok
from core.web.spec import api_route
from live import holds
from live.balance_cache import cache_balance

ReviewStatus = Literal["open", "approved", "rejected"]
FLAGGED_WITH_MAX = 50


class ReviewsQuery(PageQuery):
    status: ReviewStatus = "open"
    user_id: Annotated[int, Meta(ge=1, le=BIGINT_MAX)] | None = None


class ReviewItem(Struct, frozen=True):
    id: int
    user_id: int
    reason: str  # device | ip
    key: str  # the device id or the IP address
    accounts: int  # distinct accounts seen on it within the window when the flag was raised
    status: str  # open | approved | rejected
    created_at: datetime  # when the hub raised the flag
    decided_by: int | None
    decided_at: datetime | None
    on_hold: bool  # the user's grants are held now
    held_grants: int  # the user's grants waiting for a decision now
    held_coins: int
    flagged_with: list[int]  # users flagged on the same device or address (at most 50)


class ReviewDecision(Struct, frozen=True):
    user_id: int
    decision: str  # approved | rejected
    reviews: int  # open reviews this call closed
    grants: int  # held grants this call paid (approve) or voided (reject)
    coins: int
    balance: int  # the user's PostgreSQL balance afterwards
    on_hold: bool


_LIST = f"""
SELECT r.id, r.user_id, r.reason, r.key, r.accounts, r.status, r.created_at, r.decided_by,
       r.decided_at, u.review_hold AS on_hold, h.n AS held_grants, h.coins AS held_coins,
       ARRAY(SELECT DISTINCT o.user_id FROM account_reviews o
             WHERE o.reason = r.reason AND o.key = r.key ORDER BY o.user_id
             LIMIT {FLAGGED_WITH_MAX}) AS flagged_with
FROM account_reviews r
JOIN users u ON u.id = r.user_id
CROSS JOIN LATERAL (
    SELECT count(*) AS n, coalesce(sum(t.amount), 0)::bigint AS coins FROM coin_transactions t
    WHERE t.user_id = r.user_id AND t.status = 'held'
) h
WHERE r.status = :status
  AND (CAST(:uid AS bigint) IS NULL OR r.user_id = :uid)
  AND (CAST(:after AS bigint) IS NULL OR r.id > :after)
ORDER BY r.id LIMIT :n
"""


async def list_reviews(request: Request) -> Response:
    """Reviews of one status (default `open`: the queue), oldest first."""
    await authenticate(request, ADMIN)
    query = decode_query(request, ReviewsQuery)
    async with request.app.state.sessions() as session:
        reviews = await sql_page(
            session, query, "reviews", _LIST, ReviewItem, status=query.status, uid=query.user_id
        )
    return ok(request, reviews)


async def decide(
    session: AsyncSession, user_id: int, approve: bool, admin_id: int
) -> ReviewDecision:
    """The decision in the caller's transaction (no commit). NotFound for a user that was
    never flagged."""
    user = (
        await session.execute(
            text("SELECT review_hold, balance FROM users WHERE id = :u FOR UPDATE"), {"u": user_id}
        )
    ).first()
    flagged = (
        user is not None
        and (
            await session.execute(
                text("SELECT EXISTS (SELECT 1 FROM account_reviews WHERE user_id = :u)"),
                {"u": user_id},
            )
        ).scalar_one()
    )
    if user is None or not flagged:
        raise NotFound(f"user {user_id} has no review")
    was_held, balance = bool(user[0]), int(user[1])
    amounts = (
        (
            await session.execute(
                text(
                    "UPDATE coin_transactions SET status = :s WHERE user_id = :u AND status = 'held'"
                    " RETURNING amount"
                ),
                {"s": "paid" if approve else "void", "u": user_id},
            )
        )
        .scalars()
        .all()
    )
    coins = sum(amounts)
    on_hold = not approve
    if approve and coins:
        balance = (
            await session.execute(
                text(
                    "UPDATE users SET balance = balance + :c, balance_version = balance_version + 1,"
                    " review_hold = false, updated_at = now() WHERE id = :u RETURNING balance"
                ),
                {"c": coins, "u": user_id},
            )
        ).scalar_one()
    elif was_held != on_hold:
        await session.execute(
            text("UPDATE users SET review_hold = :h WHERE id = :u"), {"h": on_hold, "u": user_id}
        )
    closed = (
        (
            await session.execute(
                text(
                    "UPDATE account_reviews SET status = :s, decided_by = :by, decided_at = now()"
                    " WHERE user_id = :u AND status = 'open' RETURNING id"
                ),
                {"s": "approved" if approve else "rejected", "by": admin_id, "u": user_id},
            )
        )
        .scalars()
        .all()
    )
    result = ReviewDecision(
        user_id,
        "approved" if approve else "rejected",
        len(closed),
        len(amounts),
        coins,
        balance,
        on_hold,
    )
    if closed or amounts or was_held != on_hold:
        audit.record(
            session,
            admin_id,
            "review.approve" if approve else "review.reject",
            f"user:{user_id}",
            {
                "on_hold": was_held,
                "held_grants": len(amounts),
                "held_coins": coins,
                "open_reviews": sorted(closed),
            },
            {"on_hold": on_hold, "grants": len(amounts), "coins": coins, "balance": balance},
        )
    return result


async def _decide(request: Request, approve: bool) -> Response:
    identity = await authenticate(request, ADMIN)
    user_id = path_id(request)
    state: Any = request.app.state
    async with state.sessions.begin() as session:
        result = await decide(session, user_id, approve, identity.user_id)
        version = (
            await session.execute(
                text("SELECT balance_version FROM users WHERE id = :u"), {"u": user_id}
            )
        ).scalar_one()
    settings = state.settings
    try:
        await holds.apply_decision(
            state.redis,
            user_id,
            settings.redis_partitions,
            "approve" if approve else "reject",
            settings.review_window_hours * 3_600_000,
        )
    except Exception as exc:  # noqa: BLE001 - committed; repeating the decision finishes it
        raise Unavailable(
            f"the decision is saved, but the live hold was not updated "
            f"({type(exc).__name__}): repeat it"
        ) from None
    if approve:
        await cache_balance(
            state.redis, user_id, settings.redis_partitions, result.balance, int(version)
        )
    return ok(request, result)


async def approve_review(request: Request) -> Response:
    return await _decide(request, True)


async def reject_review(request: Request) -> Response:
    return await _decide(request, False)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/reviews",
        list_reviews,
        summary="Multi-account reviews (?status=open: the queue), with each user's held coins",
        auth="admin",
        query=ReviewsQuery,
        response=Page[ReviewItem],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/users/{id:int}/review/approve",
        approve_review,
        summary="Approve a user on review: pay its held coins, lift the hold",
        auth="admin",
        response=ReviewDecision,
        errors=["unavailable"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/users/{id:int}/review/reject",
        reject_review,
        summary="Reject a user on review: void its held coins, keep it on hold",
        auth="admin",
        response=ReviewDecision,
        errors=["unavailable"],
        tags=TAGS,
    ),
]
