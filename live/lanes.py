"""The three ways a heartbeat's tick reaches Redis, behind one interface (`TickLane`).

- `RespLane`: the pipelined RESP connection (live.resp) to a single Redis, as deployed;
- `ClusterLane`: one RESP connection per Redis Cluster primary for the callback path, and
  redis-py pipelines (which follow MOVED/ASK) for the awaited one;
- `PipelineLane`: redis-py pipelines only (TLS, which live.resp does not speak).

`LiveStore` picks one when it is built; the heartbeat's path then calls it without asking
which it is. Every lane takes the same `TickWire` (the session's encoded call and its raw
fields) and returns tick.lua's raw reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisError

from live import scripts, wire
from live.batcher import PipelineBatcher
from live.resp import ClusterResp, RespConnection
from live.scripts import ScriptRunner
from live.wire import TickWire

ReplyCallback = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class TickParams:
    """The runtime values a tick needs (from runtime settings and the content)."""

    heartbeat_ms: int
    ttl_ms: int
    interval_ms: int
    amount: int
    cap: int
    paused: bool
    tz_offset_ms: int
    push_keep: int = 50  # pushes kept per user for recovery (0: none)
    push_ttl_ms: int = 300_000
    # The content's boost (docs/api.md, "Reward posts"): a multiplier in percent and the
    # window it holds in, judged by tick.lua on Redis TIME. 100: none.
    boost_pct: int = 100
    boost_from_ms: int = 0
    boost_until_ms: int = 0

    def args(self) -> tuple[object, ...]:
        """tick.lua's arguments after `earning`, in its order."""
        return (
            self.heartbeat_ms,
            self.ttl_ms,
            self.interval_ms,
            self.amount,
            self.cap,
            "1" if self.paused else "0",
            self.tz_offset_ms,
            self.push_keep,
            self.push_ttl_ms,
            self.boost_pct,
            self.boost_from_ms,
            self.boost_until_ms,
        )


TAIL_ARGC = 13  # `earning` + the 12 of TickParams.args


class TickLane(Protocol):
    callbacks: bool  # `tick_soon` can send; False: it never does, await `tick`

    def prepare(self, call: TickWire) -> None:
        """Lane-specific routing kept with the session's call (a cluster's slots)."""

    async def tick(self, call: TickWire, earning: bool, p: TickParams, deadline_ms: int) -> Any:
        """Run the tick and refresh the viewer entry; tick.lua's reply."""

    def tick_soon(
        self,
        call: TickWire,
        earning: bool,
        p: TickParams,
        deadline_ms: int,
        callback: ReplyCallback,
    ) -> bool:
        """`tick` without a future: `callback` gets the raw reply or the exception (one of
        resp.NOT_RUN: the script did not run, `tick` reloads or follows the redirect).
        False: nothing was sent."""

    async def close(self) -> None: ...


class _Tails:
    """The encoded `TickParams` part of the call, one per distinct params value."""

    def __init__(self) -> None:
        self._tails: dict[TickParams, bytes] = {}

    def __call__(self, p: TickParams) -> bytes:
        tail = self._tails.get(p)
        if tail is None:
            if len(self._tails) > 1000:
                self._tails.clear()
            tail = self._tails[p] = wire.tail(p.args())
        return tail


class PipelineLane:
    callbacks = False

    def __init__(self, batcher: PipelineBatcher) -> None:
        self.batcher = batcher

    def prepare(self, call: TickWire) -> None:
        pass

    async def tick(self, call: TickWire, earning: bool, p: TickParams, deadline_ms: int) -> Any:
        return await self.batcher.submit(
            scripts.TICK,
            call.keys,
            (*call.args, "1" if earning else "0", *p.args()),
            ("ZADD", call.viewers_key, "XX", "GT", deadline_ms, call.user_id),
        )

    def tick_soon(
        self,
        call: TickWire,
        earning: bool,
        p: TickParams,
        deadline_ms: int,
        callback: ReplyCallback,
    ) -> bool:
        return False

    async def close(self) -> None:
        await self.batcher.close()


class RespLane:
    callbacks = True

    def __init__(self, conn: RespConnection, runner: ScriptRunner) -> None:
        self.conn = conn
        self.runner = runner
        self.tail = _Tails()

    def prepare(self, call: TickWire) -> None:
        pass

    async def tick(self, call: TickWire, earning: bool, p: TickParams, deadline_ms: int) -> Any:
        data = call.encode(earning, self.tail(p), deadline_ms)
        try:
            return await self.conn.call(data, replies=2)
        except NoScriptError:  # Redis restarted or failed over: it forgot the scripts
            await self.runner.load()
            return await self.conn.call(data, replies=2)

    def tick_soon(
        self,
        call: TickWire,
        earning: bool,
        p: TickParams,
        deadline_ms: int,
        callback: ReplyCallback,
    ) -> bool:
        self.conn.call_soon(call.encode(earning, self.tail(p), deadline_ms), 2, callback)
        return True

    async def close(self) -> None:
        await self.conn.close()


class ClusterLane:
    """Callbacks over RESP to the slot's primary; the awaited tick (the retry after a
    redirect or a cluster change) over redis-py, which follows redirects."""

    callbacks = True

    def __init__(self, cluster: ClusterResp, batcher: PipelineBatcher) -> None:
        self.cluster = cluster
        self.pipelines = PipelineLane(batcher)
        self.tail = _Tails()

    def prepare(self, call: TickWire) -> None:
        call.route = (key_slot(call.keys[0].encode()), key_slot(call.viewers_key.encode()))

    async def tick(self, call: TickWire, earning: bool, p: TickParams, deadline_ms: int) -> Any:
        return await self.pipelines.tick(call, earning, p, deadline_ms)

    def tick_soon(
        self,
        call: TickWire,
        earning: bool,
        p: TickParams,
        deadline_ms: int,
        callback: ReplyCallback,
    ) -> bool:
        assert call.route is not None
        try:
            self.cluster.call_soon_at(call.route[0], call.tick(earning, self.tail(p)), 1, callback)
        except RedisError:  # no slot table yet, or the cluster is down: the redis-py path
            return False
        try:
            self.cluster.call_soon_at(call.route[1], call.zadd(deadline_ms), 1, None)
        except RedisError:
            pass  # the viewer entry is refreshed by the next heartbeat
        return True

    async def close(self) -> None:
        await self.pipelines.close()
        await self.cluster.close()
