"""The payment gateway, in the protocol of Toss Payments (a Korean PG), behind one small
interface so another provider can be added beside it.

Flow (docs/money.md "Advertiser payments"): the api creates a pending payment with our
`orderId`; the advertiser's browser goes to the gateway's hosted checkout
(`checkout_url`); after paying, the gateway redirects to our success URL with
`paymentKey`, `orderId` and `amount`, and the client asks us to confirm; we call
`POST /v1/payments/confirm` with HTTP Basic auth of the secret key (`<secret>:` base64,
Toss's scheme) and credit only when the gateway answers `status: DONE` with our amount.
The gateway also sends a webhook (`PAYMENT_STATUS_CHANGED`) signed with HMAC-SHA256 of
`<body>:<transmission time>` under the webhook secret, in the headers
`tosspayments-webhook-signature: v1:<base64>` and `tosspayments-webhook-transmission-time`;
a correctly signed `DONE` credits the same way, `ABORTED`/`EXPIRED`/`CANCELED` fail it.

Amounts on the wire are whole KRW; the wallet counts micros (1 KRW = 1,000,000 micros).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

import msgspec

MICROS_PER_KRW = 1_000_000
SIGNATURE_HEADER = "tosspayments-webhook-signature"
TIME_HEADER = "tosspayments-webhook-transmission-time"
DONE = "DONE"
FAILED = frozenset({"ABORTED", "EXPIRED", "CANCELED"})


class GatewayError(Exception):
    """The gateway refused or could not be reached; the message is its own."""


class Confirmed(msgspec.Struct, frozen=True):
    payment_key: str
    order_id: str
    status: str  # DONE, or a failure status
    amount_krw: int


class Gateway(Protocol):
    def checkout_url(self, order_id: str, amount_krw: int, name: str) -> str: ...

    async def confirm(self, payment_key: str, order_id: str, amount_krw: int) -> Confirmed: ...

    def verify_webhook(self, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None: ...


def webhook_signature(secret: str, body: bytes, transmission_time: str) -> str:
    """`v1:` + base64(HMAC-SHA256(secret, body + ":" + time)): what the gateway sends."""
    mac = hmac.new(secret.encode(), body + b":" + transmission_time.encode(), hashlib.sha256)
    return "v1:" + base64.b64encode(mac.digest()).decode()


class TossGateway:
    """Toss Payments' documented shapes, against `api_url` (the real one or devkit's
    stand-in, devkit/servers/pg.py)."""

    def __init__(
        self,
        *,
        api_url: str,
        client_key: str,
        secret_key: str,
        webhook_secret: str,
        return_url: str,
        timeout_s: float = 10.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.client_key = client_key
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.return_url = return_url
        self.timeout_s = timeout_s

    def checkout_url(self, order_id: str, amount_krw: int, name: str) -> str:
        query = urllib.parse.urlencode(
            {
                "clientKey": self.client_key,
                "orderId": order_id,
                "amount": amount_krw,
                "orderName": name,
                "successUrl": f"{self.return_url}?result=success",
                "failUrl": f"{self.return_url}?result=fail",
            }
        )
        return f"{self.api_url}/checkout?{query}"

    def _confirm_sync(self, payment_key: str, order_id: str, amount_krw: int) -> Confirmed:
        auth = base64.b64encode(f"{self.secret_key}:".encode()).decode()
        body = json.dumps(
            {"paymentKey": payment_key, "orderId": order_id, "amount": amount_krw}
        ).encode()
        req = urllib.request.Request(
            f"{self.api_url}/v1/payments/confirm",
            data=body,
            method="POST",
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
            except ValueError:
                err = {}
            raise GatewayError(f"{err.get('code', exc.code)}: {err.get('message', '')}") from None
        except (OSError, ValueError) as exc:
            raise GatewayError(f"gateway unreachable ({type(exc).__name__})") from None
        return Confirmed(
            str(data["paymentKey"]),
            str(data["orderId"]),
            str(data["status"]),
            int(data["totalAmount"]),
        )

    async def confirm(self, payment_key: str, order_id: str, amount_krw: int) -> Confirmed:
        return await asyncio.to_thread(self._confirm_sync, payment_key, order_id, amount_krw)

    def verify_webhook(self, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        """The webhook's JSON when its signature is this secret's, else None."""
        sent = headers.get(SIGNATURE_HEADER, "")
        when = headers.get(TIME_HEADER, "")
        if not sent or not when or not self.webhook_secret:
            return None
        good = webhook_signature(self.webhook_secret, body, when)
        if not any(hmac.compare_digest(good, s.strip()) for s in sent.split(",")):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
