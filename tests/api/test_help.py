"""The help center against real PostgreSQL and Redis: admin CRUD with its audit entries,
the published FAQ in the caller's language, and the search (Korean and English)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

CATEGORIES = "/api/admin/help/categories"
ARTICLES = "/api/admin/help/articles"


async def audit_actions(engine):
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action, target, before, after FROM audit_log ORDER BY id")
        )
        return [(a, t, before is None, after is None) for a, t, before, after in rows]


async def category(client, admin, **fields):
    body = {"slug": "coins", "title_ko": "코인", "status": "published", **fields}
    r = await client.post(CATEGORIES, json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def article(client, admin, category_id, **fields):
    body = {
        "category_id": category_id,
        "question_ko": "코인은 언제 적립되나요?",
        "answer_ko": "영상을 1분 시청할 때마다 적립됩니다.",
        "status": "published",
        **fields,
    }
    r = await client.post(ARTICLES, json=body, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def test_published_articles_in_order_with_language_fallback(client, admin):
    """GET /api/help lists published categories in position order with their published
    articles in order; English where both texts exist, Korean in place of a missing one."""
    late = await category(client, admin, slug="account", title_ko="계정", position=2)
    first = await category(client, admin, title_en="Coins", position=1)
    hidden = await category(client, admin, slug="drafts", title_ko="초안", status="draft")
    await article(client, admin, hidden["id"])
    await article(client, admin, first["id"], position=5, question_ko="둘째")
    one = await article(
        client, admin, first["id"], position=1, question_en="When?", answer_en="Each minute."
    )
    await article(client, admin, first["id"], status="draft", question_ko="초안 질문")
    only_question = await article(client, admin, late["id"], question_en="No answer in English")

    r = await client.get("/api/help", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.status_code == 200 and r.headers["vary"] == "Accept-Language"
    data = r.json()["data"]
    assert [(c["slug"], c["title"], c["lang"]) for c in data] == [
        ("coins", "Coins", "en"),
        ("account", "계정", "ko"),
    ]
    assert [(a["question"], a["lang"]) for a in data[0]["articles"]] == [
        ("When?", "en"),
        ("둘째", "ko"),
    ]
    assert data[0]["articles"][0]["answer"] == "Each minute."
    # an English question without its English answer is served wholly in Korean
    [served] = data[1]["articles"]
    assert (served["id"], served["lang"]) == (only_question["id"], "ko")
    assert served["question"] == "코인은 언제 적립되나요?"

    korean = (await client.get("/api/help?lang=ko", headers={"Accept-Language": "en"})).json()
    assert korean["data"][0]["title"] == "코인"
    assert korean["data"][0]["articles"][0]["id"] == one["id"]
    assert korean["data"][0]["articles"][0]["question"] == "코인은 언제 적립되나요?"
    default = (await client.get("/api/help")).json()["data"]
    assert default[0]["lang"] == "ko"


async def test_search_finds_korean_with_particles_and_inside_words_and_english(client, admin):
    """Korean words match with their particles (prefix) and inside compounds (substring);
    English matches by word; drafts and draft categories are never found."""
    c = await category(client, admin)
    draft_c = await category(client, admin, slug="hidden", title_ko="숨김", status="draft")
    particle = await article(client, admin, c["id"])  # 코인은 ... 적립됩니다
    compound = await article(
        client,
        admin,
        c["id"],
        question_ko="자동출금 설정",
        answer_ko="설정 화면에서 바꿉니다.",
        question_en="Automatic withdrawal",
        answer_en="Change it in the settings.",
    )
    await article(client, admin, c["id"], status="draft", question_ko="코인 초안")
    await article(client, admin, draft_c["id"], question_ko="코인 숨김")

    async def ids(q, **params):
        r = await client.get("/api/help/search", params={"q": q, **params})
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["data"]]

    assert await ids("코인") == [particle["id"]]
    assert await ids("출금") == [compound["id"]]
    assert await ids("withdrawal") == [compound["id"]]
    assert await ids("없는말") == []
    r = await client.get("/api/help/search", params={"q": "settings", "lang": "en"})
    [hit] = r.json()["data"]
    assert (hit["question"], hit["lang"]) == ("Automatic withdrawal", "en")
    # a query with no word is refused (LIKE wildcards alone would match everything)
    bad = await client.get("/api/help/search", params={"q": "%%"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


async def test_admin_crud_is_audited_and_a_no_op_writes_nothing(client, admin, engine):
    """Each create, change and delete writes one audit entry; a PATCH to the same values
    answers the row and writes none; the admin listing shows drafts."""
    c = await category(client, admin, status="draft")
    a = await article(client, admin, c["id"], status="draft")
    same = await client.patch(f"{CATEGORIES}/{c['id']}", json={"slug": "coins"}, headers=admin)
    assert same.status_code == 200 and same.json()["data"] == c
    r = await client.patch(
        f"{ARTICLES}/{a['id']}", json={"status": "published", "answer_en": "  "}, headers=admin
    )
    assert r.status_code == 200 and r.json()["data"]["status"] == "published"
    assert r.json()["data"]["answer_en"] is None  # blank English is no English
    listing = (await client.get("/api/admin/help", headers=admin)).json()["data"]
    assert [x["id"] for x in listing["categories"]] == [c["id"]]
    assert [x["status"] for x in listing["articles"]] == ["published"]

    in_use = await client.delete(f"{CATEGORIES}/{c['id']}", headers=admin)
    assert in_use.status_code == 409 and in_use.json()["error"]["details"] == {"articles": 1}
    assert (await client.delete(f"{ARTICLES}/{a['id']}", headers=admin)).status_code == 200
    assert (await client.delete(f"{CATEGORIES}/{c['id']}", headers=admin)).status_code == 200
    assert (await client.delete(f"{ARTICLES}/{a['id']}", headers=admin)).status_code == 404
    assert await audit_actions(engine) == [
        ("help.category.create", f"help_category:{c['id']}", True, False),
        ("help.article.create", f"help_article:{a['id']}", True, False),
        ("help.article.update", f"help_article:{a['id']}", False, False),
        ("help.article.delete", f"help_article:{a['id']}", False, True),
        ("help.category.delete", f"help_category:{c['id']}", False, True),
    ]
    assert (await client.get("/api/admin/help", headers=admin)).json()["data"] == {
        "categories": [],
        "articles": [],
    }


async def test_input_errors_are_envelopes(client, admin, engine):
    """A taken slug is 409, a bad slug, a blank Korean text or an unknown category 400; a
    viewer is 403; nothing is written by a refusal."""
    c = await category(client, admin)
    taken = await client.post(CATEGORIES, json={"slug": "coins", "title_ko": "x"}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    other = await category(client, admin, slug="other")
    clash = await client.patch(f"{CATEGORIES}/{other['id']}", json={"slug": "coins"}, headers=admin)
    assert clash.status_code == 409
    for body, field in [
        ({"slug": "Bad Slug", "title_ko": "x"}, "slug"),
        ({"slug": "ok", "title_ko": "   "}, "title_ko"),
    ]:
        r = await client.post(CATEGORIES, json=body, headers=admin)
        assert r.status_code == 400 and r.json()["error"]["details"]["field"] == field
    r = await client.post(
        ARTICLES, json={"category_id": 999, "question_ko": "q", "answer_ko": "a"}, headers=admin
    )
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "category_id"
    r = await client.patch(f"{ARTICLES}/5", json={"position": 1}, headers=admin)
    assert r.status_code == 404
    assert [a for a, *_ in await audit_actions(engine)] == ["help.category.create"] * 2
    assert c["slug"] == "coins"


async def test_concurrent_creates_of_one_slug_make_one_category(client, admin, engine):
    """Two admins creating the same slug at once: one 201, one 409, one row, one audit entry."""
    body = {"slug": "same", "title_ko": "같은"}
    answers = await asyncio.gather(
        *(client.post(CATEGORIES, json=body, headers=admin) for _ in range(2))
    )
    assert sorted(r.status_code for r in answers) == [201, 409]
    assert [a for a, *_ in await audit_actions(engine)] == ["help.category.create"]
