"""The Lua scripts through LiveStore, against a real redis-server."""

import asyncio
import random

from live import holds, keys, rules, scripts
from live.store import LiveStore, TickParams

P = 8  # partitions


def params(**kw: int | bool) -> TickParams:
    base = {
        "heartbeat_ms": 1000,
        "ttl_ms": 30_000,
        "interval_ms": 1000,
        "amount": 10,
        "cap": 0,
        "paused": False,
        "tz_offset_ms": 0,
    }
    base.update(kw)
    return TickParams(**base)  # type: ignore[arg-type]


async def start(
    store: LiveStore,
    uid: int = 7,
    cid: int = 3,
    tab: str = "t",
    dev: str = "d",
    takeover: bool = False,
    sid: str = "s1",
    conn: str = "c1",
):  # type: ignore[no-untyped-def]
    return await store.start(uid, cid, tab, dev, takeover, sid, "n1", conn, "ws", 30_000)


async def test_start_then_resume_keeps_the_session(store: LiveStore) -> None:
    first = await start(store)
    again = await start(store, sid="ignored", conn="c2")
    assert first.status == "new" and first.epoch == 1
    assert again.status == "resumed" and again.session_id == "s1" and again.epoch == 1
    assert again.other_conn == "c1"  # the connection it was bound to before


async def test_other_tab_conflicts_without_takeover_and_writes_nothing(store: LiveStore) -> None:
    redis = store.redis
    await start(store)
    before = await redis.xlen(keys.outbox(7 % P))
    r = await start(store, tab="t2", dev="d2", sid="s2")
    assert (r.status, r.other_content, r.other_device) == ("conflict", 3, "d")
    assert await redis.xlen(keys.outbox(7 % P)) == before


async def test_takeover_bumps_the_epoch_and_names_the_old_connection(store: LiveStore) -> None:
    await start(store)
    r = await start(store, tab="t2", dev="d2", takeover=True, sid="s2", conn="c2")
    assert (r.status, r.epoch, r.other_node, r.other_conn) == ("takeover", 2, "n1", "c1")
    stale = await store.tick(7, 3, "s1", 1, "t", "d", True, params())
    assert (stale.status, stale.active_device) == ("replaced", "d2")


