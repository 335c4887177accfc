"""Social login against a real OpenID Connect / OAuth 2.0 provider process on loopback
(devkit/servers/oidc.py, RS256 with its own JWKS): the whole redirect dance over HTTP -
start, the provider's authorize, the callback - for Google and Kakao (OpenID Connect) and
Naver (OAuth 2.0 + profile); every failure ends in a clear envelope and leaves no account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app, lifespan
from devkit.servers import free_port

SECRET = "test-secret"
PASSWORD = "correct horse battery"


@pytest.fixture
def oidc(spawn: Callable[..., Any]) -> Any:
    return spawn(
        "devkit.servers.oidc:create_app",
        env_overrides={"OIDC_CLIENT_SECRET": SECRET},
        extra_args=["--factory"],
    )


def provider_env(issuer: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("google", "kakao", "naver"):
        p = f"OAUTH_{name.upper()}_"
        out |= {
            p + "CLIENT_ID": f"{name}-client",
            p + "CLIENT_SECRET": SECRET,
            p + "REDIRECT_URL": f"http://api/api/auth/{name}/callback",
        }
    for name in ("google", "kakao"):
        out[f"OAUTH_{name.upper()}_ISSUER"] = issuer
    out |= {
        "OAUTH_NAVER_AUTHORIZE_URL": f"{issuer}/authorize",
        "OAUTH_NAVER_TOKEN_URL": f"{issuer}/token",
        "OAUTH_NAVER_PROFILE_URL": f"{issuer}/v1/nid/me",
    }
    return out


@pytest.fixture
def social(
    env: dict[str, str], oidc: Any, monkeypatch: pytest.MonkeyPatch, pg_server: Any
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """`async with social(**env) as client`: an api app configured for the three providers
    (issuer: the provider process), with `env` on top, behind a cookie-keeping client."""

    @contextlib.asynccontextmanager
    async def make(**extra: str) -> AsyncIterator[httpx.AsyncClient]:
        for name, value in {**env, **provider_env(oidc.url), **extra}.items():
            monkeypatch.setenv(name, value)
        app = create_app()
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                yield c

    return make


async def to_provider(client: httpx.AsyncClient, provider: str, **test: str) -> str:
    """Start a sign-in and let the provider consent: the callback URL it redirects to."""
    r = await client.get(f"/api/auth/{provider}/start")
    assert r.status_code == 302, r.text
    return await consent(r.headers["location"], **test)


async def consent(authorize_url: str, **test: str) -> str:
    extra = urlencode({f"test_{k}": v for k, v in test.items()})
    async with httpx.AsyncClient() as browser:
        r = await browser.get(f"{authorize_url}&{extra}" if extra else authorize_url)
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def sign_in(client: httpx.AsyncClient, provider: str, **test: str) -> httpx.Response:
    return await client.get(await to_provider(client, provider, **test))


async def count(engine: Any, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def code_of(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


@pytest.mark.parametrize("provider", ["google", "kakao", "naver"])
async def test_sign_in_makes_then_finds_the_account(social, engine, provider):
    """A first sign-in makes an account with the identity; our tokens work (me, refresh);
    the same person again lands on the same account with a new refresh family."""
    async with social() as client:
        r = await sign_in(client, provider, sub="p-42", email="Kim@Example.com")
        assert r.status_code == 200, r.text
        first = r.json()["data"]
        assert first["roles"] == ["viewer"] and first["token_type"] == "bearer"
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        me = await client.get("/api/me", headers=bearer)
        assert me.status_code == 200 and me.json()["data"]["id"] == first["user_id"]
        listed = (await client.get("/api/me/identities", headers=bearer)).json()["data"]
        assert [i["provider"] for i in listed["items"]] == [provider]
        again = (await sign_in(client, provider, sub="p-42")).json()["data"]
        assert again["user_id"] == first["user_id"]
        assert again["refresh_token"] != first["refresh_token"]
        r = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 200
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT email FROM users"))).one()
        ident = (
            await conn.execute(
                text("SELECT provider, subject, email_verified FROM user_identities")
            )
        ).one()
    # Naver says nothing about verification: its email is kept on the identity only.
    assert row.email == (None if provider == "naver" else "kim@example.com")
    assert tuple(ident) == (provider, "p-42", provider != "naver")
    assert await count(engine, "refresh_tokens") == 3


async def test_denied_consent_makes_nothing(social, engine):
    """The person declines at the provider: 403 consent_denied, no account."""
    async with social() as client:
        r = await sign_in(client, "google", deny="1")
    assert code_of(r) == (403, "consent_denied")
    assert "declined" in r.json()["error"]["message"]
    assert await count(engine, "users") == 0


async def test_state_is_single_use_and_bound_to_the_browser(social, engine):
    """A callback replayed, with a forged state, or in a browser that did not start the
    sign-in, is refused with bad_state; only the genuine first one signs in."""
    async with social() as client:
        back = await to_provider(client, "google")
        async with httpx.AsyncClient(
            transport=client._transport, base_url="http://api"
        ) as other_browser:
            r = await other_browser.get(back)
            assert code_of(r) == (400, "bad_state")
        assert (await client.get(back)).status_code == 200
        r = await client.get(back)
        assert code_of(r) == (400, "bad_state")
        forged = back.replace("state=", "state=x")
        assert code_of(await client.get(forged)) == (400, "bad_state")
    assert await count(engine, "users") == 1


async def test_replayed_code_is_refused(social, engine):
    """A code already traded, presented again under a fresh state of the same browser: the
    provider refuses it and the sign-in fails with sign_in_failed, no second account."""
    async with social() as client:
        back = await to_provider(client, "kakao", sub="a")
        assert (await client.get(back)).status_code == 200
        used = parse_qs(urlsplit(back).query)["code"][0]
        fresh = parse_qs(urlsplit(await to_provider(client, "kakao", sub="b")).query)
        r = await client.get(f"/api/auth/kakao/callback?code={used}&state={fresh['state'][0]}")
    assert code_of(r) == (400, "sign_in_failed")
    assert await count(engine, "users") == 1


@pytest.mark.parametrize(
    ("test", "why"), [({"nonce": "another"}, "nonce"), ({"aud": "someone-else"}, "aud")]
)
async def test_id_token_of_another_sign_in_is_refused(social, engine, test, why):
    """An ID token with a nonce that is not this sign-in's, or for another client, fails
    verification: sign_in_failed, no account."""
    async with social() as client:
        r = await sign_in(client, "google", **test)
    assert code_of(r) == (400, "sign_in_failed")
    assert await count(engine, "users") == 0


async def test_slow_or_down_provider_is_a_clear_502(social, engine):
    """A token endpoint slower than OAUTH_TIMEOUT_MS, or a provider that is not there at
    all: 502 provider_unavailable, never a 500, no account."""
    async with social(OAUTH_TIMEOUT_MS="300") as client:
        r = await sign_in(client, "naver", delay_s="2")
        assert code_of(r) == (502, "provider_unavailable")
    down = f"http://127.0.0.1:{free_port()}"
    async with social(OAUTH_GOOGLE_ISSUER=down) as client:
        r = await client.get("/api/auth/google/start")
        assert code_of(r) == (502, "provider_unavailable")
        r = await client.get("/api/auth/github/start")
        assert code_of(r) == (404, "not_found")
    assert await count(engine, "users") == 0


async def test_verified_email_of_an_account_links_only_when_signed_in(social, engine):
    """A provider's verified email that belongs to a password account: no silent link
    (409 account_exists, nothing written). Signed in to that account, the person links
    the provider; from then on the provider signs in to it."""
    async with social() as client:
        r = await client.post(
            "/api/auth/register", json={"email": "lee@example.com", "password": PASSWORD}
        )
        user_id = r.json()["data"]["id"]
        r = await sign_in(client, "google", sub="g-lee", email="LEE@example.com")
        assert code_of(r) == (409, "account_exists")
        assert await count(engine, "user_identities") == 0
        assert await count(engine, "users") == 1
        login = await client.post(
            "/api/auth/login", json={"email": "lee@example.com", "password": PASSWORD}
        )
        bearer = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
        r = await client.post("/api/auth/google/link", headers=bearer)
        assert r.status_code == 200, r.text
        back = await consent(
            r.json()["data"]["authorize_url"], sub="g-lee", email="lee@example.com"
        )
        r = await client.get(back)
        assert r.status_code == 200 and r.json()["data"]["user_id"] == user_id
        r = await sign_in(client, "google", sub="g-lee", email="lee@example.com")
        assert r.json()["data"]["user_id"] == user_id
        # an unverified email never blocks: a new person without an email on the account
        r = await sign_in(client, "kakao", sub="k-2", email="lee@example.com", email_verified="0")
        assert r.status_code == 200 and r.json()["data"]["user_id"] != user_id
    assert await count(engine, "users") == 2


async def test_identity_of_another_account_does_not_move(social, engine):
    """Linking a provider account that signs in to someone else already: 409 conflict."""
    async with social() as client:
        await sign_in(client, "google", sub="taken")
        r = await sign_in(client, "kakao", sub="me")
        bearer = {"Authorization": f"Bearer {r.json()['data']['access_token']}"}
        r = await client.post("/api/auth/google/link", headers=bearer)
        r = await client.get(await consent(r.json()["data"]["authorize_url"], sub="taken"))
    assert code_of(r) == (409, "conflict")
    async with engine.connect() as conn:
        owners = (
            await conn.execute(text("SELECT count(DISTINCT user_id) FROM user_identities"))
        ).scalar()
    assert owners == 2


async def test_unlink_never_the_last_way_in(social, engine):
    """A provider-only account cannot unlink its only provider (409); with two linked it
    unlinks one, and the other still signs in."""
    async with social() as client:
        r = await sign_in(client, "naver", sub="n-1")
        user_id = r.json()["data"]["user_id"]
        bearer = {"Authorization": f"Bearer {r.json()['data']['access_token']}"}
        r = await client.delete("/api/me/identities/naver", headers=bearer)
        assert code_of(r) == (409, "conflict")
        r = await client.post("/api/auth/kakao/link", headers=bearer)
        await client.get(await consent(r.json()["data"]["authorize_url"], sub="k-1"))
        r = await client.delete("/api/me/identities/naver", headers=bearer)
        assert r.status_code == 200, r.text
        r = await client.delete("/api/me/identities/naver", headers=bearer)
        assert code_of(r) == (404, "not_found")
        listed = (await client.get("/api/me/identities", headers=bearer)).json()["data"]
        assert [i["provider"] for i in listed["items"]] == ["kakao"]
        assert (await sign_in(client, "kakao", sub="k-1")).json()["data"]["user_id"] == user_id
        r = await sign_in(client, "naver", sub="n-1")
        assert r.json()["data"]["user_id"] != user_id  # unlinked: a new person now


async def test_concurrent_first_sign_ins_make_one_account(social, engine):
    """The same new person finishing sign-in in two browsers at once: one account, one
    identity, both signed in to it."""
    async with (
        social() as laptop,
        httpx.AsyncClient(transport=laptop._transport, base_url="http://api") as phone,
    ):
        backs = [await to_provider(c, "google", sub="twin") for c in (laptop, phone)]
        results = await asyncio.gather(laptop.get(backs[0]), phone.get(backs[1]))
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert len({r.json()["data"]["user_id"] for r in results}) == 1
    assert (await count(engine, "users"), await count(engine, "user_identities")) == (1, 1)


async def test_result_page_gets_tokens_in_the_fragment_and_refresh_cookie(social, engine):
    """With OAUTH_RESULT_URL and REFRESH_COOKIE: the callback redirects (303) to the page
    with the access token in the fragment, the refresh token only in an httpOnly,
    SameSite=Strict cookie scoped to the refresh route, which refreshes with an empty body
    and signs out with DELETE; a failure lands on the page with its code."""
    page = "https://app.example/signed-in"
    async with social(OAUTH_RESULT_URL=page, REFRESH_COOKIE="1") as client:
        r = await sign_in(client, "google", sub="page-1")
        assert r.status_code == 303
        where = urlsplit(r.headers["location"])
        handed = parse_qs(where.fragment)
        assert f"{where.scheme}://{where.netloc}{where.path}" == page
        assert "refresh_token" not in handed and handed["provider"] == ["google"]
        me = await client.get(
            "/api/me", headers={"Authorization": f"Bearer {handed['access_token'][0]}"}
        )
        assert me.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        for part in (
            "refresh_token=",
            "httponly",
            "samesite=strict",
            "path=/api/auth/refresh",
            "secure",
        ):
            assert part in cookie, cookie
        # (the cookie is Secure: over this test's plain http it is sent by hand)
        jar = {
            "Cookie": "refresh_token="
            + r.headers["set-cookie"].split("refresh_token=")[1].split(";")[0]
        }
        r = await client.post("/api/auth/refresh", headers=jar)
        assert r.status_code == 200, r.text
        jar = {"Cookie": f"refresh_token={r.json()['data']['refresh_token']}"}
        r = await client.delete("/api/auth/refresh", headers=jar)
        assert r.status_code == 200 and "refresh_token=" in r.headers["set-cookie"]
        assert (await client.post("/api/auth/refresh", headers=jar)).status_code == 401
        r = await sign_in(client, "google", deny="1")
        assert r.status_code == 303
        assert parse_qs(urlsplit(r.headers["location"]).fragment)["error"] == ["consent_denied"]
    assert await count(engine, "users") == 1


async def test_the_dance_against_a_real_api_process(spawn, oidc, engine):
    """The whole redirect dance over real HTTP between two real processes (the api as
    deployed and the provider), the browser being an httpx client that keeps cookies and
    follows nothing by itself: start, authorize, callback, then /api/me."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = provider_env(oidc.url) | {"OAUTH_GOOGLE_REDIRECT_URL": f"{base}/api/auth/google/callback"}
    api = spawn("api.app:app", env_overrides=env, port=port)
    async with httpx.AsyncClient(base_url=api.url) as browser:
        r = await browser.get("/api/auth/google/start")
        assert r.status_code == 302 and r.headers["location"].startswith(oidc.url)
        r = await browser.get(r.headers["location"] + "&test_sub=real-1")
        assert r.status_code == 302 and r.headers["location"].startswith(base)
        r = await browser.get(r.headers["location"])
        assert r.status_code == 200, r.text
        bearer = {"Authorization": f"Bearer {r.json()['data']['access_token']}"}
        assert (await browser.get("/api/me", headers=bearer)).status_code == 200
    assert await count(engine, "user_identities") == 1


