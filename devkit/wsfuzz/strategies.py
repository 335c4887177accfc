"""Hypothesis strategies: frames of every kind, lock-step scripts and floods."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from devkit.wsfuzz.contract import INT64_MAX, KNOWN_TYPES, MISSING_CONTENT_LOW, Frame, Script
from devkit.wsfuzz.trees import Deep, Lit, Style, TokenSlot, render

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


@st.composite
def watch_scripts(
    draw: st.DrawFn, content_ids: tuple[int, ...], heartbeat_s: float, beats: int = 16
) -> Script:
    """A player that watches long enough to cross reward boundaries: a good `start`, then
    `beats` well-formed heartbeats (playing or not) each after a pause of 0 to 2 heartbeat
    intervals (so that the credit cap is reached and passed), mixed with any other frames,
    and maybe a `stop`. Lock-step; the pauses make it last about `beats` intervals."""
    cid = content_ids[0]
    start = {"type": "start", "content_id": cid, "tab_id": "w", "device_id": "w"}
    body = [Frame("watch:start", start)]
    pauses = st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0])
    for n in range(beats):
        playing = draw(st.integers(0, 5)) > 0
        beat = {"type": "heartbeat", "playing": playing, "visible": True, "id": f"b{n}"}
        body.append(Frame("watch:heartbeat", beat, pause=draw(pauses) * heartbeat_s))
        if draw(st.integers(0, 3)) == 0:
            body.append(draw(frames(content_ids, "session")))
    if draw(st.booleans()):
        body.append(Frame("watch:stop", {"type": "stop", "id": "end"}))
    return Script(tuple(body))
