"""The HTTP fallback (PROTOCOL 5) fuzzed like the WebSocket (docs/fuzzing.md): hypothesis
draws sequences of calls to `timer-session` and `out-event` for a fresh user each, mixing
valid calls (with pauses, so that time is credited and rewards cross) with invalid bodies:
wrong types, missing fields, huge numbers, invalid UTF-8 inside JSON strings, escaped lone
surrogates, NUL, deep nesting, truncated bodies, non-objects, random bytes, no token; each
under a Content-Type drawn at random (the endpoints read the body as JSON whatever it says).

Every response must be the one the contract gives for the call in the user's state: 200 with
the documented `data`, or the documented status with the error envelope and its code (never
a 5xx). Each example's replies, read as the events a page reports (a new `session_id` is a
`started`, each 200 a `tick` with its `rewards`, an out-event a `stopped`), go to the
conservation oracle with the ledger filled by a worker. derandomize + no database, as
tests/realtime/test_fuzz.py; the hub is shared by the examples on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.wsfuzz import push_problem
from tests.support.conservation import Watch, conserved

HEARTBEAT_MS = 100
HUB_ENV = {
    "REDIS_PARTITIONS": "8",
    "WS_MAX_MESSAGES_PER_SECOND": "10000",  # lock-step calls never meet the limit
    "REWARD_INTERVAL_MS": "1000",
    "HEARTBEAT_INTERVAL_MS": str(HEARTBEAT_MS),
    "DAILY_REWARD_CAP": "1",  # the second interval watched brings the notice
}
CAP_MS = HEARTBEAT_MS * 3 // 2
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TIMER, OUT = "/api/service/timer-session", "/api/service/out-event"
MISSING_CID = 10**12 + 7  # never created
_users = itertools.count(50_000)


@dataclass(frozen=True)
class Call:
    """One request: `path`, raw `body`, `ctype` (None: no header), `authed`; `fields` is the
    decoded body when it is valid per PROTOCOL 5, else None (400 bad_request);
    `maybe_valid`: the contract leaves open whether it is refused (see BAD_UNKNOWN)."""

    label: str
    path: str
    body: bytes
    ctype: str | None
    authed: bool
    fields: dict[str, Any] | None
    pause: float = 0.0
    maybe_valid: bool = False


# --- strategies ----------------------------------------------------------------------------

_CTYPES = st.sampled_from(
    ["application/json", "application/json", "text/plain", "", None, "application/xml"]
)
_PLAYING = st.sampled_from([True, True, True, False])
_TABS, _DEVICES = st.sampled_from(["t", "u"]), st.sampled_from(["d", "e"])
_PAUSE = st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.1, 0.15, 0.2])
# Values a field of each type must refuse (raw JSON text).
_WRONG = {
    "content_id": [
        '"1"',
        "1.5",
        "true",
        "null",
        "0",
        "-1",
        str(2**63),
        "1" + "0" * 400,
        "1e400",
        "[]",
        "{}",
    ],
    "tab_id": ['""', '"' + "x" * 65 + '"', "1", "null", '"a\\u0000b"', "{}", '["t"]'],
    "device_id": ['""', "7", "false", '"\\u0000"', '"' + "é" * 65 + '"'],
    "playing": ["1", '"true"', "null", "0.0", "[]"],
    "visible": ["0", '"false"', "{}"],
    "takeover": ["1", '"yes"', "[]"],
}
_BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
_DEEP = st.integers(1000, 3000)
_EXTRA = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["null", "1e400", '"\\ud800"', '"\\u202e"', "[" * 40 + "]" * 40]),
)


def _render(fields: dict[str, str]) -> bytes:
    """A JSON object from raw value texts, keys in the order given."""
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}").encode()


@st.composite
def _good(draw: st.DrawFn, path: str, cid: int) -> dict[str, Any]:
    content_id = draw(st.sampled_from([cid, cid, cid, cid, MISSING_CID, 2**63 - 1]))
    f: dict[str, Any] = {"content_id": content_id, "tab_id": draw(_TABS)}
    if path == TIMER:
        f |= {"device_id": draw(_DEVICES), "playing": draw(_PLAYING), "visible": True}
        if draw(st.booleans()):
            f["takeover"] = draw(st.booleans())
    elif draw(st.booleans()):
        f |= {"device_id": draw(_DEVICES), "playing": draw(_PLAYING), "visible": True}
    return f


@st.composite
def calls(draw: st.DrawFn, cid: int) -> Call:
    path = draw(st.sampled_from([TIMER, TIMER, TIMER, OUT]))
    fields = draw(_good(path, cid))
    raw = {k: json.dumps(v) for k, v in fields.items()}
    if draw(st.integers(0, 3)) == 0:  # unknown fields are ignored
        raw[draw(st.sampled_from(["x", "~", "Type", "content_id "]))] = draw(_EXTRA)
    ctype, pause = draw(_CTYPES), draw(_PAUSE)
    kind = draw(
        st.sampled_from(
            ["valid"] * 14
            + ["wrong", "wrong", "missing", "bad_utf8", "surrogate", "deep", "truncated"]
            + ["not_object", "random", "empty", "no_token", "bad_utf8_unknown"]
        )
    )

    def call(body: bytes, valid: dict[str, Any] | None, **kw: Any) -> Call:
        return Call(kind, path, body, ctype, kw.pop("authed", True), valid, pause, **kw)

    if kind in ("valid", "no_token"):
        # msgspec refuses an escaped lone surrogate even in a field it skips; RFC 8259 leaves
        # such a string's meaning open, so either answer is the contract's.
        odd = '"\\ud800"' in raw.values()
        return call(_render(raw), fields, authed=kind == "valid", maybe_valid=odd)
    if kind == "wrong":
        name = draw(st.sampled_from([k for k in _WRONG if k in fields or k == "takeover"]))
        return call(_render({**raw, name: draw(st.sampled_from(_WRONG[name]))}), None)
    if kind == "missing":
        required = ["content_id", "tab_id"] + (
            ["device_id", "playing", "visible"] if path == TIMER else []
        )
        name = draw(st.sampled_from(required))
        return call(_render({k: v for k, v in raw.items() if k != name}), None)
    if kind in ("bad_utf8", "surrogate"):
        # Inside a known string field: not a string the contract accepts.
        body = _render({**raw, "tab_id": '"@@"'})
        bad = draw(st.sampled_from(_BAD_UTF8)) if kind == "bad_utf8" else b"\\udc00"
        return call(body.replace(b"@@", b"t" + bad), None)
    if kind == "bad_utf8_unknown":
        # In an unknown field the hub may skip the value without reading it (docs/fuzzing.md).
        body = _render({**raw, "x": '"@@"'}).replace(b"@@", draw(st.sampled_from(_BAD_UTF8)))
        return call(body, fields, maybe_valid=True)
    if kind == "deep":
        depth = draw(_DEEP)
        nest = "[" * depth + "]" * depth
        where = draw(st.sampled_from(["top", "known", "unknown"]))
        if where == "top":
            return call(nest.encode(), None)
        name = "content_id" if where == "known" else "x"
        return call(_render({**raw, name: nest}), None)
    if kind == "truncated":
        body = _render(raw)
        return call(body[: draw(st.integers(0, len(body) - 1))], None)
    if kind == "not_object":
        value = draw(st.sampled_from(["null", "[]", "1", '"{}"', "true", "[{}]"]))
        return call(value.encode(), None)
    if kind == "random":
        body = draw(st.binary(min_size=1, max_size=200).filter(_not_an_object))
        return call(body, None)
    return call(b"", None)  # empty


def _not_an_object(body: bytes) -> bool:
    try:
        return not isinstance(json.loads(body), dict)
    except ValueError:
        return True


# --- the oracle ----------------------------------------------------------------------------


@dataclass
class Player:
    """One user's fallback session as the contract runs it, and what the user saw."""

    cid: int
    uid: int
    session: tuple[str, str, int] | None = None  # (tab, device, content) of the live session
    sid: str | None = None
    stream: list[dict[str, Any]] | None = None

    def expect(self, call: Call) -> list[tuple[int, str | None]]:
        """The (status, error code) pairs the contract allows; code None for a 200."""
        if not call.authed:
            return [(401, "unauthorized")]
        out: list[tuple[int, str | None]] = []
        if call.fields is None or call.maybe_valid:
            out.append((400, "bad_request"))
        f = call.fields
        if f is None:
            return out
        if call.path == TIMER:
            if f["content_id"] != self.cid:
                out.append((404, "content_unavailable"))
            elif (
                self.session is None
                or self.session[:2] == (f["tab_id"], f["device_id"])
                or f.get("takeover")
            ):
                out.append((200, None))
            else:
                out.append((409, "session_conflict"))
        elif self.session is not None and (self.session[0], self.session[2]) == (
            f["tab_id"],
            f["content_id"],
        ):
            out.append((200, None))
        else:
            out.append((404, "no_session"))
        return out

    def saw(self, call: Call, status: int, body: dict[str, Any]) -> None:
        """Apply a 200 to the state and record it as the events a page reports."""
        assert self.stream is not None
        f = call.fields
        assert f is not None
        data = body["data"]
        if call.path == OUT:
            assert set(data) == {"content_id", "watched_ms"}, data
            assert data["content_id"] == f["content_id"] and data["watched_ms"] >= 0, data
            self.stream.append({"type": "stopped", "watched_ms": data["watched_ms"]})
            self.session = self.sid = None
            return
        documented = {"content_id", "session_id", "elapsed_ms", "credited_ms", "remaining_ms"}
        documented |= {"balance", "viewers", "rewards", "notices"}
        assert documented <= set(data), sorted(documented - set(data))
        assert data["content_id"] == f["content_id"] and isinstance(data["session_id"], str)
        assert 0 <= data["credited_ms"] <= CAP_MS, f"credited {data['credited_ms']} ms"
        assert set(data["notices"]) <= {"daily_cap_reached"}, data["notices"]
        assert isinstance(data["viewers"], int) and data["viewers"] >= 1, data
        if data["session_id"] != self.sid:
            assert data["credited_ms"] == 0, "a session's first call credits nothing"
            self.stream.append({"type": "started", "session_id": data["session_id"]})
            self.sid = data["session_id"]
        self.session = (f["tab_id"], f["device_id"], f["content_id"])
        for reward in data["rewards"]:
            frame = {**reward, "type": "reward"}
            assert push_problem(frame, self.uid, frozenset({self.cid})) is None, reward
            self.stream.append(frame)
        self.stream.append({"type": "tick", "credited_ms": data["credited_ms"]})


