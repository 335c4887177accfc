"""The runtime settings, declared once: the knobs admins turn without a restart (PROTOCOL 2
and 6.1).

Each is a field of `RuntimeSettings` below, with its type, its default, its bounds (msgspec
`Meta(ge=, le=)`), the environment variable that overrides the default (`Meta(extra=...)`)
and a line of description. Everything else is derived from it: `KNOBS` (what
core.settings parses from the environment, core.runtime validates, the admin api's PUT
shape `Patch` declares) and `markdown_table()` (the README's rows:
`python -m core.knobs` prints them; tests/test_knobs.py keeps the README equal to it).
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import Meta

DAY_MS = 86_400_000
MAX_COUNT = 1_000_000


def _meta(env: str | None, doc: str, low: int | None = None, high: int | None = None) -> Meta:
    return Meta(ge=low, le=high, description=doc, extra={"env": env})


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One consistent set of runtime settings (core.runtime builds and validates them)."""

    reward_interval_ms: Annotated[
        int, _meta("REWARD_INTERVAL_MS", "credited watch time per reward", 1000, DAY_MS)
    ] = 60_000
    reward_amount: Annotated[int, _meta("REWARD_AMOUNT", "coins per reward", 0, MAX_COUNT)] = 10
    daily_reward_cap: Annotated[
        int,
        _meta("DAILY_REWARD_CAP", "rewards per user per day; `0` means no cap", 0, MAX_COUNT),
    ] = 120
    heartbeat_interval_ms: Annotated[
        int, _meta("HEARTBEAT_INTERVAL_MS", "expected heartbeat period", 100, 600_000)
    ] = 10_000
    session_ttl_ms: Annotated[
        int,
        _meta("SESSION_TTL_MS", "a session without heartbeat expires after this", 500, 3_600_000),
    ] = 30_000
    rewards_paused: Annotated[
        bool, _meta(None, "kill switch: time is still credited, nothing is granted")
    ] = False
    push_replay_count: Annotated[
        int,
        _meta(
            "PUSH_REPLAY_COUNT",
            "`reward`/`notice` pushes kept per user for a reconnect to recover; `0`: none",
            0,
            1000,
        ),
    ] = 50
    push_replay_ms: Annotated[
        int,
        _meta("PUSH_REPLAY_MS", "how long a user's pushes are kept for recovery", 1000, DAY_MS),
    ] = 300_000
    rate_limit_per_minute: Annotated[
        int,
        _meta("RATE_LIMIT_PER_MINUTE", "api requests per user (else IP) per minute", 1, MAX_COUNT),
    ] = 100
    admin_rate_limit_per_minute: Annotated[
        int,
        _meta(
            "ADMIN_RATE_LIMIT_PER_MINUTE", "admin api requests per user per minute", 1, MAX_COUNT
        ),
    ] = 300  # the open console makes about 36 a minute, a full load 24 more (docs/pages.md)


class Knob(NamedTuple):
    name: str
    kind: type[int] | type[bool]
    default: int | bool
    low: int | None  # None for a boolean
    high: int | None
    env: str | None  # the environment variable that overrides the default, if any
    doc: str


def _knobs() -> tuple[Knob, ...]:
    """The declaration above, read back through msgspec's type information."""
    out = []
    info = msgspec.inspect.type_info(RuntimeSettings)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        meta = field.type
        assert isinstance(meta, msgspec.inspect.Metadata), field.name
        extra: dict[str, Any] = meta.extra or {}
        doc = str((meta.extra_json_schema or {}).get("description", ""))
        low = high = None
        if not isinstance(meta.type, msgspec.inspect.BoolType):
            assert isinstance(meta.type, msgspec.inspect.IntType), field.name
            low, high = meta.type.ge, meta.type.le
        kind = bool if low is None else int
        out.append(Knob(field.name, kind, field.default, low, high, extra["env"], doc))
    return tuple(out)


KNOBS = _knobs()
BY_NAME = {k.name: k for k in KNOBS}

# The admin api's PUT body, for its OpenAPI document: any subset of the keys; `null` puts a
# key back to its environment default.
Patch = msgspec.defstruct(
    "SettingsPatch",
    [(k.name, k.kind | None, None) for k in KNOBS],
    forbid_unknown_fields=True,
)


def markdown_table() -> str:
    """The README's rows for the knobs that the environment sets (their defaults)."""
    rows = [
        f"| `{k.env}` | `{k.default}` | {k.doc} (runtime setting default) |"
        for k in KNOBS
        if k.env is not None
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
