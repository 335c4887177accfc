"""GET /api/admin/contents: the console's list, drafts and deleted contents included."""

from __future__ import annotations

from typing import Any

CONTENT = {"title": "Clip", "source_url": "https://example.com/v.mp4", "duration_s": 60}


async def test_list_shows_drafts_and_deleted_ones_by_state_newest_first(
    client: Any, admin: Any
) -> None:
    """`live` has drafts and published ones but not deleted ones; `deleted` has those (to
    restore); `all` both; pages follow the cursor."""
    ids = []
    for title, status in (("one", "published"), ("two", "draft"), ("three", "published")):
        r = await client.post(
            "/api/admin/contents", json={**CONTENT, "title": title, "status": status}, headers=admin
        )
        ids.append(r.json()["data"]["id"])
    assert (await client.delete(f"/api/admin/contents/{ids[2]}", headers=admin)).status_code == 200

    async def listed(query: str) -> list[int]:
        r = await client.get(f"/api/admin/contents?{query}", headers=admin)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["data"]["items"]]

    assert await listed("") == [ids[1], ids[0]]
    assert await listed("state=deleted") == [ids[2]]
    assert await listed("state=all") == ids[::-1]
    r = await client.get("/api/admin/contents?state=all&limit=2", headers=admin)
    cursor = r.json()["data"]["next_cursor"]
    assert await listed(f"state=all&limit=2&cursor={cursor}") == [ids[0]]
    r = await client.get("/api/admin/contents?state=gone", headers=admin)
    assert r.status_code == 400


async def test_list_is_for_admins_only(client: Any, auth: Any) -> None:
    """A viewer gets the forbidden envelope."""
    r = await client.get("/api/admin/contents", headers=auth(5))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
