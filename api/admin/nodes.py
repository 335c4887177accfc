"""Admin node view and "disconnect this user", short of a block.

The hub nodes announce themselves in Redis every few seconds (live/nodes.py); this lists the
ones that did within the last 15 s. A disconnect is a command on a node's pub/sub channel,
the path the hubs already listen on for takeovers: the node holding the user's watch session
is told, or every node up when the user has no live session (a connection that is not
watching can be on any of them). The hub closes each of the user's connections with 4510,
which the client does not reconnect after on its own; the user can start watching again at
once (nothing is blocked, credited time is kept). Pub/sub is at-most-once: the answer says
how many hub processes received the command.
"""

from __future__ import annotations

import time

import orjson
from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from core import audit
from core.errors import Unavailable
from core.web import ok
from core.web.spec import api_route
from live import keys, nodes, viewers
from live.nodes import NodeInfo


class NodesView(Struct, frozen=True):
    nodes: list[NodeInfo]  # by node id
    sessions_live: int  # all partitions (a session belongs to no node once its connection left)
    server_time_ms: int


class Disconnected(Struct, frozen=True):
    user_id: int
    session_node: str | None  # the node that held the user's live watch session, if any
    nodes_told: list[str]
    received: int  # hub processes that received the command (0: nobody held a connection)
    close_code: int = 4510


def _now_ms() -> int:
    return int(time.time() * 1000)


async def list_nodes(request: Request) -> Response:
    await authenticate(request, ADMIN)
    state = request.app.state
    now = _now_ms()
    try:
        found = await nodes.live_nodes(state.redis, now)
        live = await viewers.sessions_live(state.redis, state.settings.redis_partitions, now)
    except Exception as exc:  # noqa: BLE001 - the node registry is in Redis alone
        raise Unavailable(f"redis: {type(exc).__name__}") from None
    return ok(request, NodesView(nodes=found, sessions_live=live, server_time_ms=now))


async def _session_node(redis: object, user_id: int, partitions: int, now_ms: int) -> str | None:
    node, deadline = await redis.hmget(keys.UserKeys(user_id, partitions).session, "node", "dl")  # type: ignore[attr-defined]
    if not node or not deadline or int(deadline) < now_ms:
        return None
    return node.decode() if isinstance(node, bytes) else str(node)


async def disconnect_user(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    user_id = path_id(request)
    state = request.app.state
    redis = state.redis
    now = _now_ms()
    message = orjson.dumps({"op": "disconnect", "user": user_id})
    try:
        holder = await _session_node(redis, user_id, state.settings.redis_partitions, now)
        told = [holder] if holder else [n.node_id for n in await nodes.live_nodes(redis, now)]
        received = 0
        for node_id in told:
            received += int(await redis.publish(keys.node_channel(node_id), message))
    except Exception as exc:  # noqa: BLE001 - the command goes through Redis alone
        raise Unavailable(f"redis: {type(exc).__name__}") from None
    result = Disconnected(user_id=user_id, session_node=holder, nodes_told=told, received=received)
    async with state.sessions.begin() as session:
        audit.record(session, identity.user_id, "user.disconnect", f"user:{user_id}", None, result)
    return ok(request, result)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/nodes",
        list_nodes,
        summary="Hub nodes up now, with their connections and sessions",
        auth="admin",
        response=NodesView,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/users/{id:int}/disconnect",
        disconnect_user,
        summary="Close the user's connections (4510) without blocking them",
        auth="admin",
        response=Disconnected,
        tags=TAGS,
    ),
]
