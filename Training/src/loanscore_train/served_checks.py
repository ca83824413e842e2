"""Checks run on a written bundle through LoanScore's own CLI, for the report.

Both run the served engine, not a Python re-implementation: `loanscore bundle verify --json`
(parity with the libraries and the schema's monotone fields on the holdout) and
`loanscore score --bundle B --contributions` (each field's contribution to the PD, the
attribution the reason codes rank).
"""
from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .features import ToolError, run_loanscore


def verify(bundle_dir: Path, binary: str | None = None) -> dict[str, Any]:
    """`loanscore bundle verify --json` on `bundle_dir`: the parsed JSON object.

    Raises:
        ToolError: (exit 3) when the bundle does not reproduce the libraries' predictions or
            the PD moves against a declared monotone direction, with LoanScore's findings.
    """
    try:
        proc = run_loanscore(["bundle", "verify", str(bundle_dir), "--json"], binary)
    except ToolError as e:
        raise ToolError(f"the written bundle failed `loanscore bundle verify`:\n{e}", code=3) from None
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ToolError("`loanscore bundle verify --json` printed no JSON object") from None


def monotonicity_rows(verified: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per monotone field for the report: field, direction, applications, grid values,
    violations (empty when the schema declares none)."""
    return [{"field": m["field"], "direction": m["direction"], "applications": m["applications"],
             "grid values": len(m.get("values", [])), "violations": m["violations"]}
            for m in verified.get("monotone", [])]


def feature_importance(bundle_dir: Path, holdout_csv: Path,
                       binary: str | None = None) -> dict[str, float]:
    """Mean absolute contribution to the PD per input field over `holdout_csv`, scored by
    `loanscore score --contributions` (probability units before calibration), largest first.
    Fields that feed no feature (protected ones, say) are left out."""
    with tempfile.TemporaryDirectory(prefix="loanscore-contrib-") as tmp:
        out = Path(tmp) / "scores.csv"
        run_loanscore(["score", "--bundle", str(bundle_dir), "--input", str(holdout_csv),
                       "--output", str(out), "--contributions"], binary)
        with open(out, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            cols = [(j, h[len("contribution_"):]) for j, h in enumerate(header)
                    if h.startswith("contribution_")]
            values = np.array([[float(r[j]) for j, _ in cols] for r in reader], dtype=np.float64)
    if values.size == 0:
        return {}
    mean_abs = np.mean(np.abs(values), axis=0)
    ranked = sorted(((name, float(v)) for (_, name), v in zip(cols, mean_abs) if v > 0),
                    key=lambda kv: -kv[1])
    return dict(ranked)

