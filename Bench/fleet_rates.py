#!/usr/bin/env python3
"""Applications/s through nginx with 1, 2 and 3 loanscored behind it (a measurement, not a test).

For each fleet size, deploy/nginx/fleet.py starts the instances and nginx on loopback (the
committed configuration), then loanscore-load drives nginx, closed loop, for --duration
seconds after a warm-up; the script prints applications/s and latency per size, with the
load average (on a shared machine, read the figures beside it). On one machine every
instance shares the same cores, so the rate is bounded by the cores, not by the number of
instances: the point of the figures is that nginx and the fleet cost little, not that they
scale here.

    python3 Bench/fleet_rates.py --bundle /tmp/bench-bundle [--bin .build/release] [--direct]
        [--instances 1,2,3] [--duration 10] [--warmup 2] [--batch 64] [--connections 6] [--pipeline 4]

Needs nginx and its stream module (Debian: nginx, libnginx-mod-stream), the release
binaries (`swift build -c release --product loanscored`, `--product loanscore-load`) and a
bundle (Bench/README.md §0).
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "deploy" / "nginx" / "fleet.py"


def applications_file(path, count):
    """`count` rows of Data/credit_data.csv with an id column."""
    with open(REPO / "Data" / "credit_data.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", *rows[0]])
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({"id": f"a{i}", **row})


def run_size(instances, args, binaries, certs, work, direct=False):
    """Starts a fleet of `instances`, drives it through nginx (or, `direct`, the SDK given every
    instance with --server), stops it; returns the report."""
    fleet = subprocess.Popen(
        [sys.executable, str(FLEET), "--instances", str(instances), "--bundle", str(args.bundle), "--certs", str(certs),
         "--workdir", str(work / f"fleet-{instances}"), "--loanscored", str(binaries / "loanscored"),
         "--workers", str(args.workers), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = fleet.stdout.readline()
        if not line:
            raise SystemExit(f"fleet.py exited with {fleet.wait()}:\n{fleet.stderr.read()}")
        described = json.loads(line)
        servers = [i["listen"] for i in described["instances"]] if direct else [described["nginx"]]
        p = subprocess.run(
            [str(binaries / "loanscore-load"), *[a for s in servers for a in ("--server", s)], "--ca", str(certs / "ca.pem"),
             "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"), "--input", str(work / "apps.csv"),
             "--connections", str(args.connections), "--pipeline", str(args.pipeline), "--batch", str(args.batch),
             "--warmup", str(args.warmup), "--duration", str(args.duration), "--json"],
            capture_output=True, text=True)
        if p.returncode not in (0, 5):
            raise SystemExit(f"loanscore-load exited with {p.returncode}:\n{p.stderr}")
        return json.loads(p.stdout)
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--bin", default=str(REPO / ".build" / "release"), help="folder of loanscored and loanscore-load")
    parser.add_argument("--instances", default="1,2,3", help="fleet sizes, comma-separated")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--pipeline", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="scoring workers per instance")
    parser.add_argument("--direct", action="store_true",
                        help="also drive each fleet without nginx: loanscore-load given every instance (--server repeated)")
    args = parser.parse_args()
    binaries = Path(args.bin).resolve()
    for name in ("loanscored", "loanscore-load"):
        if not (binaries / name).is_file():
            raise SystemExit(f"{binaries / name} is missing: swift build -c release --product {name}")
    with tempfile.TemporaryDirectory(prefix="loanscore-fleet-rates-") as tmp:
        work = Path(tmp)
        certs = work / "certs"
        subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(certs)], check=True, capture_output=True)
        applications_file(work / "apps.csv", 1000)
        print(f"{os.cpu_count()} cores; batch {args.batch}, {args.connections} connections x {args.pipeline} in flight, "
              f"{args.duration:g} s after {args.warmup:g} s warm-up, {args.workers} workers per instance")
        for size, direct in [(int(s), d) for s in args.instances.split(",") for d in ([False, True] if args.direct else [False])]:
            report = run_size(size, args, binaries, certs, work, direct)
            latency = report["latency_ms"]
            errors = ", ".join(f"{code} {n}" for code, n in sorted(report["errors"].items())) or "none"
            route = "given directly (SDK failover)" if direct else "behind nginx"
            print(f"{size} instance(s) {route}: {report['applications_per_s']:,.0f} applications/s, "
                  f"{report['requests_per_s']:,.0f} requests/s, p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms, "
                  f"failed: {errors}; load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
