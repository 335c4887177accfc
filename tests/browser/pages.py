"""Helpers of the console and a11y browser tests: a page in a context with a given width,
colour scheme and language, axe-core run on it (devkit/vendor/axe-core, injected from the
repo: no network), and the page's horizontal overflow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parents[2] / "devkit" / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def themed(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """`await themed(url, width=..., scheme="light"|"dark", lang="en"|"ko")`: a page in a
    fresh context whose viewport, `prefers-color-scheme` and browser language are those."""
    contexts: list[Any] = []

    async def open_(
        url: str, viewport: dict[str, int] | None = None, scheme: str = "light", lang: str = "en"
    ) -> Any:
        context = await browser.new_context(
            viewport=viewport or DESKTOP,
            color_scheme=scheme,
            locale="ko-KR" if lang == "ko" else "en-US",
        )
        contexts.append(context)
        page = await context.new_page()
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()


async def axe_violations(
    page: Any, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[str]:
    """axe-core's violations of `impacts` on the page as it is now, one line each (rule id,
    impact, the first offending nodes)."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: a <script> tag added to the page would be
        # inline script, which the pages' Content-Security-Policy refuses.
        await page.evaluate(AXE.read_text())
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {', '.join(v['nodes'])}"
        for v in result
        if v["impact"] in impacts
    ]


async def overflow_x(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(
        await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )
