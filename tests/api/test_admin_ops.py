"""Admin operations: the user list and search, IP blocks, the live view from the hub's
Redis state, and the audit log."""

from __future__ import annotations

import time

from sqlalchemy import text

from live import keys
from tests.api.money import rows


async def _users(engine, specs):
    async with engine.begin() as conn:
        for user_id, email in specs:
            await conn.execute(
                text("INSERT INTO users (id, email) OVERRIDING SYSTEM VALUE VALUES (:i, :e)"),
                {"i": user_id, "e": email},
            )


# --- users -------------------------------------------------------------------------------


async def test_user_list_pages_by_id(client, admin, engine):
    """Users by id ascending, in pages that follow next_cursor to the end."""
    await _users(engine, [(10, "a@x.io"), (11, "b@x.io"), (12, None)])
    seen, cursor = [], None
    while True:
        url = "/api/admin/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        data = (await client.get(url, headers=admin)).json()["data"]
        seen += [u["id"] for u in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 10, 11, 12]  # 1: the admin, provisioned by its first request
    first = (await client.get("/api/admin/users?limit=1", headers=admin)).json()["data"]
    assert set(first["items"][0]) == {
        "id",
        "email",
        "roles",
        "balance",
        "blocked",
        "blocked_at",
        "block_reason",
        "created_at",
    }


async def test_user_search_by_email_or_id(client, admin, engine):
    """`q` matches emails case-insensitively (LIKE wildcards taken literally) or an id."""
    await _users(
        engine,
        [(10, "Alice@Example.com"), (11, "bob@example.com"), (12, "a_b@x.io"), (13, "axb@x.io")],
    )

    async def ids(q):
        r = await client.get("/api/admin/users", params={"q": q}, headers=admin)
        return [u["id"] for u in r.json()["data"]["items"]]

    assert await ids("alice") == [10]
    assert await ids("EXAMPLE") == [10, 11]
    assert await ids("a_b") == [12]
    assert await ids("11") == [11]
    assert await ids("nobody") == []
    # Digits that are not ASCII ("²" passes str.isdigit, not int) are text, not an id.
    assert await ids("1²") == [] and await ids("١١") == []
    await client.post("/api/admin/users/11/block", headers=admin, json={"reason": "spam"})
    [user] = (await client.get("/api/admin/users?q=bob", headers=admin)).json()["data"]["items"]
    assert (user["blocked"], user["block_reason"]) == (True, "spam")


# --- ip blocks ---------------------------------------------------------------------------


async def test_ip_blocks_add_list_remove_audited(client, admin, engine):
    """Add normalises the CIDR (201), list shows it, remove lifts it; both audited."""
    r = await client.post(
        "/api/admin/ip-blocks", headers=admin, json={"cidr": "10.1.2.3/8", "reason": "abuse"}
    )
    assert r.status_code == 201
    block = r.json()["data"]
    assert (block["cidr"], block["reason"], block["created_by"]) == ("10.0.0.0/8", "abuse", 1)
    await client.post("/api/admin/ip-blocks", headers=admin, json={"cidr": "2001:db8::/32"})
    listed = (await client.get("/api/admin/ip-blocks", headers=admin)).json()["data"]
    assert [b["cidr"] for b in listed["items"]] == ["10.0.0.0/8", "2001:db8::/32"]
    r = await client.delete(f"/api/admin/ip-blocks/{block['id']}", headers=admin)
    assert (r.status_code, r.json()["data"]["cidr"]) == (200, "10.0.0.0/8")
    r = await client.delete(f"/api/admin/ip-blocks/{block['id']}", headers=admin)
    assert r.status_code == 404
    actions = await rows(engine, "SELECT action, target FROM audit_log ORDER BY id")
    assert actions == [
        ("ip.block", "ip:10.0.0.0/8"),
        ("ip.block", "ip:2001:db8::/32"),
        ("ip.unblock", "ip:10.0.0.0/8"),
    ]


