"""accounts and catalog: refresh tokens, search (filled in by the api work)

Revision ID: 0003_accounts_catalog
Revises: 0002_money_path
Create Date: 2026-11-22

- `refresh_tokens`: one row per refresh token ever issued, stored as the SHA-256 of the
  token (a database leak gives no usable token). Tokens of one login share a `family_id`;
  rotation marks the old row `used_at` and adds a new one, and reuse of a used token revokes
  the whole family (`revoked_at`).
- `contents.search`: a generated tsvector of the title (weight A) and the tags (B) with
  the `simple` configuration (no stemming: titles are in any language), GIN-indexed, for
  `GET /api/search`. `tags_text` wraps array_to_string, which is only STABLE, as IMMUTABLE
  (true for text[]) so that a generated column may use it.
- Catalog indexes: partial ones on the listable contents (published, not deleted) in the
  order of the `latest` (publication time, else creation time) and `popular` sorts, and a GIN index on `tags` for the tag filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_accounts_catalog"
down_revision: str | Sequence[str] | None = "0002_money_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
LISTABLE = sa.text("status = 'published' AND deleted_at IS NULL")
SEARCH = (
    "setweight(to_tsvector('simple'::regconfig, title), 'A'::\"char\") || "
    "setweight(to_tsvector('simple'::regconfig, tags_text(tags)), 'B'::\"char\")"
)


def upgrade() -> None:
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("refresh_tokens_user_id", "refresh_tokens", ["user_id"])

    op.execute(
        "CREATE FUNCTION tags_text(text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        "AS $$ SELECT array_to_string($1, ' ') $$"
    )
    op.add_column(
        "contents",
        sa.Column(
            "search", postgresql.TSVECTOR(), sa.Computed(SEARCH, persisted=True), nullable=True
        ),
    )
    op.create_index("contents_search", "contents", ["search"], postgresql_using="gin")
    op.create_index("contents_tags", "contents", ["tags"], postgresql_using="gin")
    op.create_index(
        "contents_latest",
        "contents",
        [sa.text("coalesce(published_at, created_at) DESC"), sa.text("id DESC")],
        postgresql_where=LISTABLE,
    )
    op.create_index(
        "contents_popular",
        "contents",
        [sa.text("view_count DESC"), sa.text("id DESC")],
        postgresql_where=LISTABLE,
    )


def downgrade() -> None:
    op.drop_index("contents_popular", table_name="contents")
    op.drop_index("contents_latest", table_name="contents")
    op.drop_index("contents_tags", table_name="contents")
    op.drop_index("contents_search", table_name="contents")
    op.drop_column("contents", "search")
    op.execute("DROP FUNCTION tags_text(text[])")
    op.drop_index("refresh_tokens_user_id", table_name="refresh_tokens")
    op.drop_index("refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
