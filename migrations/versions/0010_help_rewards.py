"""help center (FAQ categories and articles)

Revision ID: 0010_help_rewards
Revises: 0008_ad_money
Create Date: 2026-12-03

Issue 18 (docs/help.md):
- `help_categories`: FAQ categories, ordered by `position`, draft or published, a Korean
  title and an optional English one (`slug` unique: links and the import refer to it).
- `help_articles`: questions and answers in Korean (required) and English (optional, the
  Korean text is served in its place), ordered within their category. A category with
  articles cannot be deleted (the foreign key has no cascade: an admin deletes or moves the
  articles first, so nothing is lost by one click).

Reward posts, recommendations and the import (docs/api.md "Reward posts",
"Recommendations"; docs/migration.md), in this same file (one migration per branch):
- `content_boosts`: at most one boost per content, a multiplier in percent for a time
  window. Writing one touches `contents.updated_at`, so the hubs' catalog poll carries it to
  tick.lua, which applies it on Redis TIME.
- `content_related`, `user_recommendations`: what the recommendation job computed from
  `watch_sessions` (replaced whole on each run), served as they are.
- `legacy_ids`: which row each imported row of the replaced service became.
- `legacy_coin_history`: the replaced service's coin history, kept for support and
  disputes; outside the ledger (the balance moved here as one opening entry per user).
- The legacy import writes social identities into `user_identities` (migration 0006).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_help_rewards"
down_revision: str | Sequence[str] | None = "0008_ad_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
STATUS = "status IN ('published', 'draft')"


def upgrade() -> None:
    op.create_table(
        "help_categories",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("slug", sa.Text(), nullable=False, unique=True),
        sa.Column("title_ko", sa.Text(), nullable=False),
        sa.Column("title_en", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint(STATUS, name="help_categories_status"),
    )
    op.create_table(
        "help_articles",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "category_id", sa.BigInteger(), sa.ForeignKey("help_categories.id"), nullable=False
        ),
        sa.Column("question_ko", sa.Text(), nullable=False),
        sa.Column("answer_ko", sa.Text(), nullable=False),
        sa.Column("question_en", sa.Text(), nullable=True),
        sa.Column("answer_en", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint(STATUS, name="help_articles_status"),
    )
    op.create_index("help_articles_category", "help_articles", ["category_id", "position", "id"])

    upgrade_rewards()


def downgrade() -> None:
    downgrade_rewards()
    op.drop_table("help_articles")
    op.drop_table("help_categories")


# --- reward boosts, recommendations, legacy import -------------------------------------------


def _content_fk(name: str, primary_key: bool = True) -> sa.Column[int]:
    return sa.Column(
        name,
        sa.BigInteger(),
        sa.ForeignKey("contents.id", ondelete="CASCADE"),
        primary_key=primary_key,
    )


def upgrade_rewards() -> None:
    op.create_table(
        "content_boosts",
        _content_fk("content_id"),
        sa.Column("multiplier_pct", sa.Integer(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("multiplier_pct BETWEEN 101 AND 1000", name="content_boosts_multiplier"),
        sa.CheckConstraint("ends_at > starts_at", name="content_boosts_window"),
    )
    op.create_table(
        "content_related",
        _content_fk("content_id"),
        _content_fk("related_id"),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("co_viewers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("shared_tags", sa.Integer(), server_default="0", nullable=False),
        sa.Column("computed_at", TS, server_default=NOW, nullable=False),
    )
    op.create_table(
        "user_recommendations",
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _content_fk("content_id"),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("computed_at", TS, server_default=NOW, nullable=False),
    )
    op.create_table(
        "legacy_ids",
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("legacy_id", sa.Text(), primary_key=True),
        sa.Column("local_id", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", TS, server_default=NOW, nullable=False),
    )
    op.create_table(
        "legacy_coin_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("legacy_id", sa.Text(), nullable=False, unique=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("imported_at", TS, server_default=NOW, nullable=False),
    )
    op.create_index("legacy_coin_history_user", "legacy_coin_history", ["user_id", "id"])


def downgrade_rewards() -> None:
    for table in (
        "legacy_coin_history",
        "legacy_ids",
        "user_recommendations",
        "content_related",
        "content_boosts",
    ):
        op.drop_table(table)
