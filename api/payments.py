"""Advertiser payments: a wallet charge is a pending payment at the gateway (api/gateway.py)
and credits the wallet only when the gateway confirms it, exactly once.

- `POST /api/advertiser/wallet/charges` (`Idempotency-Key`): a pending payment with our
  `order_id` and the gateway's hosted `checkout_url`; nothing is credited. A retry with
  the key answers the same payment; another amount with it is 409.
- `POST /api/advertiser/wallet/charges/confirm`: after the checkout's success redirect,
  the client passes `paymentKey`, `orderId` and `amount`; we confirm with the gateway
  (secret key) and credit when it answers DONE with our amount.
- `POST /api/payments/webhook`: the gateway's signed status change; DONE credits, a
  failure status fails the payment. Unsigned or wrongly signed: 401, nothing changes.

`settle` is the one place a payment changes state: the wallet row is locked first (the lock
order of api/wallets.py), then the payment row; a paid, failed or expired payment never
changes again, and the credit's ledger `ref` (`pay:<order_id>`) is unique. So webhook
retries, replays, a webhook racing the confirm call, and concurrent deliveries on several
api processes credit once. A payment past `expires_at` is marked expired and never credits.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate
from api.gateway import DONE, FAILED, MICROS_PER_KRW, Gateway, GatewayError, TossGateway
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.wallets import ensure_wallet, lock_wallet, post_entry
from core.errors import Conflict, NotFound, Unauthorized, Unavailable
from core.web import decode_body, invalid, ok
from core.web.spec import api_route

log = logging.getLogger("api.payments")
ADVERTISER = ("advertiser",)
OrderId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


class ChargeBody(Struct, forbid_unknown_fields=True):
    # whole currency units (KRW) in micros: 1,000,000 .. 10^12
    amount_micros: Annotated[int, Meta(ge=1, le=10**12)]


class ConfirmBody(Struct, forbid_unknown_fields=True):
    paymentKey: Annotated[str, Meta(min_length=1, max_length=200)]
    orderId: OrderId
    amount: Annotated[int, Meta(ge=1, le=10**6)]  # KRW, as the redirect carries it


class PaymentView(Struct, frozen=True):
    id: int
    order_id: str
    amount_micros: int
    status: str  # pending, paid (credited once), failed, expired (never credited)
    checkout_url: str | None  # the gateway's hosted checkout (while pending)
    transaction_id: int | None  # the wallet ledger row that credited it
    failure: str | None
    created_at: datetime
    expires_at: datetime


class WebhookAck(Struct, frozen=True):
    received: bool


_COLUMNS = (
    "id, order_id, amount_micros, status, transaction_id, failure, created_at, expires_at,"
    " advertiser_id"
)


def gateway(request: Request, *, calls: bool = True) -> Gateway:
    """The configured gateway; 503 when one is needed for a call and PG_API_URL is unset
    (a webhook is only verified: without a secret it never verifies)."""
    state = request.app.state
    s = state.settings
    if calls and not s.pg_api_url:
        raise Unavailable("no payment gateway is configured (PG_API_URL)")
    found: Gateway | None = getattr(state, "gateway", None)
    if found is None:
        found = TossGateway(
            api_url=s.pg_api_url,
            client_key=s.pg_client_key,
            secret_key=s.pg_secret_key,
            webhook_secret=s.pg_webhook_secret,
            return_url=s.payment_return_url,
        )
        state.gateway = found
    return found


def _view(row: Any, gw: Gateway | None) -> PaymentView:
    m = dict(row._mapping)
    m.pop("advertiser_id", None)
    m.pop("late", None)
    url = None
    if gw is not None and m["status"] == "pending":
        url = gw.checkout_url(m["order_id"], m["amount_micros"] // MICROS_PER_KRW, "Ad wallet")
    return PaymentView(checkout_url=url, **m)


async def _find(session: AsyncSession, where: str, **params: Any) -> Any:
    return (
        await session.execute(text(f"SELECT {_COLUMNS} FROM payments WHERE {where}"), params)
    ).first()


async def create_payment(
    session: AsyncSession, advertiser_id: int, key: str, amount: int, ttl_s: int
) -> tuple[Any, bool]:
    """A pending payment once per (advertiser, key): (its row, replayed?). No commit."""
    await ensure_wallet(session, advertiser_id)
    await lock_wallet(session, advertiser_id)  # serialises this advertiser's charges
    found = await _find(
        session, "advertiser_id = :a AND idempotency_key = :k", a=advertiser_id, k=key
    )
    if found is not None:
        if found.amount_micros != amount:
            raise Conflict(
                f"{HEADER} already used for a charge of another amount",
                details={"field": HEADER, "amount_micros": found.amount_micros},
            )
        return found, True
    row = (
        await session.execute(
            text(
                "INSERT INTO payments (order_id, advertiser_id, idempotency_key, amount_micros,"
                " expires_at) VALUES (:o, :a, :k, :m, now() + make_interval(secs => :ttl))"
                f" RETURNING {_COLUMNS}"
            ),
            {
                "o": "ord_" + secrets.token_hex(12),
                "a": advertiser_id,
                "k": key,
                "m": amount,
                "ttl": ttl_s,
            },
        )
    ).one()
    return row, False


async def settle(
    session: AsyncSession, order_id: str, status: str, amount_krw: int, payment_key: str
) -> Any:
    """Apply the gateway's word on a payment, once (module docstring). Returns the payment
    row after it; NotFound for an order we never made. No commit."""
    first = await _find(session, "order_id = :o", o=order_id)
    if first is None:
        raise NotFound(f"no payment {order_id}")
    await lock_wallet(session, first.advertiser_id)
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS}, expires_at < now() AS late FROM payments"
                " WHERE order_id = :o FOR UPDATE"
            ),
            {"o": order_id},
        )
    ).one()
    if row.status != "pending":
        return row  # paid, failed and expired are final: a replay changes nothing
    decided: dict[str, Any] = {"o": order_id, "pk": payment_key, "tx": None, "f": None}
    if row.late:
        decided.update(s="expired", f=f"gateway said {status} after the payment expired")
        if status == DONE:
            log.error("payment %s confirmed after it expired: not credited, refund it", order_id)
    elif status == DONE and amount_krw * MICROS_PER_KRW == row.amount_micros:
        tx_id, _ = await post_entry(
            session, row.advertiser_id, "charge", row.amount_micros, f"pay:{order_id}"
        )
        decided.update(s="paid", tx=tx_id)
    elif status == DONE:
        decided.update(s="failed", f=f"amount {amount_krw} KRW differs from the order's")
    elif status in FAILED:
        decided.update(s="failed", f=status)
    else:
        return row  # READY, IN_PROGRESS, WAITING_FOR_DEPOSIT: not decided yet
    await session.execute(
        text(
            "UPDATE payments SET status = :s, payment_key = :pk, transaction_id = :tx,"
            " failure = :f, decided_at = now() WHERE order_id = :o"
        ),
        decided,
    )
    return await _find(session, "order_id = :o", o=order_id)


async def post_charge(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await decode_body(request, ChargeBody)
    if body.amount_micros % MICROS_PER_KRW:
        raise invalid("amount_micros", "must be whole currency units (multiples of 1000000)")
    gw = gateway(request)
    ttl = request.app.state.settings.payment_ttl_s
    async with request.app.state.sessions.begin() as session:
        row, replayed = await create_payment(
            session, identity.user_id, key, body.amount_micros, ttl
        )
    return ok(request, _view(row, gw), 201, headers=replay_headers(replayed))


async def get_charge(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    order_id = request.path_params["order_id"]
    async with request.app.state.sessions() as session:
        row = await _find(
            session, "order_id = :o AND advertiser_id = :a", o=order_id, a=identity.user_id
        )
    if row is None:
        raise NotFound(f"no payment {order_id}")
    return ok(request, _view(row, getattr(request.app.state, "gateway", None)))


async def confirm_charge(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    body = await decode_body(request, ConfirmBody)
    gw = gateway(request)
    async with request.app.state.sessions() as session:
        mine = await _find(
            session, "order_id = :o AND advertiser_id = :a", o=body.orderId, a=identity.user_id
        )
    if mine is None:
        raise NotFound(f"no payment {body.orderId}")
    try:
        confirmed = await gw.confirm(body.paymentKey, body.orderId, body.amount)
    except GatewayError as exc:
        if mine.status != "pending":  # e.g. ALREADY_PROCESSED_PAYMENT after the webhook
            return ok(request, _view(mine, gw))
        raise Conflict(f"the gateway refused the confirmation: {exc}") from None
    async with request.app.state.sessions.begin() as session:
        row = await settle(
            session,
            confirmed.order_id,
            confirmed.status,
            confirmed.amount_krw,
            confirmed.payment_key,
        )
    return ok(request, _view(row, gw))


async def payment_webhook(request: Request) -> Response:
    gw = gateway(request, calls=False)
    raw = await request.body()
    event = gw.verify_webhook(raw, {k.lower(): v for k, v in request.headers.items()})
    if event is None:
        raise Unauthorized("the webhook signature does not verify")
    data = event.get("data")
    if event.get("eventType") != "PAYMENT_STATUS_CHANGED" or not isinstance(data, dict):
        return ok(request, WebhookAck(False))
    try:
        order_id, status = str(data["orderId"]), str(data["status"])
        amount, payment_key = int(data["totalAmount"]), str(data["paymentKey"])
    except (KeyError, TypeError, ValueError):
        return ok(request, WebhookAck(False))
    try:
        async with request.app.state.sessions.begin() as session:
            await settle(session, order_id, status, amount, payment_key)
    except NotFound:
        log.warning("webhook for an unknown order %s ignored", order_id)
        return ok(request, WebhookAck(False))
    return ok(request, WebhookAck(True))


TAGS = ("advertiser",)
routes = [
    api_route(
        "POST",
        "/api/advertiser/wallet/charges",
        post_charge,
        summary="Start a wallet charge: a pending payment with the gateway's checkout URL "
        "(credited only when the gateway confirms it; Idempotency-Key required)",
        auth="advertiser",
        body=ChargeBody,
        response=PaymentView,
        status=201,
        errors=["conflict"],
        headers=[HEADER],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/advertiser/wallet/charges/confirm",
        confirm_charge,
        summary="Confirm a paid checkout with the gateway (after its success redirect); "
        "credits the wallet once",
        auth="advertiser",
        body=ConfirmBody,
        response=PaymentView,
        errors=["conflict", "not_found"],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/advertiser/wallet/charges/{order_id}",
        get_charge,
        summary="One of the caller's payments",
        auth="advertiser",
        response=PaymentView,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/payments/webhook",
        payment_webhook,
        summary="The payment gateway's signed status webhook (Toss Payments' "
        "PAYMENT_STATUS_CHANGED)",
        auth="none",
        response=WebhookAck,
        errors=["unauthorized"],
        tags=("payments",),
    ),
]
