"""Grants written straight to the outbox the way tick.lua writes them, many at a time: for the
money-path tests and the drain benchmark, which need an outbox full of grants without
running heartbeats for each. It is a test double of the producer only; the consumer under
test is the real one (workers/)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from live import keys

# What tick.lua does for a grant, for many grants of one partition in one call: pend += amt
# and an outbox entry `t=g rid uid cid amt ts` (rid w:<uid>:<cid>:<n>).
PRODUCE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = {}
for i = 2, #ARGV, 4 do
  local uid, cid, n, amt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  redis.call('HINCRBY', ARGV[1] .. ':u:' .. uid .. ':bal', 'pend', amt)
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 't', 'g',
    'rid', 'w:' .. uid .. ':' .. cid .. ':' .. n,
    'uid', uid, 'cid', cid, 'amt', amt, 'ts', now)
end
return ids
"""

Grant = tuple[int, int, int, int]  # (user id, content id, n, amount)


def reward_id(g: Grant) -> str:
    return f"w:{g[0]}:{g[1]}:{g[2]}"


async def produce(
    redis: Any, grants: Iterable[Grant], partitions: int, chunk: int = 2000
) -> list[str]:
    """Write grants to the outbox like tick.lua (pipelined, chunked by partition); returns
    the entry ids."""
    by_p: dict[int, list[Grant]] = {}
    for g in grants:
        by_p.setdefault(keys.partition_of(g[0], partitions), []).append(g)
    sha = await redis.script_load(PRODUCE_LUA)
    pipe = redis.pipeline(transaction=False)
    for p, gs in by_p.items():
        for i in range(0, len(gs), chunk):
            args: list[Any] = [keys.tag(p)]
            for g in gs[i : i + chunk]:
                args += g
            pipe.execute_command("EVALSHA", sha, 1, keys.outbox(p), *args)  # cluster-safe
    ids: list[str] = []
    for reply in await pipe.execute():
        ids += [x.decode() for x in reply]
    return ids
