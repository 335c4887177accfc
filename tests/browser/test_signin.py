"""The pages' sign-in in Chromium against a real api (REFRESH_COOKIE=1) and the real local
OpenID Connect provider process (devkit/servers/oidc.py): password sign-in, the refusal that
never says which part was wrong, a reload that signs in again through the httpOnly refresh
cookie, sign-out, and a social sign-in clicked through to the console; the same on the
player, whose page is on the hub's origin (login and refresh cross-origin, credentialed
CORS). The access token is never in the page's storage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from devkit.servers import free_port
from tests.browser.conftest import FAST, screenshot
from tests.browser.test_player import wait_for

PASSWORD = "correct horse battery"
SECRET = "test-secret"


@dataclass
class SignInStack:
    api: Any
    hub: Any
    oidc: Any

    @property
    def admin(self) -> str:
        return f"{self.api.url}/admin"

    def player(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"api": self.api.url, **params}.items())
        return f"{self.hub.url}/player?{query}"


@pytest.fixture
def signin_stack(spawn: Callable[..., Any]) -> Callable[..., SignInStack]:
    """`signin_stack(consent=False)`: the OIDC stand-in (with its consent page, or
    consenting at once), a hub and an api with the FAST timings and the refresh cookie on,
    Google configured against the stand-in, and both pages as result pages."""

    def start(*, consent: bool = False) -> SignInStack:
        oidc = spawn(
            "devkit.servers.oidc:create_app",
            env_overrides={"OIDC_CLIENT_SECRET": SECRET, "OIDC_CONSENT": "1" if consent else "0"},
            extra_args=["--factory"],
        )
        api_port, hub_port = free_port(), free_port()
        api_url, hub_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{hub_port}"
        env = {
            **FAST,
            "REFRESH_COOKIE": "1",
            "CORS_ORIGINS": hub_url,
            "OAUTH_GOOGLE_CLIENT_ID": "google-client",
            "OAUTH_GOOGLE_CLIENT_SECRET": SECRET,
            "OAUTH_GOOGLE_ISSUER": oidc.url,
            "OAUTH_GOOGLE_REDIRECT_URL": f"{api_url}/api/auth/google/callback",
            "OAUTH_RESULT_URL": f"{api_url}/admin,{hub_url}/player?api={api_url}",
        }
        hub = spawn("realtime.app:app", env, port=hub_port)
        api = spawn("api.app:app", env, port=api_port)
        return SignInStack(api, hub, oidc)

    return start


async def account(s: SignInStack, engine: Any, email: str, roles: tuple[str, ...]) -> int:
    """An account with PASSWORD, registered through the api, then given `roles`."""
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{s.api.url}/api/auth/register", json={"email": email, "password": PASSWORD}
        )
    assert r.status_code == 201, r.text
    user_id = int(r.json()["data"]["id"])
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET roles = :r WHERE id = :id"), {"r": list(roles), "id": user_id}
        )
    return user_id


async def sign_in(page: Any, email: str, password: str) -> None:
    await page.wait_for_selector("#signin-form")
    await page.fill("#signin-email", email)
    await page.fill("#signin-password", password)
    await page.press("#signin-password", "Enter")  # the keyboard submits


async def stored(page: Any) -> str:
    """Everything the page keeps in its storage (the token must never be there)."""
    return str(
        await page.evaluate(
            "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
    )


async def test_password_sign_in_reload_and_sign_out(signin_stack, open_page, engine) -> None:  # type: ignore[no-untyped-def]
    """Email + password opens the console; the refresh token is only an httpOnly cookie and
    the access token is in no storage; a reload signs in again without the form; sign-out
    revokes, clears the cookie and shows the sign-in screen, and a reload stays signed out."""
    s = signin_stack()
    await account(s, engine, "ops@example.com", ("admin", "viewer"))
    page = await open_page(s.admin)
    await wait_for(page, "window.adminConsole.signInShown")
    assert await page.is_visible("#signin-form") and not await page.is_visible("#sections")
    await sign_in(page, "Ops@Example.com", PASSWORD)
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#auth-state") == "admin"
    assert await page.evaluate("() => document.activeElement.id") == "live-title"
    assert not await page.is_visible("#signin-form")
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "refresh_token"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/auth/refresh"
    assert "eyJ" not in await stored(page)
    assert await page.evaluate("() => document.cookie") == ""

    await page.reload()
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#auth-state") == "admin"
    assert not await page.is_visible("#signin-form")

    await page.click("#sign-out")
    await page.wait_for_selector("#signin-form")
    assert not await page.is_visible("#sections")
    assert await page.text_content("#auth-state") == "signed out"
    assert [c for c in await page.context.cookies() if c["name"] == "refresh_token"] == []
    await page.reload()
    await wait_for(page, "window.adminConsole.signInShown")
    assert not await page.is_visible("#sections")


async def test_an_expired_access_token_is_renewed_through_the_cookie(
    signin_stack, open_page, engine, token
) -> None:  # type: ignore[no-untyped-def]
    """A call refused because the access token in memory expired renews it through the
    refresh cookie once and asks again: the console goes on without asking to sign in."""
    s = signin_stack()
    user_id = await account(s, engine, "ops@example.com", ("admin",))
    page = await open_page(s.admin)
    await sign_in(page, "ops@example.com", PASSWORD)
    await wait_for(page, "window.adminConsole.ready")
    expired = token(user_id, roles=("admin",), ttl_s=60, now=int(time.time()) - 3600)
    await page.evaluate("(t) => { window.adminConsole.session.token = t; }", expired)
    await page.select_option("#lang", "ko")  # redraws and loads every section again
    await page.wait_for_selector("#users-title >> text=사용자")
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#auth-state") == "관리자"
    assert await page.evaluate("() => window.adminConsole.session.token") != expired
    assert await page.is_visible("#sections") and not await page.is_visible("#signin-form")


async def test_wrong_password_says_neither_which_part(
    signin_stack, open_page, engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A wrong password and an unknown email get the same message, in a role=alert line
    both fields point at (aria-invalid, aria-describedby); empty fields are named one by
    one; a viewer account is told the console is for administrators."""
    s = signin_stack()
    await account(s, engine, "ops@example.com", ("admin",))
    await account(s, engine, "viewer@example.com", ("viewer",))
    page = await open_page(s.admin)
    await page.wait_for_selector("#signin-form")
    await page.click("#signin-submit")
    assert await page.get_attribute("#signin-email", "aria-invalid") == "true"
    assert await page.text_content("#signin-email-error") == "Enter your email."
    assert await page.text_content("#signin-password-error") == "Enter your password."
    assert await page.evaluate("() => document.activeElement.id") == "signin-email"

    messages = []
    for email, password in (
        ("ops@example.com", "not the password"),
        ("nobody@example.com", PASSWORD),
    ):
        await sign_in(page, email, password)
        await page.wait_for_selector("#signin-alert:not(:empty)")
        messages.append(await page.text_content("#signin-alert"))
        assert await page.get_attribute("#signin-alert", "role") == "alert"
        for field in ("#signin-email", "#signin-password"):
            assert await page.get_attribute(field, "aria-invalid") == "true"
            assert await page.get_attribute(field, "aria-describedby") == "signin-alert"
        await page.evaluate("() => { document.getElementById('signin-alert').textContent = ''; }")
    assert messages == ["The email or the password is not right."] * 2
    await page.fill("#signin-password", "not the password")
    await page.press("#signin-password", "Enter")
    await page.wait_for_selector("#signin-alert:not(:empty)")
    await screenshot(page, "signin", tmp_path)  # docs/screenshots/signin.png

    await sign_in(page, "viewer@example.com", PASSWORD)
    await page.wait_for_selector("#signin-alert:has-text('not an administrator')")
    assert not await page.is_visible("#sections")


