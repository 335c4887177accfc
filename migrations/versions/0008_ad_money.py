"""ad money others can trust: served impressions, caps and pacing, refusals, gateway payments

Revision ID: 0008_ad_money
Revises: 0007_missions
Create Date: 2026-12-03

Issue 17 (docs/money.md "Advertiser money", docs/security.md "Ad fraud"):
- `ads.frequency_cap` (counted impressions per viewer per local day, NULL: none) and
  `ads.daily_budget_micros` (spend per local day beside the total budget, NULL: none).
- `ad_impressions.served_at`: when `GET /api/ads` served the impression (the server's
  clock), and an index to count a viewer's impressions of an ad per day.
- `ad_days`: per ad and local day, the counted impressions, clicks and spend, written in the
  billing transaction (the daily budget reads it under the ad's row lock).
- `ad_refusals`: per ad, local day, event and reason, the reports that were refused.
- `payments`: a wallet charge through the payment gateway, pending until the gateway
  confirms it; `wallet_transactions.kind` gains `credit` (an admin's manual credit).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_ad_money"
down_revision: str | Sequence[str] | None = "0007_missions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
OLD_KINDS = "kind IN ('charge', 'impression', 'click')"
KINDS = "kind IN ('charge', 'impression', 'click', 'credit')"


def upgrade() -> None:
    op.add_column("ads", sa.Column("frequency_cap", sa.Integer(), nullable=True))
    op.add_column("ads", sa.Column("daily_budget_micros", sa.BigInteger(), nullable=True))
    op.create_check_constraint(
        "ads_pacing",
        "ads",
        "(frequency_cap IS NULL OR frequency_cap > 0)"
        " AND (daily_budget_micros IS NULL OR daily_budget_micros > 0)",
    )
    op.add_column("ad_impressions", sa.Column("served_at", TS, nullable=True))
    op.create_index("ad_impressions_viewer", "ad_impressions", ["ad_id", "user_id", "counted_at"])
    op.create_table(
        "ad_days",
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"]),
        sa.PrimaryKeyConstraint("ad_id", "day"),
    )
    op.create_table(
        "ad_refusals",
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("event IN ('impression', 'click')", name="ad_refusals_event"),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"]),
        sa.PrimaryKeyConstraint("ad_id", "day", "event", "reason"),
    )
    op.drop_constraint("wallet_tx_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("wallet_tx_kind", "wallet_transactions", KINDS)
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("payment_key", sa.Text(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'failed', 'expired')", name="payments_status"
        ),
        sa.CheckConstraint(
            "amount_micros > 0 AND amount_micros % 1000000 = 0", name="payments_amount"
        ),
        sa.CheckConstraint(
            "(status = 'paid') = (transaction_id IS NOT NULL)", name="payments_credited"
        ),
        sa.ForeignKeyConstraint(["advertiser_id"], ["advertiser_wallets.advertiser_id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["wallet_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
        sa.UniqueConstraint("advertiser_id", "idempotency_key", name="payments_key"),
    )
    op.create_index("payments_advertiser_id", "payments", ["advertiser_id", "id"])


def downgrade() -> None:
    op.drop_index("payments_advertiser_id", table_name="payments")
    op.drop_table("payments")
    op.drop_constraint("wallet_tx_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("wallet_tx_kind", "wallet_transactions", OLD_KINDS)
    op.drop_table("ad_refusals")
    op.drop_table("ad_days")
    op.drop_index("ad_impressions_viewer", table_name="ad_impressions")
    op.drop_column("ad_impressions", "served_at")
    op.drop_constraint("ads_pacing", "ads", type_="check")
    op.drop_column("ads", "daily_budget_micros")
    op.drop_column("ads", "frequency_cap")
