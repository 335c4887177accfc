"""The benchmark's typed results (loadtests/bench/results.py) describe the JSON layout of the
runs kept under loadtests/results/, which `--compare` and `--table` read back: every key of
those files is a field, in field order, with a value of the field's type."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from loadtests.bench.results import Result

ROOT = Path(__file__).resolve().parents[1]
# Runs of the current layout (since meta.stamp); the first three files predate it.
RUNS = [
    p
    for p in sorted((ROOT / "loadtests" / "results").glob("bench-*.json"))
    if "stamp" in json.loads(p.read_text())["meta"]
]


def problems(value: Any, tp: Any, path: str) -> list[str]:
    """Where `value` (decoded JSON) is not what encoding a `tp` could have written."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return []
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not msgspec.UnsetType]
        found = [problems(value, a, path) for a in options]
        return [] if any(not f for f in found) else min(found, key=len)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
        unknown = [k for k in value if k not in fields]
        if unknown:
            return [f"{path}: {tp.__name__} has no field {unknown}"]
        order = [k for k in fields if k in value]
        if list(value) != order:
            return [f"{path}: keys {list(value)}, {tp.__name__} writes them as {order}"]
        missing = [k for k, f in fields.items() if f.required and k not in value]
        out = [f"{path}: {tp.__name__} lacks {missing}"] if missing else []
        for k, v in value.items():
            out += problems(v, fields[k].type, f"{path}/{k}")
        return out
    if tp is type(None):
        return [] if value is None else [f"{path}: not null"]
    if origin is dict or tp is dict:
        args = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        return [e for k, v in value.items() for e in problems(v, args[1], f"{path}/{k}")]
    if origin in (list, tuple):
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        args = typing.get_args(tp)
        if origin is tuple:
            if len(value) != len(args):
                return [f"{path}: {len(value)} items, not {len(args)}"]
            return [
                e
                for i, (v, a) in enumerate(zip(value, args, strict=True))
                for e in problems(v, a, f"{path}[{i}]")
            ]
        return [e for i, v in enumerate(value) for e in problems(v, args[0], f"{path}[{i}]")]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{path}: {value!r} is not {tp.__name__}"]


@pytest.mark.parametrize("path", RUNS, ids=[p.name for p in RUNS])
def test_a_kept_run_is_the_layout_of_the_results(path: Path) -> None:
    assert problems(json.loads(path.read_text()), Result, "") == []


def test_there_are_runs_of_the_current_layout() -> None:
    assert len(RUNS) >= 2
