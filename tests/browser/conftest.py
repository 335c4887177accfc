"""Browser tests: Debian's Chromium, headless, driven by Playwright (the PyPI package, pointed
at the system binary: Playwright's own browser download does not work here), against real hub
and api processes on real Redis and PostgreSQL.

`stack()` starts a hub, an api and a worker (so that what the page earned reaches the
ledger) that share short timings; `open_page(url)` opens a page in
a fresh browser context and, when the test fails, prints what the page logged.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"

# Chromium as the machine notes say it runs here: no sandbox as root, no GPU, and nothing that
# phones home (the network is closed: those connections would only fail, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a small /dev/shm (containers) must not crash the renderer
    "--autoplay-policy=no-user-gesture-required",
]

# Short timings: rewards every second, heartbeats every 300 ms. Hub and api share them
# (the api's live view walks REDIS_PARTITIONS partitions, so it must match the hub's).
FAST = {
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": "300",
    "SESSION_TTL_MS": "5000",
    "CONTROL_POLL_MS": "500",
    "REDIS_PARTITIONS": "8",
    "DRAIN_SECONDS": "1",
}


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium not found: `bash scripts/install.sh` installs Debian's chromium")
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the session (each test gets its own context: a fresh
    profile, so no storage leaks between tests)."""
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    try:
        b = await pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield b
        finally:
            await b.close()
    finally:
        await pw.stop()


@dataclass
class Stack:
    hub: Any
    api: Any
    admin_token: str
    hub_env: dict[str, str]  # to start another hub like this one

    def player_url(self, token: str, **params: Any) -> str:
        # The token goes in the fragment: the page reads it, no server ever logs it.
        query = "&".join(f"{k}={v}" for k, v in {"api": self.api.url, **params}.items())
        return f"{self.hub.url}/player?{query}#token={token}"

    def admin_url(self) -> str:
        return f"{self.api.url}/admin#token={self.admin_token}"

    async def create_content(self, title: str = "Clip", **fields: Any) -> int:
        """A published content, created the supported way (the admin api)."""
        body = {"title": title, "source_url": "https://example.test/v.mp4", "duration_s": 60}
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{self.api.url}/api/admin/contents",
                json={**body, **fields},
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
        assert r.status_code == 201, r.text
        return int(r.json()["data"]["id"])

    async def create_ad(self, advertiser_token: str, title: str) -> int:
        """An ad waiting for approval, created by an advertiser through the api."""
        body = {
            "title": title,
            "creative_url": "https://example.test/ad.mp4",
            "placement": "preroll",
            "billing": "cpm",
            "price_micros": 2_000_000,
            "budget_micros": 50_000_000,
        }
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{self.api.url}/api/advertiser/ads",
                json=body,
                headers={"Authorization": f"Bearer {advertiser_token}"},
            )
        assert r.status_code == 201, r.text
        return int(r.json()["data"]["id"])


@pytest.fixture
def stack(
    spawn: Callable[..., Any], worker: Callable[..., Any], token: Callable[..., str]
) -> Callable[..., Stack]:
    """`stack(**env)`: a hub, an api and a worker with the FAST timings (plus overrides); the
    api allows the hub's origin (CORS_ORIGINS), so the player page can read the catalog."""

    def start(**overrides: str) -> Stack:
        env = {**FAST, **overrides}
        worker(**{k: v for k, v in env.items() if k == "REDIS_PARTITIONS"})
        hub = spawn("realtime.app:app", env)
        api = spawn("api.app:app", {**env, "CORS_ORIGINS": hub.url})
        return Stack(hub, api, token(1, roles=("admin", "viewer")), env)

    return start


@pytest.fixture
async def open_page(
    browser: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Any]]:
    """`await open_page(url, context=None)`: a page in a new context (or in `context`, for a
    second tab of the same browser profile). Console output is printed if the test fails."""
    contexts: list[Any] = []
    logs: list[str] = []

    async def open_(url: str, context: Any = None) -> Any:
        if context is None:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            contexts.append(context)
        page = await context.new_page()
        n = len(contexts)
        page.on("console", lambda m: logs.append(f"[ctx{n} console.{m.type}] {m.text}"))
        page.on("pageerror", lambda e: logs.append(f"[ctx{n} pageerror] {e}"))
        await page.goto(url)
        return page

    yield open_
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        print("\n===== browser console =====\n" + "\n".join(logs[-200:]))
    for context in contexts:
        await context.close()


async def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a screenshot: into docs/screenshots/ when SCREENSHOTS=1 (to refresh the docs), else
    into the test's tmp folder (so a test run leaves the work tree as it was)."""
    folder = SCREENSHOTS if os.environ.get("SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


from tests.browser.pages import themed  # noqa: E402, F401 - the fixture of the console tests
