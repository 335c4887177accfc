"""The viewers' catalog: listing rules, sorts, tag filter, pagination, detail with live
viewers, search, tags."""

from __future__ import annotations

import time

from sqlalchemy import text

from live import keys

BASE = {"source_url": "https://example.com/v.mp4", "duration_s": 60}


async def make(client, admin, title, **fields):
    r = await client.post(
        "/api/admin/contents", json={**BASE, "title": title, **fields}, headers=admin
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


async def watchers(redis, content_id, n, *, alive=True):
    deadline = int(time.time() * 1000) + (60_000 if alive else -1000)
    for uid in range(n):
        await redis.zadd(keys.viewers(content_id), {str(1000 + uid): deadline})


async def ids(client, **params):
    r = await client.get("/api/contents", params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]["items"]]


async def test_only_listable_contents(client, admin, engine):
    """Drafts, deleted, expired and future-published contents are neither listed nor found;
    the rest are, newest first, without a token."""
    a = await make(client, admin, "a")
    draft = await make(client, admin, "draft", status="draft")
    gone = await make(client, admin, "gone")
    await client.delete(f"/api/admin/contents/{gone}", headers=admin)
    expired = await make(client, admin, "expired", expires_at="2030-01-01T00:00:00Z")
    future = await make(client, admin, "future")
    b = await make(client, admin, "b")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE contents SET expires_at = now() - interval '1s' WHERE id = :i"),
            {"i": expired},
        )
        await conn.execute(
            text("UPDATE contents SET published_at = now() + interval '1h' WHERE id = :i"),
            {"i": future},
        )
    assert await ids(client) == [b, a]
    for hidden in (draft, gone, expired, future):
        r = await client.get(f"/api/contents/{hidden}")
        assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


async def test_detail_with_live_viewers(client, admin, redis):
    """Detail carries viewer_count (sessions whose deadline has not passed) and view_count."""
    cid = await make(client, admin, "live one", tags=["Music"])
    await watchers(redis, cid, 3)
    await redis.zadd(keys.viewers(cid), {"999": int(time.time() * 1000) - 5})  # expired
    r = await client.get(f"/api/contents/{cid}")
    data = r.json()["data"]
    assert (data["viewer_count"], data["view_count"], data["tags"]) == (3, 0, ["music"])
    assert "status" not in data and "deleted_at" not in data


async def test_popular_and_live_sorts(client, admin, redis, engine):
    """popular orders by view_count, live by current viewers (both then newest id)."""
    a, b, c = [await make(client, admin, t) for t in "abc"]
    async with engine.begin() as conn:
        for cid, views in ((a, 50), (b, 10), (c, 30)):
            await conn.execute(
                text("UPDATE contents SET view_count = :v WHERE id = :i"), {"v": views, "i": cid}
            )
    await watchers(redis, b, 5)
    await watchers(redis, a, 2)
    assert await ids(client, sort="popular") == [a, c, b]
    r = await client.get("/api/contents", params={"sort": "live"})
    items = r.json()["data"]["items"]
    assert [(i["id"], i["viewer_count"]) for i in items] == [(b, 5), (a, 2), (c, 0)]


async def test_tag_filter(client, admin):
    """?tag= keeps the contents with that tag (case-insensitive), in every sort."""
    a = await make(client, admin, "a", tags=["kpop", "live"])
    await make(client, admin, "b", tags=["news"])
    c = await make(client, admin, "c", tags=["KPOP"])
    for sort in ("latest", "popular", "live"):
        assert await ids(client, sort=sort, tag="Kpop") == [c, a], sort


