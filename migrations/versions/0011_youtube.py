"""youtube: provider ids and metadata on contents, import jobs

Revision ID: 0011_youtube
Revises: 0010_help_rewards
Create Date: 2026-12-03

Issue 20 (docs/youtube.md):
- `contents.duration_s` may be NULL: a live or upcoming broadcast has no fixed duration
  (the hub never read it; rewards are per credited interval);
- `contents.external_id` with UNIQUE (provider, external_id): importing a video twice
  updates its row; manual contents keep NULL (NULLs are distinct);
- the provider's metadata: description, thumbnail_url, channel_id, channel_title,
  provider_published_at, live_state (none | upcoming | live | ended), scheduled_start_at,
  unpublished_reason (why the import made it a draft), metadata_refreshed_at;
- `youtube_imports`: one row per import job with its progress.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_youtube"
down_revision: str | Sequence[str] | None = "0010_help_rewards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
NULLABLE = (
    ("external_id", sa.Text()),
    ("thumbnail_url", sa.Text()),
    ("channel_id", sa.Text()),
    ("channel_title", sa.Text()),
    ("provider_published_at", TS),
    ("scheduled_start_at", TS),
    ("unpublished_reason", sa.Text()),
    ("metadata_refreshed_at", TS),
)


def upgrade() -> None:
    op.alter_column("contents", "duration_s", existing_type=sa.Integer(), nullable=True)
    for name, type_ in NULLABLE:
        op.add_column("contents", sa.Column(name, type_, nullable=True))
    op.add_column(
        "contents", sa.Column("description", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "contents", sa.Column("live_state", sa.Text(), server_default="none", nullable=False)
    )
    op.create_check_constraint(
        "contents_live_state", "contents", "live_state IN ('none', 'upcoming', 'live', 'ended')"
    )
    op.create_unique_constraint(
        "contents_provider_external_id", "contents", ["provider", "external_id"]
    )
    op.create_table(
        "youtube_imports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_items", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed')", name="youtube_imports_status"
        ),
        sa.CheckConstraint(
            "kind IN ('video', 'playlist', 'channel', 'handle')", name="youtube_imports_kind"
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("youtube_imports")
    op.drop_constraint("contents_provider_external_id", "contents", type_="unique")
    op.drop_constraint("contents_live_state", "contents", type_="check")
    op.drop_column("contents", "live_state")
    op.drop_column("contents", "description")
    for name, _ in reversed(NULLABLE):
        op.drop_column("contents", name)
    op.execute("UPDATE contents SET duration_s = 0 WHERE duration_s IS NULL")
    op.alter_column("contents", "duration_s", existing_type=sa.Integer(), nullable=False)
