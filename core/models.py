"""PostgreSQL schema (SQLAlchemy Core/ORM table definitions). Migrations in `migrations/`
create exactly these tables; change both together."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, JSONB, TSVECTOR, ExcludeConstraint
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
    # On hold for multi-account review (migration 0005): the drain writes the user's grants
    # that the hub marked held as `held` while this is set; an approval clears it.
    review_hold: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (CheckConstraint("balance >= 0", name="users_balance_nonnegative"),)


class Content(Base):
    __tablename__ = "contents"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text, server_default="url")
    # None: no fixed duration (a YouTube live or upcoming broadcast, migration 0011).
    duration_s: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="published")
    reward_interval_ms: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(TS)
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    deleted_at: Mapped[datetime | None] = mapped_column(TS)
    view_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), index=True)
    # Written by the workers (migration 0002, docs/money.md): the live viewer count copied
    # from Redis every 60 s and when it was taken; when the expiry job saw expires_at pass.
    live_viewers: Mapped[int] = mapped_column(BigInteger, server_default="0")
    live_viewers_at: Mapped[datetime | None] = mapped_column(TS)
    expired_at: Mapped[datetime | None] = mapped_column(TS)
    # From the provider (migration 0011, docs/youtube.md): its id (unique per provider, so a
    # re-import updates), its metadata, its live state, and why we unpublished it.
    external_id: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(Text)
    channel_title: Mapped[str | None] = mapped_column(Text)
    provider_published_at: Mapped[datetime | None] = mapped_column(TS)
    live_state: Mapped[str] = mapped_column(Text, server_default="none")
    scheduled_start_at: Mapped[datetime | None] = mapped_column(TS)
    unpublished_reason: Mapped[str | None] = mapped_column(Text)
    metadata_refreshed_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        UniqueConstraint("provider", "external_id", name="contents_provider_external_id"),
        CheckConstraint(
            "live_state IN ('none', 'upcoming', 'live', 'ended')", name="contents_live_state"
        ),
        CheckConstraint("status IN ('published', 'draft')", name="contents_status"),
        CheckConstraint("duration_s >= 0", name="contents_duration"),
        CheckConstraint(
            "reward_interval_ms IS NULL OR reward_interval_ms >= 1000", name="contents_interval"
        ),
    )


class CoinTransaction(Base):
    """The coin ledger: append-only; corrections are new rows. The one change a row can see
    is its `status` going from `held` to `paid` or `void` (an admin's review decision);
    `users.balance` is the sum of the user's `paid` rows."""

    __tablename__ = "coin_transactions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(Text)  # watch, box, adjust
    amount: Mapped[int] = mapped_column(BigInteger)
    reward_id: Mapped[str | None] = mapped_column(Text, unique=True)
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    # paid (in the balance), held (granted while the user was on hold), void (rejected)
    status: Mapped[str] = mapped_column(Text, server_default="paid")
    __table_args__ = (
        Index("coin_transactions_user_id_id", "user_id", "id"),
        CheckConstraint("status IN ('paid', 'held', 'void')", name="coin_transactions_status"),
        Index("coin_transactions_held", "user_id", postgresql_where=text("status = 'held'")),
    )


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


# --- boxes, ads, advertiser wallets, settlements (migration 0004) -----------------------------
# Advertiser money is in integer micro-units (`*_micros`, 1/1,000,000 of the currency unit),
# so that a CPM price split over single impressions stays exact (docs/api.md, "Ads").


class RewardTable(Base):
    """One version of the box reward table; the newest row is in force. `rows` holds
    `[[amount, weight], ...]` in upload order. Versions are kept, never changed."""

    __tablename__ = "reward_tables"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rows: Mapped[Any] = mapped_column(JSONB)
    total_weight: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    # Which box the table sets the odds of (migration 0007): `box` (random) or `gold`.
    box: Mapped[str] = mapped_column(Text, server_default="box")
    __table_args__ = (
        CheckConstraint("total_weight > 0", name="reward_tables_weight"),
        CheckConstraint("box IN ('box', 'gold')", name="reward_tables_box"),
        Index("reward_tables_box_id", "box", "id"),
    )


class BoxOpen(Base):
    """A random box opened by a user: the user's `box_no`-th box (unique, so no box is opened
    twice), paid by the coin transaction `reward_id` = `b:<user>:<box_no>`."""

    __tablename__ = "box_opens"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    box_no: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reward_table_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("reward_tables.id"))
    transaction_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("coin_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        UniqueConstraint("user_id", "box_no", name="box_opens_user_box"),
        UniqueConstraint("user_id", "idempotency_key", name="box_opens_user_key"),
        CheckConstraint("box_no >= 1 AND amount >= 0", name="box_opens_values"),
    )


