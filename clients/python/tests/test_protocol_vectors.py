"""The package's codec against Protocol/vectors: every vector decodes as its README says, the
valid ones re-encode byte for byte, the hostile ones are refused with the documented code from
the header alone (before any payload is awaited)."""
from __future__ import annotations

import struct
from pathlib import Path

import lz4.block
import numpy as np
import pytest

from loanscore import _protocol as wire
from loanscore.errors import ProtocolError

VECTORS = Path(__file__).resolve().parents[3] / "Protocol" / "vectors"
FIELDS = (wire.Field("Seniority", wire.NUMBER), wire.Field("Home", wire.STRING),
          wire.Field("Income", wire.NUMBER), wire.Field("Records", wire.BOOL))
HASH = bytes.fromhex("27551798527acc0077b659b70fbcf9b1a0c3751ca09597fb39c5c518a8c00e1b")


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.bin").read_bytes()


def one_frame(data: bytes, accepted: frozenset[int] = wire.FROM_SERVER) -> wire.Frame:
    frames = wire.FrameDecoder(accepted=accepted).feed(data)
    assert len(frames) == 1
    return frames[0]


def test_schema_hash() -> None:
    assert wire.schema_hash(FIELDS) == HASH


def test_hello() -> None:
    frame = one_frame(vector("01-hello"), wire.FROM_CLIENT)
    assert wire.decode_hello(frame.payload) == wire.Hello("loanscore-client/1.0", 1, 1)
    assert wire.encode_frame(wire.HELLO, 0, wire.encode_hello("loanscore-client/1.0", 1, 1)) == vector("01-hello")


def test_welcome() -> None:
    frame = one_frame(vector("02-welcome"))
    welcome = wire.decode_welcome(frame.payload)
    assert (welcome.version, welcome.model_name, welcome.model_version) == (1, "credit-default", "2026.11.1")
    assert welcome.fields == FIELDS and welcome.schema_hash == HASH and welcome.limits == wire.DEFAULT_LIMITS
    assert wire.encode_frame(wire.WELCOME, 0, wire.encode_welcome(welcome)) == vector("02-welcome")


def test_welcome_with_a_wrong_hash_is_refused() -> None:
    payload = bytearray(one_frame(vector("02-welcome")).payload)
    payload[40] ^= 1  # inside the 32-byte hash
    with pytest.raises(ProtocolError) as info:
        wire.decode_welcome(bytes(payload))
    assert info.value.code == wire.MALFORMED_FRAME


def request_columns() -> bytes:
    present = np.array([True, False])
    return (wire.number_column(np.array([9.0, 0.0]), present)
            + wire.string_column(np.array(["rent", "owner"], dtype=object), np.array([True, True]))
            + wire.number_column(np.array([130.5, -5.0]), np.array([True, True]))
            + wire.bool_column(np.array([False, True]), np.array([True, True])))


@pytest.mark.parametrize("name", ["03-score-request", "04-score-request-lz4"])
def test_score_request_decodes(name: str) -> None:
    frame = one_frame(vector(name), wire.FROM_CLIENT)
    request = wire.decode_score_request(frame.payload, frame.flags, FIELDS)
    assert request.ids == ["app-001", "app-002"] and request.schema_hash == HASH
    assert request.columns == [[9.0, None], ["rent", "owner"], [130.5, -5.0], [False, True]]


def test_score_request_encodes_from_columns() -> None:
    ids = wire.encode_ids(np.array(["app-001", "app-002"], dtype=object))
    payload, flags = wire.encode_score_request(HASH, ids, 2, [request_columns()])
    assert flags == 0
    assert wire.encode_frame(wire.SCORE_REQUEST, 7, payload) == vector("03-score-request")
    # 04: the same payload as one LZ4 block (byte-identical with the same LZ4 version; always decodable)
    compressed = wire.encode_frame(wire.SCORE_REQUEST, 7, payload, compress_threshold=1)
    assert one_frame(compressed, wire.FROM_CLIENT).payload == payload
    if lz4.block.compress(payload, store_size=False) == vector("04-score-request-lz4")[24:]:
        assert compressed == vector("04-score-request-lz4")


def test_score_request_with_deadline() -> None:
    frame = one_frame(vector("21-score-request-deadline"), wire.FROM_CLIENT)
    assert frame.flags == wire.FLAG_DEADLINE and frame.request_id == 11
    assert wire.decode_score_request(frame.payload, frame.flags, FIELDS).deadline_us == 250_000
    ids = wire.encode_ids(np.array(["app-001", "app-002"], dtype=object))
    payload, flags = wire.encode_score_request(HASH, ids, 2, [request_columns()], deadline_us=250_000)
    assert wire.encode_frame(wire.SCORE_REQUEST, 11, payload, flags=flags) == vector("21-score-request-deadline")


def test_score_response() -> None:
    frame = one_frame(vector("05-score-response"))
    response = wire.decode_score_response(frame.payload, 2, 1)
    assert response.model_version == "2026.11.1"
    assert response.results == [
        wire.Scored(0.0734, "B", "approve", 0.91, ("R01_LOW_SENIORITY", "R07_HIGH_DEBT_RATIO"), "2026.11.1"),
        wire.Invalid(wire.INVALID_APPLICATION, "field 'Income': -5 is below the minimum 0")]
    assert wire.encode_frame(wire.SCORE_RESPONSE, 7, wire.encode_score_response(response)) == vector("05-score-response")
    with pytest.raises(ProtocolError, match="2 results for 3"):
        wire.decode_score_response(frame.payload, 3, 1)


