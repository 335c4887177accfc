"""The outbox entries' wire shape is defined once (live/outbox.py): every script that
appends an entry writes exactly its Struct's fields, in order, and says so in its header;
the worker reads each kind back into the values it persists; and the test producer of
grants (devkit.outbox) writes what tick.lua writes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from live import keys, outbox
from live.lanes import TickParams
from live.store import LiveStore
from tests.workers.conftest import PARTITIONS, produce
from workers import entries

LUA = Path(__file__).resolve().parents[2] / "live" / "lua"
HEADER = re.compile(r"^-- OUTBOX (\w): (.+)$", re.M)


def _xadd_calls(source: str) -> list[list[str]]:
    """The top-level arguments of each `redis.call('XADD', ...)` in a script."""
    calls = []
    for match in re.finditer(r"redis\.call\('XADD',", source):
        depth, i, args, current = 1, match.end(), [], ""
        while depth:
            ch = source[i]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if depth == 1 and ch == ",":
                args.append(current.strip())
                current = ""
            elif depth:
                current += ch
            i += 1
        args.append(current.strip())
        calls.append(args)
    return calls


def _written() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """tag -> [(script, field names)] for every XADD that writes a literal `t`."""
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for path in sorted(LUA.glob("*.lua")):
        for args in _xadd_calls(path.read_text()):
            # KEY, '*', 't', '<tag>', name, value, name, value, ...
            if len(args) < 4 or args[2] != "'t'":
                continue  # replay / dead-letter copies: unpack(fields) of an entry as read
            names = tuple(a.strip("'") for a in args[4::2])
            out.setdefault(args[3].strip("'"), []).append((path.name, names))
    return out


@pytest.mark.parametrize("kind", outbox.KINDS, ids=outbox.tag)
def test_every_script_writes_the_structs_fields(kind: type[outbox.OutboxEntry]) -> None:
    """Each XADD of this kind writes the Struct's required fields in order, plus optional
    ones only from its defaults; each writing script's header names the same list."""
    tag = outbox.tag(kind)
    fields = outbox.field_names(kind)
    required = fields[: len(fields) - len(kind.__struct_defaults__)]
    writes = _written().get(tag)
    assert writes, f"no script writes t={tag}"
    for script, names in writes:
        assert names[: len(required)] == required, (script, names)
        assert set(names[len(required) :]) <= set(fields[len(required) :]), (script, names)
        headers = {m.group(1): m.group(2) for m in HEADER.finditer((LUA / script).read_text())}
        declared = " ".join([*required, *(f"[{f}]" for f in fields[len(required) :])])
        assert headers.get(tag) == declared, (script, headers)


def test_no_script_writes_a_kind_that_is_not_declared() -> None:
    assert set(_written()) == {outbox.tag(k) for k in outbox.KINDS}


SAMPLES: list[tuple[outbox.OutboxEntry, object]] = [
    (
        outbox.GrantEntry(rid="w:3:9:2", uid=3, cid=9, amt=10, ts=1_700_000_000_000),
        entries.Grant("1-0", "w:3:9:2", 3, 9, 10, 1_700_000_000_000),
    ),
    (
        outbox.GrantEntry(rid="w:3:9:3", uid=3, cid=9, amt=10, ts=1, hold=1),
        entries.Grant("1-0", "w:3:9:3", 3, 9, 10, 1, held=True),
    ),
    (
        outbox.SessionStartEntry(sid="ab12", uid=3, cid=9, dev="tv", tab="t1", ts=5),
        entries.SessionStart("1-0", "ab12", 3, 9, "tv", "t1", 5),
    ),
    (
        outbox.SessionEndEntry(sid="ab12", uid=3, cid=9, wms=61_000, ts=6, why="stop"),
        entries.SessionEnd("1-0", "ab12", 3, 9, 61_000, 6, "stop"),
    ),
    (
        outbox.FlagEntry(fid="f:3:7", uid=3, why="device", key="tv", n=4, ts=7),
        entries.Flag("1-0", "f:3:7", 3, "device", "tv", 4, 7),
    ),
]


@pytest.mark.parametrize(("entry", "value"), SAMPLES, ids=lambda x: type(x).__name__)
def test_the_worker_reads_each_kind_back(entry: outbox.OutboxEntry, value: object) -> None:
    """An entry written the way its Struct says is parsed into the value the drain persists."""
    partitions = 16
    parsed = entries.parse(
        "1-0", outbox.stream_fields(entry), keys.partition_of(3, partitions), partitions
    )
    assert parsed == value


async def test_the_test_producer_writes_what_tick_lua_writes(redis: Any) -> None:
    """devkit.outbox (the worker tests' stand-in for heartbeats) writes, for a grant, the
    entry that the real tick.lua writes for the same grant, field for field and in order,
    and adds the same amount to `pend`; only `ts`, each script's own clock, differs."""
    store = LiveStore(redis, PARTITIONS)
    await store.load_scripts()
    uid, cid, amount = 5, 9, 7
    k = store.user_keys(uid)
    await store.start(uid, cid, "t", "d", False, "s1", "n1", "c1", "ws", 30_000)
    await asyncio.sleep(0.06)
    tick = TickParams(
        heartbeat_ms=1000,
        ttl_ms=30_000,
        interval_ms=50,
        amount=amount,
        cap=0,
        paused=False,
        tz_offset_ms=0,
    )
    r = await store.tick(uid, cid, "s1", 1, "t", "d", True, tick)
    assert r.status == "ok" and r.granted
    await store.close()

    async def grants_and_pend() -> tuple[list[outbox.OutboxEntry], bytes]:
        fields = [f for _, f in await redis.xrange(k.outbox) if f[b"t"] == b"g"]
        return [outbox.read_fields(f) for f in fields], await redis.hget(k.balance, "pend")

    real, real_pend = await grants_and_pend()
    await redis.flushall()
    sec, usec = await redis.time()
    boundaries = [int(rid.rsplit(":", 1)[1]) for rid in r.granted]
    await produce(redis, [(uid, cid, n, amount) for n in boundaries])
    made, made_pend = await grants_and_pend()

    assert made_pend == real_pend == str(amount * len(r.granted)).encode()
    assert [msgspec.structs.replace(e, ts=0) for e in made] == [
        msgspec.structs.replace(e, ts=0) for e in real
    ]
    assert all(isinstance(e, outbox.GrantEntry) for e in made)
    assert all(e.ts >= int(sec) * 1000 + int(usec) // 1000 for e in made)  # Redis TIME, ms