class AdvertiserWallet(Base):
    __tablename__ = "advertiser_wallets"
    advertiser_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    balance_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (CheckConstraint("balance_micros >= 0", name="wallet_nonnegative"),)


class Ad(Base):
    __tablename__ = "ads"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("advertiser_wallets.advertiser_id")
    )
    title: Mapped[str] = mapped_column(Text)
    creative_url: Mapped[str] = mapped_column(Text)
    click_url: Mapped[str | None] = mapped_column(Text)
    placement: Mapped[str] = mapped_column(Text)
    billing: Mapped[str] = mapped_column(Text)  # cpm (price per 1000 impressions) or cpc
    price_micros: Mapped[int] = mapped_column(BigInteger)
    budget_micros: Mapped[int] = mapped_column(BigInteger)
    spent_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")
    required_view_ms: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(TS)
    ends_at: Mapped[datetime | None] = mapped_column(TS)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(TS)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    impressions: Mapped[int] = mapped_column(BigInteger, server_default="0")
    clicks: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    # Pacing (migration 0008): counted impressions per viewer per local day, spend per day.
    frequency_cap: Mapped[int | None] = mapped_column(Integer)
    daily_budget_micros: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(
            "(frequency_cap IS NULL OR frequency_cap > 0)"
            " AND (daily_budget_micros IS NULL OR daily_budget_micros > 0)",
            name="ads_pacing",
        ),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="ads_status"),
        CheckConstraint("billing IN ('cpm', 'cpc')", name="ads_billing"),
        CheckConstraint(
            "price_micros > 0 AND (billing <> 'cpm' OR price_micros % 1000 = 0)", name="ads_price"
        ),
        CheckConstraint(
            "budget_micros > 0 AND spent_micros >= 0 AND spent_micros <= budget_micros",
            name="ads_budget",
        ),
        CheckConstraint("required_view_ms >= 0", name="ads_required_view"),
        Index("ads_advertiser_id", "advertiser_id", "id"),
        Index("ads_serving", "placement", postgresql_where="status = 'approved'"),
    )


class WalletTransaction(Base):
    """The advertiser wallet ledger: append-only, one row per credit (+) or debit (-), with
    the balance after it. `ref` is unique: a retried charge or billing never lands twice."""

    __tablename__ = "wallet_transactions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("advertiser_wallets.advertiser_id")
    )
    kind: Mapped[str] = mapped_column(Text)  # charge, impression, click, credit
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    balance_after_micros: Mapped[int] = mapped_column(BigInteger)
    ad_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ads.id"))
    ref: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        CheckConstraint(
            "kind IN ('charge', 'impression', 'click', 'credit', 'withdrawal', 'reversal')",
            name="wallet_tx_kind",
        ),
        CheckConstraint("balance_after_micros >= 0", name="wallet_tx_balance"),
        Index("wallet_transactions_advertiser_id", "advertiser_id", "id"),
        Index("wallet_transactions_created_at", "created_at"),
    )


