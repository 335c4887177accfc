"""Admin tags (api/admin/tags.py): counts, rename, merge, delete, against real PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

CONTENT = {"source_url": "https://youtu.be/abc", "duration_s": 60}


async def create(client: Any, admin: Any, title: str, tags: list[str], **kw: Any) -> int:
    body = {**CONTENT, "title": title, "tags": tags, **kw}
    r = await client.post("/api/admin/contents", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])


async def tags_of(engine: Any) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT title, tags FROM contents ORDER BY id"))
        return {r.title: list(r.tags) for r in rows}


async def test_counts_include_drafts_and_say_how_many_are_listed(client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(client, admin, "a", ["kpop", "dance"])
    await create(client, admin, "b", ["kpop"], status="draft")
    r = await client.get("/api/admin/tags", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["items"] == [
        {"tag": "dance", "contents": 1, "listed": 1},
        {"tag": "kpop", "contents": 2, "listed": 1},
    ]
    first = await client.get("/api/admin/tags", params={"limit": 1}, headers=admin)
    cursor = first.json()["data"]["next_cursor"]
    rest = await client.get("/api/admin/tags", params={"cursor": cursor}, headers=admin)
    assert [t["tag"] for t in rest.json()["data"]["items"]] == ["kpop"]


async def test_merge_keeps_every_other_tag_in_order_without_duplicates(
    client, admin, engine
) -> None:  # type: ignore[no-untyped-def]
    """K-pop, kpop and k-pop become kpop: each content keeps its other tags where they
    were, and one that had two of the sources has kpop once."""
    await create(client, admin, "a", ["k-pop", "dance", "live"])
    await create(client, admin, "b", ["news", "kpop"])
    await create(client, admin, "c", ["k pop", "k-pop", "ballad"])
    await create(client, admin, "d", ["cooking"])
    r = await client.post(
        "/api/admin/tags/merge",
        json={"sources": ["k-pop", "K Pop", "kpop"], "into": "kpop"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["tag"], r.json()["data"]["contents"]) == ("kpop", 2)
    assert await tags_of(engine) == {
        "a": ["kpop", "dance", "live"],
        "b": ["news", "kpop"],
        "c": ["kpop", "ballad"],
        "d": ["cooking"],
    }
    async with engine.connect() as conn:
        entry = (
            await conn.execute(
                text("SELECT target, after FROM audit_log WHERE action = 'tag.merge'")
            )
        ).one()
    assert entry.target == "tag:kpop" and entry.after["contents"] == 2


async def test_rename_and_delete(client, admin, engine) -> None:  # type: ignore[no-untyped-def]
    await create(client, admin, "a", ["tv", "drama"])
    await create(client, admin, "b", ["drama"])
    r = await client.post("/api/admin/tags/drama/rename", json={"to": "Series"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["contents"] == 2
    assert await tags_of(engine) == {"a": ["tv", "series"], "b": ["series"]}
    onto = await client.post("/api/admin/tags/tv/rename", json={"to": "series"}, headers=admin)
    assert (onto.status_code, onto.json()["error"]["code"]) == (409, "conflict")  # a merge
    gone = await client.delete("/api/admin/tags/series", headers=admin)
    assert gone.status_code == 200 and gone.json()["data"]["contents"] == 2
    assert await tags_of(engine) == {"a": ["tv"], "b": []}
    listed = await client.get("/api/tags")
    assert [t["tag"] for t in listed.json()["data"]["items"]] == ["tv"]
    async with engine.connect() as conn:
        actions = (
            (
                await conn.execute(
                    text("SELECT action FROM audit_log WHERE action LIKE 'tag.%' ORDER BY id")
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["tag.rename", "tag.delete"]


async def test_unknown_tags_bad_bodies_and_viewers_are_refused(client, admin, auth) -> None:  # type: ignore[no-untyped-def]
    await create(client, admin, "a", ["tv"])
    cases = [
        (client.delete("/api/admin/tags/none", headers=admin), 404, "not_found"),
        (
            client.post("/api/admin/tags/none/rename", json={"to": "x"}, headers=admin),
            404,
            "not_found",
        ),
        (
            client.post("/api/admin/tags/tv/rename", json={"to": " TV "}, headers=admin),
            400,
            "bad_request",
        ),
        (
            client.post(
                "/api/admin/tags/merge", json={"sources": ["tv"], "into": "tv"}, headers=admin
            ),
            400,
            "bad_request",
        ),
        (
            client.post("/api/admin/tags/merge", json={"sources": [], "into": "tv"}, headers=admin),
            400,
            "bad_request",
        ),
        (client.get("/api/admin/tags", headers=auth(5)), 403, "forbidden"),
    ]
    for call, status, code in cases:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