async def test_social_sign_in_clicks_through_to_the_console(
    signin_stack, open_page, engine
) -> None:  # type: ignore[no-untyped-def]
    """The Google button goes to the api's start, the real provider process (its consent
    page: Allow) and the callback, which lands back on the console signed in; the tokens
    left the address bar, and a reload stays signed in through the refresh cookie."""
    s = signin_stack(consent=True)
    user_id = await account(s, engine, "ops@example.com", ("admin", "viewer"))
    async with engine.begin() as conn:  # the admin linked Google before (the stand-in's user-1)
        await conn.execute(
            text(
                "INSERT INTO user_identities (user_id, provider, subject, email, email_verified)"
                " VALUES (:u, 'google', 'user-1', 'user-1@example.com', true)"
            ),
            {"u": user_id},
        )
    page = await open_page(s.admin)
    button = page.locator("#signin-providers a[data-provider=google]")
    assert await button.text_content() == "Sign in with Google"
    await button.focus()
    await page.keyboard.press("Enter")  # a link: the keyboard follows it
    await page.wait_for_url(f"{s.oidc.url}/authorize**")
    await page.click("text=Allow")
    await page.wait_for_url(f"{s.admin}**")
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#auth-state") == "admin"
    assert "access_token" not in page.url and "eyJ" not in await stored(page)
    await page.reload()
    await wait_for(page, "window.adminConsole.ready")
    assert await page.text_content("#auth-state") == "admin"


