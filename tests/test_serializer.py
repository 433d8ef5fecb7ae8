"""Phoenix V2 binary frames, checked against the frames of phoenix.js's own serializer tests
(`assets/test/serializer_test.js`): what phoenix.js encodes we decode, what we encode it decodes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from relay.serializer import FrameError, V1Serializer, V2Serializer

from .node import node_for

JS = Path(__file__).parent / "js"


def test_a_binary_push_from_phoenix_js_decodes_with_its_fields_and_payload() -> None:
    message = V2Serializer.decode(b"\x00\x01\x01\x01\x0101te\x01")
    assert (message.join_ref, message.ref, message.topic, message.event) == ("0", "1", "t", "e")
    assert message.payload == b"\x01"


def test_a_binary_push_with_fields_of_several_lengths_decodes() -> None:
    message = V2Serializer.decode(b"\x00\x02\x01\x03\x02101topev\x01")
    assert (message.join_ref, message.ref, message.topic, message.event) == ("10", "1", "top", "ev")
    assert message.payload == b"\x01"


def test_a_server_push_is_the_frame_phoenix_js_decodes_as_a_push() -> None:
    assert (
        V2Serializer.encode_binary_push("123", "top", "some-event", b"\x01\x01")
        == b"\x00\x03\x03\n123topsome-event\x01\x01"
    )


def test_a_reply_is_the_frame_phoenix_js_decodes_as_a_reply_with_its_status() -> None:
    frame = V2Serializer.encode_binary_reply("100", "12", "top", "ok", b"\x01\x01")
    assert frame == b"\x01\x03\x02\x03\x0210012topok\x01\x01"


def test_a_broadcast_is_the_frame_phoenix_js_decodes_as_a_broadcast() -> None:
    assert V2Serializer.encode_binary_broadcast("top", "some-event", b"\x01\x01") == b"\x02\x03\ntopsome-event\x01\x01"


def test_fields_are_measured_in_utf8_bytes() -> None:
    frame = V2Serializer.encode_binary_broadcast("doc:é", "yjs", b"")
    assert frame[1] == len("doc:é".encode()) == 6
    assert V2Serializer.decode(b"\x00\x01\x01\x06\x03" + b"01doc:\xc3\xa9yjs").topic == "doc:é"


def test_an_empty_payload_and_a_missing_join_ref_are_allowed() -> None:
    message = V2Serializer.decode(b"\x00\x00\x01\x01\x01" + b"1te")
    assert message.join_ref is None and message.ref == "1" and message.payload == b""


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00\x01\x01", "four field lengths"),
        (b"\x01\x01\x01\x01\x0101te", "must be a push"),
        (b"\x02\x01\x01te", "must be a push"),
        (b"\x00\x01\x01\x09\x0101te", "shorter than its field lengths"),
        (b"\x00\x01\x01\x01\x0201t\xff\xfe", "UTF-8"),
        (b"\x00\x01\x01\x00\x0101e", "topic must be"),
        (b"\x00\x01\x01\x01\x0001t", "event must be"),
    ],
)
def test_malformed_binary_frames_are_refused_with_a_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        V2Serializer.decode(frame)


def test_a_field_longer_than_255_bytes_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="longer than 255 bytes"):
        V2Serializer.encode_binary_broadcast("t" * 256, "yjs", b"")


def test_json_frames_still_decode_and_v1_has_no_binary_frames() -> None:
    assert V2Serializer.decode(b'["0","1","t","e",{"foo":1}]').payload == {"foo": 1}
    assert V2Serializer.binary and not V1Serializer.binary
    with pytest.raises(FrameError):
        V1Serializer.decode(b"\x00\x01\x01\x01\x0101te\x01")


def test_phoenix_js_reads_our_binary_frames_and_we_read_its_binary_push() -> None:
    """The npm `phoenix` package's Serializer, unchanged, under node."""
    node = node_for(JS)
    frames = [
        V2Serializer.encode_binary_push("7", "doc:s:workflow_yaml", "yjs", b"\x00\x01\x02"),
        V2Serializer.encode_binary_reply("7", "12", "doc:s:workflow_yaml", "ok", b"\xff"),
        V2Serializer.encode_binary_broadcast("doc:s:job_code", "yjs", b"\x01\x00"),
    ]
    push = {"join_ref": "7", "ref": "13", "topic": "doc:s:job_code", "event": "yjs_sync", "payload": "000100"}
    config = {"decode": [frame.hex() for frame in frames], "push": push}
    done = subprocess.run(
        [node, "serializer.mjs", json.dumps(config)], cwd=JS, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    assert result["decoded"] == [
        {"join_ref": "7", "ref": None, "topic": "doc:s:workflow_yaml", "event": "yjs", "payload": "000102"},
        {
            "join_ref": "7", "ref": "12", "topic": "doc:s:workflow_yaml", "event": "phx_reply",
            "payload": {"status": "ok", "response": "ff"},
        },
        {"join_ref": None, "ref": None, "topic": "doc:s:job_code", "event": "yjs", "payload": "0100"},
    ]  # fmt: skip
    message = V2Serializer.decode(bytes.fromhex(result["encoded"]))
    assert (message.join_ref, message.ref, message.topic, message.event) == ("7", "13", "doc:s:job_code", "yjs_sync")
    assert message.payload == b"\x00\x01\x00"
