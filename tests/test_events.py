"""The envelope codec: round trips, and garbage rejected with a clear error."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema import events
from schema.events import Envelope, EnvelopeError, change_id, decode, encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=10,
)


@given(
    event=st.sampled_from(sorted(events.EVENTS)),
    seq=st.integers(1, 2**62),
    epoch=st.text(min_size=1, max_size=20),
    message_id=st.text(max_size=40),
    ts=st.floats(0, 2e9),
    payload=st.dictionaries(st.text(), json_values, max_size=5),
)
def test_envelopes_round_trip(event: str, seq: int, epoch: str, message_id: str, ts: float, payload: dict) -> None:
    envelope = Envelope(event, seq, epoch, message_id, ts, payload)
    assert decode(encode(envelope)) == envelope


def test_a_log_entry_holds_the_payload_and_a_few_bytes_and_becomes_the_whole_envelope_again() -> None:
    payload = {"content": "hé"}
    entry = events.encode_entry("streaming_chunk", 1.5, payload)
    assert len(entry) == len(msgpack.packb(payload)) + 1 + events.TS_BYTES
    envelope = decode(events.envelope(entry, "m1", 7, "ep"))
    assert envelope == Envelope("streaming_chunk", 7, "ep", "m1", 1.5, {"content": "hé"})
    assert envelope.push_payload() == {"content": "hé", "seq": 7, "message_id": "m1"}


def packed(**overrides: object) -> bytes:
    fields = {"v": 1, "event": "new_message", "seq": 1, "epoch": "e", "message_id": "m", "ts": 1.0, "payload": {}}
    return msgpack.packb({**fields, **overrides})


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"\xc1garbage", "not msgpack"),
        (msgpack.packb([1, 2, 3]), "not a map"),
        (msgpack.packb({"v": 1, "event": "streaming_chunk"}), "lacks"),
        (packed(event="nope"), "unknown event"),
        (packed(v=2), "version"),
        (packed(seq="1"), "wrong type"),
        (packed(seq=0), "positive"),
        (packed(payload=[1]), "wrong type"),
        (b"\x00" * (events.MAX_ENVELOPE_BYTES + 1), "exceeds"),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_clear_error(data: bytes, complaint: str) -> None:
    with pytest.raises(EnvelopeError, match=complaint):
        decode(data)


def test_unknown_events_cannot_be_encoded() -> None:
    with pytest.raises(EnvelopeError):
        events.encode_entry("streaming_nonsense", 0.0, {})


def test_change_id_is_sha256_of_the_message_id_and_canonical_json_and_ignores_key_order() -> None:
    import hashlib

    assert change_id("m1", {"yaml": "a: ü", "code": "x"}) == change_id("m1", {"code": "x", "yaml": "a: ü"})
    expected = hashlib.sha256('m1\n{"code":"x","yaml":"a: ü"}'.encode()).hexdigest()
    assert change_id("m1", {"yaml": "a: ü", "code": "x"}) == expected
    assert change_id("m1", {"code": "x"}) != change_id("m1", {"code": "y"})


def test_the_same_change_proposed_by_another_message_is_another_change() -> None:
    assert change_id("m1", {"yaml": "a: 1"}) != change_id("m2", {"yaml": "a: 1"})


def test_every_session_event_has_a_log_code() -> None:
    assert set(events.EVENTS) <= set(events.EVENT_CODES)
    assert len(set(events.EVENT_CODES)) == len(events.EVENT_CODES)
