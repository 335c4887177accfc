"""A local stand-in for the payment gateway (Toss Payments' protocol, api/gateway.py): a
real HTTP server, run like any app (`uvicorn devkit.servers.pg:app`), so the api's gateway
client and webhook check are tested over the wire, never mocked.

Environment: `PG_SECRET_KEY` (the Basic-auth secret the confirm call must carry) and
`PG_WEBHOOK_SECRET` (signs webhooks). Routes:
- `GET /checkout?clientKey=&orderId=&amount=&orderName=&successUrl=&failUrl=`: the hosted
  checkout page (a form with Pay / Cancel).
- `POST /test/pay` `{orderId, amount, outcome: DONE|ABORTED}`: what a buyer's payment does
  at the gateway: a `paymentKey` is made; answers it, the redirect URL the browser would
  follow, and the signed `PAYMENT_STATUS_CHANGED` webhook (body and headers) the gateway
  sends, for the test to deliver (as often and as concurrently as it likes).
- `POST /v1/payments/confirm` `{paymentKey, orderId, amount}` with `Authorization: Basic
  base64(<secret>:)`: Toss's confirm; `DONE` once, then `ALREADY_PROCESSED_PAYMENT`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from api.gateway import SIGNATURE_HEADER, TIME_HEADER, webhook_signature

_payments: dict[str, dict[str, Any]] = {}  # paymentKey -> payment


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def checkout(request: Request) -> HTMLResponse:
    q = request.query_params
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in q.items()
    )
    return HTMLResponse(
        f"<!doctype html><title>Checkout</title><h1>{escape(q.get('orderName', ''))}</h1>"
        f"<p>{escape(q.get('amount', ''))} KRW</p><form method=post action=/test/pay>{fields}"
        "<button name=outcome value=DONE>Pay</button>"
        "<button name=outcome value=ABORTED>Cancel</button></form>"
    )


def _webhook(payment: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(
        {
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S+09:00"),
            "data": {
                "paymentKey": payment["paymentKey"],
                "orderId": payment["orderId"],
                "status": payment["status"],
                "totalAmount": payment["totalAmount"],
            },
        }
    )
    when = str(int(time.time()))
    secret = os.environ.get("PG_WEBHOOK_SECRET", "")
    signature = webhook_signature(secret, body.encode(), when)
    return {"body": body, "headers": {SIGNATURE_HEADER: signature, TIME_HEADER: when}}


async def pay(request: Request) -> JSONResponse:
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
    else:
        data = dict(await request.form())
    key = "tpk_" + secrets.token_hex(12)
    outcome = "DONE" if data.get("outcome", "DONE") == "DONE" else "ABORTED"
    payment = {
        "paymentKey": key,
        "orderId": str(data["orderId"]),
        "totalAmount": int(data["amount"]),
        "status": "READY" if outcome == "DONE" else "ABORTED",
        "outcome": outcome,
    }
    _payments[key] = payment
    query = urlencode({"paymentKey": key, "orderId": payment["orderId"], "amount": data["amount"]})
    shown = {**payment, "status": outcome}
    return JSONResponse({"paymentKey": key, "redirect": f"?{query}", "webhook": _webhook(shown)})


async def confirm(request: Request) -> JSONResponse:
    secret = os.environ.get("PG_SECRET_KEY", "")
    want = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    if not secret or request.headers.get("authorization") != want:
        return _error(401, "UNAUTHORIZED_KEY", "unknown secret key")
    data = await request.json()
    payment = _payments.get(str(data.get("paymentKey")))
    if payment is None or payment["orderId"] != data.get("orderId"):
        return _error(404, "NOT_FOUND_PAYMENT", "no such payment")
    if payment["totalAmount"] != data.get("amount"):
        return _error(400, "INVALID_REQUEST", "the amount differs from the payment's")
    if payment["outcome"] != "DONE":
        return _error(403, "REJECT_CARD_PAYMENT", "the card company refused the payment")
    if payment["status"] == "DONE":
        return _error(400, "ALREADY_PROCESSED_PAYMENT", "this payment was already confirmed")
    payment["status"] = "DONE"
    out = {k: v for k, v in payment.items() if k != "outcome"}
    return JSONResponse(
        {**out, "method": "카드", "approvedAt": time.strftime("%Y-%m-%dT%H:%M:%S+09:00")}
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/checkout", checkout),
        Route("/test/pay", pay, methods=["POST"]),
        Route("/v1/payments/confirm", confirm, methods=["POST"]),
    ]
)
