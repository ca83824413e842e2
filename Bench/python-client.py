#!/usr/bin/env python3
"""Applications/s of the Python client (loanscore.Client) at batch 256 from one process, beside
loanscore-load at the same batch, against one loanscored (issue 16: aim for 30,000/s).

Starts loanscored (BIN/loanscored, default .build/release) on BUNDLE with mutual TLS
(scripts/make-certs.sh), then:
  1. Python: one Client (2 connections, batch_size 256, its default pipelining of 4 batches per
     connection) scores a DataFrame of ROWS applications resampled from INPUT, again and again
     for SECONDS; prints applications/s and the client's own CPU time per application;
  2. loanscore-load: closed loop, batch 256, the same connections and batches in flight
     (2 × 4), for SECONDS; prints its applications/s and errors.
Both runs hit the same server with its default limits (a 50 ms queue-delay limit: BUSY answers
are retried by the Python client, counted as errors by loanscore-load).

usage: clients/python/.venv/bin/python Bench/python-client.py BUNDLE [INPUT.csv] [--rows N] [--seconds S]
Environment: BIN (default .build/release), PORT (default 7645).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python" / "src"))
import loanscore  # noqa: E402

BATCH, CONNECTIONS, PIPELINE = 256, 2, 4


def start_server(binary: Path, bundle: Path, certs: Path, port: int, audit: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(binary), "--bundle", str(bundle), "--listen", f"127.0.0.1:{port}", "--cert", str(certs / "server.pem"),
         "--key", str(certs / "server.key"), "--client-ca", str(certs / "ca.pem"), "--admin", "off",
         "--audit-dir", str(audit)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready, log = threading.Event(), []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if re.search(rf"serving .* on 127\.0\.0\.1:{port}\b", line):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(30):
        proc.kill()
        sys.exit("loanscored did not start:\n" + "".join(log))
    return proc


def python_client(address: str, certs: Path, df: pd.DataFrame, seconds: float) -> tuple[float, float]:
    """(applications/s, client CPU µs per application) over at least `seconds`."""
    with loanscore.Client(address, ca=str(certs / "ca.pem"), cert=str(certs / "client.pem"),
                          key=str(certs / "client.key"), connections=CONNECTIONS, batch_size=BATCH,
                          unknown_fields="ignore") as client:
        client.score_frame(df.head(BATCH * 16))  # warm-up: connections, layout code paths
        done, started, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            done += len(client.score_frame(df))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return done / elapsed, cpu / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("input", type=Path, nargs="?", help="default BUNDLE/validation/holdout.csv")
    parser.add_argument("--rows", type=int, default=100_000, help="applications per score_frame call")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    source = args.input or args.bundle / "validation" / "holdout.csv"
    binaries = Path(os.environ.get("BIN", REPO / ".build" / "release"))
    for tool in ("loanscored", "loanscore-load"):
        if not (binaries / tool).is_file():
            sys.exit(f"error: {binaries / tool} is missing: swift build -c release (or set BIN)")
    port = int(os.environ.get("PORT", "7645"))
    rows = pd.read_csv(source)
    df = rows.sample(n=args.rows, replace=True, random_state=16).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(work / "certs")], check=True,
                       capture_output=True)
        certs = work / "certs"
        server = start_server(binaries / "loanscored", args.bundle, certs, port, work / "audit")
        try:
            address = f"127.0.0.1:{port}"
            rate, cpu = python_client(address, certs, df, args.seconds)
            load = subprocess.run(
                [str(binaries / "loanscore-load"), "--server", address, "--ca", str(certs / "ca.pem"),
                 "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"), "--input", str(source),
                 "--batch", str(BATCH), "--connections", str(CONNECTIONS), "--pipeline", str(PIPELINE),
                 "--duration", str(args.seconds), "--json"], capture_output=True, text=True)
            report = json.loads(load.stdout) if load.stdout.strip() else {}
        finally:
            server.terminate()
            server.wait()
    print(f"server: {binaries / 'loanscored'}; bundle {args.bundle}; batch {BATCH}, {CONNECTIONS} connections, "
          f"{PIPELINE} batches in flight per connection; {args.seconds:g} s each")
    print(f"python Client:  {rate:10.0f} applications/s  (client CPU {cpu:.1f} µs/application; BUSY retried)")
    if report:
        errors = report.get("errors") or {}
        print(f"loanscore-load: {report['applications_per_s']:10.0f} applications/s  "
              f"(errors: {', '.join(f'{k} {v}' for k, v in errors.items()) or 'none'})")
    else:
        print(f"loanscore-load failed (exit {load.returncode}): {load.stderr.strip()}")


if __name__ == "__main__":
    main()