class WalletCharge(Base):
    """A payment record (no real gateway): credited once per (advertiser, Idempotency-Key)."""

    __tablename__ = "wallet_charges"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    advertiser_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("advertiser_wallets.advertiser_id")
    )
    idempotency_key: Mapped[str] = mapped_column(Text)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, server_default="succeeded")
    balance_after_micros: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("wallet_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        UniqueConstraint("advertiser_id", "idempotency_key", name="wallet_charges_key"),
        CheckConstraint("amount_micros > 0", name="wallet_charges_amount"),
    )


class AdImpression(Base):
    """One reported impression, unique per (ad, impression_id). `counted` once its viewing
    reached the ad's required exposure and, for CPM, it was paid (`cost_micros`)."""

    __tablename__ = "ad_impressions"
    ad_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ads.id"), primary_key=True)
    impression_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    viewed_ms: Mapped[int] = mapped_column(Integer)
    counted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    cost_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    counted_at: Mapped[datetime | None] = mapped_column(TS)
    served_at: Mapped[datetime | None] = mapped_column(TS)  # by GET /api/ads (migration 0008)
    __table_args__ = (Index("ad_impressions_viewer", "ad_id", "user_id", "counted_at"),)


class AdClick(Base):
    """One click, at most one per impression; `counted` when it was paid (CPC) or recorded."""

    __tablename__ = "ad_clicks"
    ad_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ads.id"), primary_key=True)
    impression_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    counted: Mapped[bool] = mapped_column(Boolean)
    cost_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class Settlement(Base):
    """Advertiser spend over a period of local dates [period_start, period_end), summed from
    the wallet ledger's debits; `draft` until an admin confirms it. Periods never overlap."""

    __tablename__ = "settlements"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, server_default="draft")
    total_micros: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None] = mapped_column(TS)
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("period_start < period_end", name="settlements_period"),
        CheckConstraint("status IN ('draft', 'confirmed')", name="settlements_status"),
        ExcludeConstraint(
            (func.daterange(period_start, period_end), "&&"),
            name="settlements_no_overlap",
            using="gist",
        ),
    )


class SettlementLine(Base):
    __tablename__ = "settlement_lines"
    settlement_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("settlements.id"), primary_key=True
    )
    advertiser_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    amount_micros: Mapped[int] = mapped_column(BigInteger)


# Indexes for the lists and counts above, on tables of the initial schema.
# Box progress counts a user's paid watch rewards (an index-only scan of this partial index).
Index(
    "coin_transactions_watch_user",
    CoinTransaction.user_id,
    postgresql_where=text("kind = 'watch' AND status = 'paid'"),
)
# The admin audit log filters by action or actor, newest first.
Index("audit_log_action_id", AuditEntry.action, AuditEntry.id)
Index("audit_log_actor_id", AuditEntry.actor_id, AuditEntry.id)


# --- accounts and catalog (migration 0003) -------------------------------------------------


class RefreshToken(Base):
    """Refresh tokens, stored as SHA-256 hex. A login starts a family; each refresh marks
    its token used and adds the next one to the family; reuse of a used token revokes the
    family (api/auth.py)."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TS)
    used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        Index("refresh_tokens_family_id", "family_id"),
        Index("refresh_tokens_user_id", "user_id"),
    )


# Full-text search over title (A) and tags (B); `tags_text` is an IMMUTABLE
# array_to_string(tags, ' ') created by the migration (a generated column needs immutable).
CONTENT_SEARCH = (
    "setweight(to_tsvector('simple'::regconfig, title), 'A'::\"char\") || "
    "setweight(to_tsvector('simple'::regconfig, tags_text(tags)), 'B'::\"char\")"
)
# A declarative class's __table__ is typed as any FromClause; this one is the Table it made.
cast(Table, Content.__table__).append_column(
    Column("search", TSVECTOR(), Computed(CONTENT_SEARCH, persisted=True), nullable=True)
)
_LISTABLE = text("status = 'published' AND deleted_at IS NULL")
Index("contents_search", Content.__table__.c.search, postgresql_using="gin")
Index("contents_tags", Content.tags, postgresql_using="gin")
CONTENT_LISTED_AT = func.coalesce(Content.published_at, Content.created_at)
Index("contents_latest", CONTENT_LISTED_AT.desc(), Content.id.desc(), postgresql_where=_LISTABLE)
Index("contents_popular", Content.view_count.desc(), Content.id.desc(), postgresql_where=_LISTABLE)


# --- multi-account review (migration 0005) -------------------------------------------------


class AccountReview(Base):
    """A user the hub put on hold because one device or IP address carried too many accounts
    (docs/money.md, "Multi-account review"): one row per flag (`flag_id` unique, so a replayed
    outbox entry writes nothing), then the admin's decision."""

    __tablename__ = "account_reviews"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    flag_id: Mapped[str] = mapped_column(Text, unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)  # device | ip
    key: Mapped[str] = mapped_column(Text)  # the device id or the IP address
    accounts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default="open")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint("reason IN ('device', 'ip')", name="account_reviews_reason"),
        CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name="account_reviews_status"
        ),
        CheckConstraint("accounts >= 0", name="account_reviews_accounts"),
        Index("account_reviews_status_id", "status", "id"),
        Index("account_reviews_user_id", "user_id", "id"),
        Index("account_reviews_key", "reason", "key"),
    )


