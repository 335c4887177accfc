"""What the contract says about one frame, state aside: which client message a JSON tree is
(`message_of`), and what a frame must get (`classify`: a close, a refusal, a message)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devkit.wsfuzz.trees import Style, TokenSlot, _value, _walk, render

MAX_FRAME_BYTES = 4096  # WS_MAX_FRAME_BYTES at its default, as in the container
MALFORMED_LIMIT = 10  # PROTOCOL 4.3: more than 10 malformed frames in a minute close 4500
# msgspec decodes nested JSON recursively under Python's recursion limit (1000), so where a
# deep frame is refused depends a little on the stack: up to DEPTH_SAFE levels always decode,
# from DEPTH_REFUSED on never (bad_request); in between either answer is right.
DEPTH_SAFE = 800
DEPTH_REFUSED = 1000
KNOWN_TYPES = ("start", "heartbeat", "stop", "ping", "auth")
INT64_MAX = 2**63 - 1
MISSING_CONTENT_LOW = 10**12  # content ids from here up are never created by the tests


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
    style: Style = field(default_factory=Style)
    raw: str | bytes | None = None
    binary: bool = False
    pad: int = 0  # bytes of padding in an unknown field (`"~":"xx..."`) to reach a size
    pad_char: str = "x"
    pause: float = 0.0  # seconds the player waits before sending it (watching goes on)

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


@dataclass(frozen=True)
class Script:
    """The frames of one connection; `flood`: sent in one burst, replies read afterwards."""

    frames: tuple[Frame, ...]
    flood: bool = False
