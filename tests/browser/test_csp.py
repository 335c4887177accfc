"""The pages' Content-Security-Policy (core/web/pages.py): sent with both pages, without
'unsafe-inline' or 'unsafe-eval', and Chromium reports no violation while the pages work: the
console's sign-in screen and every section with its charts, the player watching until a
reward."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.test_player import wait_for

# Each violation the page sees, kept for the test to read (an init script runs before the
# page's own and is not subject to its policy).
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def directives(policy: str) -> dict[str, str]:
    out = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


async def test_both_pages_send_a_policy_without_inline_script_or_style(stack: Any) -> None:
    s = stack()
    async with httpx.AsyncClient() as http:
        for url in (f"{s.api.url}/admin", f"{s.hub.url}/player", f"{s.api.url}/static/admin.html"):
            r = await http.get(url)
            assert r.status_code == 200, url
            policy = r.headers["content-security-policy"]
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
            d = directives(policy)
            assert d["script-src"] == "'self'" and d["style-src"] == "'self'", policy
            assert d["object-src"] == "'none'" and d["frame-ancestors"] == "'none'", policy
            assert "<script>" not in r.text and "style=" not in r.text, url
            assert " on" not in r.text.replace(" only", ""), url  # no onclick= and the like


async def open_watched(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    await context.add_init_script(LISTEN)
    page = await context.new_page()
    logged: list[str] = []
    page.on(
        "console",
        lambda m: logged.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: logged.append(str(e)))
    await page.goto(url)
    return context, page, logged


async def test_no_policy_violation_while_the_pages_work(
    stack: Any, browser: Any, token: Any
) -> None:
    s = stack()
    cid = await s.create_content("Launch trailer", tags=["demo"])
    context, page, logged = await open_watched(browser, f"{s.api.url}/admin")
    try:
        await page.wait_for_selector("#signin-form")
        await page.click("#signin-submit")  # field errors drawn too
        await page.wait_for_selector("#signin-email-error")
        await page.goto(s.admin_url())  # the same document (a new fragment): load it again
        await page.reload()
        await wait_for(page, "window.adminConsole.ready")
        await page.wait_for_selector("#charts-panel canvas, #charts-panel svg", timeout=10000)
        await page.select_option("#lang", "ko")
        await wait_for(page, "window.adminConsole.ready")
        assert await page.evaluate("() => window.__csp") == []
        assert logged == []
    finally:
        await context.close()

    context, page, logged = await open_watched(browser, s.player_url(token(21), content=cid))
    try:
        await wait_for(page, "window.watchPlayer.rewards.length >= 1")
        await page.wait_for_selector(f"#catalog li[data-content-id='{cid}']")
        await wait_for(page, "window.watchPlayer.live.length >= 1")
        assert await page.evaluate("() => window.__csp") == []
        assert logged == []
    finally:
        await context.close()
