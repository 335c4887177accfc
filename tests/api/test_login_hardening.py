"""Login hardening: failures lock an email (existing or not) and an address out with a
growing delay, answered 429 with Retry-After before the password is looked at; the message
never says which part was wrong; admin logins and failed admin logins are audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from api.login_guard import lockout_s

PASSWORD = "correct horse battery"


def test_lockout_grows_then_caps() -> None:
    """No delay below the threshold, then 1 s doubling per failure, never past the cap."""
    assert [lockout_s(n, 3, 10) for n in range(1, 8)] == [0, 0, 1, 2, 4, 8, 10]
    assert lockout_s(10**6, 3, 900) == 900


async def login(client: Any, email: str, password: str) -> Any:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "LOGIN_FAILURES_PER_ACCOUNT": "3", "LOGIN_FAILURES_PER_IP": "1000"}


async def test_account_locked_after_failures_even_with_the_right_password(client):
    """Three wrong passwords: the fourth attempt, even with the right password, is 429 with
    Retry-After; an unknown email gets the same answers (nothing says it does not exist)."""
    await client.post("/api/auth/register", json={"email": "ann@example.com", "password": PASSWORD})
    for email in ("ann@example.com", "nobody@example.com"):
        answers = [await login(client, email, "wrong-password") for _ in range(3)]
        assert [r.status_code for r in answers] == [401, 401, 401]
        assert {r.json()["error"]["message"] for r in answers} == {"invalid email or password"}
        r = await login(client, email, PASSWORD)
        assert (r.status_code, r.json()["error"]["code"]) == (429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        assert "password" not in r.json()["error"]["message"]
    # another account from the same address is not locked by them
    await client.post("/api/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
    assert (await login(client, "bob@example.com", PASSWORD)).status_code == 200


async def test_success_before_the_threshold_resets_the_count(client):
    """Two failures, a success, two failures: never locked (the count starts again)."""
    await client.post("/api/auth/register", json={"email": "cy@example.com", "password": PASSWORD})
    for _ in range(2):
        await login(client, "cy@example.com", "nope-nope")
    assert (await login(client, "cy@example.com", PASSWORD)).status_code == 200
    for _ in range(2):
        assert (await login(client, "cy@example.com", "nope-nope")).status_code == 401
    assert (await login(client, "cy@example.com", PASSWORD)).status_code == 200


async def test_address_locked_after_failures_across_accounts(client, api_app):
    """Past LOGIN_FAILURES_PER_IP failures over many emails, the address is locked for
    every email."""
    import msgspec

    api_app.state.settings = msgspec.structs.replace(
        api_app.state.settings, login_failures_per_ip=4
    )
    for i in range(4):
        assert (await login(client, f"guess{i}@example.com", "x-x-x-x")).status_code == 401
    r = await login(client, "someone-else@example.com", "x-x-x-x")
    assert r.status_code == 429


async def test_admin_logins_are_audited(client, engine):
    """A failed and a successful password login of an admin account are in the audit log
    (with the address); a viewer's are not."""
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO users (email, roles) VALUES ('root@example.com', '{admin}')")
        )
    from api.passwords import hash_password

    hashed = await hash_password(PASSWORD)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET password_hash = :h"), {"h": hashed})
    assert (await login(client, "root@example.com", "wrong-one")).status_code == 401
    assert (await login(client, "root@example.com", PASSWORD)).status_code == 200
    await client.post("/api/auth/register", json={"email": "v@example.com", "password": PASSWORD})
    await login(client, "v@example.com", PASSWORD)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT action, actor_id, after FROM audit_log ORDER BY id"))
        ).all()
    assert [r.action for r in rows] == ["admin.login_failed", "admin.login"]
    assert rows[1].after == {"ip": "127.0.0.1", "method": "password"}
