"""Withdrawals: an advertiser takes unspent wallet balance back (docs/money.md "Withdrawals").

- `POST /api/advertiser/wallet/withdrawals` (`Idempotency-Key`): the amount leaves the wallet
  at once, as a ledger row of kind `withdrawal` (ref `withdraw:<advertiser>:<key>`), so ads
  cannot spend money that is on its way out. Up to `WITHDRAWAL_APPROVAL_MICROS` it is
  `approved` at once; above it the request is `pending` until an admin decides.
- An admin approves (the payout is a bank transfer to `bank_account`, whose reference the
  approval records) or rejects: a rejection puts the amount back, once, as a row of kind
  `reversal` (ref `reversal:<withdrawal id>`). Both are audited.

`decide` is the one place a withdrawal changes state: the wallet row is locked first (the
lock order of api/wallets.py), then the withdrawal row; only a pending one changes, so a
double click, two admins or a retry decide once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate
from api.campaigns import NO_NUL
from api.gateway import MICROS_PER_KRW
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.pages import Page, PageQuery, sql_page
from api.wallets import ensure_wallet, lock_wallet, post_entry
from core.errors import Conflict, NotFound
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route

ADVERTISER = ("advertiser",)


class InsufficientFunds(Conflict):
    """A withdrawal asked for more than the wallet holds."""

    code, status = "insufficient_funds", 409


class WithdrawalBody(Struct, forbid_unknown_fields=True):
    # whole KRW in micros, like a charge
    amount_micros: Annotated[int, Meta(ge=MICROS_PER_KRW, le=10**12, multiple_of=MICROS_PER_KRW)]
    # where the money goes (bank, account number, holder), as the advertiser writes it
    bank_account: Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]


class DecisionBody(Struct, forbid_unknown_fields=True):
    # approve: the bank transfer's reference; reject: why, shown to the advertiser
    note: Annotated[str, Meta(min_length=1, max_length=500, pattern=NO_NUL)]


class WithdrawalView(Struct, frozen=True):
    id: int
    advertiser_id: int
    amount_micros: int
    bank_account: str
    status: str  # pending, approved (paid out by bank transfer), rejected (amount returned)
    transaction_id: int  # the ledger row that took the amount out of the wallet
    reversal_id: int | None  # the ledger row that put it back (rejected only)
    note: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None


COLUMNS = (
    "id, advertiser_id, amount_micros, bank_account, status, transaction_id, reversal_id,"
    " note, created_at, decided_at, decided_by"
)


async def _find(session: AsyncSession, where: str, **params: Any) -> WithdrawalView | None:
    row = (
        await session.execute(text(f"SELECT {COLUMNS} FROM withdrawals WHERE {where}"), params)
    ).first()
    return None if row is None else WithdrawalView(**row._mapping)


async def request_withdrawal(
    session: AsyncSession,
    advertiser_id: int,
    key: str,
    body: WithdrawalBody,
    auto_approve_micros: int,
) -> tuple[WithdrawalView, bool]:
    """Take the amount out of the wallet once per (advertiser, key): (the withdrawal,
    replayed?). InsufficientFunds past the balance. No commit."""
    await ensure_wallet(session, advertiser_id)
    balance = await lock_wallet(session, advertiser_id)
    found = await _find(
        session, "advertiser_id = :a AND idempotency_key = :k", a=advertiser_id, k=key
    )
    if found is not None:
        if (found.amount_micros, found.bank_account) != (body.amount_micros, body.bank_account):
            raise Conflict(f"{HEADER} already used for another withdrawal")
        return found, True
    if body.amount_micros > balance:
        raise InsufficientFunds(
            "the wallet holds less than that", details={"balance_micros": balance}
        )
    tx_id, _ = await post_entry(
        session, advertiser_id, "withdrawal", -body.amount_micros, f"withdraw:{advertiser_id}:{key}"
    )
    auto = body.amount_micros <= auto_approve_micros
    withdrawal_id = (
        await session.execute(
            text(
                "INSERT INTO withdrawals (advertiser_id, idempotency_key, amount_micros,"
                " bank_account, status, transaction_id, decided_at) VALUES (:a, :k, :m, :b, :s,"
                " :tx, CASE WHEN :auto THEN now() END) RETURNING id"
            ),
            {
                "a": advertiser_id,
                "k": key,
                "m": body.amount_micros,
                "b": body.bank_account,
                "s": "approved" if auto else "pending",
                "tx": tx_id,
                "auto": auto,
            },
        )
    ).scalar_one()
    view = await _find(session, "id = :id", id=withdrawal_id)
    assert view is not None
    return view, False


async def decide(
    session: AsyncSession,
    withdrawal_id: int,
    verdict: Literal["approved", "rejected"],
    note: str,
    admin_id: int,
) -> tuple[WithdrawalView, WithdrawalView]:
    """Approve or reject a pending withdrawal (module docstring): (before, after). A decided
    one answers 409 with its status, unless it was decided the same way (a retry). No
    commit."""
    first = await _find(session, "id = :id", id=withdrawal_id)
    if first is None:
        raise NotFound(f"no withdrawal {withdrawal_id}")
    await lock_wallet(session, first.advertiser_id)
    row = (
        await session.execute(
            text(f"SELECT {COLUMNS} FROM withdrawals WHERE id = :id FOR UPDATE"),
            {"id": withdrawal_id},
        )
    ).one()
    before = WithdrawalView(**row._mapping)
    if before.status != "pending":
        if before.status == verdict:
            return before, before
        raise Conflict(
            f"the withdrawal is already {before.status}", details={"status": before.status}
        )
    reversal = None
    if verdict == "rejected":
        reversal, _ = await post_entry(
            session,
            before.advertiser_id,
            "reversal",
            before.amount_micros,
            f"reversal:{withdrawal_id}",
        )
    await session.execute(
        text(
            "UPDATE withdrawals SET status = :s, reversal_id = :r, note = :n, decided_at = now(),"
            " decided_by = :by WHERE id = :id"
        ),
        {"s": verdict, "r": reversal, "n": note, "by": admin_id, "id": withdrawal_id},
    )
    after = await _find(session, "id = :id", id=withdrawal_id)
    assert after is not None
    return before, after


_LIST_SQL = (
    f"SELECT {COLUMNS} FROM withdrawals"
    " WHERE (CAST(:adv AS bigint) IS NULL OR advertiser_id = :adv)"
    " AND (CAST(:status AS text) IS NULL OR status = :status)"
    " AND (CAST(:after AS bigint) IS NULL OR id < :after) ORDER BY id DESC LIMIT :n"
)


# ---- routes: the advertiser's side; the admin's is api/admin/withdrawals.py ----


class WithdrawalsQuery(PageQuery):
    status: Literal["pending", "approved", "rejected"] | None = None


async def post_withdrawal(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await decode_body(request, WithdrawalBody)
    limit = request.app.state.settings.withdrawal_approval_micros
    async with request.app.state.sessions.begin() as session:
        view, replayed = await request_withdrawal(session, identity.user_id, key, body, limit)
    return ok(request, view, 201, headers=replay_headers(replayed))


async def withdrawals_page(
    request: Request, query: WithdrawalsQuery, advertiser_id: int | None
) -> Page[WithdrawalView]:
    """A page of withdrawals, newest first: one advertiser's (None: everyone's), in the
    query's status when it names one."""
    async with request.app.state.sessions() as session:
        return await sql_page(
            session,
            query,
            "withdrawals",
            _LIST_SQL,
            WithdrawalView,
            adv=advertiser_id,
            status=query.status,
        )


async def list_own_withdrawals(request: Request) -> Response:
    identity = await authenticate(request, ADVERTISER)
    query = decode_query(request, WithdrawalsQuery)
    return ok(request, await withdrawals_page(request, query, identity.user_id))


routes = [
    api_route(
        "POST",
        "/api/advertiser/wallet/withdrawals",
        post_withdrawal,
        summary="Withdraw unspent balance: the amount leaves the wallet now and is paid out "
        "by bank transfer (an admin approves above WITHDRAWAL_APPROVAL_MICROS; "
        "Idempotency-Key required)",
        auth="advertiser",
        body=WithdrawalBody,
        response=WithdrawalView,
        status=201,
        errors=["conflict", "insufficient_funds"],
        headers=[HEADER],
        tags=("advertiser",),
    ),
    api_route(
        "GET",
        "/api/advertiser/wallet/withdrawals",
        list_own_withdrawals,
        summary="The caller's withdrawals, newest first",
        auth="advertiser",
        query=WithdrawalsQuery,
        response=Page[WithdrawalView],
        tags=("advertiser",),
    ),
]
