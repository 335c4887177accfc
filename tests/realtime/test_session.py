"""The sans-I/O session core (realtime/session.py) without sockets, Redis or an event loop:
every client message, every answer and refusal, and every close code of PROTOCOL section 4
that belongs to an admitted connection (1009, 1012, 4005, 4029, 4500, 4503, 4509). The
handshake's own refusals (4005 and 4501 at connect, 4503 for a blocked user, 1013 when the
user cannot be provisioned) are decided before a session exists: tests/realtime/test_tokens.py,
test_ws_session.py and test_provisioning.py cover them on a real hub."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from core.errors import ContentUnavailable, NoSession, SessionConflict
from core.tokens import Identity, TokenError, TokenExpired
from live import rules
from live.rules import Push, Recovery
from realtime import closes
from realtime.protocol import Start, Stop
from realtime.service import Grant, Replaced, SessionRef, Started, Ticked
from realtime.session import (
    PAUSE,
    RESUME,
    Action,
    Close,
    Join,
    Leave,
    Policy,
    Run,
    Session,
    Tick,
    timer_reply,
)

USER = 7
T0 = 1_000.0  # monotonic seconds


def verify(token: str) -> Identity:
    if token == "expired":
        raise TokenExpired("token expired")
    if not token.startswith("user:"):
        raise TokenError("bad signature")
    user, expires = token.removeprefix("user:").split(":")
    return Identity(user_id=int(user), roles=frozenset({"user"}), expires_at=int(expires))


def session(**kw: Any) -> tuple[Session, list[str]]:
    counted: list[str] = []
    policy = Policy(verify, 4096, kw.pop("per_second", 20), counted.append)
    s = Session(USER, kw.pop("expires_at", 2_000_000_000), policy)
    return s, counted


def frames(actions: list[Action]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(a) for a in actions if isinstance(a, str | bytes)]


def only(actions: list[Action]) -> dict[str, Any]:
    assert len(actions) == 1, actions
    (frame,) = frames(actions)
    return frame


def send(s: Session, message: dict[str, Any], now: float = T0) -> list[Action]:
    return s.receive(msgspec.json.encode(message).decode(), now)


REF = SessionRef(content_id=5, session_id="s1", epoch=1, tab="t", device="d")


def started_out(ref: SessionRef = REF, resumed: bool = False) -> Started:
    return Started(
        ref=ref,
        resumed=resumed,
        elapsed_ms=1500,
        interval_ms=60_000,
        remaining_ms=58_500,
        balance=40,
        viewers=3,
    )


def watching(s: Session, ref: SessionRef = REF) -> None:
    (run,) = send(
        s, {"type": "start", "content_id": ref.content_id, "tab_id": "t", "device_id": "d"}
    )
    assert isinstance(run, Run) and isinstance(run.msg, Start)
    s.started(run.msg, started_out(ref), T0)


def test_ping_is_answered_with_pong_and_its_ref() -> None:
    s, counted = session()
    assert only(send(s, {"type": "ping", "id": "p1"})) == {"type": "pong", "ref": "p1"}
    assert only(send(s, {"type": "ping"})) == {"type": "pong"}
    assert counted == ["ok", "ok"]


@pytest.mark.parametrize("kind", ["heartbeat", "stop"])
def test_heartbeat_or_stop_without_a_session_is_no_session(kind: str) -> None:
    s, _ = session()
    message: dict[str, Any] = {"type": kind, "id": "m"}
    if kind == "heartbeat":
        message |= {"playing": True, "visible": True}
    frame = only(send(s, message))
    assert frame["type"] == "error" and frame["code"] == "no_session" and frame["ref"] == "m"
    assert not s.busy


def test_start_runs_then_started_joins_and_answers_with_every_field() -> None:
    s, _ = session()
    msg = {"type": "start", "id": "a", "content_id": 5, "tab_id": "t", "device_id": "d"}
    (run,) = send(s, msg)
    assert isinstance(run, Run) and run.ref is None and s.busy
    assert isinstance(run.msg, Start) and run.msg.content_id == 5
    actions = s.started(run.msg, started_out(resumed=True), T0)
    assert actions[0] == Join(5)
    assert frames(actions) == [
        {
            "type": "started",
            "content_id": 5,
            "session_id": "s1",
            "resumed": True,
            "elapsed_ms": 1500,
            "interval_ms": 60_000,
            "remaining_ms": 58_500,
            "balance": 40,
            "viewers": 3,
            "ref": "a",
            "push_epoch": "",
            "push_offset": 0,
        }
    ]
    assert s.ref is REF and not s.busy


def test_a_heartbeat_ticks_and_its_answer_is_rewards_then_notice_then_tick() -> None:
    s, _ = session()
    watching(s)
    (tick,) = send(s, {"type": "heartbeat", "id": "h", "playing": True, "visible": False})
    assert isinstance(tick, Tick) and tick.ref is REF and s.busy
    assert tick.msg.playing and not tick.msg.visible
    out = Ticked(
        content_id=5,
        session_id="s1",
        elapsed_ms=120_000,
        credited_ms=10_000,
        remaining_ms=0,
        balance=60,
        grants=(Grant("w:7:5:1", 10, 50), Grant("w:7:5:2", 10, 60)),
        cap_reached=True,
    )
    got = frames(s.ticked(tick.msg, out, T0))
    assert got == [
        {
            "type": "reward",
            "reward_id": "w:7:5:1",
            "kind": "watch",
            "amount": 10,
            "balance": 50,
            "content_id": 5,
        },
        {
            "type": "reward",
            "reward_id": "w:7:5:2",
            "kind": "watch",
            "amount": 10,
            "balance": 60,
            "content_id": 5,
        },
        {
            "type": "notice",
            "code": "daily_cap_reached",
            "message": "daily reward cap reached: watching goes on, no rewards today",
        },
        {
            "type": "tick",
            "content_id": 5,
            "elapsed_ms": 120_000,
            "credited_ms": 10_000,
            "remaining_ms": 0,
            "ref": "h",
        },
    ]
    assert not s.busy


def test_messages_while_busy_wait_in_order_and_reads_pause_until_they_are_answered() -> None:
    s, _ = session()
    (run,) = send(s, {"type": "start", "content_id": 5, "tab_id": "t", "device_id": "d"})
    assert send(s, {"type": "ping", "id": "1"}) == [PAUSE]
    assert send(s, {"type": "heartbeat", "id": "2", "playing": True, "visible": True}) == []
    assert send(s, {"type": "ping", "id": "3"}) == []
    assert isinstance(run.msg, Start)
    actions = s.started(run.msg, started_out(), T0)
    # started, then the first ping, then the heartbeat goes to Redis: the second ping waits.
    assert [type(a).__name__ for a in actions] == ["Join", "str", "str", "Tick"]
    assert frames(actions)[1] == {"type": "pong", "ref": "1"}
    tick = actions[3]
    assert isinstance(tick, Tick) and tick.msg.id == "2" and s.busy
    out = Ticked(5, "s1", 2000, 500, 58_000, 40, (), False)
    after = s.ticked(tick.msg, out, T0)
    assert [f["type"] for f in frames(after)] == ["tick", "pong"]
    assert after[-1] is RESUME and s.backlog is None


def test_stop_leaves_at_once_and_answers_with_the_watched_time() -> None:
    s, _ = session()
    watching(s)
    actions = send(s, {"type": "stop", "id": "z"})
    assert actions[0] == Leave(5)
    run = actions[1]
    assert isinstance(run, Run) and isinstance(run.msg, Stop) and run.ref is REF
    assert s.ref is None
    frame = only(s.stopped(run.msg, 5, 61_234, T0))
    assert frame == {"type": "stopped", "content_id": 5, "watched_ms": 61_234, "ref": "z"}


def test_a_start_on_another_content_leaves_the_old_one_and_joins_the_new() -> None:
    s, _ = session()
    watching(s)
    (run,) = send(s, {"type": "start", "content_id": 9, "tab_id": "t", "device_id": "d"})
    assert isinstance(run.msg, Start)
    other = SessionRef(9, "s2", 2, "t", "d")
    actions = s.started(run.msg, started_out(other), T0)
    assert actions[:2] == [Leave(5), Join(9)] and s.ref is other


def test_session_conflict_carries_the_active_tab() -> None:
    s, _ = session()
    (run,) = send(s, {"type": "start", "id": "c", "content_id": 5, "tab_id": "t", "device_id": "d"})
    active = {"active_content_id": 3, "active_device_id": "phone"}
    exc = SessionConflict("another tab or device of this user is watching", **active)
    frame = only(s.failed(run.msg, exc, T0))
    assert frame == {
        "type": "error",
        "code": "session_conflict",
        "message": "another tab or device of this user is watching",
        "ref": "c",
        **active,
    }
    assert s.ref is None and not s.busy


@pytest.mark.parametrize(
    "exc",
    [NoSession("no live watch session"), ContentUnavailable("gone")],
    ids=["no_session", "content_unavailable"],
)
def test_a_heartbeat_refused_as_over_leaves_the_session(exc: Exception) -> None:
    s, _ = session()
    watching(s)
    (tick,) = send(s, {"type": "heartbeat", "id": "h", "playing": True, "visible": True})
    assert isinstance(tick, Tick)
    actions = s.failed(tick.msg, exc, T0)
    assert actions[0] == Leave(5) and s.ref is None
    frame = frames(actions)[0]
    assert (
        frame["code"]
        == {NoSession: "no_session", ContentUnavailable: "content_unavailable"}[type(exc)]
    )
    assert frame["ref"] == "h"
    # The client must start again: a heartbeat now is answered without Redis.
    assert only(send(s, {"type": "heartbeat", "playing": True, "visible": True}))["code"] == (
        "no_session"
    )


def test_a_failure_is_internal_and_the_session_goes_on() -> None:
    s, _ = session()
    watching(s)
    (tick,) = send(s, {"type": "heartbeat", "id": "h", "playing": True, "visible": True})
    assert isinstance(tick, Tick)
    frame = only(s.failed(tick.msg, ConnectionError("redis gone"), T0))
    assert frame == {
        "type": "error",
        "code": "internal",
        "message": "the server failed; retry",
        "ref": "h",
    }
    assert s.ref is REF
    assert isinstance(send(s, {"type": "heartbeat", "playing": True, "visible": True})[0], Tick)


def test_replaced_on_a_heartbeat_or_by_a_kick_sends_replaced_then_closes_4509() -> None:
    for how in ("heartbeat", "kick"):
        s, _ = session()
        watching(s)
        if how == "heartbeat":
            (tick,) = send(s, {"type": "heartbeat", "playing": True, "visible": True})
            assert isinstance(tick, Tick)
            actions = s.failed(tick.msg, Replaced(5, "tablet"), T0)
        else:
            actions = s.replaced(5, "tablet")
        assert actions[0] == Leave(5)
        assert frames(actions) == [{"type": "replaced", "content_id": 5, "by_device_id": "tablet"}]
        assert actions[-1] == Close(closes.REPLACED, "replaced")
        assert send(s, {"type": "ping"}) == [] and s.replaced(5, "x") == []


def test_frames_over_the_limit_close_1009_counting_bytes_not_characters() -> None:
    for data in ("x" * 4097, "가" * 1366, b"\x00" * 4097):  # 1366 x 3 bytes = 4098
        s, counted = session()
        assert s.receive(data, T0) == [Close(closes.TOO_BIG, "frame too big")]
        assert counted == ["too_big"] and s.receive('{"type":"ping"}', T0) == []
    s, _ = session()
    assert only(s.receive('{"type":"ping","id":"' + "가" * 20 + '"}', T0))["type"] == "pong"


def test_binary_and_malformed_frames_are_bad_request_then_close_4500() -> None:
    s, counted = session()
    binary = only(s.receive(b'{"type":"ping"}', T0))
    assert binary == {"type": "error", "code": "bad_request", "message": "frames must be JSON text"}
    bad = only(s.receive('{"type":"start","id":"q","content_id":"x"}', T0 + 1))
    assert bad["code"] == "bad_request" and bad["ref"] == "q" and "content_id" in bad["message"]
    for i in range(8):
        assert only(s.receive("not json", T0 + 2 + i))["code"] == "bad_request"
    assert s.receive("{", T0 + 20) == [Close(closes.BAD_REQUEST, "too many malformed frames")]
    assert counted == ["binary", "malformed"] + ["malformed"] * 9


def test_malformed_frames_spread_over_more_than_a_minute_do_not_close() -> None:
    s, _ = session()
    for i in range(30):
        assert only(s.receive("nope", T0 + i * 7))["code"] == "bad_request"


def test_a_rate_above_the_limit_is_refused_then_closes_4029() -> None:
    s, counted = session(per_second=5)
    for i in range(5):
        assert only(send(s, {"type": "ping", "id": str(i)}, T0))["type"] == "pong"
    refused = only(send(s, {"type": "ping"}, T0))
    assert refused == {"type": "error", "code": "rate_limited", "message": "slow down"}
    for _ in range(9):  # up to 3x the limit in one window: refused, still open
        assert only(send(s, {"type": "ping"}, T0))["code"] == "rate_limited"
    assert send(s, {"type": "ping"}, T0) == [Close(closes.RATE_LIMITED, "rate limited")]
    assert counted.count("rate_limited") == 11


def test_auth_replaces_the_expiry_for_the_same_user_only() -> None:
    s, _ = session(expires_at=100)
    authed = only(send(s, {"type": "auth", "id": "r", "token": f"user:{USER}:5000"}))
    assert authed == {"type": "authed", "expires_at": 5000, "ref": "r"} and s.expires_at == 5000
    other = only(send(s, {"type": "auth", "token": "user:8:9000"}))
    assert other["code"] == "bad_request" and other["message"] == "token is for another user"
    for token in ("garbage", "expired"):
        refused = only(send(s, {"type": "auth", "token": token}))
        assert refused["code"] == "bad_request" and refused["message"].startswith("token refused")
    assert s.expires_at == 5000
    assert s.clock(4999) == []
    assert s.clock(5000) == [Close(closes.TOKEN_EXPIRED, "token expired")]


def test_an_expired_token_leaves_the_session_and_closes_4005() -> None:
    s, _ = session(expires_at=100)
    watching(s)
    assert s.clock(100) == [Leave(5), Close(closes.TOKEN_EXPIRED, "token expired")]
    assert s.clock(200) == []


def test_the_hub_closes_1012_and_4503_leaving_the_session_first() -> None:
    s, _ = session()
    watching(s)
    assert s.end(closes.SERVICE_RESTART, "node draining") == [
        Leave(5),
        Close(closes.SERVICE_RESTART, "node draining"),
    ]
    s, _ = session()
    watching(s)
    assert s.forbid() == [Leave(5), Close(closes.FORBIDDEN, "forbidden")]
    assert s.forbid() == [] and s.end(1012, "again") == []


def test_a_lost_connection_leaves_and_a_late_start_answer_joins_nothing() -> None:
    s, _ = session()
    watching(s)
    (run,) = send(s, {"type": "start", "content_id": 9, "tab_id": "t", "device_id": "d"})
    assert s.lost() == [Leave(5)]
    assert isinstance(run.msg, Start)
    assert s.started(run.msg, started_out(SessionRef(9, "s2", 2, "t", "d")), T0) == []
    assert s.ref is None and s.receive('{"type":"ping"}', T0) == []


def test_answers_after_a_close_send_nothing() -> None:
    s, _ = session()
    watching(s)
    (tick,) = send(s, {"type": "heartbeat", "playing": True, "visible": True})
    assert isinstance(tick, Tick)
    s.forbid()
    assert s.ticked(tick.msg, Ticked(5, "s1", 1, 1, 1, 1, (), False), T0) == []


def test_unknown_types_and_missing_fields_are_bad_request_naming_them() -> None:
    s, _ = session()
    unknown = only(send(s, {"type": "dance", "id": "u"}))
    assert unknown["code"] == "bad_request" and unknown["ref"] == "u"
    missing = only(send(s, {"type": "heartbeat", "id": "m", "playing": True}))
    assert missing["code"] == "bad_request" and "visible" in missing["message"]


def test_the_fallback_answers_with_the_same_outcomes_as_the_frames() -> None:
    opened = timer_reply(5, started_out(resumed=False), None, None)
    assert opened == {
        "content_id": 5,
        "session_id": "s1",
        "elapsed_ms": 1500,
        "credited_ms": 0,
        "remaining_ms": 58_500,
        "balance": 40,
        "viewers": 3,
        "resumed": False,
        "rewards": [],
        "notices": [],
    }
    out = Ticked(5, "s1", 60_000, 9_000, 60_000, 50, (Grant("w:7:5:1", 10, 50),), True)
    beat = timer_reply(5, None, out, 4)
    assert beat["credited_ms"] == 9_000 and beat["viewers"] == 4 and beat["resumed"] is True
    assert beat["rewards"] == [
        {"reward_id": "w:7:5:1", "kind": "watch", "amount": 10, "balance": 50, "content_id": 5}
    ]
    assert beat["notices"] == ["daily_cap_reached"]


def test_pushes_carry_their_offset_and_epoch_when_logged() -> None:
    s, _ = session()
    watching(s)
    (tick,) = send(s, {"type": "heartbeat", "playing": True, "visible": True})
    assert isinstance(tick, Tick)
    grants = (Grant("w:7:5:3", 10, 50, offset=8), Grant("w:7:5:4", 10, 60, offset=9))
    out = Ticked(5, "s1", 240_000, 9_000, 0, 60, grants, True, push_offset=10, push_epoch="E")
    first, second, notice, _ = frames(s.ticked(tick.msg, out, T0))
    assert (first["offset"], first["epoch"], second["offset"]) == (8, "E", 9)
    assert (notice["type"], notice["offset"], notice["epoch"]) == ("notice", 10, "E")
    assert "recovered" not in first


def test_a_start_that_recovers_gets_what_it_missed_after_started() -> None:
    s, _ = session()
    msg = {"type": "start", "content_id": 5, "tab_id": "t", "device_id": "d"}
    (run,) = send(s, msg | {"recover": {"epoch": "E", "offset": 3}})
    assert isinstance(run.msg, Start) and run.msg.recover is not None
    assert (run.msg.recover.epoch, run.msg.recover.offset) == ("E", 3)
    missed = (
        Push(4, "reward", "w:7:5:2", 10, 5),
        Push(5, "notice", code="daily_cap_reached"),
    )
    out = dataclasses.replace(
        started_out(resumed=True),
        push_offset=5,
        push_epoch="E",
        recovery=Recovery(recovered=True, missed=missed),
    )
    got = frames(s.started(run.msg, out, T0))
    assert [f["type"] for f in got] == ["started", "reward", "notice"]
    assert (got[0]["recovered"], got[0]["push_offset"], got[0]["push_epoch"]) == (True, 5, "E")
    assert got[1] == {
        "type": "reward",
        "reward_id": "w:7:5:2",
        "kind": "watch",
        "amount": 10,
        "balance": 40,  # the balance now
        "content_id": 5,
        "offset": 4,
        "epoch": "E",
        "recovered": True,
    }
    assert (got[2]["code"], got[2]["offset"], got[2]["recovered"]) == ("daily_cap_reached", 5, True)

    s, _ = session()
    (run,) = send(s, msg | {"recover": {"epoch": "old", "offset": 9}})
    lost = dataclasses.replace(started_out(), recovery=Recovery(recovered=False))
    assert [f.get("recovered") for f in frames(s.started(run.msg, lost, T0))] == [False]


def test_recovery_is_refused_when_the_epoch_or_the_window_was_lost() -> None:
    log = [Push(o, "reward", f"w:7:5:{o}", 10, 5) for o in (4, 5, 6)]
    assert rules.recover(("E", 3), "E", 6, log) == Recovery(True, tuple(log))
    assert rules.recover(("E", 5), "E", 6, log) == Recovery(True, (log[2],))
    assert rules.recover(("E", 6), "E", 6, log) == Recovery(True, ())
    assert rules.recover(("E", 2), "E", 6, log) == Recovery(False)  # 3 was trimmed
    assert rules.recover(("F", 3), "E", 6, log) == Recovery(False)  # another epoch
    assert rules.recover(("E", 7), "E", 6, log) == Recovery(False)  # ahead of the log
    assert rules.recover(("E", 3), "E", 6, []) == Recovery(False)  # expired
    assert rules.recover(("", 0), "", 0, []) == Recovery(True, ())  # nothing ever logged
    assert rules.recover(("", 0), "E", 6, log) == Recovery(False)  # the first 3 are gone
    first = [Push(1, "reward", "w:7:5:1", 10, 5)]
    assert rules.recover(("", 0), "E", 1, first) == Recovery(True, tuple(first))