def _envelope(r: httpx.Response, code: str) -> None:
    body = r.json()
    assert body["success"] is False and body["data"] is None, body
    err = body["error"]
    assert set(err) >= {"code", "message", "details", "traceId"}, err
    assert err["code"] == code, (r.status_code, err)
    assert err["traceId"] == r.headers["X-Request-ID"], (err, r.headers)


class Fallback:
    def __init__(self, url: str, cid: int, token: Callable[..., str]) -> None:
        self.url, self.cid, self.token = url, cid, token
        self.watches: list[Watch] = []
        self.statuses: dict[tuple[int, str | None], int] = {}
        self.notices = 0

    async def play(self, http: httpx.AsyncClient, sequence: list[Call]) -> Watch:
        uid = next(_users)
        stream: list[dict[str, Any]] = []
        player = Player(self.cid, uid, stream=stream)
        watch = Watch(uid, streams=[stream], stop_credits=True)
        self.watches.append(watch)
        auth = {"Authorization": f"Bearer {self.token(uid)}"}
        for i, call in enumerate(sequence):
            if call.pause:
                await asyncio.sleep(call.pause)
            headers = dict(auth) if call.authed else {}
            if call.ctype is not None:
                headers["Content-Type"] = call.ctype
            r = await http.post(self.url + call.path, content=call.body, headers=headers)
            allowed = player.expect(call)
            got = (r.status_code, None if r.status_code == 200 else r.json()["error"]["code"])
            assert got in allowed, (
                f"call {i} ({call.label}) {call.path} {call.body[:200]!r}: allowed {allowed}, "
                f"got {r.status_code} {r.text[:300]}"
            )
            self.statuses[got] = self.statuses.get(got, 0) + 1
            if r.status_code == 200:
                assert r.json()["success"] is True
                player.saw(call, r.status_code, r.json())
                self.notices += len(r.json()["data"].get("notices", ()))
            else:
                _envelope(r, str(got[1]))
                if got[1] == "session_conflict":
                    details = r.json()["error"]["details"]
                    assert {"active_content_id", "active_device_id"} <= set(details), details
        watch.ended = time.time()
        return watch


