"""Dead letters: list them, and put them back into the outbox once their cause is fixed.

    python -m workers.deadletters list [--partition P] [--limit N]
    python -m workers.deadletters replay --partition P ID [ID ...]
    python -m workers.deadletters replay --partition P --all

Uses the same environment as the other processes (REDIS_URL, REDIS_PARTITIONS...). A replayed
entry is appended to its partition's outbox with its original fields (replay.lua), its grant
amount goes back into the user's `pend` (the outbox invariant), and the drain writes it like
any other entry; a grant already in the ledger is written once, as always.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from core.redis_client import LiveRedis, make_redis
from core.settings import load_or_exit
from live import keys, scripts
from live.scripts import ScriptRunner
from workers.entries import pend_share


def _s(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


async def list_dead(
    redis: LiveRedis, partitions: Sequence[int], limit: int = 100
) -> list[dict[str, Any]]:
    """The dead letters of these partitions (oldest first, at most `limit` per partition)."""
    out: list[dict[str, Any]] = []
    for p in partitions:
        for eid, fields in await redis.xrange(keys.dead_letters(p), "-", "+", count=limit):
            row = {"partition": p, "id": _s(eid)}
            row.update({_s(k): _s(v) for k, v in fields.items()})
            out.append(row)
    return out


async def replay(
    redis: LiveRedis, partition: int, ids: Sequence[str] | None, partitions: int
) -> int:
    """Move dead letters of `partition` back into its outbox: these ids, or all (None)."""
    dead = keys.dead_letters(partition)
    if ids is None:
        entries = await redis.xrange(dead, "-", "+")
    else:
        entries = []
        for eid in ids:
            entries += await redis.xrange(dead, eid, eid)
    args: list[Any] = [keys.tag(partition)]
    for eid, fields in entries:
        share = pend_share(fields)
        if share is not None and keys.partition_of(share[0], partitions) != partition:
            share = None
        args += (_s(eid), share[0] if share else "", share[1] if share else 0)
    if len(args) == 1:
        return 0
    runner = ScriptRunner(redis)
    return int(await runner.run(scripts.REPLAY, (dead, keys.outbox(partition)), args))


async def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.deadletters", description="List or replay the outbox dead letters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="print the dead letters as JSON lines")
    ls.add_argument("--partition", type=int)
    ls.add_argument("--limit", type=int, default=100, help="per partition")
    rp = sub.add_parser("replay", help="put dead letters back into the outbox")
    rp.add_argument("--partition", type=int, required=True)
    rp.add_argument("--all", action="store_true")
    rp.add_argument("ids", nargs="*")
    args = parser.parse_args(argv)
    settings = load_or_exit()
    redis = make_redis(settings, pool_size=2)
    try:
        parts = range(settings.redis_partitions)
        if args.command == "list":
            chosen = [args.partition] if args.partition is not None else list(parts)
            for row in await list_dead(redis, chosen, args.limit):
                print(json.dumps(row))
            return 0
        if not args.all and not args.ids:
            parser.error("replay needs entry ids or --all")
        n = await replay(
            redis, args.partition, None if args.all else args.ids, settings.redis_partitions
        )
        print(f"replayed {n} entries of partition {args.partition}")
        return 0
    finally:
        await redis.aclose()
        pool = getattr(redis, "connection_pool", None)
        if pool is not None:
            await pool.disconnect()


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
