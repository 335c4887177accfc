"""The help center's tables (migration 0010, docs/help.md): FAQ categories and articles,
Korean text required and English optional, each draft or published and ordered by
`position`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.models import TS, Base

STATUS = "status IN ('published', 'draft')"


class HelpCategory(Base):
    __tablename__ = "help_categories"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    title_ko: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="draft")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (CheckConstraint(STATUS, name="help_categories_status"),)


class HelpArticle(Base):
    __tablename__ = "help_articles"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # No cascade: a category with articles is not deleted (409), so one click loses nothing.
    category_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("help_categories.id"))
    question_ko: Mapped[str] = mapped_column(Text)
    answer_ko: Mapped[str] = mapped_column(Text)
    question_en: Mapped[str | None] = mapped_column(Text)
    answer_en: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="draft")
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (
        CheckConstraint(STATUS, name="help_articles_status"),
        Index("help_articles_category", "category_id", "position", "id"),
    )
