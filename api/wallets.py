"""Advertiser wallets and their append-only ledger (`wallet_transactions`).

Money is in integer micro-units. Every change of a balance is one ledger row carrying the
signed amount and the balance after it, written in the same transaction as the balance, and
keyed by a unique `ref` (`charge:<advertiser>:<Idempotency-Key>`, `imp:<ad>:<impression>`,
`click:<ad>:<impression>`, `withdraw:<advertiser>:<key>`, `reversal:<withdrawal>`, ...), so
a retried or raced write can never land twice.

Lock order, everywhere money moves: the wallet row first, then the ad row
(`SELECT ... FOR UPDATE`). Helpers never commit.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.users import provision_user


class WalletView(Struct, frozen=True):
    advertiser_id: int
    balance_micros: int
    spent_micros: int  # everything ever debited (impressions and clicks)
    charged_micros: int  # everything ever credited (gateway payments, manual credits)
    withdrawn_micros: int  # taken back by withdrawals (pending or approved; not rejected)
    updated_at: datetime


class WalletEntry(Struct, frozen=True):
    id: int
    # charge (+, a gateway payment), credit (+, by an admin), impression (-), click (-),
    # withdrawal (-, api/withdrawals.py), reversal (+, a rejected withdrawal put back)
    kind: str
    amount_micros: int  # signed: credits positive, debits negative
    balance_after_micros: int
    ad_id: int | None
    ref: str
    created_at: datetime


ENTRY_COLUMNS = "id, kind, amount_micros, balance_after_micros, ad_id, ref, created_at"


async def ensure_wallet(session: AsyncSession, advertiser_id: int) -> None:
    """Create the advertiser's (empty) wallet on first use."""
    await provision_user(session, advertiser_id, ["advertiser"])  # type: ignore[arg-type]
    await session.execute(
        text("INSERT INTO advertiser_wallets (advertiser_id) VALUES (:a) ON CONFLICT DO NOTHING"),
        {"a": advertiser_id},
    )


async def lock_wallet(session: AsyncSession, advertiser_id: int) -> int:
    """Lock the wallet row (always before any ad row) and return its balance."""
    return int(
        (
            await session.execute(
                text(
                    "SELECT balance_micros FROM advertiser_wallets WHERE advertiser_id = :a FOR UPDATE"
                ),
                {"a": advertiser_id},
            )
        ).scalar_one()
    )


async def post_entry(
    session: AsyncSession,
    advertiser_id: int,
    kind: str,
    amount: int,
    ref: str,
    ad_id: int | None = None,
) -> tuple[int, int]:
    """Append a ledger row and move the balance by `amount` (negative: a debit). The caller
    holds the wallet lock and has checked that a debit fits; the balance CHECK is the last
    guard. Returns (entry id, balance after)."""
    balance = (
        await session.execute(
            text(
                "UPDATE advertiser_wallets SET balance_micros = balance_micros + :m, updated_at = now()"
                " WHERE advertiser_id = :a RETURNING balance_micros"
            ),
            {"a": advertiser_id, "m": amount},
        )
    ).scalar_one()
    if balance < 0:  # unreachable while callers check; never let it commit
        raise Conflict("the wallet cannot go below zero")
    entry_id = (
        await session.execute(
            text(
                "INSERT INTO wallet_transactions (advertiser_id, kind, amount_micros,"
                " balance_after_micros, ad_id, ref) VALUES (:a, :k, :m, :b, :ad, :r) RETURNING id"
            ),
            {"a": advertiser_id, "k": kind, "m": amount, "b": balance, "ad": ad_id, "r": ref},
        )
    ).scalar_one()
    return int(entry_id), int(balance)


async def get_wallet(session: AsyncSession, advertiser_id: int) -> WalletView:
    # Totals from the few ads and charges, not a scan of the (per-impression) ledger.
    row = (
        await session.execute(
            text(
                "SELECT w.advertiser_id, w.balance_micros,"
                " CAST(COALESCE((SELECT sum(spent_micros) FROM ads WHERE advertiser_id = :a), 0)"
                "   AS bigint) AS spent_micros,"
                " CAST(COALESCE((SELECT sum(amount_micros) FROM wallet_charges"
                "   WHERE advertiser_id = :a), 0)"
                " + COALESCE((SELECT sum(amount_micros) FROM payments"
                "   WHERE advertiser_id = :a AND status = 'paid'), 0)"
                " + COALESCE((SELECT sum(amount_micros) FROM wallet_transactions"
                "   WHERE advertiser_id = :a AND kind = 'credit'), 0) AS bigint) AS charged_micros,"
                " CAST(COALESCE((SELECT sum(amount_micros) FROM withdrawals"
                "   WHERE advertiser_id = :a AND status <> 'rejected'), 0) AS bigint)"
                "   AS withdrawn_micros,"
                " w.updated_at FROM advertiser_wallets w WHERE w.advertiser_id = :a"
            ),
            {"a": advertiser_id},
        )
    ).one()
    return WalletView(**row._mapping)


async def list_entries(
    session: AsyncSession, advertiser_id: int, before_id: int | None, limit: int
) -> list[WalletEntry]:
    """Ledger rows newest first, `limit` of them after the keyset `before_id`."""
    rows = (
        await session.execute(
            text(
                f"SELECT {ENTRY_COLUMNS} FROM wallet_transactions WHERE advertiser_id = :a"
                " AND (CAST(:before AS bigint) IS NULL OR id < :before) ORDER BY id DESC LIMIT :n"
            ),
            {"a": advertiser_id, "before": before_id, "n": limit},
        )
    ).all()
    return [WalletEntry(**row._mapping) for row in rows]
