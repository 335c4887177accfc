"""Wire messages: decoding client frames and encoding server frames, without sockets."""

import pytest

from realtime import protocol
from realtime.protocol import FrameError, Heartbeat, Start


def test_start_decodes_with_defaults() -> None:
    msg = protocol.decode_client('{"type":"start","content_id":5,"tab_id":"t","device_id":"d"}')
    assert msg == Start(content_id=5, tab_id="t", device_id="d", takeover=False, id=None)


def test_heartbeat_keeps_the_message_id() -> None:
    msg = protocol.decode_client('{"type":"heartbeat","playing":true,"visible":false,"id":"h1"}')
    assert isinstance(msg, Heartbeat) and msg.id == "h1" and not msg.visible


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = protocol.decode_client('{"type":"ping","new_field":[1,2]}')
    assert isinstance(msg, protocol.Ping)


@pytest.mark.parametrize(
    ("frame", "ref", "needle"),
    [
        ("not json", None, "not valid JSON"),
        ("[1,2]", None, "object"),
        ('{"id":"x"}', "x", "needs a type"),
        ('{"type":"dance","id":"y"}', "y", "unknown message type"),
        ('{"type":"start","content_id":"5","tab_id":"t","device_id":"d"}', None, "content_id"),
        ('{"type":"start","content_id":0,"tab_id":"t","device_id":"d"}', None, "content_id"),
        ('{"type":"start","content_id":1e400,"tab_id":"t","device_id":"d"}', None, "content_id"),
        (
            '{"type":"start","content_id":123456789012345678901234567890,"tab_id":"t","device_id":"d"}',
            None,
            "content_id",
        ),
        ('{"type":"start","content_id":1,"tab_id":"","device_id":"d"}', None, "tab_id"),
        (
            '{"type":"start","content_id":1,"tab_id":"' + "x" * 65 + '","device_id":"d"}',
            None,
            "tab_id",
        ),
        # PostgreSQL text cannot hold NUL (the session start row would be refused later); the
        # HTTP fallback and the api refuse it at the edge as well.
        (
            '{"type":"start","content_id":1,"tab_id":"a\\u0000","device_id":"d","id":"n"}',
            "n",
            "tab_id",
        ),
        ('{"type":"start","content_id":1,"tab_id":"t","device_id":"\\u0000"}', None, "device_id"),
        ('{"type":"heartbeat","playing":true,"id":"h"}', "h", "visible"),
        ('{"type":"heartbeat","playing":1,"visible":true}', None, "playing"),
        ('{"type":"heartbeat","playing":true,"visible":true,"position_s":-1}', None, "position_s"),
        ('{"type":"auth"}', None, "token"),
        ('{"type":"ping","id":"' + "i" * 65 + '"}', None, "id"),
        ('{"type":' + "[" * 5000 + "]" * 5000 + "}", None, "nests too deeply"),
    ],
)
def test_bad_frames_are_refused_with_a_reason_and_the_ref_when_readable(
    frame: str, ref: str | None, needle: str
) -> None:
    with pytest.raises(FrameError) as err:
        protocol.decode_client(frame)
    assert needle in str(err.value)
    assert err.value.ref == ref


def test_server_frames_omit_an_absent_ref() -> None:
    assert protocol.encode(protocol.Pong()) == '{"type":"pong"}'
    assert protocol.encode(protocol.Pong(ref="p")) == '{"type":"pong","ref":"p"}'


def test_conflict_error_carries_the_active_session() -> None:
    frame = protocol.encode(
        protocol.Error(
            code="session_conflict", message="m", ref="r", active_content_id=3, active_device_id="d"
        )
    )
    assert '"active_content_id":3' in frame and '"active_device_id":"d"' in frame
