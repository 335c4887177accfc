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
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import optional_identity, path_id
from api.pagecache import PageCache
from api.pages import Cursor, Limit, Page, decode_cursor, encode_cursor, page
from core.errors import NotFound, Unavailable
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


# SQL fragments over `contents c` (api/sql.py: the api's SQL is text). LISTABLE's first two
# terms are the partial indexes' predicate; LISTED_AT is contents_latest's expression.
ITEM_NAMES = tuple(name for name in ContentItem.__struct_fields__ if name != "viewer_count")
ITEM_COLUMNS = ", ".join(f"c.{name}" for name in ITEM_NAMES)
LISTABLE = (
    "c.status = 'published' AND c.deleted_at IS NULL"
    " AND (c.published_at IS NULL OR c.published_at <= now())"
    " AND (c.expires_at IS NULL OR c.expires_at > now())"
)
LISTED_AT = "COALESCE(c.published_at, c.created_at)"
_ITEMS = f"SELECT {ITEM_COLUMNS} FROM contents c WHERE {LISTABLE}"
# The list's sorts: (extra columns, keyset condition on :k1 and :k2, order).
_SORTS = {
    "latest": (
        f", {LISTED_AT} AS listed_at",
        f"({LISTED_AT}, c.id) < (:k1, :k2)",
        f"{LISTED_AT} DESC, c.id DESC",
    ),
    "popular": ("", "(c.view_count, c.id) < (:k1, :k2)", "c.view_count DESC, c.id DESC"),
}
_LIVE_CANDIDATES = text(
    f"SELECT c.id, c.tags FROM contents c WHERE {LISTABLE}"
    f" ORDER BY {LISTED_AT} DESC, c.id DESC LIMIT :n"
)
_SEARCH_RANK = "ts_rank(c.search, to_tsquery('simple', :tsq))"
_TAGS = text(
    "SELECT tag, count FROM (SELECT unnest(c.tags) AS tag, count(*) AS count FROM contents c"
    f" WHERE {LISTABLE} GROUP BY 1) t"
    " WHERE CAST(:k1 AS bigint) IS NULL OR count < :k1 OR (count = :k1 AND tag > :k2)"
    " ORDER BY count DESC, tag LIMIT :n"
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
        rows = await _fetch(request, _LIVE_CANDIDATES, n=LIVE_CANDIDATES)
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


async def _fetch(request: Request, query: Any, **params: Any) -> list[Any]:
    async with request.app.state.sessions() as session:
        return list((await session.execute(query, params)).all())


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
    after: tuple[datetime, int] | tuple[int, int] | None  # the key of the sort chosen
    if q.sort == "latest":
        after = decode_cursor(q.cursor, "latest", tuple[datetime, int])
    else:
        after = decode_cursor(q.cursor, "popular", tuple[int, int])
    columns, keyset, order = _SORTS[q.sort]
    # Fragments chosen by the code (none comes from the request): each combination is its
    # own statement, so PostgreSQL plans each on its index.
    sql = f"SELECT {ITEM_COLUMNS}{columns} FROM contents c WHERE {LISTABLE}"
    params: dict[str, Any] = {"n": q.limit + 1}
    if tag is not None:
        sql += " AND c.tags @> ARRAY[CAST(:tag AS text)]"
        params["tag"] = tag
    if after is not None:
        sql += f" AND {keyset}"
        params.update(k1=after[0], k2=after[1])
    rows = await _fetch(request, text(f"{sql} ORDER BY {order} LIMIT :n"), **params)
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
    rows = await _fetch(request, text(f"{_ITEMS} AND c.id = ANY(:ids)"), ids=ids)
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
    rows = await _fetch(request, text(f"{_ITEMS} AND c.id = :id"), id=content_id)
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
    params: dict[str, Any] = {"tsq": ts_query(q.q), "n": q.limit + 1}
    sql = (
        f"SELECT {ITEM_COLUMNS}, {_SEARCH_RANK} AS rank FROM contents c WHERE {LISTABLE}"
        " AND c.search @@ to_tsquery('simple', :tsq)"
    )
    after = decode_cursor(q.cursor, "search", tuple[float, int])
    if after is not None:
        # ts_rank is a real: compare with the cursor's value cast back to real (exact)
        sql += f" AND ({_SEARCH_RANK}, c.id) < (CAST(:k1 AS real), :k2)"
        params.update(k1=after[0], k2=after[1])
    query = text(f"{sql} ORDER BY rank DESC, c.id DESC LIMIT :n")
    rows = await _fetch(request, query, **params)
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
    after = decode_cursor(q.cursor, "tags", tuple[int, str])
    k1, k2 = after if after is not None else (None, None)
    rows = await _fetch(request, _TAGS, k1=k1, k2=k2, n=q.limit + 1)
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
