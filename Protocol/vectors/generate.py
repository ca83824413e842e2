#!/usr/bin/env python3
"""Writes the LoanScore wire-protocol test vectors (Protocol/vectors/*.bin, *.hex, README.md).

Independent of the Swift codec: it follows PROTOCOL.md with the standard library only, and
compresses with the system liblz4 (the same library the Swift side links) through ctypes.
Run from anywhere: `python3 Protocol/vectors/generate.py`. Output is deterministic.
"""
import ctypes
import ctypes.util
import hashlib
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
MAGIC = 0x4C4E5343
HEADER = struct.Struct(">IBBHQII")  # magic, version, type, flags, request id, payload len, uncompressed len
HELLO, WELCOME, SCORE_REQUEST, SCORE_RESPONSE, ERROR, PING, PONG, GOODBYE = 0x01, 0x02, 0x10, 0x11, 0x20, 0x30, 0x31, 0x40
NUMBER, BOOL, STRING = 1, 2, 3
FLAG_LZ4 = 0x0001
BUSY, UNAVAILABLE, QUOTA_EXCEEDED, DEADLINE_EXCEEDED, INVALID_APPLICATION = 0x0103, 0x0107, 0x0108, 0x0109, 0x0201
FLAG_DEADLINE = 0x0002

_lz4 = ctypes.CDLL(ctypes.util.find_library("lz4") or "liblz4.so.1")


def lz4_block(data: bytes) -> bytes:
    bound = len(data) + len(data) // 255 + 16
    out = ctypes.create_string_buffer(bound)
    n = _lz4.LZ4_compress_default(data, out, len(data), bound)
    assert n > 0
    return out.raw[:n]


def s16(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def s8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">B", len(raw)) + raw


def frame(type_, request_id, payload, *, flags=0, uncompressed=None, version=1, magic=MAGIC, payload_length=None):
    if uncompressed is None:
        uncompressed = len(payload)
    if payload_length is None:
        payload_length = len(payload)
    return HEADER.pack(magic, version, type_, flags, request_id, payload_length, uncompressed) + payload


FIELDS = [("Seniority", NUMBER), ("Home", STRING), ("Income", NUMBER), ("Records", BOOL)]


def field_list(fields):
    return struct.pack(">H", len(fields)) + b"".join(s16(name) + bytes([type_]) for name, type_ in fields)


SCHEMA_HASH = hashlib.sha256(field_list(FIELDS)).digest()


