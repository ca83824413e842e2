"""The LoanScore wire protocol, sans I/O (``Protocol/PROTOCOL.md``, versions 1 and 2).

Frames and messages as bytes in, values out (and back): no sockets, no clocks, no threads, so
that the blocking :class:`loanscore.Client` and the asyncio :class:`loanscore.AsyncClient`
share one codec, and tests can feed it the vectors of ``Protocol/vectors`` directly.

Columns of a SCORE_REQUEST are encoded from whole numpy arrays (presence bitmaps with
``numpy.packbits``, numbers as one big-endian ``tobytes``, strings joined from their distinct
values), not a Python loop per value. Anything the peer sends that breaks the protocol raises
:class:`loanscore.errors.ProtocolError` with the code the spec gives (``MALFORMED_FRAME`` …).
"""
from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import lz4.block
import numpy as np
import numpy.typing as npt

from .errors import ProtocolError, ServerError, server_error

MAGIC: Final = 0x4C4E5343
FRAME_VERSION: Final = 1
MIN_PROTOCOL: Final = 1
MAX_PROTOCOL: Final = 2
HEADER: Final = struct.Struct(">IBBHQII")
HEADER_SIZE: Final = HEADER.size

FLAG_LZ4: Final = 0x0001
FLAG_DEADLINE: Final = 0x0002

HELLO: Final = 0x01
WELCOME: Final = 0x02
SCORE_REQUEST: Final = 0x10
SCORE_RESPONSE: Final = 0x11
ERROR: Final = 0x20
PING: Final = 0x30
PONG: Final = 0x31
GOODBYE: Final = 0x40
TYPES: Final = frozenset({HELLO, WELCOME, SCORE_REQUEST, SCORE_RESPONSE, ERROR, PING, PONG, GOODBYE})
#: Types a client may receive (§4: anything else is MALFORMED_FRAME).
FROM_SERVER: Final = frozenset({WELCOME, SCORE_RESPONSE, ERROR, PING, PONG, GOODBYE})
#: Types a server may receive.
FROM_CLIENT: Final = frozenset({HELLO, SCORE_REQUEST, ERROR, PING, PONG, GOODBYE})

NUMBER: Final = 1
BOOL: Final = 2
STRING: Final = 3
WIRE_TYPE_NAMES: Final = {NUMBER: "NUMBER", BOOL: "BOOL", STRING: "STRING"}
DECISIONS: Final = ("approve", "review", "decline")

MALFORMED_FRAME: Final = 0x0001
UNSUPPORTED_VERSION: Final = 0x0002
UNKNOWN_TYPE: Final = 0x0003
FRAME_TOO_LARGE: Final = 0x0004
DECOMPRESSION_FAILED: Final = 0x0005
INVALID_APPLICATION: Final = 0x0201

_U16: Final = struct.Struct(">H")
_U32: Final = struct.Struct(">I")
_F64: Final = struct.Struct(">d")
_SCORED: Final = struct.Struct(">dB")  # PD, then the risk level's u8 length


def violation(code: int, message: str, request_id: int = 0) -> ProtocolError:
    """A protocol error this side detected in the peer's bytes (not an ERROR frame it received)."""
    err = server_error(code, f"received from the server: {message}", request_id)
    assert isinstance(err, ProtocolError)
    return err


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force (§3.3); WELCOME announces the server's."""

    max_frame_payload: int = 4 * 1024 * 1024
    max_uncompressed_payload: int = 16 * 1024 * 1024
    max_batch: int = 4096
    max_in_flight: int = 64


DEFAULT_LIMITS: Final = Limits()


@dataclass(frozen=True, slots=True)
class Field:
    """A schema field as WELCOME announces it: name and wire type (NUMBER, BOOL, STRING)."""

    name: str
    wire_type: int


@dataclass(frozen=True, slots=True)
class Welcome:
    """A decoded WELCOME (§5.2)."""

    version: int
    model_name: str
    model_version: str
    schema_hash: bytes
    fields: tuple[Field, ...]
    limits: Limits


