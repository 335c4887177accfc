"""The heartbeat path's own RESP connection (live/resp.py, wire.py) against real
redis-servers: order under pipelining, error replies, AUTH/SELECT, reconnect after a restart,
the reply timeout on a stopped server, and ticks equal to the redis-py path's."""

import asyncio
import os
import signal
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection as RedisPyConnection
from redis.exceptions import ConnectionError, MovedError, NoScriptError, ResponseError, TimeoutError

from devkit.servers import redis_command
from live import keys, scripts
from live.lanes import ClusterLane, TickParams
from live.resp import NOT_RUN, ClusterResp, RespConnection
from live.store import LiveStore, tick_result
from live.wire import TickWire, command
from live.wire import tail as wire_tail
from tests.support.waiting import wait_until

P = 8
PARAMS = TickParams(
    heartbeat_ms=1000,
    ttl_ms=30_000,
    interval_ms=1000,
    amount=10,
    cap=0,
    paused=False,
    tz_offset_ms=0,
)


@pytest.mark.parametrize(
    "args",
    [
        ("GET", "k"),
        ("EVALSHA", "a" * 40, 2, "{p1}:x", "{p1}:y", 7, "", "ünï", b"\x00\xff"),
        ("ZADD", "{c3}:viewers", "XX", "GT", 1_700_000_000_000, -12),
    ],
)
def test_command_encoding_matches_redis_py(args: tuple[object, ...]) -> None:
    packed = b"".join(RedisPyConnection().pack_command(*args))
    assert command(*args) == packed


def test_a_tick_call_is_the_two_commands_redis_py_would_send() -> None:
    keys = [f"{{p3}}:u:11:{k}" for k in ("sess", "watch", "day", "bal")] + ["{p3}:dl", "{p3}:ob"]
    wire = TickWire("f" * 40, keys, 11, "sid", 4, "tab", "dev", 9, "{c9}:viewers", argc=8)
    tail = (100, 30_000, 60_000, 5, 0, "0", -3_600_000)
    pack = RedisPyConnection().pack_command
    expected = b"".join(
        pack("EVALSHA", "f" * 40, 6, *keys, 11, "sid", 4, "tab", "dev", 9, "1", *tail)
        + pack("ZADD", "{c9}:viewers", "XX", "GT", 123, 11)
    )
    assert wire.encode(True, wire_tail(tail), 123) == expected


def test_booleans_are_refused() -> None:
    with pytest.raises(TypeError):
        command("SET", "k", True)


async def test_many_pipelined_calls_resolve_in_order(redis_server) -> None:  # type: ignore[no-untyped-def]
    conn = RespConnection.from_url(redis_server.url)
    assert conn is not None
    try:
        sets = [conn.call(command("SET", f"resp:{i}", i)) for i in range(2000)]
        gets = [conn.call(command("GET", f"resp:{i}")) for i in range(2000)]
        assert set(await asyncio.gather(*sets)) == {b"OK"}
        assert await asyncio.gather(*gets) == [b"%d" % i for i in range(2000)]
        # Two commands, one future: the second reply is read and dropped.
        assert (
            await conn.call(command("INCR", "resp:n") + command("INCR", "resp:n"), replies=2) == 1
        )
        assert await conn.call(command("GET", "resp:n")) == b"2"
    finally:
        await conn.close()


async def test_error_replies_raise_and_do_not_disturb_the_others(redis_server) -> None:  # type: ignore[no-untyped-def]
    conn = RespConnection.from_url(redis_server.url)
    assert conn is not None
    try:
        before = conn.call(command("SET", "resp:e", "v"))
        wrong = conn.call(command("INCR", "resp:e"))
        noscript = conn.call(command("EVALSHA", "0" * 40, 0))
        after = conn.call(command("GET", "resp:e"))
        assert await before == b"OK"
        with pytest.raises(ResponseError):
            await wrong
        with pytest.raises(NoScriptError):
            await noscript
        assert await after == b"v"
    finally:
        await conn.close()


