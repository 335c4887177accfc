"""withdrawals: an advertiser takes unspent balance back

Revision ID: 0012_withdrawals
Revises: 0011_youtube
Create Date: 2026-12-04

Issue 17 (docs/money.md "Withdrawals"):
- `withdrawals`: one request per (advertiser, Idempotency-Key); its amount leaves the wallet
  when it is asked for (ledger kind `withdrawal`, so ads cannot spend it meanwhile) and comes
  back once if an admin rejects it (kind `reversal`); approved requests are paid out by bank
  transfer, whose reference the approval records.
- `wallet_transactions.kind` gains `withdrawal` and `reversal`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_withdrawals"
down_revision: str | Sequence[str] | None = "0011_youtube"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
OLD_KINDS = "kind IN ('charge', 'impression', 'click', 'credit')"
KINDS = "kind IN ('charge', 'impression', 'click', 'credit', 'withdrawal', 'reversal')"


def upgrade() -> None:
    op.drop_constraint("wallet_tx_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("wallet_tx_kind", "wallet_transactions", KINDS)
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("bank_account", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("reversal_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="withdrawals_status"
        ),
        sa.CheckConstraint(
            "amount_micros > 0 AND amount_micros % 1000000 = 0", name="withdrawals_amount"
        ),
        sa.CheckConstraint(
            "(status = 'rejected') = (reversal_id IS NOT NULL)", name="withdrawals_reversed"
        ),
        sa.ForeignKeyConstraint(["advertiser_id"], ["advertiser_wallets.advertiser_id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["wallet_transactions.id"]),
        sa.ForeignKeyConstraint(["reversal_id"], ["wallet_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("advertiser_id", "idempotency_key", name="withdrawals_key"),
    )
    op.create_index("withdrawals_advertiser_id", "withdrawals", ["advertiser_id", "id"])
    op.create_index(
        "withdrawals_pending", "withdrawals", ["id"], postgresql_where=sa.text("status = 'pending'")
    )


def downgrade() -> None:
    op.drop_index("withdrawals_pending", table_name="withdrawals")
    op.drop_index("withdrawals_advertiser_id", table_name="withdrawals")
    op.drop_table("withdrawals")
    # Fails while withdrawal rows exist: money rows are never deleted to go back.
    op.drop_constraint("wallet_tx_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("wallet_tx_kind", "wallet_transactions", OLD_KINDS)
