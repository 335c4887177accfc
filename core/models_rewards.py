"""Tables of reward boosts, recommendations and the legacy import (migration 0010,
docs/api.md "Reward posts" and "Recommendations", docs/migration.md). The social identities
the import fills are core.models.UserIdentity (migration 0006)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import TS, Base


class ContentBoost(Base):
    """An admin's boost of a content: each grant of a boundary crossed while
    `starts_at <= Redis TIME < ends_at` pays floor(amount x multiplier_pct / 100). One per
    content: a new boost replaces the old one."""

    __tablename__ = "content_boosts"
    content_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True
    )
    multiplier_pct: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(TS)
    ends_at: Mapped[datetime] = mapped_column(TS)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        CheckConstraint("multiplier_pct BETWEEN 101 AND 1000", name="content_boosts_multiplier"),
        CheckConstraint("ends_at > starts_at", name="content_boosts_window"),
    )


class ContentRelated(Base):
    """Contents related to a content, as the recommendation job last computed them."""

    __tablename__ = "content_related"
    content_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True
    )
    related_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    co_viewers: Mapped[int] = mapped_column(Integer, server_default="0")
    shared_tags: Mapped[int] = mapped_column(Integer, server_default="0")
    computed_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class UserRecommendation(Base):
    """A content recommended to a user (not watched yet), as the job last computed it."""

    __tablename__ = "user_recommendations"
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    content_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contents.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class LegacyId(Base):
    """Which local row an imported row of the replaced service became (kind `user`,
    `content`, `faq_category`, ...): a re-run of the import finds it and changes nothing."""

    __tablename__ = "legacy_ids"
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    legacy_id: Mapped[str] = mapped_column(Text, primary_key=True)
    local_id: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class LegacyCoinHistory(Base):
    """The replaced service's coin history, as imported: outside the ledger (the balance
    arrived as one opening entry per user, so `users.balance` stays the sum of the ledger),
    kept for support and disputes."""

    __tablename__ = "legacy_coin_history"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    legacy_id: Mapped[str] = mapped_column(Text, unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS)
    imported_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (Index("legacy_coin_history_user", "user_id", "id"),)
