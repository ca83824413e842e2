"""End-to-end tests of Protocol/reference_client.py against the real loanscored.

Trains the german_credit bundle, makes certificates, starts loanscored (mutual TLS) and checks
that the reference client's answers equal offline `loanscore score`, that the audit log holds
one record per scored application, and that hostile input gets the documented ERROR and a
closed connection while a good connection keeps being served.

Binaries: LOANSCORED_BIN (default .build/debug/loanscored), LOANSCORE_BIN (default
.build/debug/loanscore), relative to the repository root. Missing binaries fail the tests.
"""
import csv
import json
import math
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Protocol"))
import reference_client as rc  # noqa: E402

VECTORS = REPO / "Protocol" / "vectors"
C = rc.CODES


def binary(env, default):
    path = Path(os.environ.get(env, default))
    path = path if path.is_absolute() else REPO / path
    if not path.is_file():
        pytest.fail(f"{env}: {path} is missing; run `swift build` first (or set {env})")
    return path


def vector(name):
    return (VECTORS / name).read_bytes()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    loanscore = binary("LOANSCORE_BIN", ".build/debug/loanscore")
    out = tmp_path_factory.mktemp("bundle") / "german"
    subprocess.run([sys.executable, "-m", "loanscore_train.cli", "train",
                    "--data", str(REPO / "Data/german_credit.csv"),
                    "--schema", str(REPO / "Data/german_credit.schema.json"),
                    "--output", str(out), "--force"],
                   check=True, capture_output=True, env={**os.environ, "LOANSCORE_BIN": str(loanscore)})
    return out


@pytest.fixture(scope="session")
def offline(bundle, tmp_path_factory):
    """Holdout rows and `loanscore score`'s answers for them, by row id ("1", "2", ...)."""
    out = tmp_path_factory.mktemp("offline") / "out.csv"
    holdout = bundle / "validation" / "holdout.csv"
    subprocess.run([str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), "score", "--bundle", str(bundle),
                    "--input", str(holdout), "--output", str(out)], check=True, capture_output=True)
    with open(holdout, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out, newline="") as f:
        answers = {r["id"]: r for r in csv.DictReader(f)}
    assert len(answers) == len(rows) > 100
    return rows, answers


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([str(REPO / "scripts/make-certs.sh"), str(d)], check=True, capture_output=True)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bundle, certs, audit, extra_args=()):
        self.port, self.audit, self.certs, self.log = free_port(), audit, certs, []
        self.scored = 0  # applications answered "scored" so far: the audit log must hold as many
        self.proc = subprocess.Popen(
            [str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--bundle", str(bundle),
             "--listen", f"127.0.0.1:{self.port}", "--cert", str(certs / "server.pem"),
             "--key", str(certs / "server.key"), "--client-ca", str(certs / "ca.pem"),
             "--admin", "off", "--audit-dir", str(audit), "--workers", "2", *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                if re.search(rf"serving .* on 127\.0\.0\.1:{self.port}\b", line):
                    ready.set()
        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20):
            self.proc.kill()
            pytest.fail("loanscored did not report serving within 20 s:\n" + "".join(self.log))

    def connect(self, **kw):
        return rc.LoanScoreConnection("127.0.0.1", self.port, str(self.certs / "ca.pem"),
                                      str(self.certs / "client.pem"), str(self.certs / "client.key"), **kw)

    def raw(self, hello=True):
        """A TLS socket; with hello=True, HELLO is sent and WELCOME read. Returns (socket, welcome)."""
        sock = rc.tls_socket("127.0.0.1", self.port, str(self.certs / "ca.pem"),
                             str(self.certs / "client.pem"), str(self.certs / "client.key"), timeout=10)
        welcome = None
        if hello:
            sock.sendall(rc.encode_frame(rc.HELLO, 0, rc.encode_hello()))
            msg_type, _, payload = rc.read_frame(sock)
            assert msg_type == rc.WELCOME
            welcome = rc.decode_welcome(payload)
        return sock, welcome


@pytest.fixture(scope="module")
def server(bundle, certs, tmp_path_factory):
    # The protocol's behaviour, not load shedding: a queue-delay limit of 10 s instead of
    # 50 ms, so that pipelined batches on a busy 2-core CI machine are not answered BUSY (one
    # run was, and the audit count of the test after it then disagreed).
    tmp = tmp_path_factory.mktemp("server")
    (tmp / "limits.json").write_text(json.dumps({"limits": {"max_queue_delay_ms": 10000}}))
    s = Server(bundle, certs, tmp_path_factory.mktemp("audit"), extra_args=["--config", str(tmp / "limits.json")])
    yield s
    if s.proc.poll() is None:  # test_sigterm normally stopped it
        s.proc.kill()
        s.proc.wait()


@pytest.fixture(scope="module")
def good(server):
    """A well-behaved connection that must keep being served throughout."""
    conn = server.connect()
    yield conn
    conn.close()


def applications(conn, rows):
    # Boolean CSV cells are the bundle schema's labels; WELCOME does not carry them.
    schema = json.loads((REPO / "Data/german_credit.schema.json").read_text())
    labels = {f["name"]: set(f["true_labels"]) for f in schema["fields"] if f["type"] == "boolean"}
    return [rc.application_from_row(r, conn.fields, labels) for r in rows]


def check_against_offline(results, ids, offline_answers):
    assert [r["id"] for r in results] == ids
    for r in results:
        want = offline_answers[r["id"]]
        assert r["status"] == "scored", r
        # Floats compared exactly: the server and the CLI run the same model on the same f64s.
        assert r["pd"] == float(want["pd"]), (r["id"], repr(r["pd"]), want["pd"])
        assert r["decision"] == want["decision"], r["id"]
        assert r["reasons"] == (want["reasons"].split(";") if want["reasons"] else []), r["id"]
        assert r["risk_level"] == want["risk_level"], r["id"]
        assert r["confidence"] == float(want["confidence"]), r["id"]
        assert r["model_version"] == want["model_version"], r["id"]


def score_some(server, conn, offline, n=3):
    rows, answers = offline
    ids = [str(i + 1) for i in range(n)]
    results = conn.score(applications(conn, rows[:n]), ids)
    check_against_offline(results, ids, answers)
    server.scored += n


def audit_rows(server, tmp_path):
    out = tmp_path / "audit.jsonl"
    p = subprocess.run([str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), "audit", "export",
                        "--dir", str(server.audit), "--output", str(out), "--json"],
                       check=True, capture_output=True, text=True)
    lines = out.read_text().splitlines()
    assert json.loads(p.stdout)["rows"] == len(lines)
    return [json.loads(line) for line in lines]