@dataclass(frozen=True, slots=True)
class Hello:
    """A decoded HELLO (§5.1)."""

    client_name: str
    min_version: int
    max_version: int


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame with its payload decompressed."""

    type: int
    flags: int
    request_id: int
    payload: bytes


class Scored(NamedTuple):
    """One status-0/2 result of a SCORE_RESPONSE.

    ``model_version`` is the version that decided it: the response's (status 0), or the one the
    result names (status 2, protocol version 2: ``named`` is True, e.g. a challenger's).
    """

    pd: float
    risk_level: str
    decision: str
    confidence: float
    reasons: tuple[str, ...]
    model_version: str
    named: bool = False


class Invalid(NamedTuple):
    """One status-1 result: the server's error code and message naming the field and value."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class ScoreResponse:
    """A decoded SCORE_RESPONSE (§5.5)."""

    model_version: str
    results: list[Scored | Invalid]


# ---------------------------------------------------------------- frames (§3)

def encode_frame(msg_type: int, request_id: int, payload: bytes = b"", *, flags: int = 0,
                 compress_threshold: int | None = None) -> bytes:
    """One frame. Payloads of at least `compress_threshold` bytes go as one LZ4 block when smaller."""
    wire = payload
    if compress_threshold is not None and len(payload) >= compress_threshold:
        block = lz4.block.compress(payload, store_size=False)
        if len(block) < len(payload):
            wire, flags = block, flags | FLAG_LZ4
    return HEADER.pack(MAGIC, FRAME_VERSION, msg_type, flags, request_id, len(wire), len(payload)) + wire


def check_header(header: bytes, limits: Limits) -> tuple[int, int, int, int, int]:
    """Validates a 24-byte header before its payload is read (§3.3, §3.2).

    Returns:
        (type, flags, request id, payload length, uncompressed length).
    Raises:
        ProtocolError: the spec's code for the first check that fails.
    """
    magic, version, msg_type, flags, request_id, length, ulength = HEADER.unpack(header)
    if magic != MAGIC:
        raise violation(MALFORMED_FRAME, f"bad magic 0x{magic:08x} at header byte 0")
    if version != FRAME_VERSION:
        raise violation(UNSUPPORTED_VERSION, f"frame version {version} at header byte 4")
    if msg_type not in TYPES:
        raise violation(UNKNOWN_TYPE, f"undefined type 0x{msg_type:02x} at header byte 5")
    if flags & ~(FLAG_LZ4 | FLAG_DEADLINE) or (flags & FLAG_DEADLINE and msg_type != SCORE_REQUEST):
        raise violation(MALFORMED_FRAME, f"undefined flag bits 0x{flags:04x} at header byte 6")
    if length > limits.max_frame_payload or length > limits.max_uncompressed_payload \
            or ulength > limits.max_uncompressed_payload:
        raise violation(FRAME_TOO_LARGE, f"payload lengths {length}/{ulength} above the limits at header byte 16")
    if flags & FLAG_LZ4:
        if length < 1 or ulength > 255 * length:
            raise violation(DECOMPRESSION_FAILED, f"LZ4 block of {length} bytes declares {ulength} at header byte 20")
    elif length != ulength:
        raise violation(MALFORMED_FRAME, f"uncompressed frame with lengths {length} != {ulength} at header byte 16")
    return msg_type, flags, request_id, length, ulength


class FrameDecoder:
    """Incremental frame decoder: :meth:`feed` bytes as they arrive, get whole frames back.

    Each header is checked as soon as its 24 bytes are in (so an absurd length is refused before
    its payload is awaited); LZ4 payloads are decompressed and checked against their declared size.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, accepted: frozenset[int] = FROM_SERVER) -> None:
        self.limits = limits
        self.accepted = accepted
        self._buffer = bytearray()
        self._header: tuple[int, int, int, int, int] | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Adds received bytes; returns the frames they complete (possibly none)."""
        self._buffer += data
        frames: list[Frame] = []
        while True:
            if self._header is None:
                if len(self._buffer) < HEADER_SIZE:
                    return frames
                self._header = check_header(bytes(self._buffer[:HEADER_SIZE]), self.limits)
                del self._buffer[:HEADER_SIZE]
            msg_type, flags, request_id, length, ulength = self._header
            if len(self._buffer) < length:
                return frames
            payload = bytes(self._buffer[:length])
            del self._buffer[:length]
            self._header = None
            if flags & FLAG_LZ4:
                try:
                    payload = lz4.block.decompress(payload, uncompressed_size=ulength)
                except Exception as exc:  # lz4 raises a bare LZ4BlockError for corrupt blocks
                    raise violation(DECOMPRESSION_FAILED, f"LZ4 block refused: {exc}", request_id) from None
                if len(payload) != ulength:
                    raise violation(DECOMPRESSION_FAILED, f"LZ4 block gave {len(payload)} bytes, not {ulength}",
                                    request_id)
            if msg_type not in self.accepted:
                raise violation(MALFORMED_FRAME, f"type 0x{msg_type:02x} sent in the wrong direction", request_id)
            frames.append(Frame(msg_type, flags, request_id, payload))


# ---------------------------------------------------------------- payloads (§5)

class Reader:
    """Consumes a payload field by field; :meth:`end` refuses leftover bytes (§4)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise violation(MALFORMED_FRAME, f"payload ends inside a field at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def f64(self) -> float:
        value: float = _F64.unpack(self.take(8))[0]
        return value

    def text(self, length: int) -> str:
        start = self.pos
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise violation(MALFORMED_FRAME, f"invalid UTF-8 in the string at payload byte {start}") from None

    def str8(self) -> str:
        return self.text(self.u8())

    def str16(self) -> str:
        return self.text(self.u16())

    def end(self) -> None:
        if self.pos != len(self.data):
            raise violation(MALFORMED_FRAME, f"{len(self.data) - self.pos} bytes left over at payload byte {self.pos}")


def str16(text: str) -> bytes:
    """A u16 string; ValueError above 65,535 UTF-8 bytes."""
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"a string of {len(data)} UTF-8 bytes is longer than the protocol's 65,535")
    return _U16.pack(len(data)) + data


def field_list(fields: Sequence[Field]) -> bytes:
    """The field list as WELCOME encodes it (and §5.3 hashes it)."""
    return _U16.pack(len(fields)) + b"".join(str16(f.name) + bytes([f.wire_type]) for f in fields)


def schema_hash(fields: Sequence[Field]) -> bytes:
    """§5.3: SHA-256 of the field list."""
    return hashlib.sha256(field_list(fields)).digest()


def encode_hello(client_name: str, min_version: int = MIN_PROTOCOL, max_version: int = MAX_PROTOCOL) -> bytes:
    return str16(client_name) + bytes([min_version, max_version])


def decode_hello(payload: bytes) -> Hello:
    r = Reader(payload)
    hello = Hello(r.str16(), r.u8(), r.u8())
    r.end()
    if not 1 <= hello.min_version <= hello.max_version:
        raise violation(MALFORMED_FRAME, f"HELLO versions {hello.min_version}...{hello.max_version}")
    return hello


def encode_welcome(welcome: Welcome) -> bytes:
    lim = welcome.limits
    return (bytes([welcome.version]) + str16(welcome.model_name) + str16(welcome.model_version)
            + welcome.schema_hash + field_list(welcome.fields)
            + struct.pack(">IIII", lim.max_frame_payload, lim.max_uncompressed_payload, lim.max_batch,
                          lim.max_in_flight))


def decode_welcome(payload: bytes) -> Welcome:
    """Decodes and checks a WELCOME: its schema hash, wire types and non-zero size limits."""
    r = Reader(payload)
    version, model_name, model_version, hash_ = r.u8(), r.str16(), r.str16(), r.take(32)
    fields = []
    for _ in range(r.u16()):
        name, wire_type = r.str16(), r.u8()
        if not name or wire_type not in WIRE_TYPE_NAMES:
            raise violation(MALFORMED_FRAME, f"WELCOME field {name!r} with wire type {wire_type}")
        fields.append(Field(name, wire_type))
    limits = Limits(r.u32(), r.u32(), r.u32(), r.u32())
    r.end()
    if not MIN_PROTOCOL <= version <= MAX_PROTOCOL:
        raise violation(UNSUPPORTED_VERSION, f"WELCOME names protocol version {version}")
    if schema_hash(fields) != hash_:
        raise violation(MALFORMED_FRAME, "WELCOME's schema hash does not match its fields")
    if not (limits.max_frame_payload and limits.max_uncompressed_payload and limits.max_batch):
        raise violation(MALFORMED_FRAME, f"WELCOME announces a zero size limit: {limits}")
    return Welcome(version, model_name, model_version, hash_, tuple(fields), limits)


def encode_error(code: int, message: str) -> bytes:
    return _U16.pack(code) + str16(message)


def decode_error(payload: bytes, request_id: int) -> ServerError:
    """An ERROR frame's payload as the typed exception of its code."""
    r = Reader(payload)
    code, message = r.u16(), r.str16()
    r.end()
    return server_error(code, message, request_id)


def decode_goodbye(payload: bytes) -> str:
    r = Reader(payload)
    reason = r.str16()
    r.end()
    return reason


# ---------------------------------------------------------------- SCORE_REQUEST (§5.4)

def _str16_block(values: npt.NDArray[np.object_]) -> bytes:
    """Strings as consecutive u16 strings; each distinct value is encoded once."""
    if len(values) == 0:
        return b""
    uniques, codes = np.unique(values, return_inverse=True)
    encoded = np.array([str16(str(u)) for u in uniques] + [b""], dtype=object)[:-1]
    return b"".join(encoded[codes].tolist())


def encode_ids(ids: npt.NDArray[np.object_]) -> bytes:
    """Application ids (strings) as u16 strings; ids are usually distinct, so no dedup pass."""
    return b"".join([str16(i) for i in ids.tolist()])


def bitmap(present: npt.NDArray[np.bool_]) -> bytes:
    """The presence bitmap: bit i mod 8 of byte i div 8, least significant bit first."""
    return np.packbits(present, bitorder="little").tobytes()


def number_column(values: npt.NDArray[np.float64], present: npt.NDArray[np.bool_]) -> bytes:
    """A NUMBER column: bitmap, then the present values as big-endian f64."""
    return bitmap(present) + values[present].astype(">f8").tobytes()


def bool_column(values: npt.NDArray[np.bool_], present: npt.NDArray[np.bool_]) -> bytes:
    """A BOOL column: bitmap, then one byte 0/1 per present value."""
    return bitmap(present) + values[present].astype(np.uint8).tobytes()


def string_column(values: npt.NDArray[np.object_], present: npt.NDArray[np.bool_]) -> bytes:
    """A STRING column: bitmap, then the present values as u16 strings."""
    return bitmap(present) + _str16_block(values[present])


def encode_score_request(hash_: bytes, ids: bytes, count: int, columns: Sequence[bytes],
                         deadline_us: int | None = None) -> tuple[bytes, int]:
    """A SCORE_REQUEST payload from encoded ids and columns; returns (payload, header flags)."""
    head = hash_ + _U32.pack(count) + ids
    if deadline_us is None:
        return b"".join([head, *columns]), 0
    return b"".join([_U32.pack(max(0, min(deadline_us, 0xFFFFFFFF))), head, *columns]), FLAG_DEADLINE


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A SCORE_REQUEST read back (for tests and test servers): values by column, None = missing."""

    deadline_us: int | None
    schema_hash: bytes
    ids: list[str]
    columns: list[list[float | bool | str | None]]


def decode_score_request(payload: bytes, flags: int, fields: Sequence[Field]) -> DecodedRequest:
    """Decodes a SCORE_REQUEST against `fields` (the inverse of :func:`encode_score_request`)."""
    r = Reader(payload)
    deadline = r.u32() if flags & FLAG_DEADLINE else None
    hash_, count = r.take(32), r.u32()
    if count == 0 or count * 2 > len(payload):
        raise violation(MALFORMED_FRAME, f"SCORE_REQUEST count {count}")
    ids = [r.str16() for _ in range(count)]
    columns: list[list[float | bool | str | None]] = []
    for f in fields:
        bits = np.unpackbits(np.frombuffer(r.take((count + 7) // 8), dtype=np.uint8), bitorder="little")
        if bits[count:].any():
            raise violation(MALFORMED_FRAME, f"bitmap bits set beyond count in column {f.name}")
        column: list[float | bool | str | None] = []
        for present in bits[:count]:
            if not present:
                column.append(None)
            elif f.wire_type == NUMBER:
                column.append(r.f64())
            elif f.wire_type == BOOL:
                byte = r.u8()
                if byte > 1:
                    raise violation(MALFORMED_FRAME, f"BOOL byte {byte} in column {f.name}")
                column.append(bool(byte))
            else:
                column.append(r.str16())
        columns.append(column)
    r.end()
    return DecodedRequest(deadline, hash_, ids, columns)


# ---------------------------------------------------------------- SCORE_RESPONSE (§5.5)

_PD_RISK: Final = struct.Struct(">dB").unpack_from  # PD, the risk level's length
_DECISION_REST: Final = struct.Struct(">BdB").unpack_from  # decision, confidence, reason count


class _Truncated(Exception):
    """A length that runs past the payload's end (turned into MALFORMED_FRAME)."""


def decode_score_response(payload: bytes, count: int, protocol_version: int) -> ScoreResponse:
    """Decodes a SCORE_RESPONSE answering `count` applications (status 2 only on version 2).

    The hot loop of the client: one pass with local offsets; risk levels, reason codes and model
    versions repeat from one application to the next, so each distinct byte string is decoded
    (and checked as UTF-8) once per response. A length that runs past the end is caught by the
    final offset check (a cached string is only ever matched by a slice of its full length).
    """
    data, end = payload, len(payload)
    texts: dict[bytes, str] = {}

    def text(start: int, stop: int) -> str:
        if stop > end:
            raise _Truncated
        raw = data[start:stop]
        value = texts.get(raw)
        if value is None:
            try:
                value = texts[raw] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise violation(MALFORMED_FRAME, f"invalid UTF-8 in the string at payload byte {start}") from None
        return value

    results: list[Scored | Invalid] = []
    append = results.append
    new = tuple.__new__  # a NamedTuple's own __new__ is Python code; this is the C constructor
    pos = 0
    try:
        length = data[0] << 8 | data[1]
        version = text(2, 2 + length)
        pos = 2 + length
        n = int.from_bytes(data[pos:pos + 4], "big") if pos + 4 <= end else -1
        pos += 4
        if n != count:
            raise violation(MALFORMED_FRAME, f"SCORE_RESPONSE with {n} results for {count} applications")
        for _ in range(n):
            status = data[pos]
            at = pos
            pos += 1
            own = version
            if status == 1:
                code = data[pos] << 8 | data[pos + 1]
                length = data[pos + 2] << 8 | data[pos + 3]
                append(Invalid(code, text(pos + 4, pos + 4 + length)))
                pos += 4 + length
                continue
            if status == 2 and protocol_version >= 2:
                length = data[pos] << 8 | data[pos + 1]
                own = text(pos + 2, pos + 2 + length)
                pos += 2 + length
            elif status != 0:
                raise violation(MALFORMED_FRAME, f"result status {status} at payload byte {at}"
                                f" (protocol version {protocol_version})")
            pd_, length = _PD_RISK(data, pos)
            risk = texts.get(data[pos + 9:pos + 9 + length]) or text(pos + 9, pos + 9 + length)
            pos += 9 + length
            decision, confidence, count_reasons = _DECISION_REST(data, pos)
            if decision > 2:
                raise violation(MALFORMED_FRAME, f"decision {decision} at payload byte {pos}")
            pos += 10
            if count_reasons:
                codes: list[str] = []
                for _ in range(count_reasons):
                    length = data[pos]
                    codes.append(texts.get(data[pos + 1:pos + 1 + length]) or text(pos + 1, pos + 1 + length))
                    pos += 1 + length
                reasons: tuple[str, ...] = tuple(codes)
            else:
                reasons = ()
            append(new(Scored, (pd_, risk, DECISIONS[decision], confidence, reasons, own, status == 2)))
    except (IndexError, struct.error, _Truncated):
        raise violation(MALFORMED_FRAME, f"payload ends inside a field near byte {pos}") from None
    if pos != end:
        raise violation(MALFORMED_FRAME, f"{end - pos} bytes left over at payload byte {pos}")
    return ScoreResponse(version, results)


def encode_score_response(response: ScoreResponse) -> bytes:
    """A SCORE_RESPONSE payload (for tests and test servers)."""
    out = [str16(response.model_version), _U32.pack(len(response.results))]
    for res in response.results:
        if isinstance(res, Invalid):
            out += [b"\x01", _U16.pack(res.code), str16(res.message)]
            continue
        out.append(b"\x02" + str16(res.model_version) if res.named else b"\x00")
        risk = res.risk_level.encode()
        out += [_SCORED.pack(res.pd, len(risk)), risk, bytes([DECISIONS.index(res.decision)]),
                _F64.pack(res.confidence), bytes([len(res.reasons)])]
        out += [bytes([len(c.encode())]) + c.encode() for c in res.reasons]
    return b"".join(out)


_FIELD_IN_MESSAGE: Final = re.compile(r"field '([^']+)'")


def field_of(message: str) -> str | None:
    """The field an INVALID_APPLICATION message names (``field 'Income': ...``), if any."""
    match = _FIELD_IN_MESSAGE.search(message)
    return match.group(1) if match else None
