"""Blocking users and networks: admin routes, core.blocks against real PostgreSQL, and
enforcement on the api."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from core import blocks


async def user_row(engine, user_id):
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT blocked_at, block_reason FROM users WHERE id = :id"),
                {"id": user_id},
            )
        ).first()


async def actions(engine):
    async with engine.connect() as conn:
        query = text("SELECT action, actor_id, target FROM audit_log ORDER BY id")
        rows = await conn.execute(query)
        return rows.all()


async def test_block_provisions_blocks_and_audits(client, admin, engine):
    """Blocking an unknown id provisions its row, blocks it and writes an audit entry."""
    r = await client.post("/api/admin/users/42/block", headers=admin, json={"reason": "spam"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert (data["user_id"], data["blocked"], data["reason"]) == (42, True, "spam")
    assert data["blocked_at"].endswith("+09:00")
    row = await user_row(engine, 42)
    assert row is not None and row[0] is not None and row[1] == "spam"
    assert await actions(engine) == [("user.block", 1, "user:42")]


async def test_blocked_user_is_forbidden_then_unblocked(client, admin, auth, engine):
    """A blocked user's requests answer 403 forbidden; after unblock (audited) they pass the
    block check again."""
    viewer_admin = auth(7, ("admin",))
    assert (await client.get("/api/admin/settings", headers=viewer_admin)).status_code == 200
    r = await client.post("/api/admin/users/7/block", headers=admin)  # no body: no reason
    assert r.status_code == 200 and r.json()["data"]["reason"] is None
    r = await client.get("/api/admin/settings", headers=viewer_admin)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    r = await client.post("/api/admin/users/7/unblock", headers=admin)
    assert r.json()["data"]["blocked"] is False
    assert (await client.get("/api/admin/settings", headers=viewer_admin)).status_code == 200
    assert [a[0] for a in await actions(engine)] == ["user.block", "user.unblock"]


async def test_repeated_unblock_writes_nothing(client, admin, engine):
    """Unblocking a user that is not blocked changes nothing and is not audited."""
    r = await client.post("/api/admin/users/9/unblock", headers=admin)
    assert r.status_code == 200 and r.json()["data"]["blocked"] is False
    assert await actions(engine) == []


async def test_admin_cannot_block_self(client, admin):
    """An admin blocking their own id gets 400 (it would lock them out)."""
    r = await client.post("/api/admin/users/1/block", headers=admin)
    assert r.status_code == 400


async def test_block_requires_admin(client, auth):
    """A viewer cannot block anyone."""
    r = await client.post("/api/admin/users/3/block", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")


async def test_token_user_provisioned_on_first_use(client, auth, engine):
    """A valid token for an id the database does not know creates that user row."""
    assert await user_row(engine, 555) is None
    r = await client.get("/api/admin/settings", headers=auth(555, ("admin",)))
    assert r.status_code == 200
    assert await user_row(engine, 555) is not None


async def test_ip_blocks_load_and_apply(client, admin, engine, api_app):
    """An IP block written with core.blocks is loaded by load_blocks and, once the process
    refreshes, refuses requests from that address with 403; removing it lifts it."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        view = await blocks.add_ip_block(session, "127.0.0.1", "abuse", 1)
    assert view.cidr == "127.0.0.1/32"
    async with engine.connect() as conn:
        snapshot = await blocks.load_blocks(conn)
    assert snapshot.ip_blocked("127.0.0.1") and not snapshot.ip_blocked("127.0.0.2")
    await api_app.state.control.refresh()
    r = await client.get("/api/admin/settings", headers=admin)  # ASGI client is 127.0.0.1
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    async with sessions.begin() as session:
        assert await blocks.remove_ip_block(session, "127.0.0.1/32", 1) is True
    await api_app.state.control.refresh()
    assert (await client.get("/api/admin/settings", headers=admin)).status_code == 200
    assert [a[0] for a in await actions(engine)] == ["ip.block", "ip.unblock"]


async def test_block_reaches_other_process_within_5s(spawn, token):
    """A block made through one api process is enforced by another within 5 s (poll)."""
    import httpx

    a, b = spawn("api.app:app"), spawn("api.app:app")
    admin = {"Authorization": f"Bearer {token(1, ('admin',))}"}
    user = {"Authorization": f"Bearer {token(8, ('admin',))}"}
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{b.url}/api/admin/settings", headers=user)).status_code == 200
        r = await http.post(f"{a.url}/api/admin/users/8/block", headers=admin)
        assert r.status_code == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        status = 200
        while loop.time() < deadline:
            status = (await http.get(f"{b.url}/api/admin/settings", headers=user)).status_code
            if status == 403:
                break
            await asyncio.sleep(0.1)
    assert status == 403
