#!/usr/bin/env python3
"""Reference client for the LoanScore wire protocol, versions 1 and 2 (Protocol/PROTOCOL.md).

Written from PROTOCOL.md alone. Standard library plus the PyPI `lz4` package (`lz4.block`),
which is only needed for compressed frames. Copy it, keep it short.

    conn = LoanScoreConnection("127.0.0.1", 7443, "ca.pem", "client.pem", "client.key")
    print(conn.model_name, conn.model_version, conn.fields)
    for r in conn.score([{"Seniority": 9, "Home": "rent"}], ["app-1"]):
        print(r["id"], r["status"], r.get("pd"), r.get("decision"), r.get("reasons"))
    conn.close()
"""
import argparse
import csv
import hashlib
import socket
import ssl
import struct
import sys
import time

ALPN = "loanscore/1"
MAGIC = 0x4C4E5343  # "LNSC"
VERSION = 1  # the frame header's version byte: the frame layout, 1 in protocol versions 1 and 2 (§8)
MIN_PROTOCOL, MAX_PROTOCOL = 1, 2  # protocol versions spoken (HELLO's range; WELCOME names the one used)
HEADER = struct.Struct(">IBBHQII")  # magic, version, type, flags, request id, payload len, uncompressed len
FLAG_LZ4 = 0x0001

HELLO, WELCOME, SCORE_REQUEST, SCORE_RESPONSE = 0x01, 0x02, 0x10, 0x11
ERROR, PING, PONG, GOODBYE = 0x20, 0x30, 0x31, 0x40
TYPES = {HELLO, WELCOME, SCORE_REQUEST, SCORE_RESPONSE, ERROR, PING, PONG, GOODBYE}
FROM_SERVER = {WELCOME, SCORE_RESPONSE, ERROR, PING, PONG, GOODBYE}

NUMBER, BOOL, STRING = 1, 2, 3
WIRE_TYPES = {NUMBER: "NUMBER", BOOL: "BOOL", STRING: "STRING"}
DECISIONS = {0: "approve", 1: "review", 2: "decline"}

ERROR_NAMES = {
    0x0001: "MALFORMED_FRAME", 0x0002: "UNSUPPORTED_VERSION", 0x0003: "UNKNOWN_TYPE",
    0x0004: "FRAME_TOO_LARGE", 0x0005: "DECOMPRESSION_FAILED", 0x0006: "HANDSHAKE_REQUIRED",
    0x0101: "BATCH_TOO_LARGE", 0x0102: "SCHEMA_MISMATCH", 0x0103: "BUSY",
    0x0104: "SHUTTING_DOWN", 0x0105: "TIMEOUT", 0x0106: "INTERNAL", 0x0107: "UNAVAILABLE",
    0x0108: "QUOTA_EXCEEDED", 0x0109: "DEADLINE_EXCEEDED",
    0x0201: "INVALID_APPLICATION",
}
CODES = {name: code for code, name in ERROR_NAMES.items()}
# Limits in force before WELCOME (§3.3).
DEFAULT_LIMITS = {"max_frame_payload": 4 * 1024 * 1024, "max_uncompressed_payload": 16 * 1024 * 1024,
                  "max_batch": 4096, "max_in_flight": 64}


class ProtocolError(Exception):
    """An ERROR frame from the server, or a violation we detected (then `local` is True)."""

    def __init__(self, code, message, request_id=0, local=False):
        self.code, self.message, self.request_id, self.local = code, message, request_id, local
        self.name = ERROR_NAMES.get(code, f"UNKNOWN_0x{code:04X}")
        super().__init__(f"{self.name} (0x{code:04X}): {message}")

    @property
    def reach(self):
        """'connection', 'request' or 'application', from the code's high byte (§7)."""
        high = self.code >> 8
        if high == 0x00 or (self.code == CODES["INTERNAL"] and self.request_id == 0):
            return "connection"
        return {0x01: "request", 0x02: "application"}.get(high, "connection")


def malformed(message):
    return ProtocolError(CODES["MALFORMED_FRAME"], message, local=True)


