"""The viewers' catalog: list (sorts `latest`, `popular`, `live`; tag filter), detail with the
live viewer count, full-text search, tags. Public routes: a token is optional.

Only listable contents are shown: published, not deleted, published_at not in the future
and not expired (the hub's `watchable` rule). A content that is not listable is a 404.

Viewer counts are live: `ZCOUNT {c<id>}:viewers <now ms> +inf` (sessions whose deadline
has not passed), for the contents of a page in one pipelined round trip. The `live` sort
needs the count of every listable content, which nothing maintains as one sorted set (the
hub updates per-content sets only): each api process ranks the newest LIVE_CANDIDATES
listable contents by their counts (pipelined, in chunks) and keeps that ranking for
LIVE_CACHE_S, so the cost is one ranking per process every 2 s however many clients ask.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from sqlalchemy import REAL, ColumnElement, and_, cast, func, or_, select, tuple_
from starlette.requests import Request
from starlette.responses import Response

from api.access import optional_identity, path_id
from api.pagecache import PageCache
from api.pages import Cursor, Limit, Page, decode_cursor, encode_cursor, page
from core.errors import NotFound, Unavailable
from core.models import CONTENT_LISTED_AT, Content
from core.web import JSONBytes, decode_query, invalid, ok, ok_body
from core.web.spec import api_route
from live import viewers

log = logging.getLogger(__name__)

LIVE_CANDIDATES = 10_000
LIVE_CACHE_S = 2.0
LIST_CACHE_S = 1.0  # list pages: the same for every caller, viewer counts at most 1 s old
REDIS_TIMEOUT_S = 2.0
MAX_SEARCH_WORDS = 8

Tag = Annotated[str, Meta(min_length=1, max_length=40)]


class ContentItem(Struct, frozen=True):
    id: int
    title: str
    source_url: str
    provider: str
    duration_s: int | None  # None: no fixed duration (a live or upcoming broadcast)
    tags: list[str]
    reward_interval_ms: int | None
    published_at: datetime | None
    expires_at: datetime | None
    view_count: int
    # The provider's live state (none, upcoming, live, ended: docs/youtube.md), beside our
    # own count of live sessions on it.
    live_state: str
    viewer_count: int  # live sessions on it now


class TagCount(Struct, frozen=True):
    tag: str
    count: int  # listable contents with this tag


class ListQuery(Struct):
    sort: Literal["latest", "popular", "live"] = "latest"
    tag: Tag | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class SearchQuery(Struct):
    q: Annotated[str, Meta(min_length=1, max_length=200)]
    limit: Limit = 20
    cursor: Cursor | None = None


class TagsQuery(Struct):
    limit: Limit = 20
    cursor: Cursor | None = None


_ITEM_COLUMNS = tuple(
    Content.__table__.c[name] for name in ContentItem.__struct_fields__ if name != "viewer_count"
)


def listable() -> ColumnElement[bool]:
    now = func.now()
    return and_(
        Content.status == "published",
        Content.deleted_at.is_(None),
        or_(Content.published_at.is_(None), Content.published_at <= now),
        or_(Content.expires_at.is_(None), Content.expires_at > now),
    )


# ---------------------------------------------------------------------------- viewer counts


async def viewer_counts(redis: Any, ids: Sequence[int]) -> dict[int, int]:
    """Live viewers of each content (live.viewers). 503 when Redis fails or is slow."""
    try:
        counted = await asyncio.wait_for(viewers.counts(redis, ids), REDIS_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any Redis failure is a 503, never a 500
        log.warning("viewer counts unavailable: %s: %s", type(exc).__name__, exc)
        raise Unavailable("viewer counts unavailable") from None
    return dict(zip(ids, counted, strict=True))


def _items(rows: Sequence[Any], counts: dict[int, int]) -> list[ContentItem]:
    return [ContentItem(**r._mapping, viewer_count=counts.get(r.id, 0)) for r in rows]


class LiveRanking:
    """Listable contents by current viewers, recomputed at most every LIVE_CACHE_S by one
    task per process (concurrent requests wait for the same computation)."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, tuple[str, ...]]] = []  # (viewers, id, tags)
        self.at = float("-inf")
        self.lock = asyncio.Lock()

    async def get(self, request: Request) -> list[tuple[int, int, tuple[str, ...]]]:
        if time.monotonic() - self.at < LIVE_CACHE_S:
            return self.entries
        async with self.lock:
            if time.monotonic() - self.at >= LIVE_CACHE_S:
                self.entries = await self._compute(request)
                self.at = time.monotonic()
        return self.entries

    async def _compute(self, request: Request) -> list[tuple[int, int, tuple[str, ...]]]:
        query = (
            select(Content.id, Content.tags)
            .where(listable())
            .order_by(CONTENT_LISTED_AT.desc(), Content.id.desc())
            .limit(LIVE_CANDIDATES)
        )
        async with request.app.state.sessions() as session:
            rows = (await session.execute(query)).all()
        counts = await viewer_counts(request.app.state.redis, [r.id for r in rows])
        entries = [(counts[r.id], r.id, tuple(r.tags)) for r in rows]
        entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
        return entries


