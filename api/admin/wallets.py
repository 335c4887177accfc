"""Admin manual credit of an advertiser wallet (a bank transfer received outside the
gateway): one ledger row of kind `credit`, once per `Idempotency-Key` (ref
`credit:<advertiser>:<key>`), audited as `wallet.credit` in the same transaction."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.campaigns import NO_NUL
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.wallets import ensure_wallet, lock_wallet, post_entry
from core import audit
from core.errors import Conflict
from core.web import decode_body, ok
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