# ---------------------------------------------------------------- frames (§3)

def encode_frame(msg_type, request_id, payload=b"", compress=False):
    """One frame; with compress=True the payload is sent as an LZ4 block if that is smaller."""
    flags, wire = 0, payload
    if compress:
        import lz4.block
        block = lz4.block.compress(payload, store_size=False)
        if len(block) < len(payload):
            flags, wire = FLAG_LZ4, block
    return HEADER.pack(MAGIC, VERSION, msg_type, flags, request_id, len(wire), len(payload)) + wire


def check_header(header, limits):
    """Validate a 24-byte header before reading its payload (§3.3, §3.2). Returns its fields."""
    magic, version, msg_type, flags, request_id, length, ulength = HEADER.unpack(header)
    if magic != MAGIC:
        raise malformed(f"bad magic 0x{magic:08X}")
    if version != VERSION:
        raise ProtocolError(CODES["UNSUPPORTED_VERSION"], f"frame version {version}", local=True)
    if msg_type not in TYPES:
        raise ProtocolError(CODES["UNKNOWN_TYPE"], f"type 0x{msg_type:02X}", local=True)
    if flags & ~FLAG_LZ4:
        raise malformed(f"undefined flag bits 0x{flags:04X}")
    if length > limits["max_frame_payload"] or length > limits["max_uncompressed_payload"] \
            or ulength > limits["max_uncompressed_payload"]:
        raise ProtocolError(CODES["FRAME_TOO_LARGE"], f"lengths {length}/{ulength}", local=True)
    if flags & FLAG_LZ4:
        if length < 1 or ulength > 255 * length:
            raise ProtocolError(CODES["DECOMPRESSION_FAILED"], f"LZ4 {length} -> {ulength}", local=True)
    elif length != ulength:
        raise malformed(f"uncompressed frame with lengths {length} != {ulength}")
    return msg_type, flags, request_id, length, ulength


def recv_exact(sock, n):
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError(f"connection closed with {left} of {n} bytes outstanding")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(sock, limits=DEFAULT_LIMITS):
    """Read one frame; returns (type, request id, decompressed payload)."""
    msg_type, flags, request_id, length, ulength = check_header(recv_exact(sock, HEADER.size), limits)
    payload = recv_exact(sock, length)
    if flags & FLAG_LZ4:
        import lz4.block
        try:
            payload = lz4.block.decompress(payload, uncompressed_size=ulength)
        except Exception as e:
            raise ProtocolError(CODES["DECOMPRESSION_FAILED"], str(e), request_id, local=True)
        if len(payload) != ulength:
            raise ProtocolError(CODES["DECOMPRESSION_FAILED"], "size differs from declared", request_id, True)
    if msg_type not in FROM_SERVER:
        raise malformed(f"type 0x{msg_type:02X} sent to a client")
    return msg_type, request_id, payload


# ---------------------------------------------------------------- payloads (§5)

