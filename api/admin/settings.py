"""Admin runtime settings (PROTOCOL 6.1): read them, change some of them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import ADMIN, authenticate
from api.state import control
from core.runtime import load_runtime, update_runtime
from core.web import decode_body, ok


async def get(request: Request) -> Response:
    await authenticate(request, ADMIN)
    async with request.app.state.engine.connect() as conn:
        current = await load_runtime(conn, request.app.state.settings)
    return ok(request, current)


async def put(request: Request) -> Response:
    """Partial update: `{key: value}`; `null` puts a key back to its environment default.
    Answers the whole set after the change."""
    identity = await authenticate(request, ADMIN)
    changes = await decode_body(request, dict[str, Any])
    async with request.app.state.sessions.begin() as session:
        _, after = await update_runtime(
            session, changes, identity.user_id, settings=request.app.state.settings
        )
    await control(request).try_refresh()  # this process applies it at once, others poll
    return ok(request, after)


routes = [
    Route("/api/admin/settings", get, methods=["GET"]),
    Route("/api/admin/settings", put, methods=["PUT"]),
]
