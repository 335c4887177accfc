"""Admin tag management: list every tag with its content counts, rename, merge, delete.

Tags live in `contents.tags` (trimmed, lower-cased, no duplicates: api/contents.py), so each
operation is one UPDATE over the contents that carry the tag, in one transaction, stamping
`updated_at` (hubs and catalog caches follow it) and writing one audit entry that lists the
contents changed. A merge replaces the sources by the target in place and keeps every other
tag of each content, without duplicates and in their order; renaming onto a tag that exists
is refused (409): that is a merge, and an admin should say so.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from api.catalog import catalog_changed
from api.pages import Cursor, Limit, Page, decode_cursor, page
from core import audit
from core.errors import Conflict, NotFound
from core.web import decode_body, decode_query, invalid, ok
from core.web.spec import api_route

TagName = Annotated[str, Meta(min_length=1, max_length=40)]


class AdminTag(Struct, frozen=True):
    tag: str
    contents: int  # contents carrying it, drafts included (deleted ones not)
    listed: int  # of those, the ones the catalog lists now


class TagsQuery(Struct):
    limit: Limit = 50
    cursor: Cursor | None = None


class Rename(Struct, forbid_unknown_fields=True):
    to: TagName


class Merge(Struct, forbid_unknown_fields=True):
    sources: Annotated[list[TagName], Meta(min_length=1, max_length=50)]
    into: TagName


class TagChange(Struct, frozen=True):
    tag: str  # the tag after the change (the target of a rename or merge; the deleted one)
    contents: int  # contents changed
    content_ids: list[int]


def _clean(value: str, field: str) -> str:
    tag = value.strip().lower()
    if not tag:
        raise invalid(field, "must not be blank")
    if len(tag) > 40 or "\x00" in tag:
        raise invalid(field, "must be 1-40 characters, without NUL")
    return tag


_LIST = text(
    "SELECT t AS tag, count(*) AS contents, count(*) FILTER (WHERE c.status = 'published'"
    " AND (c.published_at IS NULL OR c.published_at <= now())"
    " AND (c.expires_at IS NULL OR c.expires_at > now())) AS listed"
    " FROM contents c, unnest(c.tags) AS t WHERE c.deleted_at IS NULL"
    " AND (CAST(:after AS text) IS NULL OR t > :after) GROUP BY t ORDER BY t LIMIT :n"
)
# Every content (deleted ones too: a restore must not bring an old tag back) carrying one of
# :sources gets them replaced by :into in place, keeping its other tags and their order.
_REPLACE = text(
    "UPDATE contents SET updated_at = clock_timestamp(), tags = ARRAY("
    " SELECT x.t FROM (SELECT CASE WHEN u.t = ANY(:sources) THEN CAST(:into AS text)"
    " ELSE u.t END AS t, min(u.ord) AS ord FROM unnest(tags) WITH ORDINALITY AS u(t, ord)"
    " GROUP BY 1) AS x ORDER BY x.ord)"
    " WHERE tags && CAST(:sources AS text[]) RETURNING id"
)
_REMOVE = text(
    "UPDATE contents SET updated_at = clock_timestamp(), tags = array_remove(tags, :tag)"
    " WHERE tags @> ARRAY[CAST(:tag AS text)] RETURNING id"
)
_EXISTS = text("SELECT 1 FROM contents WHERE tags @> ARRAY[CAST(:tag AS text)] LIMIT 1")


async def _exists(session: AsyncSession, tag: str) -> bool:
    return (await session.execute(_EXISTS, {"tag": tag})).first() is not None


async def list_admin_tags(request: Request) -> Response:
    await authenticate(request, ADMIN)
    q = decode_query(request, TagsQuery)
    after = decode_cursor(q.cursor, "admin_tags", tuple[str])
    async with request.app.state.sessions() as session:
        rows = (
            await session.execute(_LIST, {"after": after[0] if after else None, "n": q.limit + 1})
        ).all()
    items = [AdminTag(r.tag, r.contents, r.listed) for r in rows]
    result: Page[AdminTag] = page(items, q.limit, "admin_tags", lambda t: (t.tag,))
    return ok(request, result)


async def _change(
    request: Request,
    actor_id: int,
    action: str,
    sql: Any,
    params: dict[str, Any],
    *,
    tag: str,
    existing: list[str],
) -> Response:
    """Run one tag UPDATE (`sql` with `params`) after checking that every tag of `existing`
    is carried by some content; audited as `action` on `tag:<tag>`."""
    async with request.app.state.sessions.begin() as session:
        for name in existing:
            if not await _exists(session, name):
                raise NotFound(f"no content carries the tag {name!r}")
        if action == "tag.rename" and await _exists(session, tag):
            raise Conflict(
                f"the tag {tag!r} exists: merge into it instead",
                details={"field": "to", "reason": "exists"},
            )
        ids = sorted(int(r[0]) for r in (await session.execute(sql, params)).all())
        change = TagChange(tag, len(ids), ids)
        audit.record(session, actor_id, action, f"tag:{tag}", params, change)
    catalog_changed(request)
    return ok(request, change)


async def rename_tag(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    old = _clean(request.path_params["tag"], "tag")
    body = await decode_body(request, Rename)
    new = _clean(body.to, "to")
    if new == old:
        raise invalid("to", "is the same tag")
    params = {"sources": [old], "into": new}
    return await _change(
        request, identity.user_id, "tag.rename", _REPLACE, params, tag=new, existing=[old]
    )


async def merge_tags(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, Merge)
    into = _clean(body.into, "into")
    sources = [s for s in dict.fromkeys(_clean(s, "sources") for s in body.sources) if s != into]
    if not sources:
        raise invalid("sources", "must name a tag other than into")
    params = {"sources": sources, "into": into}
    return await _change(
        request, identity.user_id, "tag.merge", _REPLACE, params, tag=into, existing=sources
    )


async def delete_tag(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    tag = _clean(request.path_params["tag"], "tag")
    return await _change(
        request, identity.user_id, "tag.delete", _REMOVE, {"tag": tag}, tag=tag, existing=[tag]
    )


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/tags",
        list_admin_tags,
        summary="Every tag with its content counts, by name",
        auth="admin",
        query=TagsQuery,
        response=Page[AdminTag],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/tags/merge",
        merge_tags,
        summary="Merge tags into one (every content keeps its other tags)",
        auth="admin",
        body=Merge,
        response=TagChange,
        errors=("not_found",),
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/tags/{tag}/rename",
        rename_tag,
        summary="Rename a tag on every content",
        auth="admin",
        body=Rename,
        response=TagChange,
        errors=("conflict",),
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        "/api/admin/tags/{tag}",
        delete_tag,
        summary="Remove a tag from every content",
        auth="admin",
        response=TagChange,
        tags=TAGS,
    ),
]
