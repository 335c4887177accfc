"""Admin runtime settings (PROTOCOL 6.1): read them, change some of them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from api.state import control
from core import knobs
from core.knobs import RuntimeSettings
from core.runtime import load_runtime, update_runtime
from core.web import decode_body, ok
from core.web.spec import api_route
from live import nudges


async def get_settings(request: Request) -> Response:
    await authenticate(request, ADMIN)
    async with request.app.state.engine.connect() as conn:
        current = await load_runtime(conn, request.app.state.settings)
    return ok(request, current)


async def put_settings(request: Request) -> Response:
    """Partial update: `{key: value}`; `null` puts a key back to its environment default.
    Answers the whole set after the change."""
    identity = await authenticate(request, ADMIN)
    changes = await decode_body(request, dict[str, Any])
    async with request.app.state.sessions.begin() as session:
        _, after = await update_runtime(
            session, changes, identity.user_id, settings=request.app.state.settings
        )
    await control(request).try_refresh()  # this process applies it at once
    await nudges.control_changed(request.app.state.redis)  # and every other one too
    return ok(request, after)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/settings",
        get_settings,
        summary="Read the runtime settings",
        auth="admin",
        response=RuntimeSettings,
        tags=TAGS,
    ),
    api_route(
        "PUT",
        "/api/admin/settings",
        put_settings,
        summary="Change some runtime settings",
        auth="admin",
        body=knobs.Patch,  # any subset of the keys; null puts one back to its default
        response=RuntimeSettings,
        tags=TAGS,
    ),
]
