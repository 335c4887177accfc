"""PostgreSQL schema (SQLAlchemy Core/ORM table definitions). Migrations in `migrations/`
create exactly these tables; change both together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


TS = DateTime(timezone=True)


class User(Base):
    __tablename__ = "users"
    # Ids of externally issued tokens are provisioned as given; accounts registered here take
    # ids from the identity, which starts high so the two never meet (docs/architecture.md).
    id: Mapped[int] = mapped_column(BigInteger, Identity(start=1_000_000_000), primary_key=True)
    email: Mapped[str | None] = mapped_column(Text, unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{viewer}")
    balance: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # Bumped with every balance change, so a cached copy in Redis is only ever replaced by a
    # newer one.
    balance_version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    blocked_at: Mapped[datetime | None] = mapped_column(TS)
    block_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (CheckConstraint("balance >= 0", name="users_balance_nonnegative"),)


class Content(Base):
    __tablename__ = "contents"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text, server_default="url")
    duration_s: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="published")
    reward_interval_ms: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(TS)
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)
    view_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), index=True)
    __table_args__ = (
        CheckConstraint("status IN ('published', 'draft')", name="contents_status"),
        CheckConstraint("duration_s >= 0", name="contents_duration"),
        CheckConstraint(
            "reward_interval_ms IS NULL OR reward_interval_ms >= 1000", name="contents_interval"
        ),
    )


class CoinTransaction(Base):
    """The coin ledger: append-only; corrections are new rows."""

    __tablename__ = "coin_transactions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(Text)  # watch, box, adjust
    amount: Mapped[int] = mapped_column(BigInteger)
    reward_id: Mapped[str | None] = mapped_column(Text, unique=True)
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (Index("coin_transactions_user_id_id", "user_id", "id"),)


class WatchSession(Base):
    """History of watch sessions (who watched what, when, how long credited)."""

    __tablename__ = "watch_sessions"
    session_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    content_id: Mapped[int] = mapped_column(BigInteger, index=True)
    device_id: Mapped[str] = mapped_column(Text)
    tab_id: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TS)
    ended_at: Mapped[datetime | None] = mapped_column(TS)
    credited_ms: Mapped[int] = mapped_column(BigInteger, server_default="0")
    end_reason: Mapped[str | None] = mapped_column(Text)


class RuntimeSetting(Base):
    __tablename__ = "runtime_settings"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(BigInteger)


class IpBlock(Base):
    __tablename__ = "ip_blocks"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cidr: Mapped[str] = mapped_column(CIDR, unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    before: Mapped[Any | None] = mapped_column(JSONB)
    after: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), index=True)
