"""What ``loanscore score`` answers for a file, as DataFrames of text, to compare Spark's output with.

:func:`cli_reference` runs the CLI on the file itself. :func:`cli_reference_distinct` runs it on
the file's distinct data rows only and spreads the answers back over every row: ``loanscore
score``'s answer for a row depends on that row alone (README: "a row's result never depends on
the other rows"), so for a resampled file of a million rows drawn from a few thousand this is
the CLI's answer for every row at a few thousandths of the cost (the debug CLI scores about
2,500 rows/s; the whole file would take 7 minutes of a CI run).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd


def _score(loanscore_bin: Path, bundle: Path, csv: Path, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    decisions, rejects = work / f"{csv.stem}.decisions.csv", work / f"{csv.stem}.rejects.csv"
    proc = subprocess.run([str(loanscore_bin), "score", "--bundle", str(bundle), "--input", str(csv),
                           "--output", str(decisions), "--rejects", str(rejects)], capture_output=True, text=True)
    assert proc.returncode == 0, f"loanscore score failed (exit {proc.returncode}):\n{proc.stderr}"
    read = {"dtype": str, "keep_default_na": False}
    return pd.read_csv(decisions, **read), pd.read_csv(rejects, **read)  # type: ignore[call-overload]


def cli_reference(loanscore_bin: Path, bundle: Path, csv: Path, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``loanscore score``'s decisions and rejects for ``csv``, every cell as its text."""
    return _score(loanscore_bin, bundle, csv, work)


def cli_reference_distinct(loanscore_bin: Path, bundle: Path, csv: Path, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same answer as :func:`cli_reference` for a file without an id column and without
    line breaks inside cells, computed from its distinct rows (see the module's docstring)."""
    header, *lines = csv.read_text().splitlines()
    distinct, first, inverse = np.unique(np.asarray(lines, dtype=object), return_index=True, return_inverse=True)
    order = np.argsort(first)                    # distinct rows in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    distinct_csv = work / "distinct.csv"
    distinct_csv.write_text("\n".join([header, *distinct[order].tolist()]) + "\n")
    decisions, rejects = _score(loanscore_bin, bundle, distinct_csv, work)
    row_of = rank[inverse] + 1                   # each input row's row number in distinct.csv

    by_id = decisions.set_index(decisions["id"].astype(np.int64))
    accepted = np.isin(row_of, by_id.index.to_numpy())
    spread = by_id.loc[row_of[accepted]].reset_index(drop=True)
    spread["id"] = (np.flatnonzero(accepted) + 1).astype(str)

    by_row = rejects.set_index(rejects["row"].astype(np.int64))
    refused = by_row.loc[row_of[~accepted]].reset_index(drop=True)
    refused["row"] = (np.flatnonzero(~accepted) + 1).astype(str)
    return spread, refused


def as_text(df: pd.DataFrame) -> pd.DataFrame:
    """A Spark output read back with every cell as ``loanscore score`` writes it (numbers as the
    shortest round-trip text, missing as an empty cell)."""
    out = pd.DataFrame(index=range(len(df)))
    for column in df.columns:
        values = df[column].to_numpy(dtype=object)
        if column in ("pd", "confidence"):
            out[column] = [repr(float(v)) for v in values]
        else:
            out[column] = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
    return out