async def _walk(client, **params):
    seen, cursor = [], None
    while True:
        r = await client.get(
            "/api/contents", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert len(data["items"]) <= params["limit"]
        seen += [i["id"] for i in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            return seen


async def test_pagination_every_sort(client, admin, engine, redis):
    """Walking every sort with a small limit serves each content once, in order."""
    made = [await make(client, admin, f"t{i}") for i in range(11)]
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE contents SET view_count = id % 3"))
    for cid in made[:4]:
        await watchers(redis, cid, cid % 2 + 1)
    for sort in ("latest", "popular", "live"):
        seen = await _walk(client, sort=sort, limit=3)
        assert sorted(seen) == sorted(made), sort
        assert len(seen) == len(set(seen))
    assert await _walk(client, sort="latest", limit=4) == made[::-1]


async def test_latest_pagination_under_inserts(client, admin):
    """New contents published while a client pages through `latest` never make an item
    appear twice or be skipped."""
    made = [await make(client, admin, f"t{i}") for i in range(9)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        data = (await client.get("/api/contents", params=params)).json()["data"]
        seen += [i["id"] for i in data["items"]]
        await make(client, admin, "newer")
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


async def test_cursor_of_another_sort_refused(client, admin):
    """A cursor from `latest` used with `popular` is a 400 naming cursor; a bad sort too."""
    for i in range(3):
        await make(client, admin, f"t{i}")
    cursor = (await client.get("/api/contents", params={"limit": 1})).json()["data"]["next_cursor"]
    r = await client.get("/api/contents", params={"sort": "popular", "cursor": cursor})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "cursor")
    r = await client.get("/api/contents", params={"sort": "best"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "sort")


async def test_search(client, admin):
    """Search matches title words and tags by prefix, best match first, listable only;
    punctuation cannot inject tsquery syntax; an empty query is 400."""
    a = await make(client, admin, "Morning jazz session", tags=["music"])
    b = await make(client, admin, "Jazz & blues night")
    hidden = await make(client, admin, "jazz draft", status="draft")
    await make(client, admin, "Cooking show", tags=["food"])

    async def found(q, **params):
        r = await client.get("/api/search", params={"q": q, **params})
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["data"]["items"]]

    assert sorted(await found("jazz")) == sorted([a, b])
    assert hidden not in await found("jazz")
    assert await found("JAZ mor") == [a]
    assert await found("music") == [a]
    assert await found("jazz & | ! ('") != []
    assert await found("nothing-like-this") == []
    page1 = (await client.get("/api/search", params={"q": "jazz", "limit": 1})).json()["data"]
    page2 = (
        await client.get(
            "/api/search", params={"q": "jazz", "limit": 1, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert {page1["items"][0]["id"], page2["data"]["items"][0]["id"]} == {a, b}
    assert page2["data"]["next_cursor"] is None
    for q in ("", "!!!"):
        r = await client.get("/api/search", params={"q": q})
        assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "q")


async def test_tags(client, admin):
    """Tags of listable contents with counts, most used first, paginated."""
    await make(client, admin, "a", tags=["music", "live"])
    await make(client, admin, "b", tags=["music"])
    await make(client, admin, "c", tags=["food"], status="draft")
    r = await client.get("/api/tags")
    assert r.json()["data"] == {
        "items": [{"tag": "music", "count": 2}, {"tag": "live", "count": 1}],
        "next_cursor": None,
    }
    first = (await client.get("/api/tags", params={"limit": 1})).json()["data"]
    second = (
        await client.get("/api/tags", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert second["data"]["items"] == [{"tag": "live", "count": 1}]


async def test_public_routes_accept_a_token_but_refuse_a_bad_one(client, admin, auth):
    """A valid token is accepted on the catalog; a bad one is a 401, not ignored."""
    await make(client, admin, "a")
    assert (await client.get("/api/contents", headers=auth(3))).status_code == 200
    r = await client.get("/api/contents", headers={"Authorization": "Bearer junk"})
    assert r.status_code == 401


async def test_public_routes_limited_per_ip(client, admin):
    """Anonymous catalog requests count against rate_limit_per_minute per IP."""
    await client.put("/api/admin/settings", json={"rate_limit_per_minute": 3}, headers=admin)
    statuses = [(await client.get("/api/tags")).status_code for _ in range(8)]
    assert 429 in statuses and statuses[:2] == [200, 200]
