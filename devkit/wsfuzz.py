"""WebSocket fuzzing of the hub: frame strategies (hypothesis), an oracle that says which reply
each frame must get (PROTOCOL 4 and docs/protocol-notes.md), and a runner that plays scripts
of frames against a real hub over loopback and checks every reply.

Used by tests/realtime/test_fuzz.py (a CI-sized run) and loadtests/fuzz.py (100k+ frames with
the hub's RSS sampled); docs/fuzzing.md describes both.

The oracle is written from the contract, not from realtime/protocol.py: a generated frame is
a JSON tree (or raw bytes) and `classify` decides, from the tree, what the hub must answer.
A script is played lock-step (send one frame, read its reply) so each reply is known, except
for floods (`Script.flood`), which send a burst first and then read the replies in order.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

MAX_FRAME_BYTES = 4096  # WS_MAX_FRAME_BYTES at its default, as in the container
MALFORMED_LIMIT = 10  # PROTOCOL 4.3: more than 10 malformed frames in a minute close 4500
# msgspec decodes nested JSON recursively under Python's recursion limit (1000), so where a
# deep frame is refused depends a little on the stack: up to DEPTH_SAFE levels always decode,
# from DEPTH_REFUSED on never (bad_request); in between either answer is right.
DEPTH_SAFE = 800
DEPTH_REFUSED = 1000
PUSHES = frozenset({"viewers", "reward", "notice"})  # frames that are no direct reply
KNOWN_TYPES = ("start", "heartbeat", "stop", "ping", "auth")
INT64_MAX = 2**63 - 1
MISSING_CONTENT_LOW = 10**12  # content ids from here up are never created by the tests


# --- JSON trees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    """A JSON literal written verbatim: `value` is what a conforming parser reads (when
    `valid`), e.g. Lit("1e400", inf), Lit("1.0", 1.0), Lit('"\\ud83d\\ude00"', "😀"), or an
    invalid one, e.g. Lit("NaN", None, False), Lit('"\\ud800"', None, False)."""

    text: str
    value: Any = None
    valid: bool = True


@dataclass(frozen=True)
class Deep:
    """`levels` nested containers (`[[...]]` or `{"a":{"a":...}}`), written without recursion."""

    levels: int
    objects: bool = False

    def text(self) -> str:
        if self.objects and self.levels <= 600:  # deeper ones would not fit in a frame
            return '{"a":' * self.levels + "0" + "}" * self.levels
        return "[" * self.levels + "]" * self.levels


@dataclass(frozen=True)
class TokenSlot:
    """An auth token chosen when the script is played (it depends on the connection's user):
    `case` is a name of devkit/tokens.py's matrix, or `other_user`."""

    case: str


@dataclass(frozen=True)
class Style:
    """How a tree is written: \\u escapes or raw UTF-8, separators, surrounding whitespace."""

    ascii: bool = True
    spaced: bool = False
    lead: str = ""
    trail: str = ""


def render(tree: Any, style: Style, token: Callable[[str], str] | None = None) -> str:
    parts: list[str] = [style.lead]
    comma, colon = (", ", ": ") if style.spaced else (",", ":")

    def emit(node: Any) -> None:
        if isinstance(node, Lit):
            parts.append(node.text)
        elif isinstance(node, Deep):
            parts.append(node.text())
        elif isinstance(node, TokenSlot):
            parts.append(json.dumps(token(node.case) if token else "", ensure_ascii=style.ascii))
        elif isinstance(node, dict):
            parts.append("{")
            for i, (key, value) in enumerate(node.items()):
                if i:
                    parts.append(comma)
                parts.append(json.dumps(key, ensure_ascii=style.ascii))
                parts.append(colon)
                emit(value)
            parts.append("}")
        elif isinstance(node, list):
            parts.append("[")
            for i, value in enumerate(node):
                if i:
                    parts.append(comma)
                emit(value)
            parts.append("]")
        else:  # str, int, float, bool, None: json.dumps writes floats with '.' or 'e'
            parts.append(json.dumps(node, ensure_ascii=style.ascii))

    emit(tree)
    parts.append(style.trail)
    return "".join(parts)


def _walk(tree: Any) -> tuple[int, bool]:
    """(depth, valid JSON) of a tree; the top-level container counts as depth 1."""
    if isinstance(tree, Lit):
        return 0, tree.valid
    if isinstance(tree, Deep):
        return tree.levels, True
    if isinstance(tree, dict):
        children = [_walk(v) for v in tree.values()]
    elif isinstance(tree, list):
        children = [_walk(v) for v in tree]
    else:
        return 0, True
    depth = 1 + max((d for d, _ in children), default=0)
    return depth, all(ok for _, ok in children)


def _value(node: Any) -> Any:
    """What a conforming parser reads for a node (Lits by their value; Deep as a marker)."""
    if isinstance(node, Lit):
        return node.value
    return node


# --- the contract: which message a tree is, if any ---------------------------------------


@dataclass(frozen=True)
class Message:
    type: str
    fields: dict[str, Any]
    ref: str | None


def _is_int(v: Any) -> bool:
    return type(v) is int


def _number(v: Any) -> bool:
    return type(v) in (int, float)


def _short(v: Any) -> bool:
    # tab_id / device_id: 1-64 characters, no NUL (PostgreSQL text cannot hold it; the HTTP
    # fallback and the api refuse it too).
    return type(v) is str and 1 <= len(v) <= 64 and "\x00" not in v


def _position(v: Any) -> bool:
    if v is None:
        return True
    if not _number(v):
        return False
    if type(v) is float and not math.isfinite(v):
        return False
    return 0 <= v <= 1e9


_ABSENT = object()


def message_of(tree: Any) -> Message | None:
    """The client message a (valid JSON, not too deep) tree is, per PROTOCOL 4.1, or None when
    it is malformed. Unknown fields are ignored (docs/protocol-notes.md)."""
    if not isinstance(tree, dict):
        return None

    def get(name: str) -> Any:
        return _value(tree.get(name, _ABSENT))

    ident = get("id")
    if ident is not _ABSENT and ident is not None and not (type(ident) is str and len(ident) <= 64):
        return None
    ref = ident if type(ident) is str else None
    kind = get("type")
    if type(kind) is not str or kind not in KNOWN_TYPES:
        return None
    fields: dict[str, Any] = {}
    if kind == "start":
        cid, tab, dev, takeover = (
            get("content_id"),
            get("tab_id"),
            get("device_id"),
            get("takeover"),
        )
        if not (_is_int(cid) and 1 <= cid <= INT64_MAX and _short(tab) and _short(dev)):
            return None
        if takeover is not _ABSENT and type(takeover) is not bool:
            return None
        fields = {"content_id": cid, "tab_id": tab, "device_id": dev, "takeover": takeover is True}
    elif kind == "heartbeat":
        playing, visible, pos = get("playing"), get("visible"), get("position_s")
        if type(playing) is not bool or type(visible) is not bool:
            return None
        if pos is not _ABSENT and not _position(pos):
            return None
        fields = {"playing": playing, "visible": visible}
    elif kind == "auth":
        token = tree.get("token", _ABSENT)
        if isinstance(token, TokenSlot):
            fields = {"token": token.case}
        else:
            token = _value(token)
            if type(token) is not str or not 1 <= len(token) <= 4096:
                return None
            fields = {"token": "literal"}
    return Message(kind, fields, ref)


def _malformed_ref(tree: Any) -> str | None:
    """The `ref` of a malformed frame's error: its `id` when one can still be read."""
    if not isinstance(tree, dict):
        return None
    ident = _value(tree.get("id"))
    return ident if type(ident) is str and len(ident) <= 64 else None


# --- frames and what they must get ---------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame of a script: a JSON tree written in a style, or raw text/bytes."""

    label: str
    tree: Any = None
    style: Style = Style()
    raw: str | bytes | None = None
    binary: bool = False
    pad: int = 0  # bytes of padding in an unknown field (`"~":"xx..."`) to reach a size
    pad_char: str = "x"

    def payload(self, token: Callable[[str], str] | None = None) -> str | bytes:
        if self.raw is not None:
            return self.raw
        tree = self.tree
        if self.pad and isinstance(tree, dict):
            tree = {**tree, "~": self.pad_char * self.pad}
        return render(tree, self.style, token)


# Expectations (before the connection's state is applied).
TOO_BIG = ("too_big",)
BAD_UTF8 = ("bad_utf8",)


@dataclass(frozen=True)
class Expect:
    """`malformed` (refs allowed), and/or `message` (a decodable client message)."""

    malformed_refs: frozenset[str | None] = frozenset()
    message: Message | None = None
    close: int | None = None  # 1009 / 1007: the connection is failed before the hub decodes

    @property
    def may_be_malformed(self) -> bool:
        return bool(self.malformed_refs)


def classify(frame: Frame, payload: str | bytes) -> Expect:
    """What the contract says about one frame, state aside."""
    size = (
        len(payload)
        if isinstance(payload, bytes)
        else len(payload.encode("utf-8", "surrogatepass"))
    )
    if size > MAX_FRAME_BYTES:
        return Expect(close=1009)
    if frame.binary:
        return Expect(malformed_refs=frozenset({None}))
    if frame.raw is not None:
        if isinstance(payload, bytes):
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                return Expect(close=1007)
        return Expect(malformed_refs=frozenset({None}))  # raw frames are never JSON objects
    tree = frame.tree
    if frame.pad and isinstance(tree, dict):
        tree = {**tree, "~": "x"}
    depth, valid = _walk(tree)
    if not valid or depth >= DEPTH_REFUSED:
        return Expect(malformed_refs=frozenset({None}))
    msg = message_of(tree)
    refs: set[str | None] = set() if msg is not None else {_malformed_ref(tree)}
    if depth > DEPTH_SAFE:
        refs |= {None, _malformed_ref(tree)}
    return Expect(malformed_refs=frozenset(refs), message=msg)


# --- the connection model ------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    type: str
    code: str | None = None
    refs: frozenset[str | None] = frozenset({None})

    def key(self) -> str:
        return self.type if self.code is None else f"{self.type}:{self.code}"


@dataclass(frozen=True)
class Close:
    code: int

    def key(self) -> str:
        return f"close:{self.code}"


Outcome = Reply | Close


@dataclass
class State:
    session: tuple[str, str] | None = None  # (tab, device) of this connection's live session
    malformed: int = 0
    last_beat: float = 0.0  # monotonic time of the last start/heartbeat (session TTL)


SESSION_TTL_MARGIN_S = 25.0  # below the 30 s default TTL: a session this quiet may have expired


def outcomes(
    state: State, exp: Expect, watchable: frozenset[int], now: float
) -> list[tuple[Outcome, State]]:
    """Every (reply, next state) the contract allows for a frame in `state`."""
    if exp.close is not None:
        return [(Close(exp.close), state)]
    out: list[tuple[Outcome, State]] = []
    if exp.may_be_malformed:
        count = state.malformed + 1
        nxt = State(state.session, count, state.last_beat)
        if count > MALFORMED_LIMIT:
            out.append((Close(4500), nxt))
        else:
            out.append((Reply("error", "bad_request", exp.malformed_refs), nxt))
    msg = exp.message
    if msg is None:
        return out
    refs = frozenset({msg.ref})

    def same(**kw: Any) -> State:
        return State(**{**state.__dict__, **kw})

    live = state.session is not None
    maybe_expired = live and now - state.last_beat > SESSION_TTL_MARGIN_S
    if msg.type == "ping":
        out.append((Reply("pong", None, refs), state))
    elif msg.type == "auth":
        if msg.fields["token"] == "valid":
            out.append((Reply("authed", None, refs), state))
        else:  # refused tokens are a bad_request answer, not a malformed frame
            out.append((Reply("error", "bad_request", refs), state))
    elif msg.type == "start":
        f = msg.fields
        if f["content_id"] not in watchable:
            out.append((Reply("error", "content_unavailable", refs), state))
        elif not live or state.session == (f["tab_id"], f["device_id"]) or f["takeover"]:
            out.append(
                (
                    Reply("started", None, refs),
                    same(session=(f["tab_id"], f["device_id"]), last_beat=now),
                )
            )
        else:
            out.append((Reply("error", "session_conflict", refs), state))
            if maybe_expired:
                out.append(
                    (
                        Reply("started", None, refs),
                        same(session=(f["tab_id"], f["device_id"]), last_beat=now),
                    )
                )
    elif msg.type == "heartbeat":
        if live:
            out.append((Reply("tick", None, refs), same(last_beat=now)))
        if not live or maybe_expired:
            out.append((Reply("error", "no_session", refs), same(session=None)))
    elif msg.type == "stop":
        if live:
            out.append((Reply("stopped", None, refs), same(session=None)))
        if not live or maybe_expired:
            out.append((Reply("error", "no_session", refs), same(session=None)))
    return out


def step(
    states: list[State],
    exp: Expect,
    watchable: frozenset[int],
    now: float,
    extra: Callable[[State], list[tuple[Outcome, State]]] | None = None,
) -> tuple[list[tuple[Outcome, State]], Callable[[Any], list[State]]]:
    """The outcomes allowed from any of the states the connection may be in, and a function
    from the observed reply to the states it may be in next. The model is nondeterministic
    where the contract is: a frame nested 800-1000 levels deep is a message or malformed,
    and either can answer the same `error bad_request` (an `auth` refused) while counting
    differently towards the 4500 close; so every state that fits is kept."""
    allowed: list[tuple[Outcome, State]] = []
    for state in states:
        allowed += outcomes(state, exp, watchable, now)
        if extra is not None:
            allowed += extra(state)

    def after(got: Any) -> list[State]:
        nxt: dict[tuple[Any, int], State] = {}
        for outcome, state in allowed:
            if _matches(outcome, got):
                nxt.setdefault((state.session, state.malformed), state)
        return list(nxt.values())

    return allowed, after


# --- strategies ----------------------------------------------------------------------------

# Strings that have broken parsers, terminals and databases before.
NASTY = [
    "\u0000",
    "a\u0000b",
    "\u202eevil",
    "\u200f",
    "\ufeff",
    "\uffff",
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "e\u0301",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u65e5\u672c",
    "\\",
    '"',
    "\\u0000",
    "</script>",
    "' OR 1=1 --",
    "\r\n",
    "\t",
    " ",
    "\U0010ffff",
    "\u2028\u2029",
]
SURROGATE_LITS = [
    Lit('"\\ud83d\\ude00"', "\U0001f600"),
    Lit('"\\uD83D\\uDE00"', "\U0001f600"),
    Lit('"\\ud800"', None, False),
    Lit('"\\udc00"', None, False),
    Lit('"\\ud83d x"', None, False),
    Lit('"\\ud83d\\u0041"', None, False),
    Lit('"\\u0000"', "\u0000"),
    Lit('"\\u00e9"', "\u00e9"),
]
NUMBER_LITS = [
    Lit("1e400", math.inf),
    Lit("-1e400", -math.inf),
    Lit("1e-400", 0.0),
    Lit("-0", 0),
    Lit("-0.0", -0.0),
    Lit("1.0", 1.0),
    Lit("1e2", 100.0),
    Lit("1E+2", 100.0),
    Lit(str(2**64), 2**64),
    Lit(str(-(2**64)), -(2**64)),
    Lit(str(2**63), 2**63),
    Lit(str(INT64_MAX), INT64_MAX),
    Lit("9" * 300, int("9" * 300)),
    Lit("1" + "0" * 400, 10**400),
    Lit("NaN", None, False),
    Lit("Infinity", None, False),
    Lit("-Infinity", None, False),
    Lit("+1", None, False),
    Lit("01", None, False),
    Lit(".5", None, False),
    Lit("1.", None, False),
    Lit("0x10", None, False),
    Lit("1e", None, False),
    Lit("--1", None, False),
    Lit("1_000", None, False),
    Lit("True", None, False),
    Lit("nul", None, False),
]

_text = st.text(max_size=20)
nasty_strings = st.one_of(
    st.sampled_from(NASTY),
    st.text(min_size=0, max_size=70),
    st.text(alphabet=st.characters(min_codepoint=0x10000), min_size=60, max_size=66),
    st.builds(lambda s, n: s * n, st.sampled_from(NASTY), st.integers(1, 70)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_strings,
    st.sampled_from(NUMBER_LITS),
    st.sampled_from(SURROGATE_LITS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)
deep = st.builds(
    Deep,
    st.one_of(st.integers(1, 60), st.sampled_from([400, 799, 800, 850, 999, 1000, 1001])),
    st.booleans(),
)
any_value = st.one_of(json_values, json_values, json_values, deep)

message_ids = st.one_of(
    st.none(),
    st.text(max_size=64),
    st.text(min_size=65, max_size=70),
    st.sampled_from(NASTY),
    st.integers(),
    st.lists(st.integers(), max_size=2),
)
tabs = st.one_of(
    st.sampled_from(["tab-a", "tab-b"]), st.sampled_from(NASTY), st.text(min_size=1, max_size=64)
)
devices = st.one_of(
    st.sampled_from(["dev-a", "dev-b"]), st.sampled_from(NASTY), st.text(min_size=1, max_size=64)
)
TOKEN_SLOTS = [
    "valid",
    "valid",
    "other_user",
    "expired",
    "garbage",
    "alg_none",
    "forged",
    "tampered_payload",
    "refresh_typ",
    "iat_future",
    "no_audience",
    "oversized_5k",
]


# Strategies are built once: making them per draw costs more than drawing from them.
_POSITION = st.one_of(st.none(), st.floats(0, 1e9), st.integers(0, 10**9))
_TOKEN = st.builds(TokenSlot, st.sampled_from(TOKEN_SLOTS))
_HOW = st.sampled_from(["good", "good", "wrong", "missing"])
_EXTRA_KEY = st.one_of(_text, st.sampled_from(["type", "id", "content_id", "token"]))
_ODD_TYPE = st.one_of(
    st.sampled_from(
        ["Ping", "ping ", "PING", "start\u0000", "pong", "hello", "error", "", "heartbeat\u200b"]
    ),
    st.text(max_size=12),
    any_value,
)
_SESSION_KINDS = st.sampled_from(("start", "heartbeat", "heartbeat", "heartbeat", "stop"))
_ALL_KINDS = st.sampled_from((*KNOWN_TYPES, "heartbeat", "start", "ping"))
_FIELDS: dict[tuple[int, ...], dict[str, dict[str, st.SearchStrategy[Any]]]] = {}


def _fields(content_ids: tuple[int, ...]) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    if content_ids not in _FIELDS:
        content = st.one_of(
            st.sampled_from(content_ids),
            st.sampled_from(content_ids),
            st.integers(MISSING_CONTENT_LOW, INT64_MAX),
        )
        _FIELDS[content_ids] = {
            "start": {
                "content_id": content,
                "tab_id": tabs,
                "device_id": devices,
                "takeover": st.booleans(),
            },
            "heartbeat": {
                "playing": st.booleans(),
                "visible": st.booleans(),
                "position_s": _POSITION,
            },
            "stop": {},
            "ping": {},
            "auth": {"token": _TOKEN},
        }
    return _FIELDS[content_ids]


@st.composite
def message_trees(
    draw: st.DrawFn, content_ids: tuple[int, ...], session: bool = False
) -> dict[str, Any]:
    """A client message: often exactly right, often with one field wrong, missing or odd.
    `session`: mostly right starts, heartbeats and stops, to walk the session's states."""
    kind = draw(_SESSION_KINDS if session else _ALL_KINDS)
    optional = {"takeover", "position_s"}
    clean = draw(st.integers(0, 9)) < (9 if session else 5)
    tree: dict[str, Any] = {"type": kind}
    for name, good in _fields(content_ids)[kind].items():
        if clean:
            if name in optional and draw(st.booleans()):
                continue
            tree[name] = draw(good)
            continue
        how = draw(_HOW)
        if how == "missing":
            continue
        tree[name] = draw(good if how == "good" else any_value)
    if draw(st.booleans()):
        tree["id"] = draw(message_ids)
    if not clean:
        for _ in range(draw(st.integers(0, 2))):
            tree[draw(_EXTRA_KEY)] = draw(any_value)
        if draw(st.integers(0, 9)) == 0:
            tree["type"] = draw(_ODD_TYPE)
    keys = draw(st.permutations(list(tree)))
    return {k: tree[k] for k in keys}


styles = st.builds(
    Style,
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", " ", "\n", "\t\r\n "]),
    st.sampled_from(["", " ", "\n"]),
)


def _not_a_json_object(text: str) -> bool:
    def refuse(_: str) -> Any:
        raise ValueError

    try:
        return not isinstance(json.loads(text, parse_constant=refuse), dict)
    except (ValueError, RecursionError):
        return True


JSONISH = [
    "{",
    "}",
    "[",
    "]",
    '"',
    ":",
    ",",
    "null",
    "true",
    "1e400",
    "NaN",
    "\\u0000",
    '"type"',
    '"ping"',
    '"start"',
    "\\",
    "\\ud800",
    "-",
    "0",
    " ",
    "\u0000",
    "\U0001f600",
]


# Kinds of frame. The fatal ones end the connection (1009 / 1007) and so end a script: a
# script draws them only as its last frame, so that scripts get long enough to reach states.
KINDS = ["message"] * 10 + [
    "raw_text",
    "jsonish",
    "binary",
    "boundary",
    "deep",
    "unknown_type",
    "scalar",
]
FATAL_KINDS = ["oversized", "raw_bytes_as_text", "boundary", "binary"]
SESSION_KINDS = ["message"] * 6 + KINDS
_POOLS = {
    "normal": st.sampled_from(KINDS),
    "fatal": st.sampled_from(FATAL_KINDS),
    "session": st.sampled_from(SESSION_KINDS),
}
_RAW_TEXT = st.text(max_size=300).filter(_not_a_json_object)
_JSONISH = st.lists(st.sampled_from(JSONISH), max_size=30)
_BYTES = st.binary(max_size=300)
# A stray byte, an overlong form, a UTF-8-encoded surrogate, beyond U+10FFFF, a cut sequence.
_NOT_UTF8 = st.sampled_from(
    [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82("]
)
_SIZES = st.sampled_from([0, 1, 16, 300, 4096])
_BIG_SIZES = st.sampled_from([4097, 65_536])
_OVERSIZE = st.one_of(st.integers(4097, 6000), st.sampled_from([16_384, 65_536]))
_PAD_CHAR = st.sampled_from(["x", "\U0001f600"])
_BOUNDARY_CHAR = st.sampled_from(["x", "\u00e9", "\U0001f600"])
_BOUNDARY = st.sampled_from([4095, 4096])
_WHERE = st.sampled_from(["unknown", "known", "type", "top", "id"])
_DEEPER = st.one_of(deep, st.builds(Deep, st.sampled_from([1500, 2000]), st.booleans()))
_DEEP_KIND = st.sampled_from(["ping", "heartbeat", "stop"])
_UNKNOWN_TYPE = st.one_of(st.text(max_size=20), st.sampled_from(["pong", "hello", "tick", "Start"]))
_NOT_OBJECT = st.one_of(json_values.filter(lambda v: not isinstance(v, dict)), deep)


@st.composite
def frames(draw: st.DrawFn, content_ids: tuple[int, ...], pool: str = "normal") -> Frame:
    """One frame of any kind the fuzzer sends: `pool` normal (all kinds but the fatal), fatal
    (those that fail the connection) or session (more well-formed session messages)."""
    what = draw(_POOLS[pool])
    fatal = pool == "fatal"
    if what == "message":
        tree = draw(message_trees(content_ids, pool == "session"))
        label = f"message:{tree.get('type') if isinstance(tree.get('type'), str) else '?'}"
        return Frame(label[:40], tree, draw(styles))
    if what == "raw_text":
        return Frame(what, raw=draw(_RAW_TEXT))
    if what == "jsonish":
        parts = draw(_JSONISH)
        return (
            Frame(what, raw="".join(parts))
            if _not_a_json_object("".join(parts))
            else Frame(what, raw="[" + "".join(parts))
        )
    if what == "raw_bytes_as_text":  # a text frame that is not UTF-8: RFC 6455 says 1007
        data = draw(_BYTES) + draw(_NOT_UTF8) + draw(_BYTES)
        return Frame(what, raw=data)
    if what == "binary":
        size = draw(_BIG_SIZES if fatal else _SIZES)
        data = draw(_BYTES)
        return Frame(
            what,
            raw=(data * (size // max(1, len(data)) + 1))[:size] if data else b"\x00" * size,
            binary=True,
        )
    if what == "oversized":
        size = draw(_OVERSIZE)
        return Frame(what, {"type": "ping"}, pad=size, pad_char=draw(_PAD_CHAR))
    if what == "boundary":
        # A ping of exactly 4096 / 4097 bytes, padded with 1-, 2- or 4-byte characters.
        char = draw(_BOUNDARY_CHAR)
        target = 4097 if fatal else draw(_BOUNDARY)
        base = len(render({"type": "ping", "~": ""}, Style(ascii=False)).encode())
        n, rest = divmod(target - base, len(char.encode()))
        return Frame(
            f"boundary:{target}",
            raw=None,
            tree={"type": "ping", "~": char * n + "x" * rest},
            style=Style(ascii=False),
        )
    if what == "deep":
        where = draw(_WHERE)
        d = draw(_DEEPER)
        kind = draw(_DEEP_KIND)
        tree = {"type": kind, "id": "deep"}
        if kind == "heartbeat":
            tree.update(playing=True, visible=True)
        if where == "unknown":
            tree["x"] = d
        elif where == "known":
            tree["playing" if kind == "heartbeat" else "id"] = d
        elif where == "type":
            tree["type"] = d
        elif where == "id":
            tree["id"] = d
        else:
            return Frame(f"deep:{where}", raw=d.text())
        return Frame(f"deep:{where}", tree)
    if what == "unknown_type":
        kind = draw(_UNKNOWN_TYPE)
        return Frame(what, {"type": kind} if kind not in KNOWN_TYPES else {"type": kind + "?"})
    return Frame("scalar", draw(_NOT_OBJECT), draw(styles))


@dataclass(frozen=True)
class Script:
    """The frames of one connection; `flood`: sent in one burst, replies read afterwards."""

    frames: tuple[Frame, ...]
    flood: bool = False


@st.composite
def scripts(draw: st.DrawFn, content_ids: tuple[int, ...], max_frames: int = 40) -> Script:
    """The frames of one lock-step connection, maybe ending with one that fails it."""
    n = draw(st.integers(1, max_frames))  # hypothesis keeps lists short; scripts need length
    session = draw(st.integers(0, 2)) == 0  # a third of the scripts walk the session states
    one = frames(content_ids, "session" if session else "normal")
    body = draw(st.lists(one, min_size=n, max_size=n))
    if draw(st.integers(0, 3)) == 0:
        body.append(draw(frames(content_ids, "fatal")))
    return Script(tuple(body))


@st.composite
def flood_scripts(draw: st.DrawFn, content_ids: tuple[int, ...], limit: int) -> Script:
    """A burst beyond the rate limit: mostly pings, some other messages and junk."""
    n = draw(st.integers(limit + 1, 6 * limit))
    cheap = st.one_of(
        st.just(Frame("flood:ping", {"type": "ping"})),
        st.just(Frame("flood:ping", {"type": "ping"})),
        frames(content_ids),
    )
    body = draw(st.lists(cheap, min_size=n, max_size=n))
    if draw(st.integers(0, 4)) == 0:
        body.append(draw(frames(content_ids, "fatal")))
    return Script(tuple(body), flood=True)


# --- the runner ----------------------------------------------------------------------------

# uvicorn's websockets-sansio logs a text frame that is not UTF-8 at level error, with the
# traceback of its own decode, before it closes 1007 as RFC 6455 wants: the documented path.
_EXPECTED_ERRORS = ("Invalid UTF-8 sequence received from client.",)


def log_line_is_a_fault(line: str) -> bool:
    """A hub log line that shows a fault: an error, a traceback, an ASGI exception."""
    if any(known in line for known in _EXPECTED_ERRORS):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return "Traceback" in line or "Exception in ASGI" in line
    if not isinstance(record, dict):
        return False
    return record.get("level") in ("error", "critical") or "exc" in record


@dataclass
class Failure:
    label: str
    index: int
    frame: str
    allowed: list[str]
    got: str
    # The connection up to here: (frame, its reply, malformed frames the model counted).
    transcript: list[tuple[str, str, int]] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"frame {self.index} ({self.label}) {self.frame[:200]!r}: allowed "
            f"{self.allowed}, got {self.got}"
        )


@dataclass
class Tally:
    """What a run saw: replies by kind, frames sent, failures."""

    frames: int = 0
    connections: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.connections += other.connections
        self.replies.update(other.replies)
        self.labels.update(other.labels)
        self.failures.extend(other.failures)


def token_maker(settings: Any) -> Callable[[int, str], str]:
    """`make(user_id, case)`: a token for a connection's user: `valid`, `other_user` (valid,
    for the next user id) or a case of devkit/tokens.py's matrix."""
    from core.tokens import issue_access
    from devkit.tokens import token_cases

    cache: dict[int, dict[str, str | None]] = {}

    def make(user_id: int, case: str) -> str:
        if case == "valid":
            return str(issue_access(settings, user_id))
        if case == "other_user":
            return str(issue_access(settings, user_id + 1))
        if user_id not in cache:
            cache.clear()
            cache[user_id] = {k: c.token for k, c in token_cases(settings, user_id).items()}
        return cache[user_id][case] or ""

    return make


@dataclass
class Target:
    """Where and as whom to play: `ws_url` (ws://127.0.0.1:PORT), `token(user_id, case)`."""

    ws_url: str
    token: Callable[[int, str], str]
    watchable: frozenset[int]
    rate_limit: int = 20
    reply_timeout: float = 10.0


def _observe(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    frame = json.loads(raw)
    key = frame["type"] if frame["type"] != "error" else f"error:{frame.get('code')}"
    return key, frame


def _matches(outcome: Outcome, got: Outcome | tuple[str, dict[str, Any]]) -> bool:
    if isinstance(outcome, Close):
        return isinstance(got, Close) and got.code == outcome.code
    if isinstance(got, Close):
        return False
    key, frame = got
    return (
        key == outcome.key()
        and frame.get("ref") in outcome.refs
        and (
            outcome.code != "session_conflict"
            or ("active_content_id" in frame and "active_device_id" in frame)
        )
    )


async def _next(ws: Any, timeout: float) -> Close | tuple[str, dict[str, Any]]:
    """The next direct reply (pushes skipped), or the close."""
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout)
        except ConnectionClosed as exc:
            return Close(exc.rcvd.code if exc.rcvd else 1006)
        key, frame = _observe(raw)
        if key not in PUSHES:
            return key, frame


def _describe(got: Close | tuple[str, dict[str, Any]]) -> str:
    return got.key() if isinstance(got, Close) else f"{got[0]} {json.dumps(got[1])[:200]}"


async def play(target: Target, user_id: int, script: Script) -> Tally:
    """Play one script on a fresh connection of a fresh user; every reply is checked."""
    tally = Tally(connections=1)
    token = target.token(user_id, "valid")
    url = f"{target.ws_url}/ws?token={token}"
    try:
        ws = await connect(
            url,
            open_timeout=target.reply_timeout,
            max_size=2**20,
            compression=None,
            ping_interval=None,
        )
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        tally.failures.append(Failure("connect", -1, url[:80], ["hello"], repr(exc)))
        return tally
    try:
        hello = await _next(ws, target.reply_timeout)
        if isinstance(hello, Close) or hello[0] != "hello":
            tally.failures.append(Failure("connect", -1, "", ["hello"], _describe(hello)))
            return tally
        if script.flood:
            await _flood(ws, target, user_id, script, tally)
        else:
            await _lockstep(ws, target, user_id, script, tally)
    finally:
        await ws.close()
    return tally


def _send_args(frame: Frame, target: Target, user_id: int) -> tuple[str | bytes, bool]:
    payload = frame.payload(lambda case: target.token(user_id, case))
    if isinstance(payload, str):
        return payload, True
    return payload, not frame.binary


async def _send(ws: Any, payload: str | bytes, text: bool) -> bool:
    try:
        if isinstance(payload, str):
            await ws.send(payload)
        else:
            await ws.send(payload, text=text)
        return True
    except ConnectionClosed:
        return False


async def _lockstep(ws: Any, target: Target, user_id: int, script: Script, tally: Tally) -> None:
    states = [State(last_beat=time.monotonic())]
    transcript: list[tuple[str, str, int]] = []
    for i, frame in enumerate(script.frames):
        payload, text = _send_args(frame, target, user_id)
        allowed, after = step(states, classify(frame, payload), target.watchable, time.monotonic())
        tally.frames += 1
        tally.labels[frame.label.split(":")[0]] += 1
        await _send(ws, payload, text)  # a close under a long send shows up in the read
        got: Close | tuple[str, dict[str, Any]]
        try:
            got = await _next(ws, target.reply_timeout)
        except TimeoutError:
            got = Close(-1)  # no reply at all
        tally.replies[got.key() if isinstance(got, Close) else got[0]] += 1
        states = after(got)
        if not states:
            tally.failures.append(
                Failure(
                    frame.label,
                    i,
                    repr(payload)[:300],
                    sorted({o.key() for o, _ in allowed}),
                    _describe(got),
                    transcript,
                )
            )
            return
        transcript.append((repr(payload)[:300], _describe(got)[:200], states[0].malformed))
        if isinstance(got, Close):
            return


async def _flood(ws: Any, target: Target, user_id: int, script: Script, tally: Tally) -> None:
    """Send the whole burst, then read one direct reply per frame, in order. A text frame may
    also be answered `rate_limited` (then it changes nothing), and once the limit was passed
    the hub may close 4029 instead of any reply."""
    sent: list[tuple[Frame, str | bytes, bool]] = []
    fatal: int | None = None
    began = time.monotonic()
    for frame in script.frames:
        payload, text = _send_args(frame, target, user_id)
        if not await _send(ws, payload, text):
            break
        sent.append((frame, payload, text))
        fatal = classify(frame, payload).close
        if fatal is not None:
            break  # the hub fails the connection here: nothing after it is read
    burst_s = time.monotonic() - began
    states = [State(last_beat=time.monotonic())]
    text_frames = 0
    limited = 0
    for i, (frame, payload, text) in enumerate(sent):
        tally.frames += 1
        tally.labels["flood"] += 1
        counted = text and not frame.binary  # binary frames are refused before the rate check
        text_frames += counted
        exp = classify(frame, payload)

        def also(
            state: State, exp: Expect = exp, counted: bool = counted, text_frames: int = text_frames
        ) -> list[tuple[Outcome, State]]:
            more: list[tuple[Outcome, State]] = []
            if counted and text_frames > target.rate_limit and exp.close is None:
                more.append((Reply("error", "rate_limited", frozenset({None})), state))
                more.append((Close(4029), state))
            if fatal is not None:
                # The WebSocket layer fails the connection as soon as it parses the bad
                # frame, dropping earlier frames the hub has not answered yet.
                more.append((Close(fatal), state))
            return more

        allowed, after = step(states, exp, target.watchable, time.monotonic(), also)
        try:
            got = await _next(ws, target.reply_timeout)
        except TimeoutError:
            got = Close(-1)
        tally.replies[got.key() if isinstance(got, Close) else got[0]] += 1
        states = after(got)
        if not states:
            tally.failures.append(
                Failure(
                    f"flood:{frame.label}",
                    i,
                    repr(payload)[:300],
                    sorted({o.key() for o, _ in allowed}),
                    _describe(got),
                )
            )
            return
        if not isinstance(got, Close) and got[0] == "error:rate_limited":
            limited += 1
        if isinstance(got, Close):
            limited += got.code == 4029
            return
    if text_frames > 2 * target.rate_limit and burst_s < 0.5 and not limited:
        tally.failures.append(
            Failure(
                "flood",
                len(sent),
                f"{text_frames} text frames in {burst_s:.3f}s",
                ["some error:rate_limited or close:4029"],
                "none",
            )
        )
