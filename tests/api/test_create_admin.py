"""`python -m api create-admin`: the first admin of a fresh deployment, as an operator
runs it (a real process with the deployed environment); run again it resets the password
(the way back in), and without a password source it refuses clearly."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

FIRST, SECOND = "first password 1", "second password 2"


def run(spawn_cmd: Any, email: str, **env: str) -> Any:
    proc = spawn_cmd(["python", "-m", "api", "create-admin", "--email", email], env)
    proc.wait(60)
    return proc


async def login(client: Any, password: str) -> Any:
    return await client.post(
        "/api/auth/login", json={"email": "boss@example.com", "password": password}
    )


async def test_create_admin_then_reset(spawn_cmd, client, engine):
    """Created with ADMIN_PASSWORD: the admin logs in with role admin, audited as
    admin.create; run again with another password it updates the same account."""
    proc = run(spawn_cmd, "Boss@Example.com", ADMIN_PASSWORD=FIRST)
    assert proc.returncode == 0, proc.output_tail()
    assert "created" in proc.stdout_text()
    r = await login(client, FIRST)
    assert r.status_code == 200 and r.json()["data"]["roles"] == ["admin"]
    proc = run(spawn_cmd, "boss@example.com", ADMIN_PASSWORD=SECOND)
    assert proc.returncode == 0 and "updated" in proc.stdout_text()
    assert (await login(client, FIRST)).status_code == 401
    assert (await login(client, SECOND)).status_code == 200
    async with engine.connect() as conn:
        users = (await conn.execute(text("SELECT count(*) FROM users"))).scalar()
        made = (
            await conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'admin.create'"))
        ).scalar()
    assert (users, made) == (1, 2)


async def test_create_admin_refuses_without_a_password(spawn_cmd, engine):
    """No ADMIN_PASSWORD and no terminal to ask on: a clear refusal, no account; a short
    password is refused too."""
    proc = run(spawn_cmd, "boss@example.com")
    assert proc.returncode != 0 and "ADMIN_PASSWORD" in proc.stderr_text()
    proc = run(spawn_cmd, "boss@example.com", ADMIN_PASSWORD="short")
    assert proc.returncode != 0 and "8 to 256" in proc.stderr_text()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 0
