"""Admin content routes against real PostgreSQL and Redis (app in-process, lifespan run)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

CONTENT = {"title": "Intro", "source_url": "https://youtu.be/abc", "duration_s": 120}


async def audit_rows(engine, action):
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT actor_id, target, before, after FROM audit_log WHERE action = :a"
                " ORDER BY id"
            ),
            {"a": action},
        )
        return rows.all()


async def create(client, admin, **fields):
    r = await client.post("/api/admin/contents", json={**CONTENT, **fields}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def test_create_content(client, admin, engine):
    """Create answers 201 with the whole content, published now, times in +09:00, audited."""
    r = await client.post(
        "/api/admin/contents",
        json={
            **CONTENT,
            "tags": ["Music", " kpop ", "music"],
            "reward_interval_ms": 5000,
            "expires_at": "2030-01-01T00:00:00Z",
        },
        headers=admin,
    )
    assert r.status_code == 201
    body = r.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {
        "id",
        "title",
        "source_url",
        "provider",
        "duration_s",
        "tags",
        "status",
        "reward_interval_ms",
        "published_at",
        "expires_at",
        "deleted_at",
        "view_count",
        "created_at",
        "updated_at",
    }
    assert isinstance(data["id"], int)
    assert (data["title"], data["provider"], data["status"]) == ("Intro", "youtube", "published")
    assert data["tags"] == ["music", "kpop"]
    assert data["reward_interval_ms"] == 5000 and data["view_count"] == 0
    assert data["published_at"].endswith("+09:00")
    assert data["expires_at"] == "2030-01-01T09:00:00+09:00"
    assert data["deleted_at"] is None
    [(actor, target, before, after)] = await audit_rows(engine, "content.create")
    assert (actor, target, before) == (1, f"content:{data['id']}", None)
    assert after["title"] == "Intro"


async def test_create_draft_is_unpublished(client, admin):
    """A draft has no published_at."""
    data = await create(client, admin, status="draft", source_url="http://example.com/v.mp4")
    assert (data["status"], data["published_at"], data["provider"]) == ("draft", None, "url")


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"source_url": "ftp://example.com/v"}, "source_url"),
        ({"source_url": "https://"}, "source_url"),
        ({"duration_s": -1}, "duration_s"),
        ({"duration_s": "10"}, "duration_s"),
        ({"tags": ["t"] * 21}, "tags"),
        ({"tags": ["x" * 41]}, "tags[0]"),
        ({"reward_interval_ms": 999}, "reward_interval_ms"),
        ({"status": "live"}, "status"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_create_validation(client, admin, fields, field, engine):
    """Each invalid field is a 400 bad_request naming the field, and nothing is written."""
    r = await client.post("/api/admin/contents", json={**CONTENT, **fields}, headers=admin)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "bad_request"
    assert err["details"]["field"] == field
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM contents"))).scalar() == 0


async def test_create_missing_field(client, admin):
    """A missing required field is named."""
    r = await client.post(
        "/api/admin/contents", json={"title": "x", "duration_s": 1}, headers=admin
    )
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"] == "source_url"


async def test_create_requires_admin(client, auth):
    """No token: 401 unauthorized; expired: 401 token_expired; viewer: 403 forbidden."""
    r = await client.post("/api/admin/contents", json=CONTENT)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await client.post(
        "/api/admin/contents", json=CONTENT, headers=auth(1, ("admin",), now=1_000_000, ttl_s=60)
    )
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_expired")
    r = await client.post("/api/admin/contents", json=CONTENT, headers=auth(2, ("viewer",)))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")


async def test_patch_changes_fields_and_bumps_updated_at(client, admin, engine):
    """PATCH changes only the given fields, clears a nullable one with null, bumps
    updated_at and audits before/after."""
    data = await create(client, admin, reward_interval_ms=5000)
    r = await client.patch(
        f"/api/admin/contents/{data['id']}",
        json={"title": "New", "reward_interval_ms": None},
        headers=admin,
    )
    assert r.status_code == 200
    new = r.json()["data"]
    assert (new["title"], new["reward_interval_ms"]) == ("New", None)
    assert new["source_url"] == data["source_url"]
    assert new["updated_at"] > data["updated_at"]
    [(_, _, before, after)] = await audit_rows(engine, "content.update")
    assert (before["title"], after["title"]) == ("Intro", "New")


async def test_patch_without_change_writes_nothing(client, admin, engine):
    """A PATCH that changes nothing keeps updated_at and writes no audit entry."""
    data = await create(client, admin)
    r = await client.patch(
        f"/api/admin/contents/{data['id']}", json={"title": "Intro"}, headers=admin
    )
    assert r.json()["data"]["updated_at"] == data["updated_at"]
    assert await audit_rows(engine, "content.update") == []


async def test_patch_publishes_draft(client, admin):
    """Publishing a draft sets published_at."""
    data = await create(client, admin, status="draft")
    r = await client.patch(
        f"/api/admin/contents/{data['id']}", json={"status": "published"}, headers=admin
    )
    assert r.json()["data"]["published_at"] is not None


async def test_patch_validation_and_unknown_id(client, admin):
    """PATCH validates like create; an unknown id is 404 not_found."""
    data = await create(client, admin)
    r = await client.patch(
        f"/api/admin/contents/{data['id']}", json={"duration_s": -5}, headers=admin
    )
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "duration_s")
    r = await client.patch("/api/admin/contents/999999", json={"title": "x"}, headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    r = await client.delete(f"/api/admin/contents/{2**63}", headers=admin)
    assert r.status_code == 404


async def test_soft_delete_and_restore(client, admin, engine):
    """DELETE sets deleted_at and bumps updated_at (row kept); restore clears it; repeating
    either is a no-op; both are audited."""
    data = await create(client, admin)
    r = await client.delete(f"/api/admin/contents/{data['id']}", headers=admin)
    deleted = r.json()["data"]
    assert r.status_code == 200 and deleted["deleted_at"] is not None
    assert deleted["updated_at"] > data["updated_at"]
    again = (await client.delete(f"/api/admin/contents/{data['id']}", headers=admin)).json()
    assert again["data"]["updated_at"] == deleted["updated_at"]
    r = await client.post(f"/api/admin/contents/{data['id']}/restore", headers=admin)
    restored = r.json()["data"]
    assert restored["deleted_at"] is None and restored["updated_at"] > deleted["updated_at"]
    assert len(await audit_rows(engine, "content.delete")) == 1
    assert len(await audit_rows(engine, "content.restore")) == 1