def bitmap(present):
    out = bytearray((len(present) + 7) // 8)
    for i, bit in enumerate(present):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def score_request(ids, columns):
    out = SCHEMA_HASH + struct.pack(">I", len(ids)) + b"".join(s16(i) for i in ids)
    for (name, type_), values in zip(FIELDS, columns):
        out += bitmap([v is not None for v in values])
        for v in values:
            if v is None:
                continue
            out += {NUMBER: lambda x: struct.pack(">d", x), BOOL: lambda x: bytes([1 if x else 0]), STRING: s16}[type_](v)
    return out


REQUEST_PAYLOAD = score_request(
    ["app-001", "app-002"],
    [[9.0, None], ["rent", "owner"], [130.5, -5.0], [False, True]],
)
WELCOME_PAYLOAD = (
    bytes([1]) + s16("credit-default") + s16("2026.11.1") + SCHEMA_HASH + field_list(FIELDS)
    + struct.pack(">IIII", 4 << 20, 16 << 20, 4096, 64)
)
RESPONSE_PAYLOAD = (
    s16("2026.11.1") + struct.pack(">I", 2)
    + bytes([0]) + struct.pack(">d", 0.0734) + s8("B") + bytes([0]) + struct.pack(">d", 0.91)
    + bytes([2]) + s8("R01_LOW_SENIORITY") + s8("R07_HIGH_DEBT_RATIO")
    + bytes([1]) + struct.pack(">H", INVALID_APPLICATION) + s16("field 'Income': -5 is below the minimum 0")
)
# Protocol version 2 (§5.5, §8): a split-mode batch where the challenger 2026.12.1 decided app 1.
RESPONSE_V2_PAYLOAD = (
    s16("2026.11.1") + struct.pack(">I", 2)
    + bytes([0]) + struct.pack(">d", 0.0734) + s8("B") + bytes([0]) + struct.pack(">d", 0.91)
    + bytes([2]) + s8("R01_LOW_SENIORITY") + s8("R07_HIGH_DEBT_RATIO")
    + bytes([2]) + s16("2026.12.1") + struct.pack(">d", 0.52) + s8("E") + bytes([2]) + struct.pack(">d", 0.66)
    + bytes([1]) + s8("R07_HIGH_DEBT_RATIO")
)
COMPRESSED = lz4_block(REQUEST_PAYLOAD)
PING_PAYLOAD = bytes(range(8))

# (file stem, bytes, what it is, what decoding must yield)
VECTORS = [
    ("01-hello", frame(HELLO, 0, s16("loanscore-client/1.0") + bytes([1, 1])),
     "HELLO, request id 0", "Hello(clientName: \"loanscore-client/1.0\", versions 1...1)"),
    ("02-welcome", frame(WELCOME, 0, WELCOME_PAYLOAD),
     "WELCOME, request id 0: version 1, model credit-default 2026.11.1, fields Seniority NUMBER, Home STRING, "
     "Income NUMBER, Records BOOL; default limits", f"Welcome; schema hash {SCHEMA_HASH.hex()}"),
    ("03-score-request", frame(SCORE_REQUEST, 7, REQUEST_PAYLOAD),
     "SCORE_REQUEST, request id 7: app-001 (Seniority 9, Home rent, Income 130.5, Records false), "
     "app-002 (Seniority missing, Home owner, Income -5, Records true)",
     "ScoreRequest with 2 applications; value(1, 0) = .missing, value(0, 1) = .text(\"rent\")"),
    ("04-score-request-lz4", frame(SCORE_REQUEST, 7, COMPRESSED, flags=FLAG_LZ4, uncompressed=len(REQUEST_PAYLOAD)),
     "the same SCORE_REQUEST, payload as one LZ4 block (flags bit 0)", "the same ScoreRequest as 03"),
    ("05-score-response", frame(SCORE_RESPONSE, 7, RESPONSE_PAYLOAD),
     "SCORE_RESPONSE, request id 7: app 0 scored (PD 0.0734, B, approve, confidence 0.91, "
     "R01_LOW_SENIORITY, R07_HIGH_DEBT_RATIO); app 1 invalid (INVALID_APPLICATION)", "ScoreResponse with those 2 results"),
    ("06-error-busy", frame(ERROR, 8, struct.pack(">H", BUSY) + s16("at capacity: 64 requests in flight; retry later")),
     "ERROR BUSY (0x0103) for request id 8", "ErrorMessage(code: .busy, ...); not connection-fatal"),
    ("07-ping", frame(PING, 9, PING_PAYLOAD), "PING, request id 9, 8 payload bytes 00..07", "Ping with those bytes"),
    ("08-pong", frame(PONG, 9, PING_PAYLOAD), "PONG answering 07", "Pong with the same bytes"),
    ("09-goodbye", frame(GOODBYE, 0, s16("draining for shutdown")), "GOODBYE, request id 0",
     "Goodbye(reason: \"draining for shutdown\")"),
    ("10-bad-magic", frame(PING, 1, b"", magic=0x4C4E5358), "PING with magic \"LNSX\"",
     "MALFORMED_FRAME at header byte 0"),
    ("11-unsupported-version", frame(PING, 1, b"", version=2), "PING with version 2",
     "UNSUPPORTED_VERSION at header byte 4"),
    ("12-unknown-type", frame(0x7F, 1, b""), "type 0x7F", "UNKNOWN_TYPE at header byte 5"),
    ("13-bad-flags", frame(PING, 1, b"", flags=0x0002), "PING with flags bit 1 set (the deadline flag is for SCORE_REQUEST only)",
     "MALFORMED_FRAME at header byte 6"),
    ("14-length-above-limit", frame(SCORE_REQUEST, 1, b"", payload_length=(4 << 20) + 1, uncompressed=(4 << 20) + 1),
     "header only: payload length 4 MiB + 1 (no payload follows)",
     "FRAME_TOO_LARGE at header byte 16, from the header alone"),
    ("15-length-near-2-32", frame(SCORE_REQUEST, 1, b"", payload_length=0xFFFFFFFF, uncompressed=0xFFFFFFFF),
     "header only: payload length 2^32 - 1", "FRAME_TOO_LARGE at header byte 16, from the header alone"),
    ("16-lz4-absurd-declared-size", frame(SCORE_REQUEST, 1, COMPRESSED[:4], flags=FLAG_LZ4, uncompressed=16 << 20),
     "LZ4 frame: 4-byte block declaring 16 MiB (within the limit, above 255 x 4)",
     "DECOMPRESSION_FAILED at header byte 20, from the header alone"),
    ("17-lz4-mismatched-size", frame(SCORE_REQUEST, 7, COMPRESSED, flags=FLAG_LZ4, uncompressed=len(REQUEST_PAYLOAD) + 1),
     "04 with its declared size one byte too large", "DECOMPRESSION_FAILED (payload region)"),
    ("18-truncated-payload", frame(SCORE_REQUEST, 7, REQUEST_PAYLOAD, payload_length=len(REQUEST_PAYLOAD))[:-10],
     "03 with its last 10 bytes missing", "no frame and no error: the decoder waits for the rest"),
    ("19-trailing-bytes", frame(GOODBYE, 0, s16("bye") + b"\x00\x00"),
     "GOODBYE whose payload has 2 bytes after the reason", "the frame decodes; Goodbye.decode: MALFORMED_FRAME at payload byte 5"),
    ("20-error-unavailable",
     frame(ERROR, 10, struct.pack(">H", UNAVAILABLE) + s16("audit log unavailable: no space left on device; send the request to another server")),
     "ERROR UNAVAILABLE (0x0107) for request id 10", "ErrorMessage(code: .unavailable, ...); not connection-fatal; not processed"),
    ("21-score-request-deadline", frame(SCORE_REQUEST, 11, struct.pack(">I", 250_000) + REQUEST_PAYLOAD, flags=FLAG_DEADLINE),
     "03's SCORE_REQUEST as request id 11 with a deadline (flags bit 1): payload starts with u32 250000 (250 ms)",
     "the same ScoreRequest as 03 with deadline 250000 µs"),
    ("22-error-deadline-exceeded",
     frame(ERROR, 11, struct.pack(">H", DEADLINE_EXCEEDED) + s16("the request's deadline passed 1200 µs before a worker could start it; not scored")),
     "ERROR DEADLINE_EXCEEDED (0x0109) for request id 11", "ErrorMessage(code: .deadlineExceeded, ...); not connection-fatal; not processed"),
    ("23-error-quota-exceeded",
     frame(ERROR, 12, struct.pack(">H", QUOTA_EXCEEDED) + s16("retry after 250 ms: /O=Acme/CN=gateway is over its quota of 1000 applications/s")),
     "ERROR QUOTA_EXCEEDED (0x0108) for request id 12, with the hint 'retry after 250 ms'",
     "ErrorMessage(code: .quotaExceeded, ...); retryAfter 250 ms; not connection-fatal; not processed"),
    ("24-score-response-v2", frame(SCORE_RESPONSE, 13, RESPONSE_V2_PAYLOAD),
     "SCORE_RESPONSE on a protocol-version-2 connection, request id 13, header version 2026.11.1: app 0 scored "
     "(status 0: PD 0.0734, B, approve, confidence 0.91, R01_LOW_SENIORITY, R07_HIGH_DEBT_RATIO); app 1 scored by "
     "2026.12.1 (status 2: PD 0.52, E, decline, confidence 0.66, R07_HIGH_DEBT_RATIO)",
     "ScoreResponse with those 2 results, app 1's model version 2026.12.1; on a version-1 connection MALFORMED_FRAME "
     "at payload byte 74 (application 1's status)"),
]


def hexdump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines) + "\n"