# ---------------------------------------------------------------- the good path

def test_welcome_describes_the_bundle(good, bundle):
    schema = json.loads((bundle / "schema.json").read_text())
    # Booleans travel as their label text (PROTOCOL.md §5.2): the server checks the labels.
    wire = {"number": rc.NUMBER, "integer": rc.NUMBER, "boolean": rc.STRING, "category": rc.STRING}
    assert good.fields == [(f["name"], wire[f["type"]]) for f in schema["fields"]]
    assert good.schema_hash == rc.schema_hash(good.fields)  # also verified on receipt
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert good.model_name in json.dumps(manifest) and good.model_version in json.dumps(manifest)
    assert good.limits["max_batch"] >= 1 and good.limits["max_frame_payload"] >= 1


def test_schema_hash_example_from_the_spec():
    fields = [("Seniority", rc.NUMBER), ("Home", rc.STRING), ("Income", rc.NUMBER), ("Records", rc.BOOL)]
    assert rc.schema_hash(fields).hex() == "27551798527acc0077b659b70fbcf9b1a0c3751ca09597fb39c5c518a8c00e1b"


def test_encoder_reproduces_the_vectors():
    w = rc.decode_welcome(vector("02-welcome.bin")[24:])
    apps = [{"Seniority": 9, "Home": "rent", "Income": 130.5, "Records": False},
            {"Home": "owner", "Income": -5, "Records": True}]
    payload = rc.encode_score_request(w["schema_hash"], w["fields"], apps, ["app-001", "app-002"])
    assert rc.encode_frame(rc.HELLO, 0, rc.encode_hello("loanscore-client/1.0")) == vector("01-hello.bin")
    assert rc.encode_frame(rc.SCORE_REQUEST, 7, payload) == vector("03-score-request.bin")


def test_decoder_reads_status_2_on_a_version_2_connection():
    """Vector 24: application 1 names the model version that scored it (a split-mode challenger)."""
    payload = vector("24-score-response-v2.bin")[24:]
    results = rc.decode_score_response(payload, ["a", "b"], protocol_version=2)
    assert [r["status"] for r in results] == ["scored", "scored"]
    assert [r["model_version"] for r in results] == ["2026.11.1", "2026.12.1"]
    assert results[1]["pd"] == 0.52 and results[1]["decision"] == "decline" and results[1]["risk_level"] == "E"
    assert results[1]["reasons"] == ["R07_HIGH_DEBT_RATIO"] and results[1]["confidence"] == 0.66
    # Vector 05 (statuses 0 and 1) decodes the same under either version.
    v1 = rc.decode_score_response(vector("05-score-response.bin")[24:], ["a", "b"], protocol_version=1)
    assert v1 == rc.decode_score_response(vector("05-score-response.bin")[24:], ["a", "b"], protocol_version=2)


