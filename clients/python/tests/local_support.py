"""Helpers of the LocalScorer and C API tests: data with NaNs and rejects, the CLI as the reference."""
from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

from conftest import DATA

# Cells changed in each data set: (0-based data row, column, new text). Empty cells in nullable
# fields (NaN in a DataFrame), text in a number column, out of range, an unseen level, an empty
# required cell.
EDITS: dict[str, list[tuple[int, str, str]]] = {
    "credit_data": [
        (0, "Income", ""), (1, "Assets", ""), (2, "Home", ""), (3, "Expenses", "abc"), (4, "Seniority", "-3"),
        (5, "Home", "castle"), (6, "Amount", ""), (7, "Debt", "99999999"), (8, "Job", ""), (9, "Price", "1e3"),
        (10, "Records", "maybe"),
    ],
    "german_credit": [
        (0, "credit_amount", "lots"), (1, "purpose", "spaceship"), (2, "duration_in_month", "-1"),
        (3, "telephone", ""), (4, "age_in_years", ""), (5, "job", "astronaut"), (6, "credit_amount", "1.5e3"),
    ],
}


def edited_copy(name: str, directory: Path) -> Path:
    """Data/<name>.csv with :data:`EDITS` applied, written with the csv module (quoted as needed)."""
    with open(DATA / f"{name}.csv", newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    header = rows[0]
    for row, column, text in EDITS[name]:
        rows[row + 1][header.index(column)] = text
    path = directory / f"{name}-edited.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out, lineterminator="\n").writerows(rows)
    return path


def cli_score(loanscore_bin: Path, bundle: Path, source: Path, directory: Path) -> tuple[Path, Path]:
    """``loanscore score --bundle --input --output --rejects``: the two files it wrote."""
    output, rejects = directory / f"{source.stem}.cli.csv", directory / f"{source.stem}.cli-rejects.csv"
    proc = subprocess.run([str(loanscore_bin), "score", "--bundle", str(bundle), "--input", str(source), "--output", str(output),
                           "--rejects", str(rejects)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return output, rejects


def tampered_copy(bundle: Path, directory: Path) -> Path:
    """A copy of ``bundle`` whose first member file no longer has its manifest's sha256."""
    copy = directory / "tampered"
    shutil.copytree(bundle, copy)
    member = sorted((copy / "members").iterdir())[0]
    member.write_bytes(member.read_bytes() + b" ")
    return copy


def cli_refusal(loanscore_bin: Path, bundle: Path, directory: Path) -> str:
    """The CLI's message for a refused bundle, without its ``error: `` prefix."""
    source = directory / "one.csv"
    source.write_text("x\n1\n")
    proc = subprocess.run([str(loanscore_bin), "score", "--bundle", str(bundle), "--input", str(source),
                           "--output", str(directory / "never.csv")], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    line = proc.stderr.strip().splitlines()[0]
    assert line.startswith("error: "), line
    return line.removeprefix("error: ")