async def test_tick_credits_server_time_and_grants_each_boundary_once(store: LiveStore) -> None:
    redis = store.redis
    await start(store)
    granted: list[int] = []
    for _ in range(8):
        await asyncio.sleep(0.3)
        r = await store.tick(7, 3, "s1", 1, "t", "d", True, params())
        assert r.status == "ok" and 250 <= r.credited_ms <= 1500
        granted += r.granted
    assert granted == list(range(1, r.elapsed_ms // 1000 + 1))
    assert r.pending == 10 * len(granted)
    grants = [f for _, f in await redis.xrange(keys.outbox(7 % P)) if f[b"t"] == b"g"]
    assert [g[b"rid"].decode() for g in grants] == [rules.reward_id(7, 3, n) for n in granted]


async def test_paused_heartbeat_credits_nothing_but_moves_the_anchor(store: LiveStore) -> None:
    await start(store)
    await asyncio.sleep(0.3)
    paused = await store.tick(7, 3, "s1", 1, "t", "d", False, params())
    playing = await store.tick(7, 3, "s1", 1, "t", "d", True, params())
    assert paused.credited_ms == 0
    assert playing.credited_ms < 100  # only the time since the paused heartbeat


async def test_credit_is_capped_at_one_and_a_half_heartbeat_intervals(store: LiveStore) -> None:
    await start(store)
    await asyncio.sleep(0.5)
    r = await store.tick(7, 3, "s1", 1, "t", "d", True, params(heartbeat_ms=100))
    assert r.credited_ms == 150


async def test_daily_cap_stops_rewards_and_notices_once(store: LiveStore) -> None:
    await start(store)
    notices = 0
    total = 0
    for _ in range(6):
        await asyncio.sleep(0.25)
        r = await store.tick(7, 3, "s1", 1, "t", "d", True, params(interval_ms=100, cap=3))
        total += len(r.granted)
        notices += r.notice
    assert total == 3 and notices == 1


async def test_stop_ends_the_session_and_records_watched_time(store: LiveStore) -> None:
    redis = store.redis
    await start(store)
    await asyncio.sleep(0.2)
    t = await store.tick(7, 3, "s1", 1, "t", "d", True, params())
    r = await store.stop(7, "s1")
    assert r.stopped and r.content_id == 3 and r.watched_ms == t.credited_ms
    assert (await store.tick(7, 3, "s1", 1, "t", "d", True, params())).status == "no_session"
    assert not (await store.stop(7, "s1")).stopped
    events = [f[b"t"] for _, f in await redis.xrange(keys.outbox(7 % P))]
    assert events == [b"s", b"e"]


async def test_http_style_tick_and_stop_match_by_tab_and_content(store: LiveStore) -> None:
    await start(store)
    assert (await store.tick(7, 3, "", 0, "t", "d", True, params())).status == "ok"
    assert (await store.tick(7, 4, "", 0, "t", "d", True, params())).status == "no_session"
    assert not (await store.stop(7, "", "other-tab", 3)).stopped
    assert (await store.stop(7, "", "t", 3)).stopped


async def test_sweep_ends_expired_sessions_and_frees_the_user(store: LiveStore) -> None:
    redis = store.redis
    await store.start(7, 3, "t", "d", False, "s1", "n1", "c1", "ws", 200)
    await store.join_viewers(7, 3, int(await _now(redis)), 200, None)
    assert await store.sweep(range(P)) == []
    await asyncio.sleep(0.3)
    assert await store.sweep(range(P)) == [(7, 3)]
    assert await store.viewer_counts([3]) == [0]
    r = await start(store, tab="t2", dev="d2", sid="s2")
    assert r.status == "new" and r.epoch == 1


async def test_scripts_recover_after_redis_forgets_them(store: LiveStore) -> None:
    redis = store.redis
    await start(store)
    await redis.script_flush()
    assert (await store.tick(7, 3, "s1", 1, "t", "d", True, params())).status == "ok"
    await redis.script_flush()
    assert (await start(store)).status == "resumed"


async def test_cached_balance_is_only_replaced_by_a_newer_version(store: LiveStore) -> None:
    assert await store.set_pg_balance(7, 100, 2) == (100, 0)
    assert await store.set_pg_balance(7, 50, 1) == (100, 0)
    assert await store.set_pg_balance(7, 120, 3) == (120, 0)


async def test_many_concurrent_ticks_share_pipelines_and_stay_exact(store: LiveStore) -> None:
    redis = store.redis
    users = range(1, 201)
    for uid in users:
        await store.start(uid, 9, "t", "d", False, f"s{uid}", "n1", "c", "ws", 30_000)
    total = 0
    for _ in range(5):
        await asyncio.sleep(0.12)
        results = await asyncio.gather(
            *(
                store.tick(uid, 9, f"s{uid}", 1, "t", "d", True, params(interval_ms=100))
                for uid in users
            )
        )
        assert all(r.status == "ok" for r in results)
        total += sum(len(r.granted) for r in results)
    grants = 0
    for p in range(P):
        grants += sum(1 for _, f in await redis.xrange(keys.outbox(p)) if f[b"t"] == b"g")
    assert grants == total > 0


async def _now(redis) -> float:  # type: ignore[no-untyped-def]
    sec, usec = await redis.time()
    return sec * 1000 + usec // 1000


async def test_lua_matches_the_reference_model_on_random_histories(store: LiveStore) -> None:
    """The scripts and live.rules.ReferenceStore agree step by step (the script's own
    clock reading is fed to the model), with the user put on hold for review and approved
    at random points; at the end of each history the outboxes hold the same grants, held
    ones marked."""
    rng = random.Random(20261122)
    hb, ttl = 40, 400
    held = 0
    for history in range(3):
        uid = 100 + history
        model = rules.ReferenceStore(heartbeat_ms=hb, ttl_ms=ttl)
        sid_of = {}
        cap = rng.choice([0, 3, 6])
        for step in range(60):
            await asyncio.sleep(rng.choice([0, 0.005, 0.02, 0.05]))
            if rng.random() < 0.1:
                k = store.user_keys(uid)
                if model.hold:
                    await holds.apply_decision(store.redis, uid, P, "approve", 0)
                else:
                    await store.runner.run(
                        scripts.FLAG, (k.balance, k.outbox), (uid, "device", "dev-a", 2)
                    )
                model.hold = not model.hold
            op = rng.random()
            tab = rng.choice(["a", "b"])
            cid = rng.choice([1, 2])
            if op < 0.2:
                takeover = rng.random() < 0.5
                sid = f"s{history}-{step}"
                r = await store.start(
                    uid, cid, tab, "dev-" + tab, takeover, sid, "n", "c", "ws", ttl
                )
                expect = model.start(r.now_ms, cid, tab, "dev-" + tab, takeover, sid)
                if r.status == "conflict":
                    got = ("conflict", r.other_content, r.other_device)
                else:
                    got = (r.status, r.session_id, r.epoch)
                    sid_of = {"sid": r.session_id, "epoch": r.epoch, "cid": cid, "tab": tab}
                assert got == expect, (history, step)
            elif op < 0.95 and sid_of:
                earning = rng.random() < 0.8
                p = params(
                    heartbeat_ms=hb, ttl_ms=ttl, interval_ms=rng.choice([50, 50, 80]), cap=cap
                )
                r = await store.tick(
                    uid,
                    sid_of["cid"],
                    sid_of["sid"],
                    sid_of["epoch"],
                    sid_of["tab"],
                    "dev-" + sid_of["tab"],
                    earning,
                    p,
                )
                if r.status != "ok":
                    expect = (
                        model.tick(
                            r.now_ms or 0,
                            sid_of["sid"],
                            sid_of["epoch"],
                            earning,
                            interval=p.interval_ms,
                            amount=10,
                            cap=cap,
                            paused=False,
                            offset=0,
                        )
                        if r.status == "replaced"
                        else None
                    )
                    if r.status == "no_session":
                        assert (
                            model.session is None
                            or model.session.sid != sid_of["sid"]
                            or model.session.deadline < int(await _now(store.redis))
                        ), (history, step)
                        sid_of = {}
                    else:
                        assert expect == ("replaced",)
                    continue
                expect = model.tick(
                    r.now_ms,
                    sid_of["sid"],
                    sid_of["epoch"],
                    earning,
                    interval=p.interval_ms,
                    amount=10,
                    cap=cap,
                    paused=False,
                    offset=0,
                )
                got = (
                    "ok",
                    r.elapsed_ms,
                    r.credited_ms,
                    r.remaining_ms,
                    r.pending,
                    r.notice,
                    r.granted,
                )
                assert got == expect, (history, step)
            elif sid_of:
                r = await store.stop(uid, sid_of["sid"])
                expect = model.stop(0, sid_of["sid"])
                got = ("stopped", r.content_id, r.watched_ms) if r.stopped else ("no_session",)
                assert got == expect, (history, step)
                sid_of = {}
        entries = await store.redis.xrange(keys.outbox(uid % P))
        grants = [
            ("g", f[b"rid"].decode().split(":", 2)[2]) + (("held",) if b"hold" in f else ())
            for _, f in entries
            if f[b"t"] == b"g" and f[b"uid"] == str(uid).encode()
        ]
        assert grants == [e for e in model.outbox if e[0] == "g"], history
        held += sum(1 for e in grants if e[-1] == "held")
    assert held > 0  # the histories did put grants on hold
