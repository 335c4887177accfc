"""The Python API of the live state: one method per Lua step, typed results, and the
content-wide viewer sets (kept outside the per-user scripts: another hash tag, another slot)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from core.redis_client import LiveRedis
from live import keys, scripts, viewers
from live.batcher import PipelineBatcher
from live.lanes import TAIL_ARGC, ClusterLane, PipelineLane, RespLane, TickLane, TickParams
from live.resp import ClusterResp, RespConnection
from live.rules import Push
from live.scripts import ScriptRunner
from live.wire import TickWire


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opt_int(value: object) -> int | None:
    return None if value is None or value is False else int(_s(value))


@dataclass(frozen=True, slots=True)
class StartResult:
    status: str  # new | resumed | conflict | takeover
    session_id: str
    epoch: int
    elapsed_ms: int
    last_n: int
    pg_balance: int | None  # None: not cached in Redis yet
    pending: int
    now_ms: int
    other_node: str
    other_conn: str
    other_content: int | None
    other_device: str
    push_offset: int  # the user's push log: its last offset and epoch ('' before any push)
    push_epoch: str
    on_review: bool  # on hold for multi-account review (flag.lua): its grants are held


@dataclass(slots=True)  # not frozen: built on every heartbeat (see realtime.service.Grant)
class TickResult:
    status: str  # ok | no_session | replaced
    elapsed_ms: int = 0
    credited_ms: int = 0
    remaining_ms: int = 0
    pg_balance: int | None = None
    pending: int = 0
    now_ms: int = 0
    notice: bool = False
    session_id: str = ""
    push_offset: int = 0  # the first push this tick logged (one per reward, then the notice)
    push_epoch: str = ""
    granted: tuple[str, ...] = ()  # the reward ids paid by this tick (tick.lua builds them)
    amount: int = 0  # what each of them pays (the content's boost applied)
    active_device: str = ""
    active_content: int | None = None


@dataclass(frozen=True, slots=True)
class StopResult:
    stopped: bool
    content_id: int = 0
    watched_ms: int = 0


def tick_result(r: Any) -> TickResult:
    """tick.lua's reply as a value."""
    status = _s(r[0])
    if status == "replaced":
        return TickResult(status, active_device=_s(r[1]), active_content=int(_s(r[2])))
    if status != "ok":
        return TickResult(status)
    return TickResult(
        status,
        elapsed_ms=int(r[1]),
        credited_ms=int(r[2]),
        remaining_ms=int(r[3]),
        pg_balance=_opt_int(r[4]),
        pending=int(r[5]),
        now_ms=int(r[6]),
        notice=r[7] == 1,
        session_id=_s(r[8]),
        push_offset=int(r[9]),
        push_epoch=_s(r[10]),
        amount=int(r[11]),
        granted=tuple(_s(rid) for rid in r[12:]),
    )


