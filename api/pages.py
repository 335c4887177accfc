"""Cursor pagination (PROTOCOL 6): `?limit=` (1-100, default 20) and `?cursor=`, answered as
`data: {items, next_cursor}`.

A cursor is opaque to clients: the URL-safe base64 of a JSON array holding the list's name
and the sort key of the last item served (keyset pagination). The next page starts strictly
after that key, so rows inserted meanwhile never make an item appear twice or be skipped;
only an item whose own sort key changes (a view count that grows) can move across the cursor.
A cursor of another list, or one that was tampered with, is a 400 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, Protocol, TypeVar

import msgspec
import orjson
from msgspec import Meta, Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.web import invalid

T = TypeVar("T")
K = TypeVar("K")


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Item = TypeVar("Item", bound=HasId)  # an item of a list keyed by id

Limit = Annotated[int, Meta(ge=1, le=100, description="page size, 1-100")]
Cursor = Annotated[
    str,
    Meta(min_length=1, max_length=512, description="next_cursor of the previous page"),
]
DEFAULT_LIMIT = 20


class Page(Struct, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None


class PageQuery(Struct):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor | None = None


def encode_cursor(name: str, key: Sequence[Any]) -> str:
    raw = orjson.dumps([name, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, name: str, key_type: type[K]) -> K | None:
    """The sort key in `cursor` as `key_type` (a tuple type), None for no cursor."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = msgspec.json.decode(raw)
        if not isinstance(value, list) or not value or value[0] != name:
            raise ValueError("another list")
        return msgspec.convert(value[1:], key_type)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise invalid("cursor", "not a cursor of this list") from None


def page(rows: Sequence[T], limit: int, name: str, key_of: Any) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only tells that there is more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(name, key_of(items[-1])) if more and items else None)


async def id_page(
    query: PageQuery, name: str, fetch: Callable[[int | None, int], Awaitable[Sequence[Item]]]
) -> Page[Item]:
    """A page of a list keyed by a bigint `id`, the one list handler of the api.
    `fetch(after, n)` returns up to `n` items in the list's order, starting after the item
    whose id is `after` (None: from the start)."""
    after = decode_cursor(query.cursor, name, tuple[int])
    rows = await fetch(after[0] if after else None, query.limit + 1)
    return page(rows, query.limit, name, lambda item: (item.id,))


async def sql_page(
    session: AsyncSession,
    query: PageQuery,
    name: str,
    sql: str,
    view: Callable[..., Item],
    **params: Any,
) -> Page[Item]:
    """`id_page` over one SQL statement that binds `:after` (NULL on the first page) and
    `:n`; each row becomes `view(**row)` (columns named as the view's fields)."""

    async def fetch(after: int | None, n: int) -> list[Item]:
        rows = (await session.execute(text(sql), {**params, "after": after, "n": n})).all()
        return [view(**row._mapping) for row in rows]

    return await id_page(query, name, fetch)