class Reader:
    """Consumes a payload field by field; `end()` rejects leftover bytes (§4)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise malformed(f"payload ends inside a field at byte {self.pos}")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack(">H", self.take(2))[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def f64(self): return struct.unpack(">d", self.take(8))[0]

    def text(self, length):
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise malformed(f"invalid UTF-8 before byte {self.pos}")

    def str8(self): return self.text(self.u8())
    def str16(self): return self.text(self.u16())

    def end(self):
        if self.pos != len(self.data):
            raise malformed(f"{len(self.data) - self.pos} bytes left over at payload byte {self.pos}")


def str16(s):
    b = s.encode("utf-8")
    if len(b) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack(">H", len(b)) + b


def str8(s):
    b = s.encode("utf-8")
    if len(b) > 0xFF:
        raise ValueError("string longer than 255 bytes")
    return struct.pack(">B", len(b)) + b


def schema_hash(fields):
    """§5.3: SHA-256 of u16 count, then per field u16 name length, name, u8 wire type."""
    data = struct.pack(">H", len(fields)) + b"".join(str16(name) + bytes([t]) for name, t in fields)
    return hashlib.sha256(data).digest()


def encode_hello(client_name="loanscore-pyclient/1.0", min_version=1, max_version=1):
    return str16(client_name) + bytes([min_version, max_version])


def decode_welcome(payload):
    r = Reader(payload)
    w = {"version": r.u8(), "model_name": r.str16(), "model_version": r.str16(), "schema_hash": r.take(32)}
    fields = []
    for _ in range(r.u16()):
        name, wire_type = r.str16(), r.u8()
        if not name or wire_type not in WIRE_TYPES:
            raise malformed(f"field {name!r}: bad name or wire type {wire_type}")
        fields.append((name, wire_type))
    w["fields"] = fields
    w["limits"] = {k: r.u32() for k in DEFAULT_LIMITS}  # WELCOME sends them in this order
    r.end()
    if not MIN_PROTOCOL <= w["version"] <= MAX_PROTOCOL:
        raise ProtocolError(CODES["UNSUPPORTED_VERSION"], f"WELCOME version {w['version']}", local=True)
    if schema_hash(fields) != w["schema_hash"]:
        raise malformed("WELCOME schema hash does not match its fields")
    if not all(w["limits"][k] for k in ("max_frame_payload", "max_uncompressed_payload", "max_batch")):
        raise malformed(f"WELCOME has a zero size limit: {w['limits']}")
    return w


def encode_score_request(schema_hash_bytes, fields, applications, ids):
    """§5.4: hash, count, ids, then per field a presence bitmap and the present values."""
    if len(applications) != len(ids) or not applications:
        raise ValueError("need as many ids as applications, at least one")
    out = [schema_hash_bytes, struct.pack(">I", len(applications))]
    out += [str16(i) for i in ids]
    for name, wire_type in fields:
        bitmap, values = bytearray((len(applications) + 7) // 8), []
        for i, app in enumerate(applications):
            v = app.get(name)
            if v is None:
                continue  # missing: a clear bit, no value
            bitmap[i // 8] |= 1 << (i % 8)
            if wire_type == NUMBER:
                values.append(struct.pack(">d", float(v)))
            elif wire_type == BOOL:
                if v not in (True, False, 0, 1):
                    raise ValueError(f"{name}: {v!r} is not a boolean")
                values.append(b"\x01" if v else b"\x00")
            else:
                values.append(str16(str(v)))
        out += [bytes(bitmap)] + values
    return b"".join(out)


def decode_score_response(payload, ids, protocol_version=MAX_PROTOCOL):
    """§5.5. Each result's "model_version" is the header's, or (status 2, protocol version 2)
    the version that result names; status 2 on a version-1 connection is MALFORMED_FRAME."""
    r = Reader(payload)
    model_version, count = r.str16(), r.u32()
    if count != len(ids):
        raise malformed(f"response count {count} for {len(ids)} applications")
    results = []
    for app_id in ids:
        status = r.u8()
        version = model_version
        if status == 2 and protocol_version >= 2:
            version = r.str16()  # scored by this model version (e.g. a challenger), then status 0's fields
        if status == 0 or (status == 2 and protocol_version >= 2):
            res = {"id": app_id, "status": "scored", "pd": r.f64(), "risk_level": r.str8()}
            decision = r.u8()
            if decision not in DECISIONS:
                raise malformed(f"decision {decision}")
            res["decision"], res["confidence"] = DECISIONS[decision], r.f64()
            res["reasons"] = [r.str8() for _ in range(r.u8())]
        elif status == 1:
            code = r.u16()
            res = {"id": app_id, "status": "invalid", "code": code,
                   "code_name": ERROR_NAMES.get(code, f"0x{code:04X}"), "message": r.str16()}
        else:
            raise malformed(f"result status {status}")
        res["model_version"] = version
        results.append(res)
    r.end()
    return results


def decode_error(payload, request_id):
    r = Reader(payload)
    code, message = r.u16(), r.str16()
    r.end()
    return ProtocolError(code, message, request_id)


# ---------------------------------------------------------------- connection

def tls_socket(host, port, cafile, certfile=None, keyfile=None, server_hostname="localhost", timeout=30):
    """TCP + TLS (1.2+) offering ALPN loanscore/1; refuses a server that picks anything else."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols([ALPN])
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=timeout),
                           server_hostname=server_hostname)
    if sock.selected_alpn_protocol() != ALPN:
        sock.close()
        raise ConnectionError(f"server negotiated ALPN {sock.selected_alpn_protocol()!r}, not {ALPN}")
    return sock


