"""boxes, ads, advertiser wallets, settlements (filled in by the api work)

Revision ID: 0004_boxes_ads
Revises: 0003_accounts_catalog
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_boxes_ads"
down_revision: str | Sequence[str] | None = "0003_accounts_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