@pytest.fixture
async def fallback(
    spawn: Callable[..., Any],
    worker: Callable[..., Any],
    content: Any,
    token: Callable[..., str],
    engine: Any,
) -> AsyncIterator[Fallback]:
    worker(REDIS_PARTITIONS="8")
    hub = spawn("realtime.app:app", HUB_ENV)
    fb = Fallback(hub.url, await content(), token)
    yield fb
    print(f"\nfallback fuzz: {len(fb.watches)} users, replies {fb.statuses}")
    assert hub.proc.poll() is None, "the hub died"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@settings(FUZZ)
@given(data=st.data())
async def test_every_call_gets_its_documented_answer_and_time_is_conserved(
    fallback: Fallback, http: httpx.AsyncClient, engine: Any, data: st.DataObject
) -> None:
    """Any sequence of valid and invalid calls: each answered with the status and error code
    the contract gives in the user's state (the envelope with traceId = X-Request-ID), never
    a 5xx; the 200s' credits within the cap, their rewards of the documented shape, and the
    user's credited time, sessions and rewards conserved in the ledger."""
    sequence = data.draw(st.lists(calls(fallback.cid), min_size=1, max_size=14), label="calls")
    watch = await fallback.play(http, sequence)
    await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)


async def test_a_fallback_player_is_paid_what_it_was_shown(
    fallback: Fallback, http: httpx.AsyncClient, engine: Any
) -> None:
    """Not vacuous: 25 valid calls a heartbeat apart cross two reward intervals, so the reply
    carries one reward and then the daily cap's notice, and the ledger pays that reward."""
    body = {"content_id": fallback.cid, "tab_id": "t", "device_id": "d"}
    body |= {"playing": True, "visible": True}
    valid = Call("fixed", TIMER, json.dumps(body).encode(), "application/json", True, body, 0.1)
    out = Call("fixed", OUT, json.dumps(body).encode(), None, True, body, 0.1)
    watch = await fallback.play(http, [valid] * 25 + [out])
    paid = await conserved(engine, [watch], heartbeat_ms=HEARTBEAT_MS)
    assert len(paid) == 1 and fallback.notices == 1, (paid, fallback.notices)
    assert fallback.statuses == {(200, None): 26}, fallback.statuses
