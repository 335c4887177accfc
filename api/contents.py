"""Contents: the wire shape, input rules and data helpers shared by the admin routes and the
catalog. Helpers never commit; every write sets `updated_at`, which the hubs poll to refresh
their catalog caches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.sql import NOW, insert_sql, update_sql
from core.errors import NotFound
from core.web import invalid

Title = Annotated[str, Meta(min_length=1, max_length=300)]
SourceUrl = Annotated[str, Meta(min_length=1, max_length=2048)]
Duration = Annotated[int, Meta(ge=0, le=2**31 - 1)]
Tag = Annotated[str, Meta(min_length=1, max_length=40)]
Tags = Annotated[list[Tag], Meta(max_length=20)]
Interval = Annotated[int, Meta(ge=1000, le=86_400_000)]
Status = Literal["published", "draft"]
Expiry = Annotated[datetime, Meta(tz=True)]


class ContentView(Struct, frozen=True):
    id: int
    title: str
    source_url: str
    provider: str
    duration_s: int | None  # None: no fixed duration (a live or upcoming broadcast)
    tags: list[str]
    status: str
    reward_interval_ms: int | None
    published_at: datetime | None
    expires_at: datetime | None
    deleted_at: datetime | None
    view_count: int
    created_at: datetime
    updated_at: datetime


class ContentCreate(Struct, forbid_unknown_fields=True):
    title: Title
    source_url: SourceUrl
    duration_s: Duration
    tags: Tags = []
    reward_interval_ms: Interval | None = None  # None: the runtime reward interval applies
    status: Status = "published"
    expires_at: Expiry | None = None


class ContentPatch(Struct, forbid_unknown_fields=True):
    """A partial update: absent fields stay; `null` clears the nullable ones."""

    title: Title | UnsetType = UNSET
    source_url: SourceUrl | UnsetType = UNSET
    duration_s: Duration | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    reward_interval_ms: Interval | UnsetType | None = UNSET
    status: Status | UnsetType = UNSET
    expires_at: Expiry | UnsetType | None = UNSET


_COLUMNS = ", ".join(ContentView.__struct_fields__)
# The columns the helpers below write (api/sql.py).
_WRITABLE = frozenset(ContentPatch.__struct_fields__) | {"provider", "published_at", "deleted_at"}

# host (and its subdomains) -> provider, for players that embed rather than play a file
PROVIDERS = {"youtube.com": "youtube", "youtu.be": "youtube", "vimeo.com": "vimeo"}


def provider_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    for domain, provider in PROVIDERS.items():
        if host == domain or host.endswith("." + domain):
            return provider
    return "url"


def clean_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise invalid("title", "must not be blank")
    return title


def clean_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. a malformed IPv6 host
        scheme, host = "", None
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise invalid("source_url", "must be an http(s) URL with a host")
    return url


def clean_tags(tags: list[str]) -> list[str]:
    """Tags are trimmed and lower-cased (the catalog filters on them), duplicates dropped."""
    out: list[str] = []
    for i, raw in enumerate(tags):
        tag = raw.strip().lower()
        if not tag:
            raise invalid(f"tags[{i}]", "must not be blank")
        if tag not in out:
            out.append(tag)
    return out


def view(row: Any) -> ContentView:
    return ContentView(**{name: row._mapping[name] for name in ContentView.__struct_fields__})


async def get_content(session: AsyncSession, content_id: int, *, lock: bool = False) -> ContentView:
    sql = f"SELECT {_COLUMNS} FROM contents WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(sql), {"id": content_id})).first()
    if row is None:
        raise NotFound(f"no content {content_id}")
    return view(row)


async def create_content(session: AsyncSession, body: ContentCreate) -> ContentView:
    values: dict[str, Any] = {
        "title": clean_title(body.title),
        "source_url": clean_url(body.source_url),
        "duration_s": body.duration_s,
        "tags": clean_tags(body.tags),
        "reward_interval_ms": body.reward_interval_ms,
        "status": body.status,
        "expires_at": body.expires_at,
    }
    values["provider"] = provider_of(values["source_url"])
    if body.status == "published":
        values["published_at"] = NOW
    return view((await session.execute(*insert_sql("contents", values, _WRITABLE, _COLUMNS))).one())


def patch_values(current: ContentView, body: ContentPatch) -> dict[str, Any]:
    """The columns a patch changes (empty when it changes nothing)."""
    values: dict[str, Any] = {}
    for name in ContentPatch.__struct_fields__:
        value = getattr(body, name)
        if value is UNSET:
            continue
        if name == "title":
            value = clean_title(value)
        elif name == "source_url":
            value = clean_url(value)
            values["provider"] = provider_of(value)
        elif name == "tags":
            value = clean_tags(value)
        values[name] = value
    if values.get("status") == "published" and current.published_at is None:
        values["published_at"] = NOW
    return {k: v for k, v in values.items() if k == "published_at" or getattr(current, k) != v}


async def update_content(
    session: AsyncSession, content_id: int, values: dict[str, Any]
) -> ContentView:
    """Write `values` (columns of _WRITABLE; may be empty: then only updated_at moves) and
    return the row. clock_timestamp, not now(): a poller's watermark should see the time of
    the write."""
    stamp = "updated_at = clock_timestamp()"
    query = update_sql("contents", content_id, values, _WRITABLE, _COLUMNS, stamp)
    row = (await session.execute(*query)).first()
    if row is None:
        raise NotFound(f"no content {content_id}")
    return view(row)


def as_dict(content: ContentView) -> dict[str, Any]:
    return msgspec.to_builtins(content)  # type: ignore[no-any-return]
