"""The outbox entries' wire shape: what the scripts append to a partition's outbox stream,
defined once as msgspec Structs tagged by the entry's `t` field.

Each field is a stream field of the same name, in the order the scripts write them; a field
with a default is written only sometimes (`hold` on a grant of a user on hold). The scripts
that write an entry say so in their header (`-- OUTBOX <t>: <fields>`), and
tests/workers/test_outbox_contract.py fails when a script's header or its XADD writes a
field list that differs from the Struct here, or when workers.entries reads one differently.
The worker parses entries with its own code (workers/entries.py: it validates each field
and is on the drain's hot path); these Structs are the contract it is tested against.
"""

from __future__ import annotations

import msgspec


class GrantEntry(msgspec.Struct, tag_field="t", tag="g", kw_only=True):
    """A reward granted (tick.lua): reward id w:<uid>:<cid>:<n>, its coins, server ms."""

    rid: str
    uid: int
    cid: int
    amt: int
    ts: int
    hold: int = 0  # 1: made while the user was on hold for review (not in `pend`)


class SessionStartEntry(msgspec.Struct, tag_field="t", tag="s", kw_only=True):
    """A watch session opened (start.lua)."""

    sid: str
    uid: int
    cid: int
    dev: str
    tab: str
    ts: int


class SessionEndEntry(msgspec.Struct, tag_field="t", tag="e", kw_only=True):
    """A watch session ended (start.lua, stop.lua, sweep.lua): credited ms in it, and why
    (stop | expired | replaced | switched)."""

    sid: str
    uid: int
    cid: int
    wms: int
    ts: int
    why: str


class FlagEntry(msgspec.Struct, tag_field="t", tag="f", kw_only=True):
    """A user put on hold for multi-account review (flag.lua): flag id f:<uid>:<ms>, the
    reason (device | ip), the device id or address, the accounts seen on it."""

    fid: str
    uid: int
    why: str
    key: str
    n: int
    ts: int


OutboxEntry = GrantEntry | SessionStartEntry | SessionEndEntry | FlagEntry
KINDS: tuple[type[OutboxEntry], ...] = (GrantEntry, SessionStartEntry, SessionEndEntry, FlagEntry)


def tag(kind: type[OutboxEntry]) -> str:
    return str(kind.__struct_config__.tag)


def field_names(kind: type[OutboxEntry]) -> tuple[str, ...]:
    """The stream fields after `t`, in order (the optional ones last)."""
    return tuple(kind.__struct_fields__)


def stream_fields(entry: OutboxEntry) -> dict[bytes, bytes]:
    """The entry as a stream's field map, the way the scripts write it (an optional field at
    its default is left out)."""
    kind = type(entry)
    out = {b"t": tag(kind).encode()}
    names = kind.__struct_fields__
    optional = names[len(names) - len(kind.__struct_defaults__) :]
    defaults = dict(zip(optional, kind.__struct_defaults__, strict=True))
    for name in field_names(kind):
        value = getattr(entry, name)
        if name in defaults and value == defaults[name]:
            continue
        out[name.encode()] = str(value).encode()
    return out


def read_fields(fields: dict[bytes, bytes]) -> OutboxEntry:
    """A stream entry's field map back into its Struct, the inverse of `stream_fields`.
    Strict: raises ValueError unless `stream_fields` of the result gives back the same
    fields in the same order (no unknown, missing or reordered field, no default written)."""
    entry: OutboxEntry = msgspec.convert(
        {k.decode(): v.decode() for k, v in fields.items()}, OutboxEntry, strict=False
    )
    if list(stream_fields(entry).items()) != list(fields.items()):
        raise ValueError(f"not exactly a {type(entry).__name__}'s fields: {fields!r}")
    return entry