async def test_callbacks_get_replies_in_order_with_the_futures(redis_server) -> None:  # type: ignore[no-untyped-def]
    """`call_soon`: the reply, an error reply or a lost connection reach the callback as a
    value or an exception instance, in order with the futures; a callback that raises is
    logged and the replies behind it still arrive."""
    conn = RespConnection.from_url(redis_server.url)
    assert conn is not None
    got: list[object] = []

    def broken(reply: object) -> None:
        raise RuntimeError("a bug in a callback")

    try:
        first = conn.call(command("SET", "resp:cb", "1"))
        conn.call_soon(command("INCR", "resp:cb"), 1, got.append)
        conn.call_soon(command("HGET", "resp:cb", "f"), 1, got.append)  # WRONGTYPE
        conn.call_soon(command("GET", "resp:cb"), 1, broken)
        conn.call_soon(command("INCR", "resp:cb") + command("GET", "resp:cb"), 2, got.append)
        last = conn.call(command("GET", "resp:cb"))
        assert await first == b"OK"
        assert await last == b"3"
        assert got[0] == 2 and got[2] == 3
        assert isinstance(got[1], ResponseError) and "WRONGTYPE" in str(got[1])
    finally:
        await conn.close()


async def test_callbacks_in_flight_get_the_connection_loss(make_redis_server) -> None:  # type: ignore[no-untyped-def]
    server = make_redis_server()
    conn = RespConnection.from_url(server.url)
    assert conn is not None
    got: list[object] = []
    try:
        assert await conn.call(command("PING")) == b"PONG"
        conn.call_soon(command("BLPOP", "resp:never", 0), 1, got.append)

        async def blocked() -> bool:  # the BLPOP reached the server and waits there
            return b"blocked_clients:1\r" in redis_command(server.port, "INFO", "clients")

        await wait_until(blocked, 5, "the BLPOP to block on the server")
        server.kill()
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.05)
        assert len(got) == 1 and isinstance(got[0], ConnectionError)
    finally:
        await conn.close()


async def test_password_and_database_from_the_url(make_redis_server) -> None:  # type: ignore[no-untyped-def]
    server = make_redis_server()
    admin = Redis.from_url(server.url)
    await admin.config_set(
        "requirepass", "s3cret"
    )  # after start: the fixture's PING has no password
    await admin.aclose()
    url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
    conn = RespConnection.from_url(url)
    assert conn is not None
    try:
        assert await conn.call(command("SET", "resp:db", "three")) == b"OK"
        plain = Redis.from_url(url)
        other_db = Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0")
        assert await plain.get("resp:db") == b"three"
        assert await other_db.get("resp:db") is None
        await plain.aclose()
        await other_db.aclose()
    finally:
        await conn.close()
    bad = RespConnection.from_url(f"redis://:wrong@127.0.0.1:{server.port}/0")
    assert bad is not None
    with pytest.raises(ConnectionError):
        await bad.call(command("PING"))
    await bad.close()


def test_tls_urls_are_left_to_redis_py() -> None:
    assert RespConnection.from_url("rediss://127.0.0.1:6380/0") is None


async def test_reconnects_after_the_server_restarts(make_redis_server) -> None:  # type: ignore[no-untyped-def]
    server = make_redis_server()
    conn = RespConnection.from_url(server.url)
    assert conn is not None
    try:
        assert await conn.call(command("PING")) == b"PONG"
        server.kill()
        with pytest.raises(ConnectionError):
            await conn.call(command("PING"))  # the loss shows on the next call, not as a hang
        server.start()
        assert await conn.call(command("PING")) == b"PONG"
    finally:
        await conn.close()


async def test_a_stopped_server_times_the_calls_out_then_recovers(make_redis_server) -> None:  # type: ignore[no-untyped-def]
    server = make_redis_server()
    conn = RespConnection.from_url(server.url, reply_timeout=0.6)
    assert conn is not None
    pid = server.proc.pid
    try:
        assert await conn.call(command("PING")) == b"PONG"
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError, match="no reply from Redis"):  # not the 5 s guard
                await asyncio.wait_for(conn.call(command("PING")), 5)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await asyncio.wait_for(conn.call(command("PING")), 5) == b"PONG"
    finally:
        await conn.close()


