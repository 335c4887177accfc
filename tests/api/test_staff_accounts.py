"""Staff accounts for admins: list, create, invite (the invitee sets the password once),
re-role; all audited; the last active admin can be neither demoted nor blocked, also when
two demotions race (real concurrent requests)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

PASSWORD = "correct horse battery"


async def staff(engine: Any, email: str, roles: list[str]) -> int:
    async with engine.begin() as conn:
        row = await conn.execute(
            text("INSERT INTO users (email, roles) VALUES (:e, :r) RETURNING id"),
            {"e": email, "r": roles},
        )
        return int(row.scalar_one())


async def actions(engine: Any) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT action, target FROM audit_log ORDER BY id"))
        return [tuple(r) for r in rows]


async def active_admins(engine: Any) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id FROM users WHERE 'admin' = ANY(roles) AND blocked_at IS NULL")
        )
        return sorted(r[0] for r in rows)


async def test_create_list_and_sign_in(client, admin, engine):
    """An admin creates an advertiser with a password (201, audited); it is listed among
    staff with its roles, and it can log in; a second account with that email: 409."""
    body = {"email": "Ads@Example.com", "roles": ["advertiser"], "password": PASSWORD}
    r = await client.post("/api/admin/accounts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()["data"]
    assert made["invite_token"] is None
    assert made["account"]["email"] == "ads@example.com" and made["account"]["has_password"]
    listed = (await client.get("/api/admin/accounts?role=advertiser", headers=admin)).json()
    assert [a["id"] for a in listed["data"]["items"]] == [made["account"]["id"]]
    r = await client.post(
        "/api/auth/login", json={"email": "ads@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200 and r.json()["data"]["roles"] == ["advertiser"]
    r = await client.post("/api/admin/accounts", json=body, headers=admin)
    assert r.status_code == 409
    assert ("account.create", f"user:{made['account']['id']}") in await actions(engine)


async def test_invite_is_accepted_once(client, admin, engine):
    """Without a password the account is invited: the invite token sets the password once
    and signs the invitee in; used again it is refused."""
    body = {"email": "new-admin@example.com", "roles": ["admin"]}
    r = await client.post("/api/admin/accounts", json=body, headers=admin)
    invite = r.json()["data"]["invite_token"]
    assert invite and r.json()["data"]["account"]["has_password"] is False
    accept = {"invite_token": invite, "password": PASSWORD}
    r = await client.post("/api/auth/invite", json=accept)
    assert r.status_code == 200 and r.json()["data"]["roles"] == ["admin"]
    r = await client.post("/api/auth/invite", json={**accept, "password": "another-one-1"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await client.post(
        "/api/auth/login", json={"email": "new-admin@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200
    assert ("account.invite", f"user:{r.json()['data']['user_id']}") in await actions(engine)


async def test_re_role_is_audited_and_reaches_the_next_refresh(client, admin, engine):
    """A viewer made advertiser: audited with before and after, and the account's next
    refresh carries the new role."""
    await client.post("/api/auth/register", json={"email": "v@example.com", "password": PASSWORD})
    login = (
        await client.post("/api/auth/login", json={"email": "v@example.com", "password": PASSWORD})
    ).json()["data"]
    r = await client.put(
        f"/api/admin/accounts/{login['user_id']}/roles",
        json={"roles": ["viewer", "advertiser"]},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["data"]["roles"] == ["viewer", "advertiser"]
    r = await client.post("/api/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert r.json()["data"]["roles"] == ["viewer", "advertiser"]
    assert ("account.roles", f"user:{login['user_id']}") in await actions(engine)


async def test_last_admin_is_neither_demoted_nor_blocked(client, auth, engine):
    """The only active admin: demotion and block are refused with 409, nothing changes."""
    only = await staff(engine, "root@example.com", ["admin"])
    other = await staff(engine, "helper@example.com", ["viewer"])
    headers = auth(only, ("admin",))
    r = await client.put(
        f"/api/admin/accounts/{only}/roles", json={"roles": ["viewer"]}, headers=headers
    )
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    # an admin token of another user (an externally issued one: its row is a viewer's)
    r = await client.post(f"/api/admin/users/{only}/block", headers=auth(other, ("admin",)))
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")
    assert await active_admins(engine) == [only]
    assert await actions(engine) == []


async def test_two_concurrent_demotions_leave_one_admin(client, auth, engine):
    """Two admins demote each other at the same moment: exactly one demotion succeeds,
    the other is refused (409), and one active admin remains."""
    for _ in range(5):
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE users, audit_log RESTART IDENTITY CASCADE"))
        a = await staff(engine, "a@example.com", ["admin"])
        b = await staff(engine, "b@example.com", ["admin"])
        results = await asyncio.gather(
            client.put(
                f"/api/admin/accounts/{b}/roles",
                json={"roles": ["viewer"]},
                headers=auth(a, ("admin",)),
            ),
            client.put(
                f"/api/admin/accounts/{a}/roles",
                json={"roles": ["viewer"]},
                headers=auth(b, ("admin",)),
            ),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        assert len(await active_admins(engine)) == 1
