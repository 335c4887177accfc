"""Watch sessions: the one place both transports (WebSocket and HTTP fallback) call.

It joins the catalog, the runtime settings and the live store, and returns outcomes as values;
the transports only turn them into frames or JSON. Refusals are raised as core.errors.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import ContentUnavailable, NoSession, SessionConflict
from core.settings import Settings
from core.users import load_balance
from live import rules
from live.lanes import TickParams
from live.review import ReviewLimits
from live.review_store import ReviewTracker
from live.rules import Recovery
from live.store import LiveStore, TickResult, tick_result
from live.wire import TickWire
from realtime.catalog import Catalog, ContentInfo


class Runtime(Protocol):
    """The runtime settings a session needs (core.runtime.RuntimeSettings has them). Read-only:
    RuntimeSettings is a frozen Struct."""

    @property
    def reward_interval_ms(self) -> int: ...
    @property
    def reward_amount(self) -> int: ...
    @property
    def daily_reward_cap(self) -> int: ...
    @property
    def heartbeat_interval_ms(self) -> int: ...
    @property
    def session_ttl_ms(self) -> int: ...
    @property
    def rewards_paused(self) -> bool: ...
    @property
    def push_replay_count(self) -> int: ...
    @property
    def push_replay_ms(self) -> int: ...


class Replaced(Exception):
    """A newer session (another tab or device) holds this user's watch session."""

    def __init__(self, content_id: int, by_device_id: str) -> None:
        super().__init__("replaced")
        self.content_id = content_id
        self.by_device_id = by_device_id


@dataclass(slots=True)
class SessionRef:
    """What a transport keeps of its live session."""

    content_id: int
    session_id: str
    epoch: int
    tab: str
    device: str
    wire: TickWire | None = None  # the store's encoding of this session's tick call (lazily)


# Outcomes are plain slotted dataclasses: a frozen one costs ~1.4 µs more to build (one
# object.__setattr__ per field), on every heartbeat.
@dataclass(slots=True)
class Grant:
    reward_id: str
    amount: int
    balance: int  # the balance right after this grant
    offset: int = 0  # in the user's push log (0: not logged)


@dataclass(frozen=True, slots=True)
class Started:
    ref: SessionRef
    resumed: bool
    elapsed_ms: int
    interval_ms: int
    remaining_ms: int
    balance: int
    viewers: int
    push_offset: int = 0
    push_epoch: str = ""
    recovery: Recovery | None = None  # when the start asked to recover
    on_review: bool = False  # the account is on hold: its rewards wait (REVIEW_NOTICE)


@dataclass(slots=True)
class Ticked:
    content_id: int
    session_id: str
    elapsed_ms: int
    credited_ms: int
    remaining_ms: int
    balance: int
    grants: tuple[Grant, ...]
    cap_reached: bool
    push_offset: int = 0  # the cap notice's offset when it was logged: after the grants'
    push_epoch: str = ""


# What `heartbeat_soon` hands its callback: the outcome, a refusal or failure, or a coroutine
# that finishes the outcome (it needs PostgreSQL).
TickOutcome = Ticked | Exception | Coroutine[Any, Any, Ticked]

# kick(node, connection id, content id, by device id): tell the node holding a replaced
# session's connection to close it.
Kick = Callable[[str, str, int, str], Awaitable[None]]