async def test_ticks_equal_the_redis_py_path_and_survive_a_script_flush(redis_server) -> None:  # type: ignore[no-untyped-def]
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    fast = LiveStore(client, P, fast=RespConnection.from_url(redis_server.url))
    plain = LiveStore(client, P)
    await fast.load_scripts()
    try:
        outcomes = []
        for store, uid in ((fast, 41), (plain, 42)):
            r = await store.start(uid, 5, "t", "d", False, f"s{uid}", "n1", "c1", "ws", 30_000)
            wire = store.tick_wire(uid, 5, r.session_id, r.epoch, "t", "d")
            ticks = []
            for _ in range(3):
                await asyncio.sleep(0.4)
                t = await store.tick(uid, 5, r.session_id, r.epoch, "t", "d", True, PARAMS, wire)
                ids = tuple(rid.replace(f"w:{uid}:", "w:<uid>:") for rid in t.granted)
                ticks.append((t.status, t.credited_ms > 0, ids))
            outcomes.append(ticks)
            stale = await store.tick(uid, 5, "other", r.epoch, "t", "d", True, PARAMS)
            outcomes.append([stale.status])
        assert outcomes[0] == outcomes[2] and outcomes[1] == outcomes[3] == ["no_session"]
        assert [t[0] for t in outcomes[0]] == ["ok"] * 3
        assert sum(len(t[2]) for t in outcomes[0]) == 1  # ~1.2 s credited, 1 s interval
        assert await client.zscore("{c5}:viewers", "41") is None  # XX: start did not join here

        await client.script_flush()
        r = await fast.start(43, 5, "t", "d", False, "s43", "n1", "c1", "ws", 30_000)
        after = await fast.tick(43, 5, r.session_id, r.epoch, "t", "d", True, PARAMS)
        assert after.status == "ok"
        assert await client.script_exists(scripts.TICK.sha) == [True]
    finally:
        await fast.close()
        await plain.close()
        await client.aclose()


async def test_cluster_ticks_by_callback_reach_each_commands_node(redis_cluster) -> None:  # type: ignore[no-untyped-def]
    """On a real 3-master cluster the EVALSHA goes to the user's partition node and the
    viewer-set ZADD to the content's node (different slots); a node that does not serve the
    slot answers MOVED, which counts as not run, and the redis-py path then ticks."""
    from redis.asyncio import RedisCluster

    redis_cluster.flushall()
    client = RedisCluster.from_url(redis_cluster.url)
    lane = ClusterResp.from_url(client, redis_cluster.url)
    assert lane is not None
    store = LiveStore(client, P, cluster=lane)
    await store.load_scripts()
    loop = asyncio.get_running_loop()

    async def tick_soon(wire: TickWire) -> Any:
        reply = loop.create_future()
        assert store.tick_soon(wire, True, PARAMS, int(time.time() * 1000), reply.set_result)
        return await reply

    try:
        r = await store.start(51, 5, "t", "d", False, "s51", "n1", "c1", "ws", 30_000)
        await store.join_viewers(51, 5, int(time.time() * 1000), 30_000, None)
        joined = await client.zscore(keys.viewers(5), "51")
        wire = store.tick_wire(51, 5, r.session_id, r.epoch, "t", "d")
        assert wire is not None and wire.route is not None
        owner = {client.nodes_manager.get_node_from_slot(s).name for s in wire.route}
        assert len(owner) == 2, "the test wants the two keys on different nodes"
        await asyncio.sleep(0.4)
        first = tick_result(await tick_soon(wire))
        assert first.status == "ok" and first.credited_ms > 0
        for _ in range(50):  # the ZADD's reply is not awaited: wait for it to land
            if await client.zscore(keys.viewers(5), "51") > joined:
                break
            await asyncio.sleep(0.01)
        assert await client.zscore(keys.viewers(5), "51") > joined

        wrong = next(
            n
            for n in client.get_primaries()
            if n.name != client.nodes_manager.get_node_from_slot(wire.route[0]).name
        )

        class Misrouted:
            class nodes_manager:
                @staticmethod
                def get_node_from_slot(slot: int) -> Any:
                    return wrong

        assert isinstance(store.lane, ClusterLane)
        store.lane.cluster = ClusterResp(Misrouted, lane._connect)
        moved = await tick_soon(wire)
        assert isinstance(moved, MovedError) and isinstance(moved, NOT_RUN)
        await asyncio.sleep(0.2)
        after = await store.tick(51, 5, r.session_id, r.epoch, "t", "d", True, PARAMS, wire)
        assert after.status == "ok" and after.elapsed_ms > first.elapsed_ms
        await store.lane.cluster.close()
    finally:
        await store.close()
        await lane.close()
        await client.aclose()
