"""The api's SQL style: statements are SQL text (`sqlalchemy.text`) with named parameters,
and rows are mapped onto Structs by column name (`View(**row._mapping)`). The one place
statements are composed from data is an INSERT or UPDATE of the columns a body sent
(`insert_sql`, `update_sql`): their column names come from a fixed set the caller declares
(never from the request), their values are bound parameters. docs/architecture.md "SQL".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import TextClause, text


class _Now:
    """The marker of a value that is the statement's now()."""


NOW = _Now()


def _value(name: str, value: Any, writable: Collection[str], params: dict[str, Any]) -> str:
    if name not in writable:
        raise ValueError(f"not a writable column: {name}")
    if value is NOW:
        return "now()"
    params[name] = value
    return f":{name}"


def insert_sql(
    table: str, values: Mapping[str, Any], writable: Collection[str], returning: str
) -> tuple[TextClause, dict[str, Any]]:
    """`INSERT INTO table (columns) VALUES (...) RETURNING returning`, and its parameters."""
    params: dict[str, Any] = {}
    written = [_value(name, v, writable, params) for name, v in values.items()]
    sql = (
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(written)})"
        f" RETURNING {returning}"
    )
    return text(sql), params


def update_sql(
    table: str,
    row_id: int,
    values: Mapping[str, Any],
    writable: Collection[str],
    returning: str,
    stamp: str = "updated_at = now()",
) -> tuple[TextClause, dict[str, Any]]:
    """`UPDATE table SET columns, stamp WHERE id = :id RETURNING returning`, and its
    parameters (`values` may be empty: then only the stamp moves)."""
    params: dict[str, Any] = {"id": row_id}
    sets = [f"{name} = {_value(name, v, writable, params)}" for name, v in values.items()]
    sql = f"UPDATE {table} SET {', '.join([*sets, stamp])} WHERE id = :id RETURNING {returning}"
    return text(sql), params