class LoanScoreConnection:
    def __init__(self, host, port, cafile, certfile=None, keyfile=None, server_hostname="localhost",
                 timeout=30, client_name="loanscore-pyclient/1.0", max_version=MAX_PROTOCOL):
        self.sock = tls_socket(host, port, cafile, certfile, keyfile, server_hostname, timeout)
        self.limits = dict(DEFAULT_LIMITS)
        self.next_id = 1
        self.pending = {}   # request id -> application ids, for SCORE_REQUESTs in flight
        self.stash = {}     # request id -> frame read while waiting for another one
        self.server_goodbye = None
        self.sock.sendall(encode_frame(HELLO, 0, encode_hello(client_name, MIN_PROTOCOL, max_version)))
        msg_type, request_id, payload = read_frame(self.sock, self.limits)
        if msg_type == ERROR:
            raise decode_error(payload, request_id)
        if msg_type != WELCOME:
            raise malformed(f"expected WELCOME, got type 0x{msg_type:02X}")
        w = decode_welcome(payload)
        self.model_name, self.model_version = w["model_name"], w["model_version"]
        self.protocol_version = w["version"]
        self.fields, self.schema_hash, self.limits = w["fields"], w["schema_hash"], w["limits"]

    def _new_id(self):
        rid, self.next_id = self.next_id, self.next_id + 1
        return rid

    def _send(self, msg_type, payload, compress=False, request_id=None):
        rid = self._new_id() if request_id is None else request_id
        frame = encode_frame(msg_type, rid, payload, compress)
        if len(frame) - HEADER.size > self.limits["max_frame_payload"] \
                or len(payload) > self.limits["max_uncompressed_payload"]:
            raise ValueError("frame above the server's limits: split the batch")
        self.sock.sendall(frame)
        return rid

    def _next_frame(self, want=None):
        """Next frame for request id `want` (any id if None); others are stashed for later."""
        if want is not None and want in self.stash:
            return self.stash.pop(want)
        if want is None and self.stash:
            return self.stash.pop(next(iter(self.stash)))
        while True:
            msg_type, request_id, payload = read_frame(self.sock, self.limits)
            if msg_type == PING:                      # either side may ping (§5.7)
                self.sock.sendall(encode_frame(PONG, request_id, payload))
                continue
            if msg_type == GOODBYE:                   # server draining: no new requests
                r = Reader(payload)
                self.server_goodbye = r.str16()
                r.end()
                continue
            if msg_type == ERROR and request_id == 0:
                raise decode_error(payload, 0)        # connection-fatal
            if want is None or request_id == want:
                return msg_type, request_id, payload
            self.stash[request_id] = (msg_type, request_id, payload)

    def send_score(self, applications, ids, compress=False, schema_hash=None):
        """Send one SCORE_REQUEST (no waiting); returns its request id."""
        payload = encode_score_request(schema_hash or self.schema_hash, self.fields, applications, ids)
        rid = self._send(SCORE_REQUEST, payload, compress)
        self.pending[rid] = list(ids)
        return rid

    def read_response(self, request_id=None):
        """Wait for the answer to `request_id` (or to any request); returns (request id, results).
        A per-request ERROR is raised as ProtocolError with .request_id set."""
        while True:
            msg_type, rid, payload = self._next_frame(request_id)
            if rid not in self.pending:
                raise malformed(f"answer for unknown request id {rid}")
            ids = self.pending.pop(rid)
            if msg_type == ERROR:
                raise decode_error(payload, rid)
            if msg_type != SCORE_RESPONSE:
                raise malformed(f"type 0x{msg_type:02X} answering request {rid}")
            return rid, decode_score_response(payload, ids, self.protocol_version)

    def score(self, applications, ids, compress=False, retries=5):
        """Score any number of applications (split into maximum-batch chunks); BUSY is retried."""
        results, batch = [], self.limits["max_batch"]
        for start in range(0, len(applications), batch):
            apps, chunk_ids = applications[start:start + batch], ids[start:start + batch]
            for attempt in range(retries + 1):
                try:
                    results += self.read_response(self.send_score(apps, chunk_ids, compress))[1]
                    break
                except ProtocolError as e:
                    if e.code != CODES["BUSY"] or attempt == retries:
                        raise
                    time.sleep(0.05 * 2 ** attempt)
        return results

    def ping(self, data=b""):
        """PING and wait for the PONG; returns the round-trip time in seconds."""
        started = time.monotonic()
        rid = self._send(PING, data)
        msg_type, _, payload = self._next_frame(rid)
        if msg_type != PONG or payload != data:
            raise malformed(f"PING {rid} answered by type 0x{msg_type:02X}")
        return time.monotonic() - started

    def goodbye(self, reason="done"):
        """GOODBYE, then collect answers to requests still in flight until the server closes."""
        self._send(GOODBYE, str16(reason), request_id=0)
        answers = {}
        while self.pending:
            try:
                rid, res = self.read_response()
                answers[rid] = res
            except ProtocolError as e:
                if e.request_id == 0:
                    raise
                answers[e.request_id] = e
        self.close()
        return answers

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- CSV and command line