async def test_providers_route_names_what_is_configured(social):
    """GET /api/auth/providers (public) lists the configured providers in a fixed order with
    the start URL of each button, and says whether the refresh cookie is on; nothing of a
    client's configuration (id, secret) is in it."""
    async with social(REFRESH_COOKIE="1") as client:
        r = await client.get("/api/auth/providers")
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["password"] is True and data["refresh_cookie"] is True
        assert [(p["name"], p["start_url"]) for p in data["providers"]] == [
            (name, f"/api/auth/{name}/start") for name in ("google", "kakao", "naver")
        ]
        assert SECRET not in r.text and "google-client" not in r.text
    async with social(
        OAUTH_KAKAO_CLIENT_ID="", OAUTH_NAVER_CLIENT_ID="", REFRESH_COOKIE="0"
    ) as client:
        data = (await client.get("/api/auth/providers")).json()["data"]
        assert [p["name"] for p in data["providers"]] == ["google"]
        assert data["refresh_cookie"] is False


async def test_return_to_picks_one_of_the_result_pages_only(social, engine):
    """With several OAUTH_RESULT_URL pages, `?return_to=` on the start picks where the
    callback lands (the tokens, or an error); any other address lands on the first page:
    the start is no open redirect."""
    pages = "https://app.example/admin,https://hub.example/player"
    async with social(OAUTH_RESULT_URL=pages) as client:
        for asked, landed in (
            ("https://hub.example/player", "https://hub.example/player"),
            ("https://evil.example/", "https://app.example/admin"),
            ("", "https://app.example/admin"),
        ):
            r = await client.get("/api/auth/google/start", params={"return_to": asked})
            r = await client.get(await consent(r.headers["location"], sub="rt-1"))
            assert r.status_code == 303
            assert r.headers["location"].split("#")[0] == landed
            assert "access_token=" in r.headers["location"]
        r = await client.get("/api/auth/google/start", params={"return_to": pages.split(",")[1]})
        r = await client.get(await consent(r.headers["location"], deny="1"))
        assert r.headers["location"].startswith("https://hub.example/player#error=consent_denied")
