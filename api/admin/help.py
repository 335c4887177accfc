"""Admin of the help center (docs/help.md): categories and articles, created, changed and
deleted with an audit entry each; a request that changes nothing writes nothing. Every
handler owns its transaction."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.sql import insert_sql, update_sql
from core import audit
from core.errors import Conflict, NotFound
from core.web import decode_body, invalid, ok
from core.web.spec import api_route

Slug = Annotated[str, Meta(min_length=1, max_length=80)]
Title = Annotated[str, Meta(min_length=1, max_length=200)]
Question = Annotated[str, Meta(min_length=1, max_length=500)]
Answer = Annotated[str, Meta(min_length=1, max_length=20_000)]
Position = Annotated[int, Meta(ge=0, le=1_000_000)]
Status = Annotated[str, Meta(pattern="^(published|draft)$")]
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class AdminHelpCategory(Struct, frozen=True):
    id: int
    slug: str
    title_ko: str
    title_en: str | None
    position: int
    status: str
    created_at: datetime
    updated_at: datetime


class AdminHelpArticle(Struct, frozen=True):
    id: int
    category_id: int
    question_ko: str
    answer_ko: str
    question_en: str | None
    answer_en: str | None
    position: int
    status: str
    created_at: datetime
    updated_at: datetime


class AdminHelp(Struct, frozen=True):
    categories: list[AdminHelpCategory]  # by position, then id
    articles: list[AdminHelpArticle]  # by category, position, then id


class CategoryCreate(Struct, forbid_unknown_fields=True):
    slug: Slug
    title_ko: Title
    title_en: Title | None = None
    position: Position = 0
    status: Status = "draft"


class CategoryPatch(Struct, forbid_unknown_fields=True):
    """A partial update: absent fields stay; `null` clears `title_en`."""

    slug: Slug | UnsetType = UNSET
    title_ko: Title | UnsetType = UNSET
    title_en: Title | UnsetType | None = UNSET
    position: Position | UnsetType = UNSET
    status: Status | UnsetType = UNSET


class ArticleCreate(Struct, forbid_unknown_fields=True):
    category_id: Annotated[int, Meta(ge=1)]
    question_ko: Question
    answer_ko: Answer
    question_en: Question | None = None
    answer_en: Answer | None = None
    position: Position = 0
    status: Status = "draft"


class ArticlePatch(Struct, forbid_unknown_fields=True):
    """A partial update: absent fields stay; `null` clears the English texts."""

    category_id: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    question_ko: Question | UnsetType = UNSET
    answer_ko: Answer | UnsetType = UNSET
    question_en: Question | UnsetType | None = UNSET
    answer_en: Answer | UnsetType | None = UNSET
    position: Position | UnsetType = UNSET
    status: Status | UnsetType = UNSET


_CATEGORY = ", ".join(AdminHelpCategory.__struct_fields__)
_ARTICLE = ", ".join(AdminHelpArticle.__struct_fields__)
# The columns a body may write (api/sql.py).
_CATEGORY_WRITABLE = frozenset(CategoryCreate.__struct_fields__)
_ARTICLE_WRITABLE = frozenset(ArticleCreate.__struct_fields__)
_TEXTS = {"title_ko", "title_en", "question_ko", "answer_ko", "question_en", "answer_en"}


def clean(body: Struct) -> dict[str, Any]:
    """The fields sent, texts trimmed (a blank required text is refused; a blank English
    one is stored as null: no English text), the slug checked."""
    values: dict[str, Any] = {}
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if value is UNSET:
            continue
        if name in _TEXTS and value is not None:
            value = value.strip()
            if not value:
                if name.endswith("_en"):
                    value = None
                else:
                    raise invalid(name, "must not be blank")
        if name == "slug" and not SLUG.match(value):
            raise invalid("slug", "lower-case letters, digits and single dashes")
        values[name] = value
    return values


async def _category(session: AsyncSession, category_id: int) -> AdminHelpCategory:
    query = text(f"SELECT {_CATEGORY} FROM help_categories WHERE id = :id FOR UPDATE")
    row = (await session.execute(query, {"id": category_id})).first()
    if row is None:
        raise NotFound(f"no help category {category_id}")
    return AdminHelpCategory(**row._mapping)


async def _article(session: AsyncSession, article_id: int) -> AdminHelpArticle:
    query = text(f"SELECT {_ARTICLE} FROM help_articles WHERE id = :id FOR UPDATE")
    row = (await session.execute(query, {"id": article_id})).first()
    if row is None:
        raise NotFound(f"no help article {article_id}")
    return AdminHelpArticle(**row._mapping)


async def _check_category(session: AsyncSession, values: dict[str, Any]) -> None:
    if "category_id" in values:
        query = text("SELECT id FROM help_categories WHERE id = :id")
        if (await session.execute(query, {"id": values["category_id"]})).first() is None:
            raise invalid("category_id", "no such help category")


def _changed(current: Struct, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if getattr(current, k) != v}


async def get_help_admin(request: Request) -> Response:
    """Every category and article, drafts included."""
    await authenticate(request, ADMIN)
    async with request.app.state.sessions() as session:
        categories = await session.execute(
            text(f"SELECT {_CATEGORY} FROM help_categories ORDER BY position, id")
        )
        articles = await session.execute(
            text(f"SELECT {_ARTICLE} FROM help_articles ORDER BY category_id, position, id")
        )
        answer = AdminHelp(
            [AdminHelpCategory(**r._mapping) for r in categories],
            [AdminHelpArticle(**r._mapping) for r in articles],
        )
    return ok(request, answer)


def _slug_taken(slug: str) -> Conflict:
    return Conflict(f"slug {slug!r} is taken", details={"field": "slug"})


async def post_category(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    values = clean(await decode_body(request, CategoryCreate))
    try:
        async with request.app.state.sessions.begin() as session:
            query = insert_sql("help_categories", values, _CATEGORY_WRITABLE, _CATEGORY)
            row = (await session.execute(*query)).one()
            after = AdminHelpCategory(**row._mapping)
            target = f"help_category:{after.id}"
            audit.record(session, identity.user_id, "help.category.create", target, None, after)
    except IntegrityError:
        raise _slug_taken(values["slug"]) from None
    return ok(request, after, 201)


async def patch_category(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    category_id = path_id(request)
    values = clean(await decode_body(request, CategoryPatch))
    try:
        async with request.app.state.sessions.begin() as session:
            before = await _category(session, category_id)
            values = _changed(before, values)
            if not values:
                return ok(request, before)
            query = update_sql(
                "help_categories", category_id, values, _CATEGORY_WRITABLE, _CATEGORY
            )
            after = AdminHelpCategory(**(await session.execute(*query)).one()._mapping)
            target = f"help_category:{category_id}"
            audit.record(session, identity.user_id, "help.category.update", target, before, after)
    except IntegrityError:
        raise _slug_taken(values.get("slug", "")) from None
    return ok(request, after)


async def delete_category(request: Request) -> Response:
    """Deletes an empty category; one with articles is a 409 (delete or move them first)."""
    identity = await authenticate(request, ADMIN)
    category_id = path_id(request)
    try:
        async with request.app.state.sessions.begin() as session:
            before = await _category(session, category_id)
            count = await session.scalar(
                text("SELECT count(*) FROM help_articles WHERE category_id = :c"),
                {"c": category_id},
            )
            if count:
                raise Conflict(
                    f"help category {category_id} has {count} articles",
                    details={"articles": count},
                )
            await session.execute(
                text("DELETE FROM help_categories WHERE id = :id"), {"id": category_id}
            )
            target = f"help_category:{category_id}"
            audit.record(session, identity.user_id, "help.category.delete", target, before, None)
    except IntegrityError:  # an article was added meanwhile
        raise Conflict(f"help category {category_id} has articles") from None
    return ok(request, before)


async def post_article(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    values = clean(await decode_body(request, ArticleCreate))
    async with request.app.state.sessions.begin() as session:
        await _check_category(session, values)
        query = insert_sql("help_articles", values, _ARTICLE_WRITABLE, _ARTICLE)
        after = AdminHelpArticle(**(await session.execute(*query)).one()._mapping)
        target = f"help_article:{after.id}"
        audit.record(session, identity.user_id, "help.article.create", target, None, after)
    return ok(request, after, 201)


async def patch_article(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    article_id = path_id(request)
    values = clean(await decode_body(request, ArticlePatch))
    async with request.app.state.sessions.begin() as session:
        before = await _article(session, article_id)
        values = _changed(before, values)
        if not values:
            return ok(request, before)
        await _check_category(session, values)
        query = update_sql("help_articles", article_id, values, _ARTICLE_WRITABLE, _ARTICLE)
        after = AdminHelpArticle(**(await session.execute(*query)).one()._mapping)
        target = f"help_article:{article_id}"
        audit.record(session, identity.user_id, "help.article.update", target, before, after)
    return ok(request, after)


async def delete_article(request: Request) -> Response:
    """Deletes the article for good; the audit entry keeps its last text."""
    identity = await authenticate(request, ADMIN)
    article_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        before = await _article(session, article_id)
        await session.execute(text("DELETE FROM help_articles WHERE id = :id"), {"id": article_id})
        target = f"help_article:{article_id}"
        audit.record(session, identity.user_id, "help.article.delete", target, before, None)
    return ok(request, before)


TAGS = ("admin",)
CATEGORY = "/api/admin/help/categories"
ARTICLE = "/api/admin/help/articles"
routes = [
    api_route(
        "GET",
        "/api/admin/help",
        get_help_admin,
        summary="Every help category and article, drafts included",
        auth="admin",
        response=AdminHelp,
        tags=TAGS,
    ),
    api_route(
        "POST",
        CATEGORY,
        post_category,
        summary="Create a help category",
        auth="admin",
        body=CategoryCreate,
        response=AdminHelpCategory,
        status=201,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "PATCH",
        CATEGORY + "/{id:int}",
        patch_category,
        summary="Update a help category",
        auth="admin",
        body=CategoryPatch,
        response=AdminHelpCategory,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        CATEGORY + "/{id:int}",
        delete_category,
        summary="Delete an empty help category",
        auth="admin",
        response=AdminHelpCategory,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "POST",
        ARTICLE,
        post_article,
        summary="Create a help article",
        auth="admin",
        body=ArticleCreate,
        response=AdminHelpArticle,
        status=201,
        tags=TAGS,
    ),
    api_route(
        "PATCH",
        ARTICLE + "/{id:int}",
        patch_article,
        summary="Update a help article",
        auth="admin",
        body=ArticlePatch,
        response=AdminHelpArticle,
        tags=TAGS,
    ),
    api_route(
        "DELETE",
        ARTICLE + "/{id:int}",
        delete_article,
        summary="Delete a help article",
        auth="admin",
        response=AdminHelpArticle,
        tags=TAGS,
    ),
]
