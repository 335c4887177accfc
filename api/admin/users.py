"""Admin user moderation: block and unblock (PROTOCOL 6.1). The user row is provisioned
when the id is not known yet (ids of externally issued tokens)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from api import staff
from api.access import ADMIN, authenticate, path_id
from api.state import control
from core import blocks, user_events
from core.blocks import BlockState
from core.errors import BadRequest
from core.web import decode_body, ok
from core.web.spec import api_route
from live import nudges


class BlockBody(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(max_length=500)] | None = None


async def _change(request: Request, block: bool) -> Response:
    identity = await authenticate(request, ADMIN)
    user_id = path_id(request)
    body = await decode_body(request, BlockBody | None) or BlockBody()  # type: ignore[arg-type]
    if block and user_id == identity.user_id:
        raise BadRequest("an admin cannot block themselves", details={"field": "id"})
    change = blocks.block_user if block else blocks.unblock_user
    async with request.app.state.sessions.begin() as session:
        if block:  # a block disables an account: never the last active admin
            await staff.keep_an_admin(session, user_id, after=("admin",), blocked=True)
        state = await change(session, user_id, body.reason, identity.user_id)
        if block:
            await user_events.record(session, user_id, user_events.BLOCK, {"by": identity.user_id})
    # Apply here at once and nudge the other processes; their poll is the guarantee.
    ctl = control(request)
    await ctl.try_refresh()
    await nudges.control_changed(request.app.state.redis)
    return ok(request, state)


async def block_user(request: Request) -> Response:
    return await _change(request, True)


async def unblock_user(request: Request) -> Response:
    return await _change(request, False)


TAGS = ("admin",)
routes = [
    api_route(
        "POST",
        "/api/admin/users/{id:int}/block",
        block_user,
        summary="Block a user",
        auth="admin",
        body=BlockBody | None,
        response=BlockState,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/users/{id:int}/unblock",
        unblock_user,
        summary="Unblock a user",
        auth="admin",
        body=BlockBody | None,
        response=BlockState,
        tags=TAGS,
    ),
]