def test_decoder_refuses_status_2_on_a_version_1_connection():
    with pytest.raises(rc.ProtocolError) as caught:
        rc.decode_score_response(vector("24-score-response-v2.bin")[24:], ["a", "b"], protocol_version=1)
    assert caught.value.code == rc.CODES["MALFORMED_FRAME"]


def test_connection_negotiates_version_2(server):
    with server.connect() as conn:
        assert conn.protocol_version == 2
        conn.goodbye()
    with server.connect(max_version=1) as conn:  # an older client keeps version 1
        assert conn.protocol_version == 1
        conn.goodbye()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "lz4"])
def test_holdout_scores_equal_offline_scoring(server, offline, compress):
    rows, answers = offline
    with server.connect() as conn:
        ids = [str(i + 1) for i in range(len(rows))]
        payload = rc.encode_score_request(conn.schema_hash, conn.fields, applications(conn, rows), ids)
        if compress:  # the batch really travels as an LZ4 block
            assert len(rc.encode_frame(rc.SCORE_REQUEST, 1, payload, True)) < len(payload)
        results = conn.score(applications(conn, rows), ids, compress=compress)
        check_against_offline(results, ids, answers)
        server.scored += len(rows)
        conn.goodbye()


def test_audit_log_has_one_record_per_scored_application(server, offline, tmp_path):
    records = audit_rows(server, tmp_path)
    assert len(records) == server.scored
    rows, answers = offline
    for rec in records[:len(rows)]:
        assert rec["pd"] == float(answers[rec["application_id"]]["pd"])


def test_pipelining_matches_responses_by_request_id(server, offline):
    rows, answers = offline
    with server.connect() as conn:
        sent = {}
        for k, (start, size) in enumerate([(0, 50), (50, 1), (51, 7), (58, 100), (158, 3), (161, 39), (0, 2)]):
            ids = [str(i + 1) for i in range(start, start + size)]
            rid = conn.send_score(applications(conn, rows[start:start + size]), ids, compress=k % 2 == 1)
            sent[rid] = ids
        assert len(sent) <= conn.limits["max_in_flight"] or conn.limits["max_in_flight"] == 0
        while sent:
            rid, results = conn.read_response()
            check_against_offline(results, sent.pop(rid), answers)
            server.scored += len(results)
        conn.ping(b"still here")


def test_over_max_in_flight_every_request_gets_one_answer(server, offline):
    rows, answers = offline
    with server.connect() as conn:
        n = (conn.limits["max_in_flight"] or 64) + 16
        ids = {conn.send_score(applications(conn, rows[:1]), ["1"]): True for _ in range(n)}
        busy = 0
        while conn.pending:
            try:
                rid, results = conn.read_response()
                check_against_offline(results, ["1"], answers)
                server.scored += 1
            except rc.ProtocolError as e:
                assert e.name == "BUSY" and e.request_id in ids, e
                busy += 1
        assert not conn.stash
        conn.ping()
        score_some(server, conn, offline)


def test_ping_pong(good):
    for data in (b"", b"\x00\x01\x02\x03\x04\x05\x06\x07", bytes(range(256))):
        good.ping(data)
    good.sock.sendall(rc.encode_frame(rc.PING, 4242, b"abc"))  # a raw PING with our own id
    assert rc.read_frame(good.sock) == (rc.PONG, 4242, b"abc")


# ---------------------------------------------------------------- per-request and per-application errors

def test_wrong_schema_hash_is_a_request_error(server, good, offline):
    rows, _ = offline
    rid = good.send_score(applications(good, rows[:2]), ["1", "2"], schema_hash=bytes(32))
    with pytest.raises(rc.ProtocolError) as e:
        good.read_response(rid)
    assert (e.value.name, e.value.request_id) == ("SCHEMA_MISMATCH", rid)
    score_some(server, good, offline)


def test_batch_above_maximum_is_a_request_error(server, good, offline):
    rows, _ = offline
    n = good.limits["max_batch"] + 1
    apps = applications(good, rows[:1]) * n
    rid = good.send_score(apps, [str(i) for i in range(n)], compress=True)
    with pytest.raises(rc.ProtocolError) as e:
        good.read_response(rid)
    assert (e.value.name, e.value.request_id) == ("BATCH_TOO_LARGE", rid)
    score_some(server, good, offline)


