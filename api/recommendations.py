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
from sqlalchemy import ColumnElement, exists, select
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate, optional_identity, path_id
from api.catalog import _ITEM_COLUMNS, ContentItem, listable, viewer_counts
from core.errors import NotFound
from core.models import Content, WatchSession
from core.models_rewards import ContentRelated, UserRecommendation
from core.web import decode_query, ok
from core.web.spec import api_route

_ITEM_NAMES = frozenset(c.name for c in _ITEM_COLUMNS)
Reason = Literal["co_watched", "tags", "similar_viewers", "popular"]


class RecommendQuery(Struct):
    limit: Annotated[int, Meta(ge=1, le=50, description="how many, 1-50")] = 10


class Recommended(Struct, frozen=True):
    content: ContentItem
    score: float  # the job's score (0 for the popular list)
    reason: Reason
    live: bool  # someone is watching it now


def _watched(user_id: int) -> ColumnElement[bool]:
    """The user has been credited time on the content (the job's rule of watching)."""
    return exists().where(
        WatchSession.user_id == user_id,
        WatchSession.content_id == Content.id,
        WatchSession.credited_ms > 0,
    )


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


async def _popular(request: Request, limit: int, exclude: Any) -> list[Any]:
    query = (
        select(*_ITEM_COLUMNS)
        .where(listable(), exclude)
        .order_by(Content.view_count.desc(), Content.id.desc())
        .limit(limit)
    )
    async with request.app.state.sessions() as session:
        return list((await session.execute(query)).all())


async def related(request: Request) -> Response:
    await optional_identity(request)
    content_id = path_id(request)
    q = decode_query(request, RecommendQuery)
    async with request.app.state.sessions() as session:
        found = (
            await session.execute(select(Content.id).where(Content.id == content_id, listable()))
        ).first()
        if found is None:
            raise NotFound(f"no content {content_id}")
        query = (
            select(*_ITEM_COLUMNS, ContentRelated.score, ContentRelated.co_viewers)
            .join(ContentRelated, ContentRelated.related_id == Content.id)
            .where(ContentRelated.content_id == content_id, listable())
            .order_by(ContentRelated.score.desc(), Content.id)
            .limit(q.limit)
        )
        rows = list((await session.execute(query)).all())
    reasons: dict[int, tuple[float, Reason]] = {
        r.id: (float(r.score), "co_watched" if r.co_viewers else "tags") for r in rows
    }
    if not rows:
        rows = await _popular(request, q.limit, Content.id != content_id)
        reasons = {r.id: (0.0, "popular") for r in rows}
    return ok(request, await _answer(request, rows, reasons))


async def for_me(request: Request) -> Response:
    identity = await authenticate(request)
    q = decode_query(request, RecommendQuery)
    uid = identity.user_id
    not_watched = ~_watched(uid)
    query = (
        select(*_ITEM_COLUMNS, UserRecommendation.score)
        .join(UserRecommendation, UserRecommendation.content_id == Content.id)
        .where(UserRecommendation.user_id == uid, listable(), not_watched)
        .order_by(UserRecommendation.score.desc(), Content.id)
        .limit(q.limit)
    )
    async with request.app.state.sessions() as session:
        rows = list((await session.execute(query)).all())
    reasons: dict[int, tuple[float, Reason]] = {
        r.id: (float(r.score), "similar_viewers") for r in rows
    }
    if not rows:
        rows = await _popular(request, q.limit, not_watched)
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
