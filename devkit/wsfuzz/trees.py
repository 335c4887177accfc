"""JSON trees and how they are written: literals kept verbatim (`Lit`), deep nesting
(`Deep`), token slots filled per connection, and the styles (`Style`, `render`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# --- JSON trees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    """A JSON literal written verbatim: `value` is what a conforming parser reads (when
    `valid`), e.g. Lit("1e400", inf), Lit("1.0", 1.0), Lit('"\\ud83d\\ude00"', "😀"), or an
    invalid one, e.g. Lit("NaN", None, False), Lit('"\\ud800"', None, False)."""

    text: str
    value: Any = None
    valid: bool = True


@dataclass(frozen=True)
class Deep:
    """`levels` nested containers (`[[...]]` or `{"a":{"a":...}}`), written without recursion."""

    levels: int
    objects: bool = False

    def text(self) -> str:
        if self.objects and self.levels <= 600:  # deeper ones would not fit in a frame
            return '{"a":' * self.levels + "0" + "}" * self.levels
        return "[" * self.levels + "]" * self.levels


@dataclass(frozen=True)
class TokenSlot:
    """An auth token chosen when the script is played (it depends on the connection's user):
    `case` is a name of devkit/tokens.py's matrix, or `other_user`."""

    case: str


@dataclass(frozen=True)
class Style:
    """How a tree is written: \\u escapes or raw UTF-8, separators, surrounding whitespace."""

    ascii: bool = True
    spaced: bool = False
    lead: str = ""
    trail: str = ""


def render(tree: Any, style: Style, token: Callable[[str], str] | None = None) -> str:
    parts: list[str] = [style.lead]
    comma, colon = (", ", ": ") if style.spaced else (",", ":")

    def emit(node: Any) -> None:
        if isinstance(node, Lit):
            parts.append(node.text)
        elif isinstance(node, Deep):
            parts.append(node.text())
        elif isinstance(node, TokenSlot):
            parts.append(json.dumps(token(node.case) if token else "", ensure_ascii=style.ascii))
        elif isinstance(node, dict):
            parts.append("{")
            for i, (key, value) in enumerate(node.items()):
                if i:
                    parts.append(comma)
                parts.append(json.dumps(key, ensure_ascii=style.ascii))
                parts.append(colon)
                emit(value)
            parts.append("}")
        elif isinstance(node, list):
            parts.append("[")
            for i, value in enumerate(node):
                if i:
                    parts.append(comma)
                emit(value)
            parts.append("]")
        else:  # str, int, float, bool, None: json.dumps writes floats with '.' or 'e'
            parts.append(json.dumps(node, ensure_ascii=style.ascii))

    emit(tree)
    parts.append(style.trail)
    return "".join(parts)


def _walk(tree: Any) -> tuple[int, bool]:
    """(depth, valid JSON) of a tree; the top-level container counts as depth 1."""
    if isinstance(tree, Lit):
        return 0, tree.valid
    if isinstance(tree, Deep):
        return tree.levels, True
    if isinstance(tree, dict):
        children = [_walk(v) for v in tree.values()]
    elif isinstance(tree, list):
        children = [_walk(v) for v in tree]
    else:
        return 0, True
    depth = 1 + max((d for d, _ in children), default=0)
    return depth, all(ok for _, ok in children)


def _value(node: Any) -> Any:
    """What a conforming parser reads for a node (Lits by their value; Deep as a marker)."""
    if isinstance(node, Lit):
        return node.value
    return node
