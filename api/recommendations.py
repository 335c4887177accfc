"""Recommendations, served from what the worker's job computed (workers/recommend.py):
`GET /api/contents/{id}/related` and `GET /api/me/recommendations`.

Only listable contents are shown (the catalog's rule, checked at read time, so a content
unpublished since the last run is left out at once). When the job has nothing for a
content or a user yet (a new one), the answer is the popular list (most viewed first),
without the content itself or what the user has watched, and each item says so
(`reason: popular`). Every item carries the live viewer count, and `live` is true while
someone is watching it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate, optional_identity, path_id
from api.catalog import ITEM_COLUMNS, ITEM_NAMES, LISTABLE, ContentItem, viewer_counts
from core.errors import NotFound
from core.web import decode_query, ok
from core.web.spec import api_route

_ITEM_NAMES = frozenset(ITEM_NAMES)
Reason = Literal["co_watched", "tags", "similar_viewers", "popular"]


class RecommendQuery(Struct):
    limit: Annotated[int, Meta(ge=1, le=50, description="how many, 1-50")] = 10


class Recommended(Struct, frozen=True):
    content: ContentItem
    score: float  # the job's score (0 for the popular list)
    reason: Reason
    live: bool  # someone is watching it now


# The user (:u) has been credited time on the content (the job's rule of watching).
_NOT_WATCHED = (
    "NOT EXISTS (SELECT 1 FROM watch_sessions w"
    " WHERE w.user_id = :u AND w.content_id = c.id AND w.credited_ms > 0)"
)
_LISTED = text(f"SELECT c.id FROM contents c WHERE c.id = :id AND {LISTABLE}")
_RELATED = text(
    f"SELECT {ITEM_COLUMNS}, r.score, r.co_viewers FROM contents c"
    f" JOIN content_related r ON r.related_id = c.id WHERE r.content_id = :id AND {LISTABLE}"
    " ORDER BY r.score DESC, c.id LIMIT :n"
)
_FOR_ME = text(
    f"SELECT {ITEM_COLUMNS}, r.score FROM contents c"
    f" JOIN user_recommendations r ON r.content_id = c.id"
    f" WHERE r.user_id = :u AND {LISTABLE} AND {_NOT_WATCHED} ORDER BY r.score DESC, c.id LIMIT :n"
)
# The popular list, without (`exclude`) the content itself or what the user watched.
_POPULAR = {
    "content": text(
        f"SELECT {ITEM_COLUMNS} FROM contents c WHERE {LISTABLE} AND c.id <> :id"
        " ORDER BY c.view_count DESC, c.id DESC LIMIT :n"
    ),
    "watched": text(
        f"SELECT {ITEM_COLUMNS} FROM contents c WHERE {LISTABLE} AND {_NOT_WATCHED}"
        " ORDER BY c.view_count DESC, c.id DESC LIMIT :n"
    ),
}


async def _answer(
    request: Request, rows: list[Any], reasons: dict[int, tuple[float, Reason]]
) -> list[Recommended]:
    counts = await viewer_counts(request.app.state.redis, [r.id for r in rows])
    out = []
    for r in rows:
        fields = {k: v for k, v in r._mapping.items() if k in _ITEM_NAMES}
        item = ContentItem(**fields, viewer_count=counts.get(r.id, 0))
        score, reason = reasons[r.id]
        out.append(Recommended(item, score, reason, item.viewer_count > 0))
    return out


async def _popular(request: Request, limit: int, exclude: str, **params: Any) -> list[Any]:
    async with request.app.state.sessions() as session:
        return list((await session.execute(_POPULAR[exclude], {**params, "n": limit})).all())


async def related(request: Request) -> Response:
    await optional_identity(request)
    content_id = path_id(request)
    q = decode_query(request, RecommendQuery)
    async with request.app.state.sessions() as session:
        found = (await session.execute(_LISTED, {"id": content_id})).first()
        if found is None:
            raise NotFound(f"no content {content_id}")
        rows = list((await session.execute(_RELATED, {"id": content_id, "n": q.limit})).all())
    reasons: dict[int, tuple[float, Reason]] = {
        r.id: (float(r.score), "co_watched" if r.co_viewers else "tags") for r in rows
    }
    if not rows:
        rows = await _popular(request, q.limit, "content", id=content_id)
        reasons = {r.id: (0.0, "popular") for r in rows}
    return ok(request, await _answer(request, rows, reasons))


async def for_me(request: Request) -> Response:
    identity = await authenticate(request)
    q = decode_query(request, RecommendQuery)
    uid = identity.user_id
    async with request.app.state.sessions() as session:
        rows = list((await session.execute(_FOR_ME, {"u": uid, "n": q.limit})).all())
    reasons: dict[int, tuple[float, Reason]] = {
        r.id: (float(r.score), "similar_viewers") for r in rows
    }
    if not rows:
        rows = await _popular(request, q.limit, "watched", u=uid)
        reasons = {r.id: (0.0, "popular") for r in rows}
    return ok(request, await _answer(request, rows, reasons))


TAGS = ("catalog",)
routes = [
    api_route(
        "GET",
        "/api/contents/{id:int}/related",
        related,
        summary="Contents related to a content (co-watched, shared tags; else popular)",
        auth="optional",
        query=RecommendQuery,
        response=list[Recommended],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/me/recommendations",
        for_me,
        summary="Contents for the caller: not watched yet, what similar viewers watched",
        auth="user",
        query=RecommendQuery,
        response=list[Recommended],
        tags=TAGS,
    ),
]
