"""Admin wallet money: the manual credit of an advertiser wallet (a bank transfer received
outside the gateway: one ledger row of kind `credit`, once per `Idempotency-Key`, ref
`credit:<advertiser>:<key>`, audited as `wallet.credit` in the same transaction), and the
payments view (gateway charges by advertiser and status)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate, path_id
from api.campaigns import NO_NUL
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.pages import Page, PageQuery, sql_page
from api.wallets import ensure_wallet, lock_wallet, post_entry
from core import audit
from core.errors import Conflict
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route


class CreditBody(Struct, forbid_unknown_fields=True):
    amount_micros: Annotated[int, Meta(ge=1, le=10**12)]
    # what the money is: the bank transfer's reference, for the audit and the books
    reference: Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]


class CreditView(Struct, frozen=True):
    advertiser_id: int
    amount_micros: int
    transaction_id: int
    balance_after_micros: int
    ref: str


async def post_credit(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    advertiser_id = path_id(request)
    key = idempotency_key(request, required=True)
    body = await decode_body(request, CreditBody)
    ref = f"credit:{advertiser_id}:{key}"
    async with request.app.state.sessions.begin() as session:
        await ensure_wallet(session, advertiser_id)
        await lock_wallet(session, advertiser_id)
        found = (
            await session.execute(
                text(
                    "SELECT id, amount_micros, balance_after_micros FROM wallet_transactions"
                    " WHERE ref = :r"
                ),
                {"r": ref},
            )
        ).first()
        if found is not None:
            if found.amount_micros != body.amount_micros:
                raise Conflict(f"{HEADER} already used for a credit of another amount")
            view = CreditView(
                advertiser_id, found.amount_micros, found.id, found.balance_after_micros, ref
            )
            return ok(request, view, 201, headers=replay_headers(True))
        tx_id, balance = await post_entry(session, advertiser_id, "credit", body.amount_micros, ref)
        view = CreditView(advertiser_id, body.amount_micros, tx_id, balance, ref)
        audit.record(
            session,
            identity.user_id,
            "wallet.credit",
            f"advertiser:{advertiser_id}",
            None,
            {"amount_micros": body.amount_micros, "reference": body.reference, "ref": ref},
        )
    return ok(request, view, 201, headers=replay_headers(False))


routes = [
    api_route(
        "POST",
        "/api/admin/wallets/{id:int}/credits",
        post_credit,
        summary="Credit an advertiser's wallet by hand (a bank transfer; audited; "
        "Idempotency-Key required)",
        auth="admin",
        body=CreditBody,
        response=CreditView,
        status=201,
        errors=["conflict"],
        headers=[HEADER],
        tags=("admin",),
    ),
]


class PaymentsQuery(PageQuery):
    advertiser_id: Annotated[int, Meta(ge=1, le=BIGINT_MAX)] | None = None
    status: Literal["pending", "paid", "failed", "expired"] | None = None


class AdminPayment(Struct, frozen=True):
    id: int
    advertiser_id: int
    order_id: str
    amount_micros: int
    status: str
    payment_key: str | None
    failure: str | None
    transaction_id: int | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None


async def list_payments(request: Request) -> Response:
    """Gateway payments, newest first, of one advertiser and/or in one status."""
    await authenticate(request, ADMIN)
    query = decode_query(request, PaymentsQuery)
    sql = (
        "SELECT id, advertiser_id, order_id, amount_micros, status, payment_key, failure,"
        " transaction_id, created_at, expires_at, decided_at FROM payments"
        " WHERE (CAST(:adv AS bigint) IS NULL OR advertiser_id = :adv)"
        " AND (CAST(:status AS text) IS NULL OR status = :status)"
        " AND (CAST(:after AS bigint) IS NULL OR id < :after) ORDER BY id DESC LIMIT :n"
    )
    async with request.app.state.sessions() as session:
        found = await sql_page(
            session,
            query,
            "payments",
            sql,
            AdminPayment,
            adv=query.advertiser_id,
            status=query.status,
        )
    return ok(request, found)


routes.append(
    api_route(
        "GET",
        "/api/admin/payments",
        list_payments,
        summary="Gateway payments (charges), newest first; by advertiser and status",
        auth="admin",
        query=PaymentsQuery,
        response=Page[AdminPayment],
        tags=("admin",),
    )
)
