"""The api's one SQL style (api/sql.py, docs/architecture.md "SQL"): statements are SQL text
with named parameters, rows are mapped onto Structs by column name. This fails when a module
of api/ builds statements with SQLAlchemy's expression language or the ORM models, or maps a
row onto a Struct by position."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[1] / "api"
EXPRESSIONS = {"select", "insert", "update", "delete", "exists", "tuple_", "and_", "or_", "func"}


def _problems(source: str, where: str) -> list[str]:
    tree = ast.parse(source, filename=where)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module.startswith("sqlalchemy") and names & EXPRESSIONS:
                out.append(f"{where}:{node.lineno}: imports {sorted(names & EXPRESSIONS)}")
            if node.module.startswith("core.models"):
                out.append(f"{where}:{node.lineno}: imports the ORM models ({node.module})")
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Starred) and isinstance(a.value, ast.Name) and "row" in a.value.id
            for a in node.args
        ):
            out.append(f"{where}:{node.lineno}: maps a row by position (*{ast.unparse(node)})")
    return out


def test_the_api_writes_sql_as_text_and_maps_rows_by_name() -> None:
    problems = [
        p
        for path in sorted(API.rglob("*.py"))
        for p in _problems(path.read_text(), str(path.relative_to(API.parent)))
    ]
    assert problems == []


def test_the_check_sees_what_it_forbids() -> None:
    source = "from sqlalchemy import select\nfrom core.models import User\nView(*row)\n"
    assert len(_problems(source, "probe.py")) == 3
