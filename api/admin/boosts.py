"""Admin boosts of a content's reward (api/boosts.py): set (or replace) and end, audited.
The hubs see the change at their next catalog poll (CONTROL_POLL_MS)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.boosts import BoostSet, BoostView, clear_boost, get_boost, set_boost
from api.catalog import catalog_changed
from api.contents import get_content
from core import audit
from core.web import decode_body, ok
from core.web.spec import api_route


async def put_boost(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    content_id = path_id(request)
    body = await decode_body(request, BoostSet)
    async with request.app.state.sessions.begin() as session:
        await get_content(session, content_id, lock=True)  # 404 for no such content
        before = await get_boost(session, content_id)
        after = await set_boost(session, content_id, body, identity.user_id)
        audit.record(
            session, identity.user_id, "content.boost", f"content:{content_id}", before, after
        )
    catalog_changed(request)
    return ok(request, after)


async def delete_boost(request: Request) -> Response:
    """End the boost now; a content without one answers null and writes nothing."""
    identity = await authenticate(request, ADMIN)
    content_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        await get_content(session, content_id, lock=True)
        before = await clear_boost(session, content_id)
        if before is not None:
            audit.record(
                session, identity.user_id, "content.unboost", f"content:{content_id}", before
            )
    catalog_changed(request)
    return ok(request, None)


TAGS = ("admin",)
routes = [
    api_route(
        "PUT",
        "/api/admin/contents/{id:int}/boost",
        put_boost,
        summary="Boost a content's reward for a time window (replaces its boost)",
        auth="admin",
        body=BoostSet,
        response=BoostView,
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        "/api/admin/contents/{id:int}/boost",
        delete_boost,
        summary="End a content's boost now",
        auth="admin",
        tags=TAGS,
    ),
]