def main():
    rows = []
    for stem, data, what, expect in VECTORS:
        (HERE / f"{stem}.bin").write_bytes(data)
        (HERE / f"{stem}.hex").write_text(hexdump(data))
        rows.append(f"| `{stem}.bin` | {len(data)} | {what} | {expect} |")
    readme = [
        "# Protocol test vectors",
        "",
        "Generated by `python3 Protocol/vectors/generate.py` (standard library; LZ4 through the system",
        "liblz4 via ctypes); do not edit by hand. Each `.bin` is the exact bytes on the wire (inside TLS),",
        "each `.hex` its dump. Decoding uses the default limits (PROTOCOL.md §3.3) and the schema of",
        "`02-welcome`:",
        "",
        "| # | field | wire type |",
        "| --- | --- | --- |",
    ]
    readme += [f"| {i} | {name} | {['', 'NUMBER', 'BOOL', 'STRING'][t]} |" for i, (name, t) in enumerate(FIELDS)]
    readme += [
        "",
        f"Schema hash: `{SCHEMA_HASH.hex()}`.",
        "",
        "A conforming decoder yields exactly the last column; a conforming encoder reproduces 01-09 and 20-24",
        "byte for byte (04 with the same LZ4 library version: LZ4 output is not specified across versions).",
        "",
        "| file | bytes | frame | decoding must yield |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]
    (HERE / "README.md").write_text("\n".join(readme))


if __name__ == "__main__":
    main()