class LiveStore:
    """`fast`: a RespConnection to the same (single) Redis for the heartbeats; `cluster`: one
    per primary of a Redis Cluster (ClusterResp). With neither (TLS) heartbeats go through
    redis-py pipelines. The choice is made here, once: `lane` (live.lanes)."""

    def __init__(
        self,
        redis: LiveRedis,
        partitions: int,
        *,
        fast: RespConnection | None = None,
        cluster: ClusterResp | None = None,
        max_batch: int = 128,
        max_inflight: int = 4,
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.runner = ScriptRunner(redis)
        batcher = PipelineBatcher(self.runner, max_batch=max_batch, max_inflight=max_inflight)
        self.lane: TickLane
        if fast is not None:
            self.lane = RespLane(fast, self.runner)
        elif cluster is not None:
            self.lane = ClusterLane(cluster, batcher)
        else:
            self.lane = PipelineLane(batcher)
        self.callbacks = self.lane.callbacks  # `tick_soon` can send
        self._keys: dict[int, keys.UserKeys] = {}

    def user_keys(self, user_id: int) -> keys.UserKeys:
        """The user's key names, built once per user (they are on every heartbeat's path)."""
        k = self._keys.get(user_id)
        if k is None:
            if len(self._keys) >= 500_000:
                self._keys.clear()
            k = self._keys[user_id] = keys.UserKeys(user_id, self.partitions)
        return k

    async def load_scripts(self) -> None:
        await self.runner.load()

    async def close(self) -> None:
        await self.lane.close()

    async def start(
        self,
        user_id: int,
        content_id: int,
        tab: str,
        device: str,
        takeover: bool,
        session_id: str,
        node: str,
        conn: str,
        transport: str,
        ttl_ms: int,
    ) -> StartResult:
        k = self.user_keys(user_id)
        r = await self.runner.run(
            scripts.START,
            (k.session, k.watch, k.balance, k.deadlines, k.outbox),
            (
                user_id,
                content_id,
                tab,
                device,
                "1" if takeover else "0",
                session_id,
                node,
                conn,
                transport,
                ttl_ms,
            ),
        )
        other_content = _s(r[10])
        return StartResult(
            status=_s(r[0]),
            session_id=_s(r[1]),
            epoch=int(r[2]),
            elapsed_ms=int(r[3]),
            last_n=int(r[4]),
            pg_balance=_opt_int(r[5]),
            pending=int(r[6]),
            now_ms=int(r[7]),
            other_node=_s(r[8]),
            other_conn=_s(r[9]),
            other_content=int(other_content) if other_content else None,
            other_device=_s(r[11]),
            push_offset=int(r[12]),
            push_epoch=_s(r[13]),
            on_review=int(r[14]) == 1,
        )

    def tick_wire(
        self, user_id: int, content_id: int, session_id: str, epoch: int, tab: str, device: str
    ) -> TickWire:
        """One session's tick call, to keep with the session and pass to its every `tick`."""
        k = self.user_keys(user_id)
        call = TickWire(
            scripts.TICK.sha,
            (k.session, k.watch, k.day, k.balance, k.deadlines, k.outbox, k.pushes),
            user_id,
            session_id,
            epoch,
            tab,
            device,
            content_id,
            keys.viewers(content_id),
            argc=TAIL_ARGC,
        )
        self.lane.prepare(call)
        return call

    async def tick(
        self,
        user_id: int,
        content_id: int,
        session_id: str,
        epoch: int,
        tab: str,
        device: str,
        earning: bool,
        p: TickParams,
        call: TickWire | None = None,
    ) -> TickResult:
        """One heartbeat, pipelined with the others. Also refreshes this user's entry in the
        content's viewer set (XX: a swept or stopped session is not brought back)."""
        if call is None:
            call = self.tick_wire(user_id, content_id, session_id, epoch, tab, device)
        deadline = int(time.time() * 1000) + p.ttl_ms
        return tick_result(await self.lane.tick(call, earning, p, deadline))

    def tick_soon(
        self,
        call: TickWire,
        earning: bool,
        p: TickParams,
        now_ms: int,
        callback: Callable[[Any], None],
    ) -> bool:
        """`tick` without a future (when `callbacks`): `callback` gets tick.lua's raw reply
        (read it with `tick_result`) or the exception; one of resp.NOT_RUN means the script
        did not run (`tick` may be called instead: it reloads scripts and follows cluster
        redirects). False: nothing was sent (no node known for the slot yet)."""
        return self.lane.tick_soon(call, earning, p, now_ms + p.ttl_ms, callback)

    async def stop(
        self, user_id: int, session_id: str, tab: str = "", content_id: int = 0
    ) -> StopResult:
        """Stop by session id (WebSocket) or, with session_id '', by tab and content (HTTP)."""
        k = self.user_keys(user_id)
        r = await self.runner.run(
            scripts.STOP, (k.session, k.deadlines, k.outbox), (user_id, session_id, tab, content_id)
        )
        if _s(r[0]) != "stopped":
            return StopResult(False)
        result = StopResult(True, int(_s(r[1])), int(r[2]))
        await self.redis.zrem(keys.viewers(result.content_id), user_id)
        return result

    async def pushes(self, user_id: int) -> list[Push]:
        """The user's push log (tick.lua), oldest first; an entry that does not parse is
        skipped (it cannot be shown anyway)."""
        out = []
        key = self.user_keys(user_id).pushes
        for raw in await self.redis.execute_command("LRANGE", key, 0, -1):
            try:
                e = orjson.loads(raw)
                out.append(
                    Push(
                        offset=int(e["o"]),
                        kind=str(e["k"]),
                        reward_id=str(e.get("rid", "")),
                        amount=int(e.get("amt", 0)),
                        content_id=int(e.get("cid", 0)),
                        code=str(e.get("code", "")),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        return out

    async def set_pg_balance(self, user_id: int, balance: int, version: int) -> tuple[int, int]:
        """Cache the PostgreSQL balance (newer versions only); returns (pg, pending)."""
        k = self.user_keys(user_id)
        r = await self.runner.run(scripts.SETBAL, (k.balance,), (balance, version))
        return int(r[0]), int(r[1])

    async def sweep(self, partitions: Iterable[int], limit: int = 500) -> list[tuple[int, int]]:
        """End expired sessions in these partitions; returns (user_id, content_id) of each."""
        parts = list(partitions)
        calls = [
            (scripts.SWEEP, (keys.deadlines(p), keys.outbox(p)), (keys.tag(p), limit))
            for p in parts
        ]
        ended: list[tuple[int, int]] = []
        for reply in await self.runner.run_many(calls):
            if isinstance(reply, Exception):
                raise reply
            ended.extend(
                (int(_s(reply[i])), int(_s(reply[i + 1]))) for i in range(0, len(reply), 2)
            )
        if ended:
            pipe = self.redis.pipeline(transaction=False)
            for user_id, content_id in ended:
                pipe.zrem(keys.viewers(content_id), user_id)
            await pipe.execute()
        return ended

    async def join_viewers(
        self, user_id: int, content_id: int, now_ms: int, ttl_ms: int, left_content: int | None
    ) -> int:
        """Put the user in the content's viewer set (and out of the one it left); returns the
        content's live viewer count."""
        pipe = self.redis.pipeline(transaction=False)
        if left_content is not None and left_content != content_id:
            pipe.zrem(keys.viewers(left_content), user_id)
        pipe.zadd(keys.viewers(content_id), {str(user_id): now_ms + ttl_ms})
        pipe.zcount(keys.viewers(content_id), now_ms, "+inf")
        return int((await pipe.execute())[-1])

    async def viewer_counts(
        self, content_ids: Sequence[int], now_ms: int | None = None
    ) -> list[int]:
        """Live viewers of each content (live.viewers)."""
        return await viewers.counts(self.redis, content_ids, now_ms)

    async def prune_viewers(self, content_ids: Sequence[int], now_ms: int | None = None) -> None:
        await viewers.prune(self.redis, content_ids, now_ms)
