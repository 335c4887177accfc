"""boxes, ads, advertiser wallets, settlements

Revision ID: 0004_boxes_ads
Revises: 0003_accounts_catalog
Create Date: 2026-11-22

Advertiser money is in integer micro-units (`*_micros`). The wallet and the ads carry CHECKs
that make a negative balance or an overspent budget impossible even for a buggy writer;
settlement periods cannot overlap (an exclusion constraint on their date ranges).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_boxes_ads"
down_revision: str | Sequence[str] | None = "0003_accounts_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def _created() -> sa.Column:
    return sa.Column("created_at", TS, server_default=NOW, nullable=False)


def upgrade() -> None:
    op.create_table(
        "reward_tables",
        _id(),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total_weight", sa.BigInteger(), nullable=False),
        _created(),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("total_weight > 0", name="reward_tables_weight"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "box_opens",
        _id(),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("box_no", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reward_table_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        _created(),
        sa.CheckConstraint("box_no >= 1 AND amount >= 0", name="box_opens_values"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["reward_table_id"], ["reward_tables.id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["coin_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "box_no", name="box_opens_user_box"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="box_opens_user_key"),
    )
    op.create_table(
        "advertiser_wallets",
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("balance_micros", sa.BigInteger(), server_default="0", nullable=False),
        _created(),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("balance_micros >= 0", name="wallet_nonnegative"),
        sa.ForeignKeyConstraint(["advertiser_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("advertiser_id"),
    )
    op.create_table(
        "ads",
        _id(),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("creative_url", sa.Text(), nullable=False),
        sa.Column("click_url", sa.Text(), nullable=True),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.Column("billing", sa.Text(), nullable=False),
        sa.Column("price_micros", sa.BigInteger(), nullable=False),
        sa.Column("budget_micros", sa.BigInteger(), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("required_view_ms", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=True),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("impressions", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        _created(),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ads_status"),
        sa.CheckConstraint("billing IN ('cpm', 'cpc')", name="ads_billing"),
        sa.CheckConstraint(
            "price_micros > 0 AND (billing <> 'cpm' OR price_micros % 1000 = 0)",
            name="ads_price",
        ),
        sa.CheckConstraint(
            "budget_micros > 0 AND spent_micros >= 0 AND spent_micros <= budget_micros",
            name="ads_budget",
        ),
        sa.CheckConstraint("required_view_ms >= 0", name="ads_required_view"),
        sa.ForeignKeyConstraint(["advertiser_id"], ["advertiser_wallets.advertiser_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ads_advertiser_id", "ads", ["advertiser_id", "id"])
    op.create_index(
        "ads_serving", "ads", ["placement"], postgresql_where=sa.text("status = 'approved'")
    )
    op.create_table(
        "wallet_transactions",
        _id(),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_micros", sa.BigInteger(), nullable=False),
        sa.Column("ad_id", sa.BigInteger(), nullable=True),
        sa.Column("ref", sa.Text(), nullable=False),
        _created(),
        sa.CheckConstraint("kind IN ('charge', 'impression', 'click')", name="wallet_tx_kind"),
        sa.CheckConstraint("balance_after_micros >= 0", name="wallet_tx_balance"),
        sa.ForeignKeyConstraint(["advertiser_id"], ["advertiser_wallets.advertiser_id"]),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(
        "wallet_transactions_advertiser_id", "wallet_transactions", ["advertiser_id", "id"]
    )
    op.create_index("wallet_transactions_created_at", "wallet_transactions", ["created_at"])
    op.create_table(
        "wallet_charges",
        _id(),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="succeeded", nullable=False),
        sa.Column("balance_after_micros", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        _created(),
        sa.CheckConstraint("amount_micros > 0", name="wallet_charges_amount"),
        sa.ForeignKeyConstraint(["advertiser_id"], ["advertiser_wallets.advertiser_id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["wallet_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("advertiser_id", "idempotency_key", name="wallet_charges_key"),
    )
    op.create_table(
        "ad_impressions",
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("impression_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("content_id", sa.BigInteger(), nullable=True),
        sa.Column("viewed_ms", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), server_default="0", nullable=False),
        _created(),
        sa.Column("counted_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"]),
        sa.PrimaryKeyConstraint("ad_id", "impression_id"),
    )
    op.create_table(
        "ad_clicks",
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("impression_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), server_default="0", nullable=False),
        _created(),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"]),
        sa.PrimaryKeyConstraint("ad_id", "impression_id"),
    )
    op.create_table(
        "settlements",
        _id(),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("total_micros", sa.BigInteger(), nullable=False),
        _created(),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("period_start < period_end", name="settlements_period"),
        sa.CheckConstraint("status IN ('draft', 'confirmed')", name="settlements_status"),
        postgresql.ExcludeConstraint(
            (sa.text("daterange(period_start, period_end)"), "&&"),
            name="settlements_no_overlap",
            using="gist",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("settlement_id", sa.BigInteger(), nullable=False),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"]),
        sa.PrimaryKeyConstraint("settlement_id", "advertiser_id"),
    )
    # Box progress counts a user's watch rewards: an index-only scan of this partial index.
    op.create_index(
        "coin_transactions_watch_user",
        "coin_transactions",
        ["user_id"],
        postgresql_where=sa.text("kind = 'watch'"),
    )
    op.create_index("audit_log_action_id", "audit_log", ["action", "id"])
    op.create_index("audit_log_actor_id", "audit_log", ["actor_id", "id"])


def downgrade() -> None:
    op.drop_index("audit_log_actor_id", table_name="audit_log")
    op.drop_index("audit_log_action_id", table_name="audit_log")
    op.drop_index("coin_transactions_watch_user", table_name="coin_transactions")
    for table in (
        "settlement_lines",
        "settlements",
        "ad_clicks",
        "ad_impressions",
        "wallet_charges",
        "wallet_transactions",
        "ads",
        "advertiser_wallets",
        "box_opens",
        "reward_tables",
    ):
        op.drop_table(table)
