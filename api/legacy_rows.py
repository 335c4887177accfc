"""The CSV rows of the replaced service's export (docs/migration.md), parsed and checked
without I/O: each parser takes one row (a dict of its header's columns) and returns a
typed record, or raises `Refused` with the reason. api/legacy_import.py applies them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from api.contents import clean_tags, clean_title, clean_url
from core.errors import BadRequest

LEGACY_USER_ID_MAX = 999_999_999  # accounts registered here start at 1,000,000,000
AMOUNT_MAX = 10**12
PROVIDERS = ("google", "kakao", "naver")
_INT = re.compile(r"-?[0-9]+")
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class Refused(Exception):
    """A row that is not imported; the message says why."""


R = TypeVar("R")


def read(text: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV text with a header row naming at least `columns` (more
    columns are ignored; their order is free). Blank lines are skipped. A header without
    every column raises Refused for line 1."""
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise Refused(f"the header lacks {', '.join(missing)}")
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _int(row: dict[str, str], name: str, low: int, high: int) -> int:
    value = row.get(name, "")
    if _INT.fullmatch(value) is None:
        raise Refused(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise Refused(f"{name} must be between {low} and {high}, got {number}")
    return number


def _time(row: dict[str, str], name: str, required: bool) -> datetime | None:
    value = row.get(name, "")
    if not value:
        if required:
            raise Refused(f"{name} is required")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(f"{name} must be an ISO 8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        raise Refused(f"{name} needs a UTC offset, got {value!r}")
    return moment


def _text(row: dict[str, str], name: str, limit: int, required: bool = True) -> str | None:
    value = row.get(name, "")
    if not value:
        if required:
            raise Refused(f"{name} is required")
        return None
    if len(value) > limit:
        raise Refused(f"{name} is longer than {limit} characters")
    return value


def _checked(check: Callable[[], R]) -> R:
    try:
        return check()
    except BadRequest as exc:  # the api's own content rules
        raise Refused(exc.message) from None


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str | None
    created_at: datetime | None


def user(row: dict[str, str]) -> UserRow:
    email = _text(row, "email", 320, required=False)
    if email is not None:
        email = email.lower()
        if "@" not in email:
            raise Refused(f"email is not an address: {email!r}")
    return UserRow(
        _int(row, "id", 1, LEGACY_USER_ID_MAX), email, _time(row, "created_at", required=False)
    )


@dataclass(frozen=True, slots=True)
class IdentityRow:
    user_id: int
    provider: str
    subject: str
    email: str | None


def identity(row: dict[str, str]) -> IdentityRow:
    provider = row.get("provider", "").lower()
    if provider not in PROVIDERS:
        raise Refused(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    subject = _text(row, "subject", 255)
    assert subject is not None
    return IdentityRow(
        _int(row, "user_id", 1, LEGACY_USER_ID_MAX),
        provider,
        subject,
        _text(row, "email", 320, required=False),
    )


@dataclass(frozen=True, slots=True)
class BalanceRow:
    user_id: int
    balance: int


def balance(row: dict[str, str]) -> BalanceRow:
    return BalanceRow(
        _int(row, "user_id", 1, LEGACY_USER_ID_MAX), _int(row, "balance", 0, AMOUNT_MAX)
    )


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str
    user_id: int
    kind: str
    amount: int
    created_at: datetime
    description: str | None


def history(row: dict[str, str]) -> HistoryRow:
    legacy_id, kind = _text(row, "id", 100), _text(row, "kind", 40)
    created_at = _time(row, "created_at", required=True)
    assert legacy_id is not None and kind is not None and created_at is not None
    return HistoryRow(
        legacy_id,
        _int(row, "user_id", 1, LEGACY_USER_ID_MAX),
        kind,
        _int(row, "amount", -AMOUNT_MAX, AMOUNT_MAX),
        created_at,
        _text(row, "description", 1000, required=False),
    )


@dataclass(frozen=True, slots=True)
class ContentRow:
    id: str
    title: str
    source_url: str
    duration_s: int
    tags: list[str]
    status: str
    published_at: datetime | None


def content(row: dict[str, str]) -> ContentRow:
    legacy_id = _text(row, "id", 100)
    assert legacy_id is not None
    title = _checked(lambda: clean_title(row.get("title", "")))
    if len(title) > 300:
        raise Refused("title is longer than 300 characters")
    url = _checked(lambda: clean_url(row.get("source_url", "")))
    raw_tags = [t for t in row.get("tags", "").split("|") if t.strip()]
    tags = _checked(lambda: clean_tags(raw_tags))
    if len(tags) > 20 or any(len(t) > 40 for t in tags):
        raise Refused("at most 20 tags of 1-40 characters")
    status = row.get("status", "") or "published"
    if status not in ("published", "draft"):
        raise Refused(f"status must be published or draft, got {status!r}")
    return ContentRow(
        legacy_id,
        title,
        url,
        _int(row, "duration_s", 0, 10**7),
        tags,
        status,
        _time(row, "published_at", required=False),
    )


@dataclass(frozen=True, slots=True)
class FaqRow:
    id: str
    category: str
    category_ko: str
    category_en: str | None
    position: int
    question_ko: str
    answer_ko: str
    question_en: str | None
    answer_en: str | None
    status: str


def faq(row: dict[str, str]) -> FaqRow:
    legacy_id = _text(row, "id", 100)
    category = row.get("category", "")
    if _SLUG.fullmatch(category) is None or len(category) > 100:
        raise Refused(f"category must be a slug (a-z, 0-9, single dashes), got {category!r}")
    status = row.get("status", "") or "published"
    if status not in ("published", "draft"):
        raise Refused(f"status must be published or draft, got {status!r}")
    category_ko = _text(row, "category_ko", 200)
    question_ko, answer_ko = _text(row, "question_ko", 500), _text(row, "answer_ko", 20_000)
    assert legacy_id and category_ko and question_ko and answer_ko
    position = _int(row, "position", 0, 1_000_000) if row.get("position") else 0
    return FaqRow(
        legacy_id,
        category,
        category_ko,
        _text(row, "category_en", 200, required=False),
        position,
        question_ko,
        answer_ko,
        _text(row, "question_en", 500, required=False),
        _text(row, "answer_en", 20_000, required=False),
        status,
    )
