"""Runtime settings: the knobs that admins turn without a restart (PROTOCOL 2 and 6.1),
declared once in core/knobs.py.

The environment gives the defaults (core.settings.Settings.runtime); rows of the `runtime_settings`
table (key -> JSON value) override them. Every process re-reads them with `load_runtime`
every `CONTROL_POLL_MS` (2 s by default); the hubs also at once on a nudge (live.nudges)
that the writer publishes after its commit, so a change reaches every hub in well under a
second, and every process within 5 s.
`update_runtime` is the only writer; it validates the whole result before writing, so a
stored set of values is always valid as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import audit
from core.errors import BadRequest
from core.knobs import KNOBS, RuntimeSettings
from core.settings import Settings

log = logging.getLogger(__name__)

# key -> (low, high) for integers, None for the boolean (core/knobs.py declares them).
BOUNDS: dict[str, tuple[int, int] | None] = {
    k.name: None if k.low is None or k.high is None else (k.low, k.high) for k in KNOBS
}
KEYS = tuple(BOUNDS)


def defaults(settings: Settings) -> RuntimeSettings:
    """The environment's values, used wherever the table holds no row."""
    return settings.runtime


def _invalid(key: str, reason: str) -> BadRequest:
    return BadRequest(f"{key}: {reason}", details={"key": key, "field": key, "reason": reason})


def check_value(key: str, value: Any) -> Any:
    """Return `value` when it is valid for `key`, else raise BadRequest naming the key."""
    if key not in BOUNDS:
        raise _invalid(key, "unknown setting")
    bounds = BOUNDS[key]
    if bounds is None:
        if not isinstance(value, bool):
            raise _invalid(key, "must be true or false")
        return value
    # bool is an int in Python; JSON `true` is not a number of milliseconds.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(key, "must be an integer")
    low, high = bounds
    if not low <= value <= high:
        raise _invalid(key, f"must be between {low} and {high}")
    return value


def validate(
    base: RuntimeSettings, changes: Mapping[str, Any], *, changed: Iterable[str] = ()
) -> RuntimeSettings:
    """`base` with `changes` applied, checked key by key and as a whole. A whole-set error
    names a key of `changed` (the keys the caller asked to change; default `changes`)."""
    values = msgspec.structs.asdict(base)
    for key, value in changes.items():
        values[key] = check_value(key, value)
    if values["session_ttl_ms"] <= values["heartbeat_interval_ms"]:
        asked = set(changed) or set(changes)
        key = "session_ttl_ms" if "session_ttl_ms" in asked else "heartbeat_interval_ms"
        raise _invalid(key, "session_ttl_ms must be greater than heartbeat_interval_ms")
    return RuntimeSettings(**values)


def merge_stored(base: RuntimeSettings, stored: Mapping[str, Any]) -> RuntimeSettings:
    """`base` overridden by the stored rows. Never raises: a row that is unknown or invalid
    (written by hand, or left invalid by a change of the environment defaults) is skipped
    and logged, so a bad row cannot stop a process."""
    try:
        return validate(base, {k: v for k, v in stored.items() if k in BOUNDS})
    except BadRequest:
        pass
    result = base
    for key in sorted(stored):
        try:
            result = validate(result, {key: stored[key]})
        except BadRequest as exc:
            log.warning("ignoring stored runtime setting %s=%r: %s", key, stored[key], exc)
    return result


async def _stored(conn: AsyncConnection | AsyncSession) -> dict[str, Any]:
    rows = await conn.execute(text("SELECT key, value FROM runtime_settings"))
    return dict(rows.all())


async def load_runtime(conn: AsyncConnection | AsyncSession, settings: Settings) -> RuntimeSettings:
    """The current runtime settings: the table over the environment defaults."""
    return merge_stored(defaults(settings), await _stored(conn))


async def update_runtime(
    session: AsyncSession,
    changes: Mapping[str, Any],
    actor_id: int | None,
    *,
    settings: Settings,
) -> tuple[RuntimeSettings, RuntimeSettings]:
    """Apply a partial update and return (before, after). A value of None removes the
    override, so the key falls back to its environment default. Raises BadRequest naming
    the key for an unknown key or a bad value, before anything is written. Writes the rows
    and an audit entry; the caller commits."""
    for key in changes:
        if key not in BOUNDS:
            raise _invalid(key, "unknown setting")
    if not changes:
        current = await load_runtime(session, settings)
        return current, current
    # Serialise writers: the cross-key rule (ttl > heartbeat) must hold for the final rows
    # even when two admins change the two keys at the same moment.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('runtime_settings'))"))
    base = defaults(settings)
    stored = await _stored(session)
    before = merge_stored(base, stored)
    wanted = {k: v for k, v in stored.items() if k in BOUNDS}
    for key, value in changes.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = check_value(key, value)
    after = validate(base, wanted, changed=changes)
    for key, value in changes.items():
        if value is None:
            await session.execute(
                text("DELETE FROM runtime_settings WHERE key = :key"), {"key": key}
            )
        else:
            await session.execute(
                text(
                    "INSERT INTO runtime_settings (key, value, updated_at, updated_by)"
                    " VALUES (:key, CAST(:value AS jsonb), now(), :actor)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                    " updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by"
                ),
                {"key": key, "value": msgspec.json.encode(value).decode(), "actor": actor_id},
            )
    changed = sorted(changes)
    audit.record(
        session,
        actor_id,
        "settings.update",
        "runtime_settings",
        {k: getattr(before, k) for k in changed},
        {k: getattr(after, k) for k in changed},
    )
    return before, after