# --- sign-in (migration 0006) --------------------------------------------------------------


class UserIdentity(Base):
    """An account at a social login provider, found by (provider, subject); one user may
    hold several (api/social/accounts.py). `email` is as the provider gave it."""

    __tablename__ = "user_identities"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    email_verified: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="user_identities_provider_subject_key"),
        Index("user_identities_user_id", "user_id"),
    )


class AccountInvite(Base):
    """An invitation to a staff account without a password yet: the invitee sets it once
    with the token (only its SHA-256 is kept), before `expires_at` (api/admin/accounts.py)."""

    __tablename__ = "account_invites"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TS)
    used_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (Index("account_invites_user_id", "user_id"),)


# --- gold boxes, missions, the user event log (migration 0007) ------------------------------


class GoldBoxRules(Base):
    """The admin's gold box rules, one row (id 1; none yet means off): the on/off switch,
    and one gold box per `boxes_per_gold` random boxes opened (0: not earned that way)."""

    __tablename__ = "gold_box_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean)
    boxes_per_gold: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint("id = 1", name="gold_box_rules_one_row"),
        CheckConstraint("boxes_per_gold >= 0", name="gold_box_rules_values"),
    )


class GoldBoxGrant(Base):
    """A gold box earned: one row per earning event, `source_id` unique (`g:b:<user>:<box_no>`
    for every N-th random box opened, the mission's reward id for a mission reward), so an
    event that is replayed or retried earns nothing more."""

    __tablename__ = "gold_box_grants"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(Text)  # boxes | mission
    source_id: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        CheckConstraint("source IN ('boxes', 'mission')", name="gold_box_grants_source"),
        Index("gold_box_grants_user_id", "user_id", "id"),
    )


class GoldBoxOpen(Base):
    """A gold box opened: the user's `gold_no`-th (unique, so never more than earned), paid by
    the coin transaction `reward_id` = `gb:<user>:<gold_no>` of kind `gold_box`."""

    __tablename__ = "gold_box_opens"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    gold_no: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reward_table_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("reward_tables.id"))
    transaction_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("coin_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        UniqueConstraint("user_id", "gold_no", name="gold_box_opens_user_no"),
        UniqueConstraint("user_id", "idempotency_key", name="gold_box_opens_user_key"),
        CheckConstraint("gold_no >= 1 AND amount >= 0", name="gold_box_opens_values"),
    )


