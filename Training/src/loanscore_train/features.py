"""The feature matrix, computed by LoanScore's Swift CLI (`loanscore features`) only."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[3]


class ToolError(Exception):
    """A failure reported to the user; `code` is the process exit status to use."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _repo_roots() -> list[Path]:
    roots = [REPO_ROOT]
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
        if top.returncode == 0 and top.stdout.strip():
            roots.append(Path(top.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    return list(dict.fromkeys(r.resolve() for r in roots))


def find_binary() -> str:
    """LOANSCORE_BIN, else `loanscore` on PATH, else <repo>/.build/{release,debug}/loanscore."""
    env = os.environ.get("LOANSCORE_BIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise ToolError(f"LOANSCORE_BIN={env} is not an executable file")
        return env
    on_path = shutil.which("loanscore")
    if on_path:
        return on_path
    tried = []
    for root in _repo_roots():
        for config in ("release", "debug"):
            cand = root / ".build" / config / "loanscore"
            tried.append(str(cand))
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
    raise ToolError(
        "the LoanScore CLI `loanscore` was not found (not in LOANSCORE_BIN, not on PATH, not at "
        + ", ".join(tried) + "). Build it with `swift build -c release` in the repository root, "
        "or set LOANSCORE_BIN to its path.")


def run_loanscore(args: list[str], binary: str | None = None) -> subprocess.CompletedProcess:
    binary = binary or find_binary()
    proc = subprocess.run([binary, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        msg = proc.stderr.strip() or f"(no message; exit status {proc.returncode})"
        raise ToolError(f"`loanscore {args[0]}` failed (exit {proc.returncode}):\n{msg}",
                        code=proc.returncode if proc.returncode > 0 else 1)
    return proc


def read_feature_csv(path, n_rows: int | None = None) -> tuple[list[str], np.ndarray]:
    """Parse `loanscore features` output: (feature names, float64 matrix in data-row order)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[0] != "row":
            raise ToolError(f"unexpected features CSV header: {header!r}")
        rows, values = [], []
        for rec in reader:
            if len(rec) != len(header):
                raise ToolError(f"features CSV: line {reader.line_num} has {len(rec)} cells, "
                                f"expected {len(header)}")
            rows.append(int(rec[0]))
            values.append([float(c) if c.strip() != "" else np.nan for c in rec[1:]])
    X = np.array(values, dtype=np.float64).reshape(len(values), len(header) - 1)
    rows = np.array(rows, dtype=np.int64)
    expected = np.arange(1, (n_rows if n_rows is not None else len(rows)) + 1)
    if len(rows) != len(expected) or not np.array_equal(np.sort(rows), expected):
        raise ToolError(f"features CSV: expected rows 1..{len(expected)}, got {len(rows)} rows")
    order = np.argsort(rows, kind="stable")
    return header[1:], X[order]


FLOAT32_MAX = float(np.finfo(np.float32).max)   # XGBoost holds features as float32


def check_finite(names: list[str], X: np.ndarray) -> None:
    """Exit 3 naming the feature and data row when a value is infinite or beyond float32's
    range (XGBoost would fail with an internal error): the schema's range is too wide."""
    with np.errstate(invalid="ignore"):
        bad = np.abs(X) > FLOAT32_MAX
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise ToolError(f"row {i + 1}: feature {names[j]!r} is {X[i, j]:g}, beyond what the "
                        f"models can hold (|x| <= {FLOAT32_MAX:.3g}); narrow the schema's range "
                        "for the field it comes from, or fix the value", code=3)


def _run_features(options: list[str], schema, data, n_rows: int | None, binary: str | None,
                  explain: Callable[[ToolError], ToolError | None] | None = None
                  ) -> tuple[list[str], np.ndarray]:
    """Run `loanscore features [OPTIONS]` on a CSV into a temporary file and read it back:
    (column names after `row`, matrix with one row per data row, in data-row order).
    `explain(error)`, when given, may replace the CLI's failure with a clearer one."""
    command = " ".join(["loanscore features", *options])
    with tempfile.TemporaryDirectory(prefix="loanscore-features-") as tmp:
        out = Path(tmp) / "features.csv"
        try:
            run_loanscore(["features", *options, "--schema", str(schema), "--input", str(data),
                           "--output", str(out)], binary)
        except ToolError as e:
            clearer = explain(e) if explain else None
            if clearer is None:
                raise
            raise clearer from None
        if not out.is_file():
            raise ToolError(f"`{command}` succeeded but wrote no output file")
        return read_feature_csv(out, n_rows)


def compute_features(schema, data, n_rows: int | None = None,
                     binary: str | None = None) -> tuple[list[str], np.ndarray]:
    """Run `loanscore features` on a CSV; returns (feature names, matrix with one row per data
    row); exit 3 when a value is beyond float32's range (`check_finite`)."""
    names, X = _run_features([], schema, data, n_rows, binary)
    check_finite(names, X)
    return names, X


def compute_slots(schema, data, n_rows: int | None = None,
                  binary: str | None = None) -> tuple[list[str], np.ndarray]:
    """Run `loanscore features --slots` on a CSV: the feature pipeline's slot values (every
    schema field's parsed value — the number, 1/0 for a boolean, the level index for a
    category, NaN when missing, a sentinel or an unseen level — then every derived feature).
    Returns (column names, matrix with one row per data row, in data-row order)."""
    binary = binary or find_binary()

    def explain(e: ToolError) -> ToolError | None:
        if "--slots" not in str(e):
            return None
        return ToolError(f"{e}\nthe LoanScore CLI {binary} has no `features --slots` (the "
                         "reference bins of reference.json need it): build a newer one "
                         "with `swift build -c release`, or set LOANSCORE_BIN to one", code=e.code)

    return _run_features(["--slots"], schema, data, n_rows, binary, explain)
