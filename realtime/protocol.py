"""The watch protocol on the wire (PROTOCOL.md section 4): one tagged msgspec Struct per
message type, one union per direction, decoders and encoders built once at import.

Pure: no I/O. `decode_client` turns a frame into a message or a `FrameError`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

# tab_id and device_id end up in PostgreSQL text, which cannot hold NUL: refused here, as the
# HTTP fallback and the api refuse it (core.web.decode_json).
Short = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
MessageId = Annotated[str, Meta(max_length=64)]
ContentId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
NonNegative = Annotated[float, Meta(ge=0, le=1e9)]


class _Client(Struct, tag_field="type", kw_only=True, omit_defaults=True):
    id: MessageId | None = None


class Recover(Struct):
    """The last push (`reward`, `notice`) the client saw: its `epoch` and `offset` (epoch ''
    and offset 0 when it saw none yet: `started` names the log's epoch and offset)."""

    epoch: Annotated[str, Meta(max_length=64)]
    offset: Annotated[int, Meta(ge=0, le=2**53)]


class Start(_Client, tag="start"):
    content_id: ContentId
    tab_id: Short
    device_id: Short
    takeover: bool = False
    recover: Recover | None = None  # PROTOCOL addition: push recovery (docs/protocol-notes.md)


class Heartbeat(_Client, tag="heartbeat"):
    playing: bool
    visible: bool
    position_s: NonNegative | None = None


class Stop(_Client, tag="stop"):
    pass


class Ping(_Client, tag="ping"):
    pass


class Auth(_Client, tag="auth"):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


ClientMessage = Start | Heartbeat | Stop | Ping | Auth


class _IdOnly(Struct):
    id: object = None


class FrameError(Exception):
    """A frame that is not a valid client message; `ref` is its id when one could be read."""

    def __init__(self, message: str, ref: str | None) -> None:
        super().__init__(message)
        self.ref = ref


# A union is not a `type[T]`, so the stubs make this a Decoder[Any]; the annotation says what
# it decodes to.
_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)
_id_decoder = msgspec.json.Decoder(_IdOnly)


def decode_client(frame: str | bytes) -> ClientMessage:
    try:
        return _decoder.decode(frame)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FrameError(_describe(exc), _ref_of(frame)) from None
    except RecursionError:  # deeply nested JSON
        raise FrameError("frame nests too deeply", None) from None


def _describe(exc: Exception) -> str:
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return "frame is not valid JSON: " + text
    if "Object missing required field `type`" in text:
        return "message needs a type"
    if "Invalid value" in text and "$.type" in text:
        return "unknown message type"
    return text


def _ref_of(frame: str | bytes) -> str | None:
    try:
        ident = _id_decoder.decode(frame).id
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return ident if isinstance(ident, str) and len(ident) <= 64 else None


# Server to client. `ref` echoes the client's message id on direct replies and errors.


class _Server(Struct, tag_field="type", omit_defaults=True):
    pass


class Hello(_Server, tag="hello"):
    user_id: str
    heartbeat_interval_ms: int
    session_ttl_ms: int
    server_time: int  # unix ms


class Started(_Server, tag="started"):
    content_id: int
    session_id: str
    resumed: bool
    elapsed_ms: int
    interval_ms: int
    remaining_ms: int
    balance: int
    viewers: int
    ref: str | None = None
    # PROTOCOL addition (push recovery): the user's push log as of this start, and, when the
    # start asked to recover, whether everything missed follows (false: re-read the balance).
    push_epoch: str | None = None
    push_offset: int | None = None
    recovered: bool | None = None


class Tick(_Server, tag="tick"):
    content_id: int
    elapsed_ms: int
    credited_ms: int
    remaining_ms: int
    ref: str | None = None


class Reward(_Server, tag="reward"):
    reward_id: str
    kind: Literal["watch"]
    amount: int
    balance: int
    content_id: int
    offset: int | None = None  # in the user's push log, with its epoch (push recovery)
    epoch: str | None = None
    recovered: bool | None = None  # true: sent again after a reconnect


class Viewers(_Server, tag="viewers"):
    content_id: int
    count: int


class Stopped(_Server, tag="stopped"):
    content_id: int
    watched_ms: int
    ref: str | None = None


class Replaced(_Server, tag="replaced"):
    content_id: int
    by_device_id: str


class Notice(_Server, tag="notice"):
    code: str
    message: str
    offset: int | None = None
    epoch: str | None = None
    recovered: bool | None = None


class Pong(_Server, tag="pong"):
    ref: str | None = None


class Authed(_Server, tag="authed"):
    expires_at: int  # unix seconds
    ref: str | None = None


class Error(_Server, tag="error"):
    code: str
    message: str
    ref: str | None = None
    active_content_id: int | None = None
    active_device_id: str | None = None


ServerMessage = (
    Hello | Started | Tick | Reward | Viewers | Stopped | Replaced | Notice | Pong | Authed | Error
)

_encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    return _encoder.encode(message).decode()


def encode_bytes(message: ServerMessage) -> bytes:
    """`encode` as UTF-8 bytes, for the direct lane's writes (realtime.wsdirect)."""
    return _encoder.encode(message)