class Mission(Base):
    """An admin-defined mission (the replaced service's "task"): what to do (`kind`,
    `target`, and `content_id` or `tag` for the kinds that name one), in which window, for
    which reward."""

    __tablename__ = "missions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    target: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contents.id"))
    tag: Mapped[str | None] = mapped_column(Text)
    period: Mapped[str] = mapped_column(Text)  # daily | weekly | range
    starts_at: Mapped[datetime | None] = mapped_column(TS)
    ends_at: Mapped[datetime | None] = mapped_column(TS)
    reward_kind: Mapped[str] = mapped_column(Text)  # coins | gold_box
    reward_amount: Mapped[int] = mapped_column(BigInteger)
    join_required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    status: Mapped[str] = mapped_column(Text, server_default="active")  # active | paused
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint(
            "kind IN ('watch_minutes', 'watch_content_minutes', 'watch_tag_minutes',"
            " 'watch_contents', 'open_boxes', 'watch_streak_days')",
            name="missions_kind",
        ),
        CheckConstraint("period IN ('daily', 'weekly', 'range')", name="missions_period"),
        CheckConstraint("reward_kind IN ('coins', 'gold_box')", name="missions_reward_kind"),
        CheckConstraint("status IN ('active', 'paused')", name="missions_status"),
        CheckConstraint("target >= 1 AND reward_amount >= 1", name="missions_values"),
    )


class MissionJoin(Base):
    __tablename__ = "mission_joins"
    mission_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("missions.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class MissionCompletion(Base):
    """A user who reached a mission's target in one window (first seen by the api), and the
    payment of its reward (`reward_id` `m:<mission>:<user>:<window>`, unique: paid once)."""

    __tablename__ = "mission_completions"
    mission_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("missions.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), primary_key=True)
    window_key: Mapped[str] = mapped_column(Text, primary_key=True)
    reward_id: Mapped[str] = mapped_column(Text, unique=True)
    completed_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    claimed_at: Mapped[datetime | None] = mapped_column(TS)


class MissionActivity(Base):
    """What mission progress is measured from: the server's own events, one row per event id
    (`s:<session_id>` for a session's credited watch time, `b:<user>:<box_no>` for a box
    opened), so a replayed outbox entry or a retried request counts once."""

    __tablename__ = "mission_activity"
    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(Text)  # watch | box
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)  # credited ms (watch), 1 (box)
    at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint("kind IN ('watch', 'box')", name="mission_activity_kind"),
        Index("mission_activity_user_at", "user_id", "at"),
    )


class UserEvent(Base):
    """The append-only log of what users did (docs/api.md, "User event log"). `event_key`
    is unique where the event has an id of its own (a session, a reward), so the worker's
    replayed outbox entries write nothing twice; api events have none."""

    __tablename__ = "user_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(Text)
    event_key: Mapped[str | None] = mapped_column(Text, unique=True)
    data: Mapped[Any] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        Index("user_events_user_id", "user_id", "id"),
        Index("user_events_type_id", "type", "id"),
        Index("user_events_at", "at"),
    )


# Ad pacing, refusals and gateway payments (migration 0008) live in their own module.
from core import ad_tables as _ad_tables  # noqa: E402,F401  (registers them on Base)

# --- help center, reward boosts, recommendations, legacy import (migration 0010) ------------
# The tables live in core/models_help.py and core/models_rewards.py (this module is near its
# size limit); importing them here puts them on Base.metadata for Alembic and the schema test.
from core import models_help, models_rewards  # noqa: E402, F401

# --- YouTube imports (migration 0011) ------------------------------------------------------


class YoutubeImport(Base):
    """One import of a video, playlist or channel (docs/youtube.md): what was asked, its
    progress (found, created, updated, skipped with each skipped video's reason) and how
    it ended."""

    __tablename__ = "youtube_imports"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)  # video | playlist | channel | handle
    status: Mapped[str] = mapped_column(Text, server_default="running")
    found: Mapped[int] = mapped_column(Integer, server_default="0")
    created: Mapped[int] = mapped_column(Integer, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped_items: Mapped[Any] = mapped_column(JSONB, server_default="[]")
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="youtube_imports_status"),
        CheckConstraint(
            "kind IN ('video', 'playlist', 'channel', 'handle')", name="youtube_imports_kind"
        ),
    )
