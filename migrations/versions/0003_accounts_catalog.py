"""accounts and catalog: refresh tokens, search (filled in by the api work)

Revision ID: 0003_accounts_catalog
Revises: 0002_money_path
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003_accounts_catalog"
down_revision: str | Sequence[str] | None = "0002_money_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
