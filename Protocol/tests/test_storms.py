"""Connection storms against the real loanscored (issue 5, item 2): idle connections,
connections stalled mid-handshake and mid-frame, and a burst of connections reset
mid-handshake. A legitimate client keeps being served with bounded latency throughout, the
stalled connections are cut by the server's timeouts, and the server's open descriptors, live
TLS connections, heap in use and RSS come back to their baselines afterwards.

RSS: before the server trimmed, the storms took it from 40 to 133 MB and it stayed there
(release build; the debug build 44 -> 125 -> 146 MB). That was glibc keeping freed memory in
the event-loop threads' arenas (3.6 MB in use of 113 MB held; malloc_trim(0) from gdb brought
RSS back to 42 MB), not a leak. The server now trims (MemoryMaintenance); with it (debug
build, 2 shared cores, load average 8-16): baseline 41.6 MB, peaks 52.6 / 56.0 MB, after the
rounds 45.2 / 45.6 MB; heap in use 2.6 MB, then 4.0 / 4.1 MB; live TLS connections back to 1.

Sizes come from the environment so a longer storm can be run by hand:
STORM_IDLE, STORM_HANDSHAKE, STORM_FRAME (default 1,000 each), STORM_RESETS (default 50,000).
"""
import json
import os
import re
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import reference_client as rc  # noqa: E402
from test_reference_client import REPO, binary, bundle, certs, free_port, applications, offline  # noqa: E402,F401

