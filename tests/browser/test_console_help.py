"""The console's help center section in headless Chromium against a real stack: categories
and articles made, edited and deleted on the page are the api's; a bad slug is refused on
its field, and a category with articles is not deleted."""

from __future__ import annotations

from typing import Any

from tests.browser.test_console import _get
from tests.browser.test_console_missions import box
from tests.browser.test_player import wait_for


async def test_help_categories_and_articles(stack: Any, open_page: Any) -> None:
    s = stack()
    page = await open_page(s.admin_url())
    await wait_for(page, "window.adminConsole.ready")
    await page.fill("#help-category-slug", "Bad Slug")
    await page.fill("#help-category-title_ko", "보상")
    before = await box(page, "#help")
    await page.click("#help-category-submit")
    await page.wait_for_selector("#help-category-error >> text=lower-case letters")
    assert await page.get_attribute("#help-category-slug", "aria-invalid") == "true"
    assert await box(page, "#help") == before

    await page.fill("#help-category-slug", "rewards")
    await page.select_option("#help-category-status", "published")
    await page.click("#help-category-submit")
    await page.wait_for_selector("#help tr[data-category-id]")
    [cat] = (await _get(s, "/api/admin/help"))["categories"]
    assert (cat["slug"], cat["title_ko"], cat["title_en"], cat["status"]) == (
        "rewards",
        "보상",
        None,
        "published",
    )

    await page.select_option("#help-article-category_id", str(cat["id"]))
    await page.fill("#help-article-question_ko", "코인은 언제 받나요?")
    await page.fill("#help-article-answer_ko", "시청하는 동안 받습니다.")
    await page.click("#help-article-submit")
    await page.wait_for_selector("#help tr[data-article-id]")
    [art] = (await _get(s, "/api/admin/help"))["articles"]
    row = f"#help tr[data-article-id='{art['id']}']"
    await page.click(f"{row} button:has-text('Edit')")
    await page.fill("#help-article-question_en", "When do I get coins?")
    await page.fill("#help-article-answer_en", "While you watch.")
    await page.select_option("#help-article-status", "published")
    await page.click("#help-article-submit")
    await page.wait_for_selector("#help-status >> text=saved")
    [art] = (await _get(s, "/api/admin/help"))["articles"]
    assert (art["category_id"], art["question_en"], art["answer_ko"], art["status"]) == (
        cat["id"],
        "When do I get coins?",
        "시청하는 동안 받습니다.",
        "published",
    )

    cat_row = f"#help tr[data-category-id='{cat['id']}']"
    await page.click(f"{cat_row} button:has-text('Delete')")
    await page.wait_for_selector("#help-status >> text=has 1 articles")
    await page.click(f"{row} button:has-text('Delete')")
    await page.wait_for_selector(row, state="detached")
    await page.click(f"{cat_row} button:has-text('Delete')")
    await page.wait_for_selector(cat_row, state="detached")
    assert await _get(s, "/api/admin/help") == {"categories": [], "articles": []}
    actions = [a["action"] for a in (await _get(s, "/api/admin/audit-log?limit=10"))["items"]]
    assert actions == [
        "help.category.delete",
        "help.article.delete",
        "help.article.update",
        "help.article.create",
        "help.category.create",
    ]