def test_invalid_applications_inside_a_valid_batch(server, good, offline):
    rows, answers = offline
    apps = applications(good, rows[:7])
    apps[1]["duration_in_month"] = 999.0            # above the schema's range
    apps[3]["duration_in_month"] = math.nan         # NaN decodes, the application is invalid
    apps[4]["credit_amount"] = math.inf             # so does infinity
    del apps[5]["credit_history"]                   # missing, not nullable
    ids = [str(i + 1) for i in range(7)]
    results = good.score(apps, ids)
    bad = {1: "duration_in_month", 3: "duration_in_month", 4: "credit_amount", 5: "credit_history"}
    for i, r in enumerate(results):
        if i in bad:
            assert r["status"] == "invalid" and r["code_name"] == "INVALID_APPLICATION", r
            assert bad[i] in r["message"], r
        else:
            check_against_offline([r], [ids[i]], answers)
            server.scored += 1
    score_some(server, good, offline)


# ---------------------------------------------------------------- hostile input: connection-fatal

def frame_header(msg_type, request_id, length, ulength, flags=0, magic=rc.MAGIC, version=1):
    return rc.HEADER.pack(magic, version, msg_type, flags, request_id, length, ulength)


def one_application_request(w, rows, ids=("1",)):
    return rc.encode_score_request(w["schema_hash"], w["fields"], applications(Welcome(w), rows[:1]), list(ids))


class Welcome:
    def __init__(self, w):
        self.fields = w["fields"]


def invalid_utf8_id(w, rows):
    payload = one_application_request(w, rows, ids=("ab",))
    assert payload[36:40] == b"\x00\x02ab"
    return rc.encode_frame(rc.SCORE_REQUEST, 5, payload[:38] + b"\xff\xfe" + payload[40:])


def stray_bitmap_bit(w, rows):
    payload = one_application_request(w, rows)
    at = 32 + 4 + 3  # hash, count, id "1": then the first column's bitmap
    assert payload[at] == 0x01
    return rc.encode_frame(rc.SCORE_REQUEST, 5, payload[:at] + b"\x03" + payload[at + 1:])


HOSTILE = [
    # (id, send HELLO first?, bytes to send (or f(welcome, rows)), expected code, expected request id)
    ("garbage-before-hello", False, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "MALFORMED_FRAME", None),
    ("score-request-before-hello", False, vector("03-score-request.bin"), "HANDSHAKE_REQUIRED", 0),
    ("ping-before-hello", False, vector("07-ping.bin"), "HANDSHAKE_REQUIRED", 0),
    ("goodbye-before-hello", False, vector("09-goodbye.bin"), "HANDSHAKE_REQUIRED", 0),
    ("hello-versions-3-4", False, rc.encode_frame(rc.HELLO, 0, rc.encode_hello(min_version=3, max_version=4)),
     "UNSUPPORTED_VERSION", None),
    ("hello-min-above-max", False, rc.encode_frame(rc.HELLO, 0, rc.encode_hello(min_version=1, max_version=0)),
     "MALFORMED_FRAME", None),
    ("second-hello", True, rc.encode_frame(rc.HELLO, 0, rc.encode_hello()), "HANDSHAKE_REQUIRED", None),
    ("bad-magic", True, vector("10-bad-magic.bin"), "MALFORMED_FRAME", None),
    ("unsupported-header-version", True, vector("11-unsupported-version.bin"), "UNSUPPORTED_VERSION", None),
    ("unknown-type", True, vector("12-unknown-type.bin"), "UNKNOWN_TYPE", None),
    ("undefined-flag-bit", True, vector("13-bad-flags.bin"), "MALFORMED_FRAME", None),
    ("payload-length-above-limit", True, vector("14-length-above-limit.bin"), "FRAME_TOO_LARGE", None),
    ("payload-length-near-2-32", True, vector("15-length-near-2-32.bin"), "FRAME_TOO_LARGE", None),
    ("uncompressed-length-above-limit", True, frame_header(rc.SCORE_REQUEST, 5, 1 << 20, 16 * 2**20 + 1, 1),
     "FRAME_TOO_LARGE", None),
    ("lz4-declared-size-absurd", True, vector("16-lz4-absurd-declared-size.bin"), "DECOMPRESSION_FAILED", None),
    ("lz4-size-mismatch", True, vector("17-lz4-mismatched-size.bin"), "DECOMPRESSION_FAILED", None),
    ("lz4-corrupt-block", True, frame_header(rc.PING, 5, 20, 100, 1) + b"\xff" * 20, "DECOMPRESSION_FAILED", None),
    ("uncompressed-lengths-differ", True, frame_header(rc.PING, 5, 4, 5) + b"abcd", "MALFORMED_FRAME", None),
    ("goodbye-trailing-bytes", True, vector("19-trailing-bytes.bin"), "MALFORMED_FRAME", None),
    ("goodbye-ends-inside-its-string", True, rc.encode_frame(rc.GOODBYE, 0, b"\x00\x09bye"), "MALFORMED_FRAME", None),
    ("welcome-sent-to-server", True, vector("02-welcome.bin"), "MALFORMED_FRAME", None),
    ("score-response-sent-to-server", True, vector("05-score-response.bin"), "MALFORMED_FRAME", None),
    ("score-count-zero", True, lambda w, rows: rc.encode_frame(rc.SCORE_REQUEST, 5, w["schema_hash"] + bytes(4)),
     "MALFORMED_FRAME", None),
    ("score-payload-ends-in-a-field", True,
     lambda w, rows: rc.encode_frame(rc.SCORE_REQUEST, 5, one_application_request(w, rows)[:-1]),
     "MALFORMED_FRAME", None),
    ("score-invalid-utf8-id", True, invalid_utf8_id, "MALFORMED_FRAME", None),
    ("score-stray-bitmap-bit", True, stray_bitmap_bit, "MALFORMED_FRAME", None),
]