class WatchService:
    def __init__(
        self,
        settings: Settings,
        store: LiveStore,
        catalog: Catalog,
        engine: AsyncEngine,
        runtime: Callable[[], Runtime],
        kick: Kick,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.engine = engine
        self.runtime = runtime
        self.kick = kick
        self.review = ReviewTracker(store, ReviewLimits.from_settings(settings))
        self.node_id = settings.node_id
        self._tz = settings.tz
        self._offset_ms = 0
        self._offset_until = 0.0
        self._params_cache: dict[
            tuple[int, tuple[int, int, int] | None], tuple[Runtime, int, TickParams]
        ] = {}

    async def _content(self, content_id: int, now_ms: int) -> ContentInfo:
        info = await self.catalog.get(content_id)
        if info is None or not info.watchable(now_ms):
            raise ContentUnavailable("no such content, or it is not available")
        return info

    @staticmethod
    def _interval(info: ContentInfo, rt: Runtime) -> int:
        """The content's own reward interval, else the runtime setting."""
        return info.reward_interval_ms or rt.reward_interval_ms

    def _tz_offset(self, now_ms: int) -> int:
        # The offset changes at most twice a year: recompute once a minute.
        if time.monotonic() >= self._offset_until:
            self._offset_ms = rules.tz_offset_ms(self._tz, now_ms)
            self._offset_until = time.monotonic() + 60
        return self._offset_ms

    async def _balance(self, user_id: int, pg: int | None, pending: int) -> int:
        if pg is None:
            async with self.engine.connect() as conn:
                balance, version = await load_balance(conn, user_id)
            pg, pending = await self.store.set_pg_balance(user_id, balance, version)
        return pg + pending

    async def start(
        self,
        user_id: int,
        content_id: int,
        tab: str,
        device: str,
        takeover: bool,
        conn_id: str,
        transport: str,
        ip: str = "",
        recover: tuple[str, int] | None = None,
    ) -> Started:
        """Open, resume, switch or take over the user's session. The start is first counted
        for multi-account review under `device` and `ip` (the client's address; '' = not
        checked): an account flagged there earns held grants from now on. `recover`
        (epoch, offset): the last push the client saw; what it missed comes back in
        `Started.recovery`."""
        now_ms = int(time.time() * 1000)
        info = await self._content(content_id, now_ms)
        await self.review.record(user_id, device, ip, now_ms)
        rt = self.runtime()
        interval = self._interval(info, rt)
        r = await self.store.start(
            user_id,
            content_id,
            tab,
            device,
            takeover,
            secrets.token_hex(8),
            self.node_id,
            conn_id,
            transport,
            rt.session_ttl_ms,
        )
        if r.status == "conflict":
            active = {"active_content_id": r.other_content, "active_device_id": r.other_device}
            raise SessionConflict(
                "another tab or device of this user is watching", details=active, **active
            )
        if (
            r.status == "takeover"
            and r.other_conn
            and r.other_conn != conn_id
            and r.other_content is not None
        ):
            await self.kick(r.other_node, r.other_conn, r.other_content, device)
        viewers = await self.store.join_viewers(
            user_id, content_id, r.now_ms, rt.session_ttl_ms, r.other_content
        )
        recovery = None
        if recover is not None:
            recovery = rules.recover(
                recover, r.push_epoch, r.push_offset, await self.store.pushes(user_id)
            )
        return Started(
            ref=SessionRef(content_id, r.session_id, r.epoch, tab, device),
            resumed=r.status == "resumed",
            elapsed_ms=r.elapsed_ms,
            interval_ms=interval,
            remaining_ms=rules.remaining_ms(r.elapsed_ms, interval),
            balance=await self._balance(user_id, r.pg_balance, r.pending),
            viewers=viewers,
            push_offset=r.push_offset,
            push_epoch=r.push_epoch,
            recovery=recovery,
            on_review=r.on_review,
        )

    def _params(self, info: ContentInfo, now_ms: int) -> TickParams:
        """The tick's runtime values, one object per (runtime settings, interval, boost,
        offset)."""
        rt = self.runtime()
        interval = self._interval(info, rt)
        offset = self._tz_offset(now_ms)
        key = (interval, info.boost)
        cached = self._params_cache.get(key)
        if cached is not None and cached[0] is rt and cached[1] == offset:
            return cached[2]
        pct, start, until = info.boost or (100, 0, 0)
        params = TickParams(
            heartbeat_ms=rt.heartbeat_interval_ms,
            ttl_ms=rt.session_ttl_ms,
            interval_ms=interval,
            amount=rt.reward_amount,
            cap=rt.daily_reward_cap,
            paused=rt.rewards_paused,
            tz_offset_ms=offset,
            push_keep=rt.push_replay_count,
            push_ttl_ms=rt.push_replay_ms,
            boost_pct=pct,
            boost_from_ms=start,
            boost_until_ms=until,
        )
        if len(self._params_cache) > 1000:
            self._params_cache.clear()
        self._params_cache[key] = (rt, offset, params)
        return params

    async def heartbeat(
        self, user_id: int, ref: SessionRef, playing: bool, visible: bool
    ) -> Ticked:
        """One heartbeat of a WebSocket session (matched by session id and epoch)."""
        now_ms = int(time.time() * 1000)
        info = await self._live_content(user_id, ref.content_id, ref.session_id, now_ms)
        if ref.wire is None:
            ref.wire = self.store.tick_wire(
                user_id, ref.content_id, ref.session_id, ref.epoch, ref.tab, ref.device
            )
        r = await self.store.tick(
            user_id,
            ref.content_id,
            ref.session_id,
            ref.epoch,
            ref.tab,
            ref.device,
            playing and visible,
            self._params(info, now_ms),
            ref.wire,
        )
        return await self._ticked(user_id, ref.content_id, r)

    def heartbeat_soon(
        self,
        user_id: int,
        ref: SessionRef,
        playing: bool,
        visible: bool,
        done: Callable[[TickOutcome], None],
    ) -> bool:
        """`heartbeat` without a task, for the common case: the hub's RESP connections are in
        use and the content is in the catalog's cache and watchable. The tick is sent now and
        `done` gets, from the Redis reply's callback, the `Ticked`, the refusal or failure as
        an exception (one of resp.NOT_RUN: the tick did not run; call `heartbeat`, which
        reloads the scripts or follows the cluster's redirect), or a coroutine to await for
        the `Ticked` (the balance must first be read from PostgreSQL). False: nothing was
        sent; await `heartbeat` instead."""
        if not self.store.callbacks:
            return False
        now_ms = int(time.time() * 1000)
        content_id = ref.content_id
        info = self.catalog.cached(content_id)
        if info is None or not info.watchable(now_ms):
            return False
        if ref.wire is None:
            ref.wire = self.store.tick_wire(
                user_id, content_id, ref.session_id, ref.epoch, ref.tab, ref.device
            )

        def reply(r: Any) -> None:
            done(self._tick_reply(user_id, content_id, r))

        return self.store.tick_soon(
            ref.wire, playing and visible, self._params(info, now_ms), now_ms, reply
        )

    def _tick_reply(self, user_id: int, content_id: int, reply: Any) -> TickOutcome:
        if isinstance(reply, Exception):
            return reply
        r = tick_result(reply)
        try:
            out = self._ticked_now(user_id, content_id, r)
        except (NoSession, Replaced) as exc:
            return exc
        return out if out is not None else self._with_balance(user_id, content_id, r)

    async def _live_content(
        self, user_id: int, content_id: int, session_id: str, now_ms: int
    ) -> ContentInfo:
        """The content of a live session; a content that became unavailable ends the session."""
        info = self.catalog.cached(content_id) or await self.catalog.get(content_id)
        if info is None or not info.watchable(now_ms):
            await self.store.stop(user_id, session_id, "", content_id)
            raise ContentUnavailable("the content is no longer available")
        return info

    def _ticked_now(self, user_id: int, content_id: int, r: TickResult) -> Ticked | None:
        """A tick's outcome; None when the balance must first be read from PostgreSQL."""
        if r.status == "no_session":
            raise NoSession("no live watch session: start again")
        if r.status == "replaced":
            raise Replaced(r.active_content or content_id, r.active_device)
        if r.pg_balance is None:
            return None
        return self._outcome(user_id, content_id, r, r.pg_balance + r.pending)

    async def _ticked(self, user_id: int, content_id: int, r: TickResult) -> Ticked:
        out = self._ticked_now(user_id, content_id, r)
        return out if out is not None else await self._with_balance(user_id, content_id, r)

    async def _with_balance(self, user_id: int, content_id: int, r: TickResult) -> Ticked:
        """The outcome of an accepted tick whose balance is not cached in Redis."""
        balance = await self._balance(user_id, None, r.pending)
        return self._outcome(user_id, content_id, r, balance)

    def _outcome(self, user_id: int, content_id: int, r: TickResult, balance: int) -> Ticked:
        grants: tuple[Grant, ...] = ()
        if r.granted:
            amount = r.amount  # tick.lua's, the content's boost applied
            count = len(r.granted)
            first = r.push_offset
            grants = tuple(
                Grant(rid, amount, balance - amount * (count - 1 - i), first + i if first else 0)
                for i, rid in enumerate(r.granted)
            )
        return Ticked(
            content_id,
            r.session_id,
            r.elapsed_ms,
            r.credited_ms,
            r.remaining_ms,
            balance,
            grants,
            r.notice,
            r.push_offset + len(r.granted) if r.notice and r.push_offset else 0,
            r.push_epoch,
        )

    async def stop(self, user_id: int, ref: SessionRef) -> tuple[int, int]:
        """End the session; returns (content_id, watched_ms)."""
        r = await self.store.stop(user_id, ref.session_id)
        if not r.stopped:
            raise NoSession("no live watch session")
        return r.content_id, r.watched_ms

    # HTTP fallback: sessions matched by (tab, device, content) instead of a held session id.

    async def timer(
        self,
        user_id: int,
        content_id: int,
        tab: str,
        device: str,
        playing: bool,
        visible: bool,
        takeover: bool,
        ip: str = "",
    ) -> tuple[Started | None, Ticked | None]:
        """The first call opens or resumes the session (credit 0), later ones are heartbeats."""
        now_ms = int(time.time() * 1000)
        info = await self._content(content_id, now_ms)
        r = await self.store.tick(
            user_id, content_id, "", 0, tab, device, playing and visible, self._params(info, now_ms)
        )
        if r.status == "no_session":
            return (
                await self.start(user_id, content_id, tab, device, takeover, "", "http", ip),
                None,
            )
        return None, await self._ticked(user_id, content_id, r)

    async def out_event(
        self,
        user_id: int,
        content_id: int,
        tab: str,
        device: str | None = None,
        earning: bool = False,
    ) -> int:
        """Stop the session of this tab and content; with `device` and `earning`, the time
        since the last heartbeat is credited first (the last period was watched)."""
        if device is not None and earning:
            now_ms = int(time.time() * 1000)
            info = self.catalog.cached(content_id) or await self.catalog.get(content_id)
            if info is not None and info.watchable(now_ms):
                # Its grants are in the outbox already; a refusal (no session, another tab's)
                # is the stop's to report.
                await self.store.tick(
                    user_id, content_id, "", 0, tab, device, True, self._params(info, now_ms)
                )
        r = await self.store.stop(user_id, "", tab, content_id)
        if not r.stopped:
            raise NoSession("no live watch session on this tab and content")
        return r.watched_ms

    async def viewers(self, content_id: int) -> int:
        return (await self.store.viewer_counts([content_id]))[0]