def live_ranking(request: Request) -> LiveRanking:
    state = request.app.state
    ranking = getattr(state, "live_ranking", None)
    if ranking is None:
        ranking = state.live_ranking = LiveRanking()
    return ranking


# ---------------------------------------------------------------------------- routes


async def _fetch(request: Request, query: Any) -> list[Any]:
    async with request.app.state.sessions() as session:
        return list((await session.execute(query)).all())


def page_cache(request: Request) -> PageCache:
    """This process's cache of encoded catalog list pages (api/pagecache.py)."""
    state = request.app.state
    cache = getattr(state, "catalog_pages", None)
    if cache is None:
        cache = state.catalog_pages = PageCache(LIST_CACHE_S)
    return cache


def catalog_changed(request: Request) -> None:
    """A content was created or changed through this process: list it anew at once."""
    page_cache(request).clear()


async def list_contents(request: Request) -> Response:
    await optional_identity(request)
    q = decode_query(request, ListQuery)
    tag = q.tag.strip().lower() if q.tag is not None else None
    body = await page_cache(request).get(
        (q.sort, tag, q.limit, q.cursor), lambda: _list_body(request, q, tag)
    )
    return JSONBytes(body)


async def _list_body(request: Request, q: ListQuery, tag: str | None) -> bytes:
    return ok_body(request, await _list_page(request, q, tag))


async def _list_page(request: Request, q: ListQuery, tag: str | None) -> Page[ContentItem]:
    if q.sort == "live":
        return await _live_page(request, q, tag)
    base = select(*_ITEM_COLUMNS).where(listable())
    if tag is not None:
        base = base.where(Content.tags.contains([tag]))
    after: tuple[datetime, int] | tuple[int, int] | None  # the key of the sort chosen
    if q.sort == "latest":
        after = decode_cursor(q.cursor, "latest", tuple[datetime, int])
        if after is not None:
            base = base.where(tuple_(CONTENT_LISTED_AT, Content.id) < tuple_(*after))
        base = base.order_by(CONTENT_LISTED_AT.desc(), Content.id.desc())
        base = base.add_columns(CONTENT_LISTED_AT.label("listed_at"))
    else:
        after = decode_cursor(q.cursor, "popular", tuple[int, int])
        if after is not None:
            base = base.where(tuple_(Content.view_count, Content.id) < tuple_(*after))
        base = base.order_by(Content.view_count.desc(), Content.id.desc())
    rows = await _fetch(request, base.limit(q.limit + 1))
    counts = await viewer_counts(request.app.state.redis, [r.id for r in rows[: q.limit]])
    if q.sort == "latest":
        listed = {r.id: r.listed_at for r in rows}
        items = [
            ContentItem(
                **{k: v for k, v in r._mapping.items() if k != "listed_at"},
                viewer_count=counts.get(r.id, 0),
            )
            for r in rows
        ]
        return page(items, q.limit, "latest", lambda c: (listed[c.id], c.id))
    return page(_items(rows, counts), q.limit, "popular", lambda c: (c.view_count, c.id))


async def _live_page(request: Request, q: ListQuery, tag: str | None) -> Page[ContentItem]:
    """A page of the cached ranking (keyset on (viewers, id) descending), its rows read from
    PostgreSQL and its counts taken from the ranking, so the order shown is the order used."""
    after = decode_cursor(q.cursor, "live", tuple[int, int])
    entries = await live_ranking(request).get(request)
    chosen: list[tuple[int, int]] = []
    for count, cid, tags in entries:
        if tag is not None and tag not in tags:
            continue
        if after is not None and (count, cid) >= after:
            continue
        chosen.append((count, cid))
        if len(chosen) > q.limit:
            break
    ids = [cid for _, cid in chosen]
    rows = await _fetch(request, select(*_ITEM_COLUMNS).where(listable(), Content.id.in_(ids)))
    by_id = {r.id: r for r in rows}
    counts = {cid: viewers for viewers, cid in chosen}
    # A content unlisted since the ranking was made is left out of this page.
    items = _items([by_id[cid] for cid in ids if cid in by_id], counts)
    if len(chosen) > q.limit:  # the extra entry only tells that there is more
        items = [item for item in items if item.id != chosen[-1][1]]
        return Page(items, encode_cursor("live", chosen[q.limit - 1]))
    return Page(items, None)


