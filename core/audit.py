"""The audit log of admin changes: one row per change, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AuditEntry


def _jsonable(value: Any) -> Any:
    # JSONB takes builtins only: datetimes become ISO strings, Structs dicts, sets lists.
    return None if value is None else msgspec.to_builtins(value)


def record(
    session: AsyncSession,
    actor_id: int | None,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Add an audit entry to `session` (no flush, no commit: it lands with the change it
    describes, or not at all). `action` is dotted (`content.create`), `target` names the
    object (`content:12`, `user:42`, `ip:10.0.0.0/8`, `runtime_settings`)."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        target=target,
        before=_jsonable(before),
        after=_jsonable(after),
    )
    session.add(entry)
    return entry
