#!/usr/bin/env python3
"""LocalScorer's throughput (applications/s) on one and on several threads, beside `loanscore bench`.

    clients/python/.venv/bin/python Bench/python-local.py --bundle B --input Data/credit_data.csv \
        [--rows 200000] [--batch 10000] [--threads 2] [--library L] [--loanscore BIN]

The applications are the file's valid rows resampled as `loanscore bench` resamples them (row i
takes valid application (i * 7919) mod count), as a pandas DataFrame with pandas' own dtypes.
A LocalScorer call (`score_frame`, in batches of --batch rows) is timed whole: encoding the
columns with numpy, validation, features, the ensemble, reasons, and building the decisions
DataFrame. Threads share one scorer (the GIL is released while the library scores). Then
`loanscore bench` runs once on the same bundle and file with --rows, --threads 1 and --threads N.
One run each; on a shared machine, compare runs made side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from loanscore import LocalScorer

REPO = Path(__file__).resolve().parents[1]


def resampled(scorer: LocalScorer, source: Path, rows: int) -> pd.DataFrame:
    frame = pd.read_csv(source)
    valid = scorer.score_frame(frame, rejects="keep").rejects["row"].to_numpy() - 1
    pool = np.setdiff1d(np.arange(len(frame)), valid)
    picks = pool[(np.arange(rows, dtype=np.int64) * 7919) % len(pool)]
    return frame.iloc[picks].reset_index(drop=True)


def rate(scorer: LocalScorer, frame: pd.DataFrame, batch: int, threads: int) -> tuple[float, float]:
    """(applications/s, process CPU µs per application) of score_frame over `frame` in batches."""
    chunks = [frame.iloc[start:start + batch] for start in range(0, len(frame), batch)]
    scorer.score_frame(chunks[0])  # warm up
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        scored = sum(len(result) for result in pool.map(scorer.score_frame, chunks))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert scored == len(frame)
    return len(frame) / elapsed, cpu * 1e6 / len(frame)


def cli_bench(loanscore: Path, bundle: Path, source: Path, rows: int, threads: int) -> tuple[float, float]:
    proc = subprocess.run([str(loanscore), "bench", "--bundle", str(bundle), "--input", str(source), "--rows", str(rows),
                           "--threads", str(threads), "--json"], capture_output=True, text=True, check=True)
    figures = json.loads(proc.stdout)
    return float(figures["applications_per_s"]), float(figures["cpu_us_per_application"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--input", type=Path, default=REPO / "Data/credit_data.csv")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--library", type=Path, default=None, help="default: $LOANSCORE_LIBRARY, else the packaged one")
    parser.add_argument("--loanscore", type=Path, default=Path(os.environ.get("LOANSCORE_BIN", REPO / ".build/release/loanscore")))
    args = parser.parse_args()
    scorer = LocalScorer(args.bundle, library=args.library)
    frame = resampled(scorer, args.input, args.rows)
    print(f"library: {scorer.library_version} ({scorer._lib.path})")
    print(f"{args.rows} applications from {args.input.name}, batches of {args.batch}")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = [("LocalScorer.score_frame", 1, rate(scorer, frame, args.batch, 1)),
            ("LocalScorer.score_frame", args.threads, rate(scorer, frame, args.batch, args.threads)),
            ("loanscore bench", 1, cli_bench(args.loanscore, args.bundle, args.input, args.rows, 1)),
            ("loanscore bench", args.threads, cli_bench(args.loanscore, args.bundle, args.input, args.rows, args.threads))]
    for name, threads, (per_second, cpu_us) in rows:
        print(f"{name:24} {threads} thread(s): {per_second:10,.0f} applications/s, {cpu_us:6.2f} CPU µs/application")
    print(f"(loanscore bench: {args.loanscore}; load average after: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