IDLE = int(os.environ.get("STORM_IDLE", 1000))
HANDSHAKE = int(os.environ.get("STORM_HANDSHAKE", 1000))
FRAME = int(os.environ.get("STORM_FRAME", 1000))
RESETS = int(os.environ.get("STORM_RESETS", 50000))
SLACK = 16  # descriptors the server may hold beyond its baseline at any moment
# RSS after the storms may exceed the baseline by the memory-trim threshold the server is
# configured with below (with a connection open, malloc may keep up to that much freed memory
# resident by design: a trim runs only above it), plus what the heap in use itself grew (bounded
# by HEAP_SLACK_MB below), plus RSS_MARGIN_MB for page granularity and non-heap pages (stacks,
# libraries). Everything else a storm allocated must come back through the trim. A CI run
# measured baseline 48.6 MB, 65.3 MB at the end with the heap in use up 2.5 MB: within this
# bound, though just over a flat 16 MB allowance that forgot the heap's own growth.
TRIM_THRESHOLD_MB = 16
RSS_MARGIN_MB = 4
# Heap in use (malloc's own count): the first storm grows a few long-lived tables (measured
# +2.8 MB), the second, as large, may add at most HEAP_ROUND_SLACK_MB (measured +0.2 MB for
# 26,500 connections; a leak of 40 bytes per connection would exceed it).
HEAP_SLACK_MB = 8
HEAP_ROUND_SLACK_MB = 1


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metrics(admin_port):
    """The server's Prometheus metrics as {name: value} (unlabelled series only).

    Right after a storm the admin request waits behind the connections still queued in the
    listener's backlog (up to 1,024 resets, accepted and closed one by one by a debug build on
    shared cores); it has taken over 30 s on a loaded machine, hence the long timeout."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=180) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
            values[parts[0]] = float(parts[1])
    return values


def client_hello_prefix(certs):
    """The first bytes of a real TLS ClientHello (made through memory BIOs)."""
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"  # handshake record
    return hello[: len(hello) // 2]


@pytest.fixture
def storm_server(bundle, certs, tmp_path):
    port, admin_port = free_port(), free_port()
    config = {
        "bundle": str(bundle), "certificate": str(certs / "server.pem"), "private_key": str(certs / "server.key"),
        "client_ca": str(certs / "ca.pem"), "listen": f"127.0.0.1:{port}", "admin": f"127.0.0.1:{admin_port}",
        "audit_dir": str(tmp_path / "audit"), "workers": 2,
        "limits": {"max_connections": 8192, "max_connections_per_address": 8192},
        # The storms' connections are cut by the handshake (TLS and HELLO) and frame timeouts;
        # the idle timeout is longer so that a scheduling gap on a loaded machine cannot cut
        # the legitimate client between two requests.
        "timeouts": {"handshake": 3, "idle": 30, "frame": 3, "drain": 5},
        # Checks every second (production: 10 s) so the test need not wait long for a trim.
        "memory": {"trim_interval": 1, "trim_threshold_mb": TRIM_THRESHOLD_MB},
    }
    (tmp_path / "loanscored.json").write_text(json.dumps(config))
    proc = subprocess.Popen([str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--config", str(tmp_path / "loanscored.json"),
                             "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("loanscored did not start listening:\n" + proc.stderr.read())
    yield proc, port, admin_port
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_storms_do_not_starve_legitimate_clients_and_resources_come_back(storm_server, certs, offline):
    proc, port, admin_port = storm_server
    rows, _ = offline

    def legit():
        return rc.LoanScoreConnection("127.0.0.1", port, str(certs / "ca.pem"), str(certs / "client.pem"),
                                      str(certs / "client.key"), timeout=30)

    good = legit()
    apps = applications(good, rows[:1])
    for _ in range(20):
        good.score(apps, ["warm"])
    time.sleep(2.5)  # the start-up memory check (every second here) has trimmed what loading left
    baseline_rss, baseline_fds = rss_kb(proc.pid), open_fds(proc.pid)
    baseline_heap = metrics(admin_port)["loanscore_heap_in_use_bytes"] / 1024

    latencies, failures, stop = [], [], threading.Event()

    def keep_scoring():
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                result = good.score(apps, [f"legit-{n}"])
                assert result[0]["status"] == "scored"
                latencies.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 — every failure is reported below
                failures.append(repr(error))
            n += 1
            time.sleep(0.005)

    scorer = threading.Thread(target=keep_scoring)
    scorer.start()
    held = []
    rounds = []

    def storm(idle, handshake, frame, resets):
        # 1. Connections that send nothing.
        for _ in range(idle):
            held.append(socket.create_connection(("127.0.0.1", port)))
        # 2. Connections that stall half-way through a ClientHello.
        prefix = client_hello_prefix(certs)
        for _ in range(handshake):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(prefix)
            held.append(s)
        # 3. Connections that finish TLS and HELLO, then stall half-way through a frame header.
        for _ in range(frame):
            s = rc.tls_socket("127.0.0.1", port, str(certs / "ca.pem"), str(certs / "client.pem"),
                              str(certs / "client.key"), timeout=30)
            s.sendall(rc.encode_frame(rc.HELLO, 0, rc.encode_hello()))
            msg_type, _, _ = rc.read_frame(s)
            assert msg_type == rc.WELCOME
            s.sendall(rc.encode_frame(rc.SCORE_REQUEST, 1, b"\x00" * 64)[:10])
            held.append(s)
        peak, peak_rss = open_fds(proc.pid), rss_kb(proc.pid)
        # 4. Connections reset (RST) right after connecting, while the server starts TLS.
        linger = struct.pack("ii", 1, 0)
        started = time.time()
        for _ in range(resets):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.connect(("127.0.0.1", port))
            s.close()
        seconds = time.time() - started
        # The server's timeouts (3 s) close every stalled connection by itself.
        # (A few descriptors come and go with the legitimate client and the audit log.)
        deadline = time.time() + 30
        cut = open_fds(proc.pid)
        while time.time() < deadline and cut > baseline_fds + SLACK:
            time.sleep(0.2)
            cut = open_fds(proc.pid)
        for s in held:
            s.close()
        held.clear()
        time.sleep(1)
        rounds.append({"peak_fds": peak, "cut_fds": cut, "resets_seconds": seconds, "rss": rss_kb(proc.pid), "peak_rss": peak_rss,
                       "heap": metrics(admin_port)["loanscore_heap_in_use_bytes"] / 1024})

    try:
        for _ in range(2):
            storm(IDLE // 2, HANDSHAKE // 2, FRAME // 2, RESETS // 2)
    finally:
        for s in held:
            s.close()
        stop.set()
        scorer.join()
    peak_fds = max(r["peak_fds"] for r in rounds)
    cut_fds = max(r["cut_fds"] for r in rounds)
    resets_seconds = sum(r["resets_seconds"] for r in rounds)
    # The server trims once its memory check sees the storms' freed memory (every second here).
    deadline = time.time() + 20
    after_rss = rss_kb(proc.pid)
    while time.time() < deadline and after_rss > baseline_rss + (TRIM_THRESHOLD_MB + RSS_MARGIN_MB) * 1024:
        time.sleep(0.5)
        after_rss = rss_kb(proc.pid)
    time.sleep(1)
    after_rss, after_fds = rss_kb(proc.pid), open_fds(proc.pid)
    after = metrics(admin_port)
    after_heap = after["loanscore_heap_in_use_bytes"] / 1024
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 100 else max(latencies)
    print(f"\nstorms: {IDLE} idle, {HANDSHAKE} mid-handshake, {FRAME} mid-frame, {RESETS} resets in {resets_seconds:.1f} s; "
          f"server fds baseline {baseline_fds}, peak {peak_fds}, after the timeouts {cut_fds}, at the end {after_fds}; "
          f"RSS baseline {baseline_rss / 1024:.1f} MB, at the peak of round 1 {rounds[0]['peak_rss'] / 1024:.1f} MB, "
          f"after round 1 {rounds[0]['rss'] / 1024:.1f} MB, at the peak of round 2 {rounds[1]['peak_rss'] / 1024:.1f} MB, "
          f"after round 2 {rounds[1]['rss'] / 1024:.1f} MB, at the end {after_rss / 1024:.1f} MB "
          f"({after['loanscore_malloc_trim_total']:.0f} trims); heap in use baseline {baseline_heap / 1024:.1f} MB, "
          f"after round 1 {rounds[0]['heap'] / 1024:.1f} MB, after round 2 {rounds[1]['heap'] / 1024:.1f} MB, "
          f"at the end {after_heap / 1024:.1f} MB; live TLS connections at the end {after['loanscore_tls_connections']:.0f}; "
          f"legitimate requests "
          f"{len(latencies)} answered, {len(failures)} failed, p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    assert proc.poll() is None, "loanscored died during the storms"
    assert not failures, failures[:3]
    assert len(latencies) > 50, "the legitimate client was starved"
    assert p99 < 2.0, f"legitimate p99 {p99:.3f} s"
    assert cut_fds <= baseline_fds + SLACK, "stalled connections were not closed by the server's timeouts"
    assert after_fds <= baseline_fds + SLACK
    assert after["loanscore_tls_connections"] == 1, "SSL objects outlived their connections (only the legitimate one is open)"
    assert rounds[1]["heap"] <= rounds[0]["heap"] + HEAP_ROUND_SLACK_MB * 1024, "heap in use grows with every storm (a leak)"
    assert after_heap <= baseline_heap + HEAP_SLACK_MB * 1024, "memory the storms allocated is still in use (a leak)"
    rss_bound = baseline_rss + (TRIM_THRESHOLD_MB + RSS_MARGIN_MB) * 1024 + max(0, after_heap - baseline_heap)
    assert after_rss <= rss_bound, "RSS did not come back to its baseline after the storms (beyond the trim threshold and the heap's growth)"
    good.close()