async def get_content(request: Request) -> Response:
    await optional_identity(request)
    content_id = path_id(request)
    rows = await _fetch(request, select(*_ITEM_COLUMNS).where(Content.id == content_id, listable()))
    if not rows:
        raise NotFound(f"no content {content_id}")
    counts = await viewer_counts(request.app.state.redis, [content_id])
    return ok(request, _items(rows, counts)[0])


def ts_query(q: str) -> str:
    """A prefix tsquery that ANDs the words of `q` (`kpop live` -> `kpop:* & live:*`). Only
    word characters pass, so the user cannot inject tsquery syntax."""
    words = re.findall(r"\w+", q.lower())[:MAX_SEARCH_WORDS]
    if not words:
        raise invalid("q", "must contain a word")
    return " & ".join(f"{w}:*" for w in words)


async def search_contents(request: Request) -> Response:
    """Full-text search over titles and tags (GIN index on the generated `search` column),
    best match first (ts_rank, then newest id)."""
    await optional_identity(request)
    q = decode_query(request, SearchQuery)
    tsq = func.to_tsquery("simple", ts_query(q.q))
    search_col = Content.__table__.c.search
    rank = func.ts_rank(search_col, tsq)
    query = select(*_ITEM_COLUMNS, rank.label("rank")).where(listable(), search_col.op("@@")(tsq))
    after = decode_cursor(q.cursor, "search", tuple[float, int])
    if after is not None:
        # ts_rank is a real: compare with the cursor's value cast back to real (exact)
        query = query.where(tuple_(rank, Content.id) < tuple_(cast(after[0], REAL), after[1]))
    query = query.order_by(rank.desc(), Content.id.desc()).limit(q.limit + 1)
    rows = await _fetch(request, query)
    counts = await viewer_counts(request.app.state.redis, [r.id for r in rows[: q.limit]])
    ranks = {r.id: float(r.rank) for r in rows}
    items = [
        ContentItem(
            **{k: v for k, v in r._mapping.items() if k != "rank"}, viewer_count=counts.get(r.id, 0)
        )
        for r in rows
    ]
    return ok(request, page(items, q.limit, "search", lambda c: (ranks[c.id], c.id)))


async def list_tags(request: Request) -> Response:
    """Tags of the listable contents, most used first (then by name)."""
    await optional_identity(request)
    q = decode_query(request, TagsQuery)
    tag = func.unnest(Content.tags).label("tag")
    counted = select(tag, func.count().label("count")).where(listable()).group_by(tag).subquery()
    query = select(counted.c.tag, counted.c["count"])
    after = decode_cursor(q.cursor, "tags", tuple[int, str])
    if after is not None:
        query = query.where(
            or_(
                counted.c["count"] < after[0],
                and_(counted.c["count"] == after[0], counted.c.tag > after[1]),
            )
        )
    query = query.order_by(counted.c["count"].desc(), counted.c.tag).limit(q.limit + 1)
    rows = await _fetch(request, query)
    items = [TagCount(r.tag, r.count) for r in rows]
    return ok(request, page(items, q.limit, "tags", lambda t: (t.count, t.tag)))


TAGS = ("catalog",)
routes = [
    api_route(
        "GET",
        "/api/contents",
        list_contents,
        summary="List contents (sort latest, popular or live; tag filter)",
        auth="optional",
        query=ListQuery,
        response=Page[ContentItem],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/contents/{id:int}",
        get_content,
        summary="One content with its live viewer count",
        auth="optional",
        response=ContentItem,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/search",
        search_contents,
        summary="Full-text search of contents",
        auth="optional",
        query=SearchQuery,
        response=Page[ContentItem],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/tags",
        list_tags,
        summary="Tags of listed contents, most used first",
        auth="optional",
        query=TagsQuery,
        response=Page[TagCount],
        tags=TAGS,
    ),
]
