"""Admin runtime settings (PROTOCOL 6.1): read them, change some of them."""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from api.spec import api_route
from api.state import control
from core.runtime import RuntimeSettings, load_runtime, update_runtime
from core.web import decode_body, ok


class SettingsPatch(Struct, forbid_unknown_fields=True):
    """The body of PUT, for the OpenAPI document: any subset of the keys; `null` puts a key
    back to its environment default. (The handler decodes a plain object, so that an
    unknown key or bad value is reported by key, with the bounds of core.runtime.)"""

    reward_interval_ms: int | None = None
    reward_amount: int | None = None
    daily_reward_cap: int | None = None
    heartbeat_interval_ms: int | None = None
    session_ttl_ms: int | None = None
    rewards_paused: bool | None = None
    rate_limit_per_minute: int | None = None
    admin_rate_limit_per_minute: int | None = None


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


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/settings",
        get,
        summary="Read the runtime settings",
        auth="admin",
        response=RuntimeSettings,
        tags=TAGS,
    ),
    api_route(
        "PUT",
        "/api/admin/settings",
        put,
        summary="Change some runtime settings",
        auth="admin",
        body=SettingsPatch,
        response=RuntimeSettings,
        tags=TAGS,
    ),
]
