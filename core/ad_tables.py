"""Tables of migrations 0008 and 0012 (issue 17): per-ad daily counters, refused reports,
wallet charges through the payment gateway, and withdrawals. Registered on `core.models.Base` (imported at the end
of core/models.py), so the migrated schema check covers them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base

TS = DateTime(timezone=True)


class AdDay(Base):
    """One ad's counted impressions, clicks and spend on one local date (APP_TIMEZONE),
    written in the billing transaction under the ad's row lock: the daily budget reads it."""

    __tablename__ = "ad_days"
    ad_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ads.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    impressions: Mapped[int] = mapped_column(BigInteger, server_default="0")
    clicks: Mapped[int] = mapped_column(BigInteger, server_default="0")
    spent_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")


class AdRefusal(Base):
    """How many impression or click reports of an ad were refused on a local date, by reason
    (invalid traffic the advertiser and the admins can see)."""

    __tablename__ = "ad_refusals"
    ad_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ads.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    event: Mapped[str] = mapped_column(Text, primary_key=True)  # impression | click
    reason: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    __table_args__ = (
        CheckConstraint("event IN ('impression', 'click')", name="ad_refusals_event"),
    )


class Payment(Base):
    """A wallet charge through the payment gateway: `pending` until the gateway confirms it
    (then `paid`, with the ledger row that credited it, exactly once) or it fails or
    expires (never credited). `order_id` is ours, `payment_key` the gateway's."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[str] = mapped_column(Text, unique=True)
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("advertiser_wallets.advertiser_id")
    )
    idempotency_key: Mapped[str] = mapped_column(Text)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    payment_key: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("wallet_transactions.id")
    )
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TS)
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'failed', 'expired')", name="payments_status"
        ),
        CheckConstraint(
            "amount_micros > 0 AND amount_micros % 1000000 = 0", name="payments_amount"
        ),
        CheckConstraint(
            "(status = 'paid') = (transaction_id IS NOT NULL)", name="payments_credited"
        ),
        UniqueConstraint("advertiser_id", "idempotency_key", name="payments_key"),
        Index("payments_advertiser_id", "advertiser_id", "id"),
    )


class Withdrawal(Base):
    """Unspent balance an advertiser takes back (migration 0012, api/withdrawals.py): the
    amount left the wallet with `transaction_id`; `approved` ones are paid out by bank
    transfer, `rejected` ones came back with `reversal_id`."""

    __tablename__ = "withdrawals"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("advertiser_wallets.advertiser_id")
    )
    idempotency_key: Mapped[str] = mapped_column(Text)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    bank_account: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    transaction_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("wallet_transactions.id"))
    reversal_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("wallet_transactions.id")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="withdrawals_status"),
        CheckConstraint(
            "amount_micros > 0 AND amount_micros % 1000000 = 0", name="withdrawals_amount"
        ),
        CheckConstraint(
            "(status = 'rejected') = (reversal_id IS NOT NULL)", name="withdrawals_reversed"
        ),
        UniqueConstraint("advertiser_id", "idempotency_key", name="withdrawals_key"),
        Index("withdrawals_advertiser_id", "advertiser_id", "id"),
        Index("withdrawals_pending", "id", postgresql_where=text("status = 'pending'")),
    )
