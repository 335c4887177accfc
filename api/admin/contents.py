"""Admin content management: create, update, soft delete, restore. Each handler owns its
transaction and writes an audit entry with the change; a request that changes nothing
writes nothing."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.catalog import catalog_changed
from api.contents import (
    ContentCreate,
    ContentPatch,
    ContentView,
    create_content,
    get_content,
    patch_values,
    update_content,
)
from api.pages import Page, PageQuery, sql_page
from api.sql import NOW
from core import audit
from core.web import decode_body, decode_query, ok
from core.web.spec import api_route


class AdminContentsQuery(PageQuery):
    """`state`: `live` (not deleted, any status), `deleted`, or `all`; newest first."""

    state: Literal["live", "deleted", "all"] = "live"


_LIST = (
    "SELECT " + ", ".join(ContentView.__struct_fields__) + " FROM contents"
    " WHERE (CAST(:after AS bigint) IS NULL OR id < :after)"
    " AND (:state = 'all' OR (deleted_at IS NOT NULL) = (:state = 'deleted'))"
    " ORDER BY id DESC LIMIT :n"
)


async def list_all_contents(request: Request) -> Response:
    """Every content, drafts and deleted ones included (the catalog shows only what viewers
    may watch): the console's content list, where a deleted one can be restored."""
    await authenticate(request, ADMIN)
    query = decode_query(request, AdminContentsQuery)
    async with request.app.state.sessions() as session:
        found = await sql_page(session, query, "acontents", _LIST, ContentView, state=query.state)
    return ok(request, found)


async def post_content(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, ContentCreate)
    async with request.app.state.sessions.begin() as session:
        content = await create_content(session, body)
        audit.record(
            session, identity.user_id, "content.create", f"content:{content.id}", None, content
        )
    catalog_changed(request)
    return ok(request, content, 201)


async def patch_content(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    content_id = path_id(request)
    body = await decode_body(request, ContentPatch)
    async with request.app.state.sessions.begin() as session:
        before = await get_content(session, content_id, lock=True)
        values = patch_values(before, body)
        if not values:
            return ok(request, before)
        after = await update_content(session, content_id, values)
        audit.record(
            session, identity.user_id, "content.update", f"content:{content_id}", before, after
        )
    catalog_changed(request)
    return ok(request, after)


async def _set_deleted(request: Request, deleted: bool) -> Response:
    identity = await authenticate(request, ADMIN)
    content_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        before = await get_content(session, content_id, lock=True)
        if (before.deleted_at is not None) == deleted:
            return ok(request, before)  # already in that state: idempotent, no bump
        after = await update_content(session, content_id, {"deleted_at": NOW if deleted else None})
        action = "content.delete" if deleted else "content.restore"
        audit.record(session, identity.user_id, action, f"content:{content_id}", before, after)
    catalog_changed(request)
    return ok(request, after)


async def delete_content(request: Request) -> Response:
    """Soft delete: the row stays, `deleted_at` is set; hubs end live sessions on it."""
    return await _set_deleted(request, True)


async def restore_content(request: Request) -> Response:
    return await _set_deleted(request, False)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/contents",
        list_all_contents,
        summary="Every content, drafts and deleted ones included, newest first",
        auth="admin",
        query=AdminContentsQuery,
        response=Page[ContentView],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/contents",
        post_content,
        summary="Create a content",
        auth="admin",
        body=ContentCreate,
        response=ContentView,
        status=201,
        tags=TAGS,
    ),
    api_route(
        "PATCH",
        "/api/admin/contents/{id:int}",
        patch_content,
        summary="Update a content",
        auth="admin",
        body=ContentPatch,
        response=ContentView,
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        "/api/admin/contents/{id:int}",
        delete_content,
        summary="Soft-delete a content",
        auth="admin",
        response=ContentView,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/contents/{id:int}/restore",
        restore_content,
        summary="Restore a soft-deleted content",
        auth="admin",
        response=ContentView,
        tags=TAGS,
    ),
]
