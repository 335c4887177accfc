"""gold boxes, missions, the user event log

Revision ID: 0007_missions
Revises: 0006_signin
Create Date: 2026-12-03

Issue 18 (docs/api.md, "Gold boxes", "Missions", "User event log"):
- `reward_tables.box`: a reward table sets the odds of the random box (`box`, every table so
  far) or of the gold box (`gold`); the newest table of each box is in force.
- `gold_box_grants` (earned, unique by the earning event's id) and `gold_box_opens` (unique
  per user and gold box number, and per user and idempotency key), paid as `gold_box`
  ledger rows.
- `missions`, `mission_joins`, `mission_completions` (the reward id is unique: paid once per
  user and window) and `mission_activity` (progress events, unique by their own id).
- `user_events`: append-only; `event_key` unique where the event has an id of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_missions"
down_revision: str | Sequence[str] | None = "0006_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False)


def upgrade() -> None:
    op.add_column(
        "reward_tables", sa.Column("box", sa.Text(), server_default="box", nullable=False)
    )
    op.create_check_constraint("reward_tables_box", "reward_tables", "box IN ('box', 'gold')")
    op.create_index("reward_tables_box_id", "reward_tables", ["box", "id"])
    op.create_table(
        "gold_box_rules",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("boxes_per_gold", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("id = 1", name="gold_box_rules_one_row"),
        sa.CheckConstraint("boxes_per_gold >= 0", name="gold_box_rules_values"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gold_box_grants",
        _id(),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("source IN ('boxes', 'mission')", name="gold_box_grants_source"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id"),
    )
    op.create_index("gold_box_grants_user_id", "gold_box_grants", ["user_id", "id"])
    op.create_table(
        "gold_box_opens",
        _id(),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("gold_no", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reward_table_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("gold_no >= 1 AND amount >= 0", name="gold_box_opens_values"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["reward_table_id"], ["reward_tables.id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["coin_transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "gold_no", name="gold_box_opens_user_no"),
        sa.UniqueConstraint("user_id", "idempotency_key", name="gold_box_opens_user_key"),
    )
    op.create_table(
        "missions",
        _id(),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("content_id", sa.BigInteger(), nullable=True),
        sa.Column("tag", sa.Text(), nullable=True),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("starts_at", TS, nullable=True),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("reward_kind", sa.Text(), nullable=False),
        sa.Column("reward_amount", sa.BigInteger(), nullable=False),
        sa.Column("join_required", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint(
            "kind IN ('watch_minutes', 'watch_content_minutes', 'watch_tag_minutes',"
            " 'watch_contents', 'open_boxes', 'watch_streak_days')",
            name="missions_kind",
        ),
        sa.CheckConstraint("period IN ('daily', 'weekly', 'range')", name="missions_period"),
        sa.CheckConstraint("reward_kind IN ('coins', 'gold_box')", name="missions_reward_kind"),
        sa.CheckConstraint("status IN ('active', 'paused')", name="missions_status"),
        sa.CheckConstraint("target >= 1 AND reward_amount >= 1", name="missions_values"),
        sa.ForeignKeyConstraint(["content_id"], ["contents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "mission_joins",
        sa.Column("mission_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", TS, server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(["mission_id"], ["missions.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("mission_id", "user_id"),
    )
    op.create_table(
        "mission_completions",
        sa.Column("mission_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("window_key", sa.Text(), nullable=False),
        sa.Column("reward_id", sa.Text(), nullable=False),
        sa.Column("completed_at", TS, server_default=NOW, nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["mission_id"], ["missions.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("mission_id", "user_id", "window_key"),
        sa.UniqueConstraint("reward_id"),
    )
    op.create_table(
        "mission_activity",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("content_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('watch', 'box')", name="mission_activity_kind"),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("mission_activity_user_at", "mission_activity", ["user_id", "at"])
    op.create_table(
        "user_events",
        _id(),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_index("user_events_user_id", "user_events", ["user_id", "id"])
    op.create_index("user_events_type_id", "user_events", ["type", "id"])
    op.create_index("user_events_at", "user_events", ["at"])


def downgrade() -> None:
    for index, table in (
        ("user_events_at", "user_events"),
        ("user_events_type_id", "user_events"),
        ("user_events_user_id", "user_events"),
        ("mission_activity_user_at", "mission_activity"),
        ("gold_box_grants_user_id", "gold_box_grants"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "user_events",
        "mission_activity",
        "mission_completions",
        "mission_joins",
        "missions",
        "gold_box_opens",
        "gold_box_grants",
        "gold_box_rules",
    ):
        op.drop_table(table)
    op.drop_index("reward_tables_box_id", table_name="reward_tables")
    op.drop_constraint("reward_tables_box", "reward_tables", type_="check")
    op.drop_column("reward_tables", "box")