def application_from_row(row, fields, true_labels=None):
    """CSV text -> wire values; an empty cell is missing. The wire does not carry a boolean
    field's labels: pass true_labels {field: {texts meaning true}} from the bundle schema
    (default: true, 1, yes; anything else is false)."""
    app, true_labels = {}, true_labels or {}
    for name, wire_type in fields:
        text = row.get(name)
        if text is None or text == "":
            continue
        if wire_type == NUMBER:
            app[name] = float(text)
        elif wire_type == BOOL:
            app[name] = text.strip() in true_labels.get(name, ("true", "1", "yes"))
        else:
            app[name] = text
    return app


def main(argv=None):
    p = argparse.ArgumentParser(description="Score a CSV of applications on a LoanScore server.")
    p.add_argument("--server", required=True, help="HOST:PORT")
    p.add_argument("--ca", required=True, help="CA certificate (PEM) for the server")
    p.add_argument("--cert", help="client certificate (PEM) for mutual TLS")
    p.add_argument("--key", help="client key (PEM)")
    p.add_argument("--server-name", default="localhost", help="name to verify the server as")
    p.add_argument("--input", required=True, help="CSV with one application per row")
    p.add_argument("--id-column", help="column holding application ids (default: row number)")
    p.add_argument("--limit", type=int, help="score only the first N rows")
    p.add_argument("--compress", action="store_true", help="LZ4-compress requests")
    a = p.parse_args(argv)
    host, port = a.server.rsplit(":", 1)
    with open(a.input, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:a.limit]
    with LoanScoreConnection(host, int(port), a.ca, a.cert, a.key, a.server_name) as conn:
        print(f"# {conn.model_name} {conn.model_version}, {len(conn.fields)} fields", file=sys.stderr)
        ids = [row[a.id_column] if a.id_column else str(n + 1) for n, row in enumerate(rows)]
        results = conn.score([application_from_row(r, conn.fields) for r in rows], ids, a.compress)
        conn.goodbye()
    print("id,status,pd,decision,reasons")
    for r in results:
        if r["status"] == "scored":
            print(f"{r['id']},scored,{r['pd']!r},{r['decision']},{';'.join(r['reasons'])}")
        else:
            print(f"{r['id']},invalid,,,{r['code_name']}: {r['message']!r}")


if __name__ == "__main__":
    main()
