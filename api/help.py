"""The help center for viewers: FAQ categories with their published articles, and a search
over them (docs/help.md). Public routes: a token is optional.

Search: PostgreSQL has no Korean text search configuration, and Korean attaches particles
to words (`코인은`, `코인을`), so a whole-word match would miss most questions. A query is
matched two ways, either being enough: the `simple` configuration with prefix terms (every
word of the query as `word:*`, which catches `코인` in `코인은`), and a case-insensitive
substring match of the whole query (which catches a word inside a compound, `출금` in
`자동출금`). Full-text matches rank by `ts_rank`; substring-only matches follow. The FAQ
is small (hundreds of rows), so both scan it without an index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import ColumnElement, func, or_, select
from starlette.requests import Request
from starlette.responses import Response

from api import help_lang
from api.access import optional_identity
from api.catalog import ts_query
from core.models_help import HelpArticle, HelpCategory
from core.web import decode_query, ok
from core.web.spec import api_route

MAX_RESULTS = 50


class HelpArticleView(Struct, frozen=True):
    id: int
    category_id: int
    question: str
    answer: str
    lang: help_lang.Lang  # the language this article is served in (Korean stands in)
    position: int
    updated_at: datetime


class HelpCategoryView(Struct, frozen=True):
    id: int
    slug: str
    title: str
    lang: help_lang.Lang
    position: int
    articles: list[HelpArticleView]


class HelpQuery(Struct):
    lang: help_lang.Lang | None = None  # else Accept-Language, else ko


class HelpSearchQuery(Struct):
    q: Annotated[str, Meta(min_length=1, max_length=200)]
    lang: help_lang.Lang | None = None
    limit: Annotated[int, Meta(ge=1, le=MAX_RESULTS)] = 20


def article_view(row: Any, lang: help_lang.Lang) -> HelpArticleView:
    """The article in `lang`; English only when both its question and answer exist in
    English (a question in one language and its answer in another would read as a bug)."""
    served: help_lang.Lang = "ko"
    question, answer = row.question_ko, row.answer_ko
    if lang == "en" and row.question_en and row.answer_en:
        question, answer, served = row.question_en, row.answer_en, "en"
    return HelpArticleView(
        row.id, row.category_id, question, answer, served, row.position, row.updated_at
    )


def _published() -> ColumnElement[bool]:
    return (HelpArticle.status == "published") & (HelpCategory.status == "published")


def _lang(request: Request, query: help_lang.Lang | None) -> help_lang.Lang:
    return help_lang.choose(query, request.headers.get("accept-language"))


VARY = {"Vary": "Accept-Language"}


async def get_help(request: Request) -> Response:
    """Published categories in order, each with its published articles in order; a category
    with no published article is left out (it would be an empty heading)."""
    await optional_identity(request)
    lang = _lang(request, decode_query(request, HelpQuery).lang)
    query = (
        select(HelpArticle, HelpCategory)
        .join(HelpCategory, HelpCategory.id == HelpArticle.category_id)
        .where(_published())
        .order_by(HelpCategory.position, HelpCategory.id, HelpArticle.position, HelpArticle.id)
    )
    async with request.app.state.sessions() as session:
        rows = (await session.execute(query)).all()
    categories: dict[int, HelpCategoryView] = {}
    for article, category in rows:
        if category.id not in categories:
            title, served = help_lang.pick(lang, category.title_ko, category.title_en)
            categories[category.id] = HelpCategoryView(
                category.id, category.slug, title, served, category.position, []
            )
        categories[category.id].articles.append(article_view(article, lang))
    return ok(request, list(categories.values()), headers=VARY)


def like_pattern(q: str) -> str:
    """`%q%` with LIKE's wildcards in `q` escaped (the user's `%` is a percent sign)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_help(request: Request) -> Response:
    """Published articles matching `q` in either language, best match first."""
    await optional_identity(request)
    q = decode_query(request, HelpSearchQuery)
    lang = _lang(request, q.lang)
    tsq = func.to_tsquery("simple", ts_query(q.q))
    document = func.concat_ws(
        " ",
        HelpArticle.question_ko,
        HelpArticle.answer_ko,
        HelpArticle.question_en,
        HelpArticle.answer_en,
    )
    vector = func.to_tsvector("simple", document)
    full_text = vector.op("@@")(tsq)
    substring = document.ilike(like_pattern(q.q.strip()), escape="\\")
    rank = func.ts_rank(vector, tsq)  # 0 for a substring-only match: those come last
    query = (
        select(HelpArticle, rank.label("rank"))
        .join(HelpCategory, HelpCategory.id == HelpArticle.category_id)
        .where(_published(), or_(full_text, substring))
        .order_by(rank.desc(), HelpArticle.id)
        .limit(q.limit)
    )
    async with request.app.state.sessions() as session:
        rows = (await session.execute(query)).all()
    return ok(request, [article_view(article, lang) for article, _ in rows], headers=VARY)


TAGS = ("help",)
routes = [
    api_route(
        "GET",
        "/api/help",
        get_help,
        summary="Help center: published FAQ categories with their articles",
        auth="optional",
        query=HelpQuery,
        response=list[HelpCategoryView],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/help/search",
        search_help,
        summary="Search the published FAQ articles (Korean and English)",
        auth="optional",
        query=HelpSearchQuery,
        response=list[HelpArticleView],
        tags=TAGS,
    ),
]
