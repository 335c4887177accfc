"""The Lua scripts: read once from their files, called by SHA, reloaded on NOSCRIPT (a Redis
restart or failover forgets loaded scripts)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import NoScriptError

from core.redis_client import LiveRedis

_DIR = Path(__file__).parent / "lua"


class Script:
    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = (_DIR / f"{name}.lua").read_text()
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()


START = Script("start")
TICK = Script("tick")
STOP = Script("stop")
SWEEP = Script("sweep")
SETBAL = Script("setbal")
# The outbox consumer's scripts (workers/): acknowledge, dead-letter, reconcile, leases.
ACK = Script("ack")
DEADLETTER = Script("deadletter")
RECONCILE = Script("reconcile")
LEASE = Script("lease")
REPLAY = Script("replay")
CLAIM = Script("claim")
# Multi-account review: the hub's hold of a flagged user; the api's decision (live/holds.py).
FLAG = Script("flag")
DECIDE = Script("decide")
ALL = (
    START,
    TICK,
    STOP,
    SWEEP,
    SETBAL,
    ACK,
    DEADLETTER,
    RECONCILE,
    LEASE,
    REPLAY,
    CLAIM,
    FLAG,
    DECIDE,
)

Call = tuple[Script, Sequence[str], Sequence[Any]]


async def load_all(redis: Any) -> None:
    """Load every script (a NOSCRIPT reply means Redis forgot them all: restart, failover)."""
    for script in ALL:
        await redis.script_load(script.source)


async def run(redis: Any, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Call `script` by SHA on any redis-py client; on NOSCRIPT (it did not run) load the
    scripts and call it again. Raises what Redis raises. The one NOSCRIPT rule for every
    caller outside the hub's pipelined paths (which call `load_all` themselves)."""
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        await load_all(redis)
        return await redis.evalsha(script.sha, len(keys), *keys, *args)


class ScriptRunner:
    def __init__(self, redis: LiveRedis) -> None:
        self.redis = redis

    async def load(self) -> None:
        await load_all(self.redis)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await run(self.redis, script, keys, args)

    async def run_many(
        self, calls: Sequence[Call], extra: Sequence[tuple[Any, ...]] = ()
    ) -> list[Any]:
        """Run many scripts (and plain `extra` commands after them) in one pipeline round trip.
        Each result is the reply or the exception of that call. A script that found NOSCRIPT
        did not run, so it is run again after a reload."""
        pipe = self.redis.pipeline(transaction=False)
        for script, keys, args in calls:
            # execute_command, not pipe.evalsha: a cluster pipeline routes EVALSHA by its keys
            # but blocks the evalsha() method.
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        for command in extra:
            pipe.execute_command(*command)
        results = await pipe.execute(raise_on_error=False)
        missing = [i for i, r in enumerate(results[: len(calls)]) if isinstance(r, NoScriptError)]
        if missing:
            await self.load()
            retry = self.redis.pipeline(transaction=False)
            for i in missing:
                script, keys, args = calls[i]
                retry.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            for i, r in zip(missing, await retry.execute(raise_on_error=False), strict=False):
                results[i] = r
        return list(results)