def assert_closed(sock, what, timeout=5):
    """After a fatal ERROR the server must close: EOF (or a TLS/TCP error), nothing more."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except (ssl.SSLError, ConnectionError):
        return
    except socket.timeout:
        pytest.fail(f"{what}: connection still open {timeout} s after the fatal ERROR")
    assert data == b"", f"{what}: server sent more after the fatal ERROR: {data!r}"


@pytest.mark.parametrize("name,hello,data,code,request_id", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_refused_and_closed(server, good, offline, name, hello, data, code, request_id):
    rows, _ = offline
    sock, welcome = server.raw(hello=hello)
    try:
        sock.sendall(data(welcome, rows) if callable(data) else data)
        try:
            msg_type, rid, payload = rc.read_frame(sock)
        except (ConnectionError, ssl.SSLError, socket.timeout) as e:
            pytest.fail(f"{name}: expected ERROR {code}, got {type(e).__name__}: {e}")
        assert msg_type == rc.ERROR, f"{name}: expected ERROR {code}, got type 0x{msg_type:02X} {payload[:80]!r}"
        err = rc.decode_error(payload, rid)
        assert err.name == code, f"{name}: expected {code}, got {err}"
        if request_id is not None:
            assert rid == request_id
        assert_closed(sock, name)
    finally:
        sock.close()
    score_some(server, good, offline)  # the good connection is still served


def test_truncated_payload_then_silence_does_not_block_others(server, good, offline):
    sock, _ = server.raw()
    try:
        sock.sendall(vector("18-truncated-payload.bin"))  # 10 bytes short; then we say nothing
        t0 = time.monotonic()
        with server.connect() as other:                   # new connections are still accepted
            score_some(server, other, offline)
        score_some(server, good, offline)
        good.ping()
        sock.settimeout(max(0.1, 2 - (time.monotonic() - t0)))
        try:
            data = sock.recv(1)  # the server may wait (no idle timeout is specified) or close
            assert data == b"" or data[:4] == struct.pack(">I", rc.MAGIC), data
        except (socket.timeout, ssl.SSLError, ConnectionError):
            pass
    finally:
        sock.close()
    score_some(server, good, offline)


def test_other_alpn_is_refused(server):
    ctx = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    ctx.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.selected_alpn_protocol() != "http/1.1"
                s.sendall(rc.encode_frame(rc.HELLO, 0, rc.encode_hello()))
                assert s.recv(1) == b"", "server served a connection that did not negotiate loanscore/1"
        except (ssl.SSLError, ConnectionError):
            pass


def test_client_certificate_is_required(server):
    ctx = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    ctx.set_alpn_protocols([rc.ALPN])
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(rc.encode_frame(rc.HELLO, 0, rc.encode_hello()))
                if s.recv(1) == b"":
                    raise ConnectionError("closed")


# ---------------------------------------------------------------- shutdown

def test_sigterm_sends_goodbye_and_exits_zero(server, good, offline, tmp_path):
    score_some(server, good, offline)
    server.proc.send_signal(signal.SIGTERM)
    msg_type, rid, payload = rc.read_frame(good.sock)
    assert (msg_type, rid) == (rc.GOODBYE, 0), payload
    assert_closed(good.sock, "after GOODBYE", timeout=10)
    assert server.proc.wait(timeout=20) == 0, "".join(server.log)
    assert len(audit_rows(server, tmp_path)) == server.scored
