"""multi-account review: held grants, review flags

Revision ID: 0005_account_reviews
Revises: 0004_boxes_ads
Create Date: 2026-11-23

Issue 8 (docs/money.md, "Multi-account review"):
- `coin_transactions.status`: `paid` (counts in `users.balance`, every row so far), `held`
  (a grant made while its user was on hold: in the ledger, its reward id used, not in the
  balance) or `void` (a held grant an admin rejected: never paid). The only change a ledger
  row can see is held -> paid or held -> void; amounts and ids never change.
- `users.review_hold`: the user is on hold in PostgreSQL's view (the drain writes held
  grants as held only while it is set; an approval clears it).
- `account_reviews`: one row per flag raised by the hub (`flag_id` unique: a replayed outbox
  entry writes nothing), with the admin's decision.
- Box progress counts paid watch rewards only: its partial index gets `status = 'paid'`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_account_reviews"
down_revision: str | Sequence[str] | None = "0004_boxes_ads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column(
        "coin_transactions",
        sa.Column("status", sa.Text(), server_default="paid", nullable=False),
    )
    op.create_check_constraint(
        "coin_transactions_status", "coin_transactions", "status IN ('paid', 'held', 'void')"
    )
    op.create_index(
        "coin_transactions_held",
        "coin_transactions",
        ["user_id"],
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_index("coin_transactions_watch_user", table_name="coin_transactions")
    op.create_index(
        "coin_transactions_watch_user",
        "coin_transactions",
        ["user_id"],
        postgresql_where=sa.text("kind = 'watch' AND status = 'paid'"),
    )
    op.add_column(
        "users", sa.Column("review_hold", sa.Boolean(), server_default="false", nullable=False)
    )
    op.create_table(
        "account_reviews",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("flag_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.CheckConstraint("reason IN ('device', 'ip')", name="account_reviews_reason"),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name="account_reviews_status"
        ),
        sa.CheckConstraint("accounts >= 0", name="account_reviews_accounts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flag_id"),
    )
    op.create_index("account_reviews_status_id", "account_reviews", ["status", "id"])
    op.create_index("account_reviews_user_id", "account_reviews", ["user_id", "id"])
    op.create_index("account_reviews_key", "account_reviews", ["reason", "key"])


def downgrade() -> None:
    op.drop_index("account_reviews_key", table_name="account_reviews")
    op.drop_index("account_reviews_user_id", table_name="account_reviews")
    op.drop_index("account_reviews_status_id", table_name="account_reviews")
    op.drop_table("account_reviews")
    op.drop_column("users", "review_hold")
    op.drop_index("coin_transactions_watch_user", table_name="coin_transactions")
    op.create_index(
        "coin_transactions_watch_user",
        "coin_transactions",
        ["user_id"],
        postgresql_where=sa.text("kind = 'watch'"),
    )
    op.drop_index("coin_transactions_held", table_name="coin_transactions")
    op.drop_constraint("coin_transactions_status", "coin_transactions", type_="check")
    op.drop_column("coin_transactions", "status")
