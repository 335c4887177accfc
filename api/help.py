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
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api import help_lang
from api.access import optional_identity
from api.catalog import ts_query
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


_ARTICLE = "a.id, a.category_id, a.question_ko, a.answer_ko, a.question_en, a.answer_en, a.position, a.updated_at"
_PUBLISHED = (
    " FROM help_articles a JOIN help_categories c ON c.id = a.category_id"
    " WHERE a.status = 'published' AND c.status = 'published'"
)
_GET_HELP = text(
    f"SELECT {_ARTICLE}, c.id AS c_id, c.slug AS c_slug, c.title_ko AS c_title_ko,"
    f" c.title_en AS c_title_en, c.position AS c_position{_PUBLISHED}"
    " ORDER BY c.position, c.id, a.position, a.id"
)
# Both languages' texts as one document; a substring match ranks 0 (it comes last).
_DOCUMENT = (
    "to_tsvector('simple', concat_ws(' ', a.question_ko, a.answer_ko, a.question_en, a.answer_en))"
)
_SEARCH = text(
    f"SELECT {_ARTICLE}, ts_rank({_DOCUMENT}, to_tsquery('simple', :tsq)) AS rank{_PUBLISHED}"
    f" AND ({_DOCUMENT} @@ to_tsquery('simple', :tsq)"
    " OR concat_ws(' ', a.question_ko, a.answer_ko, a.question_en, a.answer_en)"
    " ILIKE :like ESCAPE '\\') ORDER BY rank DESC, a.id LIMIT :n"
)


def _lang(request: Request, query: help_lang.Lang | None) -> help_lang.Lang:
    return help_lang.choose(query, request.headers.get("accept-language"))


VARY = {"Vary": "Accept-Language"}


async def get_help(request: Request) -> Response:
    """Published categories in order, each with its published articles in order; a category
    with no published article is left out (it would be an empty heading)."""
    await optional_identity(request)
    lang = _lang(request, decode_query(request, HelpQuery).lang)
    async with request.app.state.sessions() as session:
        rows = (await session.execute(_GET_HELP)).all()
    categories: dict[int, HelpCategoryView] = {}
    for row in rows:
        if row.c_id not in categories:
            title, served = help_lang.pick(lang, row.c_title_ko, row.c_title_en)
            categories[row.c_id] = HelpCategoryView(
                row.c_id, row.c_slug, title, served, row.c_position, []
            )
        categories[row.c_id].articles.append(article_view(row, lang))
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
    params = {"tsq": ts_query(q.q), "like": like_pattern(q.q.strip()), "n": q.limit}
    async with request.app.state.sessions() as session:
        rows = (await session.execute(_SEARCH, params)).all()
    return ok(request, [article_view(row, lang) for row in rows], headers=VARY)


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
