"""The admin node view and "disconnect this user" against real hub processes, a real api
process and real WebSocket clients."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.realtime.conftest import FAST
from tests.support.waiting import wait_until


def _admin(token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(1, roles=('admin',))}"}


async def _nodes(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await http.get("/api/admin/nodes", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


async def test_node_view_lists_each_hub_with_its_connections_and_sessions(
    hub: Any, player: Any, content: Any, spawn: Any, token: Any
) -> None:
    """Two hubs announce themselves; the view shows each one's open connections and live
    sessions, and the total of live sessions."""
    a, b = hub(SESSION_TTL_MS="60000"), hub(SESSION_TTL_MS="60000")  # no heartbeats sent
    api = spawn("api.app:app", {"REDIS_PARTITIONS": FAST["REDIS_PARTITIONS"]})
    cid = await content()
    watcher = await player(a, 81)
    assert (await watcher.start(cid))["type"] == "started"
    await player(b, 82)  # connected, not watching
    await player(b, 83)
    headers = _admin(token)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:

        async def settled() -> dict[str, Any] | None:
            view = await _nodes(http, headers)
            shape = sorted((n["connections"], n["watching"]) for n in view["nodes"])
            return view if shape == [(1, 1), (2, 0)] else None

        view = await wait_until(settled, 20, "both hubs announced with their connections")
    assert view["sessions_live"] == 1
    assert all(n["pid"] > 0 and n["seen_ms"] <= view["server_time_ms"] for n in view["nodes"])


async def test_disconnect_closes_the_users_connection_with_4510_and_nothing_else(
    hub: Any, player: Any, content: Any, spawn: Any, token: Any, engine: Any
) -> None:
    """The hub holding the user's session closes that user's connection with 4510; another
    user on the same hub keeps watching; the user is not blocked and resumes at once; the
    disconnect is in the audit log."""
    a, b = hub(), hub()
    api = spawn("api.app:app", {"REDIS_PARTITIONS": FAST["REDIS_PARTITIONS"]})
    cid = await content()
    target = await player(b, 91)
    first = await target.start(cid)
    bystander = await player(b, 92)
    assert (await bystander.start(cid))["type"] == "started"
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        r = await http.post("/api/admin/users/91/disconnect", headers=_admin(token))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["user_id"], data["close_code"], data["received"]) == (91, 4510, 1)
    assert data["nodes_told"] == [data["session_node"]]
    assert await target.closed_with() == 4510
    tick = await bystander.request("heartbeat", "tick", playing=True, visible=True)
    assert tick["type"] == "tick"
    again = await player(a, 91)  # not blocked: back at once, on any node
    resumed = await again.start(cid)
    assert resumed["type"] == "started" and resumed["session_id"] == first["session_id"]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT action, actor_id, target FROM audit_log ORDER BY id"))
        ).all()
    assert [tuple(r) for r in rows] == [("user.disconnect", 1, "user:91")]


async def test_disconnect_without_a_session_reaches_every_node(
    hub: Any, player: Any, spawn: Any, token: Any
) -> None:
    """A user connected but not watching has no session that names a node: every node up is
    told, and the one holding the connection closes it with 4510."""
    a, b = hub(), hub()
    api = spawn("api.app:app", {"REDIS_PARTITIONS": FAST["REDIS_PARTITIONS"]})
    idle = await player(a, 95)
    headers = _admin(token)
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:

        async def both_up() -> bool:
            return len((await _nodes(http, headers))["nodes"]) == 2

        await wait_until(both_up, 20, "both hubs announced")
        r = await http.post("/api/admin/users/95/disconnect", headers=headers)
    data = r.json()["data"]
    assert data["session_node"] is None and len(data["nodes_told"]) == 2
    assert data["received"] == 2
    assert await idle.closed_with() == 4510
    del b
