"""Admin withdrawals: the requests waiting for a decision, and approve / reject (audited as
`withdrawal.approve` / `withdrawal.reject` in the same transaction; api/withdrawals.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, BIGINT_MAX, authenticate, path_id
from api.pages import Page
from api.withdrawals import (
    DecisionBody,
    WithdrawalsQuery,
    WithdrawalView,
    decide,
    withdrawals_page,
)
from core import audit
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route


class AdminWithdrawalsQuery(WithdrawalsQuery):
    advertiser_id: Annotated[int, Meta(ge=1, le=BIGINT_MAX)] | None = None


async def list_withdrawals(request: Request) -> Response:
    """Withdrawals newest first, of one advertiser and/or in one status."""
    await authenticate(request, ADMIN)
    query = decode_query(request, AdminWithdrawalsQuery)
    return ok(request, await withdrawals_page(request, query, query.advertiser_id))


async def _decide(request: Request, verdict: Literal["approved", "rejected"]) -> Response:
    identity = await authenticate(request, ADMIN)
    withdrawal_id = path_id(request)
    body = await decode_body(request, DecisionBody)
    async with request.app.state.sessions.begin() as session:
        before, after = await decide(session, withdrawal_id, verdict, body.note, identity.user_id)
        if before.status == "pending":
            audit.record(
                session,
                identity.user_id,
                "withdrawal.approve" if verdict == "approved" else "withdrawal.reject",
                f"withdrawal:{withdrawal_id}",
                {"status": before.status},
                {
                    "status": after.status,
                    "advertiser_id": after.advertiser_id,
                    "amount_micros": after.amount_micros,
                    "note": body.note,
                },
            )
    return ok(request, after)


async def approve_withdrawal(request: Request) -> Response:
    return await _decide(request, "approved")


async def reject_withdrawal(request: Request) -> Response:
    return await _decide(request, "rejected")


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/withdrawals",
        list_withdrawals,
        summary="Advertiser withdrawals, newest first; by advertiser and status",
        auth="admin",
        query=AdminWithdrawalsQuery,
        response=Page[WithdrawalView],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/withdrawals/{id:int}/approve",
        approve_withdrawal,
        summary="Approve a pending withdrawal (note: the bank transfer's reference; audited)",
        auth="admin",
        body=DecisionBody,
        response=WithdrawalView,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/withdrawals/{id:int}/reject",
        reject_withdrawal,
        summary="Reject a pending withdrawal: its amount returns to the wallet once (audited)",
        auth="admin",
        body=DecisionBody,
        response=WithdrawalView,
        errors=["conflict"],
        tags=TAGS,
    ),
]
