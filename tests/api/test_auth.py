"""Accounts: register, login, refresh rotation with reuse detection, logout; tokens that
must be refused (expired, forged, alg none, wrong audience, refresh-as-access)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from jose import jwt
from sqlalchemy import text

from devkit.tokens import token_case_names, token_cases

EMAIL, PASSWORD = "Ann@Example.com", "correct horse battery"


async def register(client, email=EMAIL, password=PASSWORD, **extra):
    return await client.post(
        "/api/auth/register", json={"email": email, "password": password, **extra}
    )


async def login(client, email=EMAIL, password=PASSWORD):
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def account(client):
    r = await register(client)
    assert r.status_code == 201, r.text
    r = await login(client)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def test_register_creates_account(client, engine):
    """Register answers 201 with the account (id from 1e9 up, email lower-cased, role
    viewer) and stores an scrypt hash, never the password."""
    r = await register(client)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["id"] >= 1_000_000_000
    assert (data["email"], data["roles"], data["blocked"]) == ("ann@example.com", ["viewer"], False)
    assert data["created_at"].endswith("+09:00")
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM users"))).scalar()
    assert stored.startswith("scrypt$") and PASSWORD not in stored


async def test_register_advertiser(client):
    """An advertiser may sign up; admin cannot be self-assigned."""
    r = await register(client, account_type="advertiser")
    assert r.json()["data"]["roles"] == ["advertiser"]
    r = await register(client, email="b@example.com", account_type="admin")
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, "account_type")


async def test_register_duplicate_email_conflicts(client):
    """The same email (any case) twice: 409 conflict."""
    await register(client)
    r = await register(client, email=" ANN@example.com ")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": EMAIL, "password": "short"}, "password"),
        ({"email": EMAIL}, "password"),
        ({"email": EMAIL, "password": PASSWORD, "extra": 1}, "extra"),
    ],
)
async def test_register_validation(client, body, field):
    """Bad bodies are 400 naming the field."""
    r = await client.post("/api/auth/register", json=body)
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (400, field)


async def test_login_issues_working_tokens(client, settings):
    """Login answers an access token with the account's roles that the api accepts, and a
    refresh token."""
    tokens = await account(client)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    claims = jwt.get_unverified_claims(tokens["access_token"])
    assert claims["sub"] == str(tokens["user_id"]) and claims["roles"] == ["viewer"]
    assert claims["typ"] == "access" and claims["aud"] == settings.jwt_audience
    r = await client.get("/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 200
    assert r.json()["data"]["email"] == "ann@example.com"


async def test_login_wrong_password_or_unknown_email(client):
    """A wrong password and an unknown email get the same 401."""
    await register(client)
    for r in (
        await login(client, password="wrong password"),
        await login(client, email="nobody@example.com"),
    ):
        assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
        assert r.json()["error"]["message"] == "invalid email or password"


async def test_login_blocked_user(client, admin):
    """A blocked account cannot log in (403)."""
    user_id = (await register(client)).json()["data"]["id"]
    await client.post(f"/api/admin/users/{user_id}/block", headers=admin)
    r = await login(client)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")


async def test_refresh_rotates(client):
    """Refresh answers new tokens; the new refresh token works in turn."""
    tokens = await account(client)
    r = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    new = r.json()["data"]
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["user_id"] == tokens["user_id"]
    r = await client.post("/api/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 200


async def test_refresh_reuse_revokes_family(client, engine):
    """Presenting a spent refresh token is 401 and revokes the whole family: the token it
    was exchanged for stops working too; another login's family is untouched."""
    first = await account(client)
    other = (await login(client)).json()["data"]
    second = (
        await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()["data"]
    r = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    r = await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200
    async with engine.connect() as conn:
        revoked = (
            await conn.execute(
                text("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
            )
        ).scalar()
    assert revoked == 2


async def test_concurrent_refresh_of_one_token(client):
    """Two refreshes of the same token at once: at most one succeeds, and the family ends
    revoked (the second is a reuse)."""
    tokens = await account(client)
    body = {"refresh_token": tokens["refresh_token"]}
    results = await asyncio.gather(*(client.post("/api/auth/refresh", json=body) for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 401]
    winner = next(r for r in results if r.status_code == 200).json()["data"]
    r = await client.post("/api/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert r.status_code == 401


async def test_refresh_unknown_and_expired(client, engine):
    """An unknown refresh token is 401 unauthorized, an expired one 401 token_expired."""
    r = await client.post("/api/auth/refresh", json={"refresh_token": "nope"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
    tokens = await account(client)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE refresh_tokens SET expires_at = now() - interval '1s'"))
    r = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "token_expired")


async def test_logout_revokes_family(client):
    """After logout the refresh token (and its family) is refused; logging out twice or
    with an unknown token is fine."""
    tokens = await account(client)
    body = {"refresh_token": tokens["refresh_token"]}
    r = await client.post("/api/auth/logout", json=body)
    assert r.status_code == 200 and r.json() == {"success": True, "data": None}
    assert (await client.post("/api/auth/logout", json=body)).status_code == 200
    assert (await client.post("/api/auth/logout", json={"refresh_token": "x"})).status_code == 200
    r = await client.post("/api/auth/refresh", json=body)
    assert r.status_code == 401


async def test_auth_routes_limited_per_ip(client, monkeypatch):
    """Past AUTH_RATE_LIMIT_PER_MINUTE requests from one address: 429 rate_limited with
    Retry-After (a minute boundary may reset the count once, hence the margin)."""
    ctl = client._transport.app.state.control
    monkeypatch.setattr(
        ctl, "settings", msgspec.structs.replace(ctl.settings, auth_rate_limit_per_minute=3)
    )
    responses = [await login(client, email="x@example.com") for _ in range(8)]
    assert [r.status_code for r in responses[:2]] == [401, 401]
    refused = [r for r in responses if r.status_code == 429]
    assert refused and refused[0].json()["error"]["code"] == "rate_limited"
    assert int(refused[0].headers["retry-after"]) >= 1


async def test_registrations_limited_per_ip_per_hour(client, engine, monkeypatch):
    """Past REGISTER_LIMIT_PER_HOUR new-account attempts from one address: 429 with a
    Retry-After into the hour, and no account made. (An account farm on one address gets
    REGISTER_LIMIT_PER_HOUR accounts an hour, not the auth limit's 20 a minute.)"""
    ctl = client._transport.app.state.control
    monkeypatch.setattr(
        ctl, "settings", msgspec.structs.replace(ctl.settings, register_limit_per_hour=3)
    )
    made = [await register(client, email=f"farm{n}@example.com") for n in range(3)]
    assert [r.status_code for r in made] == [201, 201, 201]
    refused = await register(client, email="farm3@example.com")
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == {"limit": 3, "window_s": 3600}
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    async with engine.connect() as conn:
        emails = (await conn.execute(text("SELECT email FROM users"))).scalars().all()
    assert sorted(emails) == [f"farm{n}@example.com" for n in range(3)]
    assert (await login(client, email="farm0@example.com")).status_code == 200


@pytest.mark.parametrize("name", token_case_names())
async def test_token_matrix(client, settings, name):
    """Each case of the shared token matrix (devkit/tokens.py): 401 token_expired for
    an expired token, 401 unauthorized for every other bad one; the valid control is 200."""
    case = token_cases(settings, 5)[name]
    headers = {} if case.token is None else {"Authorization": f"Bearer {case.token}"}
    r = await client.get("/api/me", headers=headers)
    if case.expect == "accept":
        assert r.status_code == 200, r.text
        return
    expected = "token_expired" if case.expect == "expired" else "unauthorized"
    assert (r.status_code, r.json()["error"]["code"]) == (401, expected), case.why


async def test_real_refresh_token_is_not_an_access_token(client):
    """The refresh token that login hands out is refused where an access token is wanted."""
    tokens = await account(client)
    r = await client.get("/api/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")
