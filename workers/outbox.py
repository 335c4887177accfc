"""The Redis side of the drain: the consumer group on every partition's outbox stream,
reading, taking over a dead consumer's entries, acknowledging, dead-lettering.

One command per key in every pipeline, and per-partition scripts whose keys share the
partition's hash tag, so all of it works on a Redis Cluster too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from core.redis_client import LiveRedis
from live import keys, scripts
from live.scripts import Call, ScriptRunner
from workers.entries import Bad, Grant

# What ack.lua gets for one partition: the entries (Grants, or ids of session events) and the
# balances to cache (user -> (balance, version)).
AckWork = tuple[Sequence[Grant | str], Mapping[int, tuple[int, int]]]
Raw = tuple[str, list[bytes] | None]  # (entry id, fields as Redis sends them; None: deleted)


def _raw_reply(response: Any, **options: Any) -> Any:
    return response


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(slots=True)
class Read:
    """Entries read from one partition. `deliveries` is set for entries read back from this
    consumer's pending list (a restart or a take-over): id -> times delivered so far."""

    partition: int
    entries: list[Raw]
    deliveries: dict[str, int] | None = None


@dataclass(slots=True)
class Stats:
    length: int
    oldest_ms: int | None
    dead: int


class Outbox:
    def __init__(
        self, redis: LiveRedis, partitions: int, consumer: str, *, group: str = keys.OUTBOX_GROUP
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.consumer = consumer
        self.group = group
        self.runner = ScriptRunner(redis)
        # XREADGROUP replies as Redis sends them: entries are read by position
        # (entries.parse_flat), without the dict per entry that redis-py would build.
        redis.set_response_callback("XREADGROUP", _raw_reply)

    async def ensure_groups(self, parts: Iterable[int]) -> None:
        """Create the consumer group on each stream (and the stream) when missing. From id 0:
        entries appended before the group existed are delivered too."""
        pipe = self.redis.pipeline(transaction=False)
        for p in parts:
            pipe.xgroup_create(keys.outbox(p), self.group, id="0", mkstream=True)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, ResponseError) and "BUSYGROUP" not in str(reply):
                raise reply
            if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
                raise reply

    async def read(self, parts: Sequence[int], pending: set[int], count: int) -> list[Read]:
        """Read up to `count` entries from each partition: this consumer's own pending entries
        first for the partitions in `pending` (removed from it once they are all read back),
        new ones for the others. A missing group is created again (its entries are then
        delivered anew) and that partition reads nothing this time."""
        pipe = self.redis.pipeline(transaction=False)
        for p in parts:
            key = keys.outbox(p)
            if p in pending:
                pipe.xreadgroup(self.group, self.consumer, {key: "0"}, count=count)
                pipe.xpending_range(key, self.group, "-", "+", count, self.consumer)
            else:
                pipe.xreadgroup(self.group, self.consumer, {key: ">"}, count=count)
        replies = await pipe.execute(raise_on_error=False)
        out: list[Read] = []
        missing: list[int] = []
        i = 0
        for p in parts:
            reply = replies[i]
            i += 1
            detail = None
            if p in pending:
                detail = replies[i]
                i += 1
            if isinstance(reply, ResponseError) and "NOGROUP" in str(reply):
                missing.append(p)
                continue
            if isinstance(reply, Exception):
                raise reply
            entries = [(eid.decode(), flat) for eid, flat in reply[0][1]] if reply else []
            if detail is None:
                if entries:
                    out.append(Read(p, entries))
                continue
            if isinstance(detail, Exception):
                raise detail
            if len(entries) < count:
                pending.discard(p)  # all read back: new entries from now on
            if entries:
                counts = {_s(d["message_id"]): int(d["times_delivered"]) for d in detail}
                out.append(Read(p, entries, counts))
        if missing:
            await self.ensure_groups(missing)
        return out

    async def claim(self, p: int, min_idle_ms: int, most: int = 10_000) -> tuple[int, list[str]]:
        """Take over the entries of this partition that another consumer has left unacknowledged
        for `min_idle_ms` (claim.lua: XAUTOCLAIM JUSTID); they join this consumer's pending
        list and `read` reads them back. Returns (entries taken, ids that were pending but no
        longer exist in the stream)."""
        reply = await self.runner.run(
            scripts.CLAIM, (keys.outbox(p),), (self.group, self.consumer, min_idle_ms, most)
        )
        return int(reply[0]), [_s(x) for x in reply[1:]]

    async def ack(self, by_partition: Mapping[int, AckWork]) -> list[Any]:
        """Acknowledge persisted entries, partition by partition, in one pipeline (ack.lua):
        `by_partition[p] = (entries, balances)`, entries being Grants (their amount leaves
        pend, unless held) or entry ids (session events, flags), balances user -> (balance,
        version) to cache.
        Returns each partition's reply or exception."""
        calls: list[Call] = []
        for p, (entries, balances) in by_partition.items():
            ids = " ".join(e.entry_id if isinstance(e, Grant) else e for e in entries)
            # A held grant was never in `pend` (tick.lua): nothing to take off.
            shares = " ".join(
                f"{e.user_id}:{e.amount}" if isinstance(e, Grant) and not e.held else "-"
                for e in entries
            )
            cache = " ".join(f"{u}:{b}:{v}" for u, (b, v) in balances.items())
            args = (keys.tag(p), self.group, ids, shares, cache)
            calls.append((scripts.ACK, (keys.outbox(p),), args))
        return await self.runner.run_many(calls)

    async def dead_letter(self, p: int, bad: Sequence[Bad], now_ms: int, max_len: int) -> int:
        """Move these entries of partition `p` to its dead-letter stream (deadletter.lua)."""
        args: list[Any] = [keys.tag(p), self.group, max_len, now_ms]
        for b in bad:
            uid = "" if b.pend_user is None else b.pend_user
            args += (b.entry_id, uid, b.pend_amount, b.reason[:500])
        return int(
            await self.runner.run(scripts.DEADLETTER, (keys.outbox(p), keys.dead_letters(p)), args)
        )

    async def stats(self, parts: Sequence[int]) -> tuple[int, dict[int, Stats]]:
        """(Redis time ms, per partition: outbox length, time of its oldest entry, dead letters).
        Acknowledged entries are deleted, so the oldest entry is the oldest unacknowledged one."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.time()
        for p in parts:
            pipe.xlen(keys.outbox(p))
            pipe.xrange(keys.outbox(p), "-", "+", count=1)
            pipe.xlen(keys.dead_letters(p))
        replies = await pipe.execute()
        secs, micros = replies[0]
        now_ms = int(secs) * 1000 + int(micros) // 1000
        out: dict[int, Stats] = {}
        for j, p in enumerate(parts):
            length, first, dead = replies[1 + 3 * j : 4 + 3 * j]
            oldest = int(_s(first[0][0]).split("-", 1)[0]) if first else None
            out[p] = Stats(int(length), oldest, int(dead))
        return now_ms, out