def test_score_response_v2() -> None:
    frame = one_frame(vector("24-score-response-v2"))
    response = wire.decode_score_response(frame.payload, 2, 2)
    assert response.results[1] == wire.Scored(0.52, "E", "decline", 0.66, ("R07_HIGH_DEBT_RATIO",), "2026.12.1", True)
    assert wire.encode_frame(wire.SCORE_RESPONSE, 13, wire.encode_score_response(response)) == vector("24-score-response-v2")
    with pytest.raises(ProtocolError, match="byte 74") as info:
        wire.decode_score_response(frame.payload, 2, 1)  # status 2 on a version-1 connection
    assert info.value.code == wire.MALFORMED_FRAME


@pytest.mark.parametrize("name, code, request_id, cls, message", [
    ("06-error-busy", 0x0103, 8, "BusyError", "at capacity: 64 requests in flight; retry later"),
    ("20-error-unavailable", 0x0107, 10, "UnavailableError", None),
    ("22-error-deadline-exceeded", 0x0109, 11, "ServerDeadlineExceededError", None),
    ("23-error-quota-exceeded", 0x0108, 12, "QuotaExceededError", None),
])
def test_errors(name: str, code: int, request_id: int, cls: str, message: str | None) -> None:
    frame = one_frame(vector(name))
    error = wire.decode_error(frame.payload, frame.request_id)
    assert type(error).__name__ == cls and error.code == code and error.request_id == request_id
    if message is not None:
        assert error.server_message == message
    assert wire.encode_frame(wire.ERROR, request_id, wire.encode_error(code, error.server_message)) == vector(name)
    if cls == "QuotaExceededError":
        assert getattr(error, "retry_after_ms") == 250


def test_ping_pong_goodbye() -> None:
    ping, pong = one_frame(vector("07-ping")), one_frame(vector("08-pong"))
    assert (ping.type, ping.request_id, ping.payload) == (wire.PING, 9, bytes(range(8)))
    assert (pong.type, pong.payload) == (wire.PONG, ping.payload)
    assert wire.encode_frame(wire.PONG, 9, ping.payload) == vector("08-pong")
    goodbye = one_frame(vector("09-goodbye"))
    assert wire.decode_goodbye(goodbye.payload) == "draining for shutdown"
    assert wire.encode_frame(wire.GOODBYE, 0, wire.str16("draining for shutdown")) == vector("09-goodbye")


@pytest.mark.parametrize("name, code, at", [
    ("10-bad-magic", wire.MALFORMED_FRAME, "header byte 0"),
    ("11-unsupported-version", wire.UNSUPPORTED_VERSION, "header byte 4"),
    ("12-unknown-type", wire.UNKNOWN_TYPE, "header byte 5"),
    ("13-bad-flags", wire.MALFORMED_FRAME, "header byte 6"),
    ("14-length-above-limit", wire.FRAME_TOO_LARGE, "header byte 16"),
    ("15-length-near-2-32", wire.FRAME_TOO_LARGE, "header byte 16"),
    ("16-lz4-absurd-declared-size", wire.DECOMPRESSION_FAILED, "header byte 20"),
])
def test_hostile_headers_are_refused_from_the_header_alone(name: str, code: int, at: str) -> None:
    with pytest.raises(ProtocolError, match=at) as info:
        wire.FrameDecoder(accepted=wire.FROM_CLIENT).feed(vector(name)[:24])
    assert info.value.code == code


def test_lz4_size_mismatch() -> None:
    with pytest.raises(ProtocolError) as info:
        wire.FrameDecoder(accepted=wire.FROM_CLIENT).feed(vector("17-lz4-mismatched-size"))
    assert info.value.code == wire.DECOMPRESSION_FAILED


def test_truncated_payload_waits_for_the_rest() -> None:
    decoder = wire.FrameDecoder(accepted=wire.FROM_CLIENT)
    data = vector("18-truncated-payload")
    assert decoder.feed(data) == [] and decoder.pending == len(data) - 24
    assert decoder.feed(vector("03-score-request")[len(data):])[0].request_id == 7


def test_trailing_bytes() -> None:
    frame = one_frame(vector("19-trailing-bytes"))
    with pytest.raises(ProtocolError, match="payload byte 5") as info:
        wire.decode_goodbye(frame.payload)
    assert info.value.code == wire.MALFORMED_FRAME


def test_frames_split_anywhere_decode_the_same() -> None:
    stream = vector("02-welcome") + vector("05-score-response") + vector("07-ping")
    decoder = wire.FrameDecoder()
    frames = [f for i in range(len(stream)) for f in decoder.feed(stream[i:i + 1])]
    assert [f.type for f in frames] == [wire.WELCOME, wire.SCORE_RESPONSE, wire.PING]


def test_client_refuses_a_request_frame_from_the_server() -> None:
    with pytest.raises(ProtocolError, match="wrong direction"):
        wire.FrameDecoder().feed(vector("03-score-request"))


@pytest.mark.parametrize("cut", [1, 10, 30, 60, 100])
def test_truncated_responses_are_malformed_not_crashes(cut: int) -> None:
    payload = one_frame(vector("05-score-response")).payload
    with pytest.raises(ProtocolError) as info:
        wire.decode_score_response(payload[:cut], 2, 2)
    assert info.value.code == wire.MALFORMED_FRAME


def test_bad_decision_and_utf8() -> None:
    payload = bytearray(one_frame(vector("05-score-response")).payload)
    payload[11 + 4 + 1 + 8 + 2] = 7  # app 0's decision byte (after version, count, status, PD, "B")
    with pytest.raises(ProtocolError, match="decision 7"):
        wire.decode_score_response(bytes(payload), 2, 2)
    bad = b"\x00\x01\xff" + struct.pack(">I", 0)
    with pytest.raises(ProtocolError, match="UTF-8"):
        wire.decode_score_response(bad, 0, 2)