async def test_ip_block_errors(client, admin, auth):
    """A bad CIDR is 400 naming cidr; a network holding the admin's own address is 400
    (it would lock them out); a viewer is refused."""
    r = await client.post("/api/admin/ip-blocks", headers=admin, json={"cidr": "10.0.0.0/33"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "cidr")
    r = await client.post("/api/admin/ip-blocks", headers=admin, json={"cidr": "127.0.0.0/8"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "cidr")
    r = await client.post("/api/admin/ip-blocks", headers=auth(7), json={"cidr": "10.0.0.0/8"})
    assert r.status_code == 403


async def test_ip_block_applies_to_other_callers(client, admin, api_app):
    """A block added through the api is in this process's snapshot at once."""
    await client.post("/api/admin/ip-blocks", headers=admin, json={"cidr": "203.0.113.0/24"})
    assert api_app.state.control.blocks.ip_blocked("203.0.113.9")


# --- live view ---------------------------------------------------------------------------


async def test_live_view_counts_live_sessions_and_viewers(client, admin, redis, settings, engine):
    """Sessions live sum every partition's deadline set from now on (expired ones not
    counted); contents rank by current viewers, unpublished and idle ones left out."""
    async with engine.begin() as conn:
        for title, status in (
            ("a", "published"),
            ("b", "published"),
            ("c", "draft"),
            ("d", "published"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO contents (title, source_url, duration_s, status)"
                    " VALUES (:t, 'https://x.io/v', 10, :s)"
                ),
                {"t": title, "s": status},
            )
    now = int(time.time() * 1000)
    future, past = now + 60_000, now - 60_000
    parts = settings.redis_partitions
    await redis.zadd(keys.deadlines(0), {"1": future, "2": past})
    await redis.zadd(keys.deadlines(parts - 1), {str(parts - 1): future, "99": future})
    await redis.zadd(keys.viewers(1), {"1": future})
    await redis.zadd(keys.viewers(2), {"1": future, "2": future, "3": past})
    await redis.zadd(keys.viewers(3), {"5": future})  # a draft: not listed
    data = (await client.get("/api/admin/live", headers=admin)).json()["data"]
    assert data["sessions_live"] == 3
    assert data["contents"] == [
        {"content_id": 2, "title": "b", "viewers": 2},
        {"content_id": 1, "title": "a", "viewers": 1},
    ]
    assert data["viewers_total"] == 3
    assert data["server_time"].endswith("+09:00")
    top = (await client.get("/api/admin/live?limit=1", headers=admin)).json()["data"]
    assert [c["content_id"] for c in top["contents"]] == [2]


# --- audit log ---------------------------------------------------------------------------


async def test_audit_log_filters_and_pages(client, admin, auth):
    """Entries newest first, filtered by action, actor or target, paginated."""
    other = auth(2, ("admin",))
    await client.post("/api/admin/users/11/block", headers=admin)
    await client.post("/api/admin/users/12/block", headers=other)
    await client.post("/api/admin/users/11/unblock", headers=admin)
    everything = (await client.get("/api/admin/audit-log", headers=admin)).json()["data"]
    assert [(e["action"], e["target"]) for e in everything["items"]] == [
        ("user.unblock", "user:11"),
        ("user.block", "user:12"),
        ("user.block", "user:11"),
    ]
    item = everything["items"][0]
    assert (item["before"]["blocked"], item["after"]["blocked"]) == (True, False)

    async def targets(query):
        r = await client.get(f"/api/admin/audit-log?{query}", headers=admin)
        return [e["target"] for e in r.json()["data"]["items"]]

    assert await targets("action=user.block") == ["user:12", "user:11"]
    assert await targets("actor_id=2") == ["user:12"]
    assert await targets("target=user:11") == ["user:11", "user:11"]
    page1 = (await client.get("/api/admin/audit-log?limit=2", headers=admin)).json()["data"]
    page2 = (
        await client.get(
            f"/api/admin/audit-log?limit=2&cursor={page1['next_cursor']}", headers=admin
        )
    ).json()["data"]
    assert [e["target"] for e in page2["items"]] == ["user:11"]
    assert page2["next_cursor"] is None
    r = await client.get("/api/admin/audit-log?actor_id=x", headers=admin)
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "actor_id")
    assert (await client.get("/api/admin/audit-log", headers=auth(7))).status_code == 403


async def test_filters_with_nul_are_400(client, admin):
    """A NUL in a text filter is a 400 naming it (PostgreSQL text cannot hold NUL)."""
    for url, field in (
        ("/api/admin/users?q=a%00b", "q"),
        ("/api/admin/audit-log?action=%00", "action"),
    ):
        r = await client.get(url, headers=admin)
        assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, field), url
