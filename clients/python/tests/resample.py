"""Resampled application files for the Spark tests and benchmark (deterministic: a fixed seed).

``python resample.py --data Data/credit_data.csv --rows 1000000 --seed 16 --output apps.csv``
draws rows with replacement from a data set and writes them as CSV with the source's header and
cell text unchanged, so ``loanscore score`` and ``loanscore-spark`` read exactly the same cells.
``--invalid F`` spoils a fraction F of the drawn rows (a number field's cell replaced by text or
by a value outside its range, cycling through the schema's number fields), so the rejects path
and the row numbering around rejected rows are exercised too.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def resample(data: Path, rows: int, seed: int, output: Path, *, schema: Path | None = None,
             invalid: float = 0.0) -> int:
    """Writes `rows` rows drawn from `data` to `output`; returns how many were spoiled."""
    with data.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        source = [",".join(_quote(c) for c in record) for record in reader]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(source), size=rows)
    lines = np.asarray(source, dtype=object)[picks]
    spoiled = 0
    if invalid > 0:
        if schema is None:
            raise ValueError("--invalid needs --schema (the number fields to spoil)")
        fields = json.loads(schema.read_text())["fields"]
        numbers = [(header.index(f["name"]), f) for f in fields
                   if f["type"] in ("number", "integer") and f["name"] in header]
        chosen = np.flatnonzero(rng.random(rows) < invalid)
        for k, i in enumerate(chosen):
            column, field = numbers[k % len(numbers)]
            cells = next(csv.reader([lines[i]]))
            cells[column] = "n/a" if k % 2 == 0 else repr(float(field["range"]["max"]) * 10 + 1)
            lines[i] = ",".join(_quote(c) for c in cells)
        spoiled = len(chosen)
    with output.open("w", newline="") as f:
        f.write(",".join(_quote(c) for c in header) + "\n")
        f.write("\n".join(lines.tolist()) + "\n")
    return spoiled


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--schema", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--invalid", type=float, default=0.0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    spoiled = resample(args.data, args.rows, args.seed, args.output, schema=args.schema, invalid=args.invalid)
    print(f"{args.rows} rows ({spoiled} spoiled) -> {args.output}")


if __name__ == "__main__":
    main()
