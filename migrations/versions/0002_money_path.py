"""money path: what the workers write besides the ledger (viewer counts, content expiry)

Revision ID: 0002_money_path
Revises: 0001_initial
Create Date: 2026-11-22

The ledger (coin_transactions, reward_id unique), balances (users.balance, balance_version)
and watch_sessions already exist since 0001. The workers add to `contents`:
- live_viewers, live_viewers_at: the live viewer count copied from Redis every 60 s (for SQL
  sorting by viewers; the exact live figure stays in Redis);
- expired_at: set by the hourly expiry job once expires_at has passed (and cleared if
  expires_at moves into the future again), with updated_at bumped so that caches that follow
  updated_at see the change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_money_path"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "contents",
        sa.Column("live_viewers", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("contents", sa.Column("live_viewers_at", TS, nullable=True))
    op.add_column("contents", sa.Column("expired_at", TS, nullable=True))


def downgrade() -> None:
    op.drop_column("contents", "expired_at")
    op.drop_column("contents", "live_viewers_at")
    op.drop_column("contents", "live_viewers")
