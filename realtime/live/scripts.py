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
    __slots__ = ("name", "source", "sha")

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
# Multi-account review: the hub's hold of a flagged user; the api's decision (core/holds.py).
FLAG = Script("flag")
DECIDE = Script("decide")
ALL = (START, TICK, STOP, SWEEP, SETBAL, ACK, DEADLETTER, RECONCILE, LEASE, REPLAY, CLAIM, FLAG,
       DECIDE)

Call = tuple[Script, Sequence[str], Sequence[Any]]


class ScriptRunner:
    def __init__(self, redis: LiveRedis) -> None:
        self.redis = redis

    async def load(self) -> None:
        for script in ALL:
            await self.redis.script_load(script.source)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.redis.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load()
            return await self.redis.evalsha(script.sha, len(keys), *keys, *args)

    async def run_many(self, calls: Sequence[Call], extra: Sequence[tuple[Any, ...]] = ()) -> list[Any]:
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
            for i, r in zip(missing, await retry.execute(raise_on_error=False)):
                results[i] = r
        return list(results)