async def test_declined_social_sign_in_lands_on_the_sign_in_screen(signin_stack, open_page) -> None:  # type: ignore[no-untyped-def]
    """Deny at the provider: back on the console's sign-in screen with the reason."""
    s = signin_stack(consent=True)
    page = await open_page(s.admin)
    await page.click("#signin-providers a[data-provider=google]")
    await page.click("text=Deny")
    await page.wait_for_url(f"{s.admin}**")
    await page.wait_for_selector("#signin-alert:not(:empty)")
    assert "declined" in (await page.text_content("#signin-alert") or "")
    assert "error=" not in page.url


async def published(s: SignInStack, admin_token: str) -> int:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{s.api.url}/api/admin/contents",
            json={"title": "Clip", "source_url": "https://example.test/v.mp4", "duration_s": 60},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])


async def test_player_signs_in_renews_after_a_reload_and_signs_out(
    signin_stack, open_page, engine, token
) -> None:  # type: ignore[no-untyped-def]
    """The player (hub origin) signs in against the api (another origin), watches and earns;
    a reload signs in again through the refresh cookie and earns again; sign-out ends it."""
    s = signin_stack()
    cid = await published(s, token(1, roles=("admin",)))
    user_id = await account(s, engine, "kim@example.com", ("viewer",))
    page = await open_page(s.player(content=str(cid)))
    await wait_for(page, "window.watchPlayer.signInShown")
    assert not await page.is_visible("#catalog")
    await sign_in(page, "kim@example.com", PASSWORD)
    await wait_for(page, "window.watchPlayer.rewards.length >= 1")
    assert await page.text_content("#who") == f"Signed in as user {user_id}"
    assert "eyJ" not in await stored(page)

    await page.reload()
    await wait_for(page, "window.watchPlayer.signedIn")
    assert not await page.is_visible("#signin-form")
    await wait_for(page, "window.watchPlayer.rewards.length >= 1")

    await page.click("#sign-out")
    await page.wait_for_selector("#signin-form")
    assert not await page.is_visible("#catalog")
    await page.reload()
    await wait_for(page, "window.watchPlayer.signInShown")
    assert not await page.is_visible("#catalog")


async def test_player_social_sign_in_lands_back_on_the_player(signin_stack, open_page) -> None:  # type: ignore[no-untyped-def]
    """The player's Google button comes back to the player (its api base kept), signed in as
    the provider's person (a new viewer account)."""
    s = signin_stack(consent=True)
    page = await open_page(s.player())
    await page.click("#signin-providers a[data-provider=google]")
    await page.click("text=Allow")
    await page.wait_for_url(f"{s.hub.url}/player**")
    await wait_for(page, "window.watchPlayer.signedIn")
    assert "access_token" not in page.url
    assert (await page.text_content("#who") or "").startswith("Signed in as user ")
