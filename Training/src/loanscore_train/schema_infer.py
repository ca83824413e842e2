"""`loanscore-train infer-schema`: a draft schema (loanscore-schema/1) from a CSV."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd

from .features import ToolError
from .protected import protected_reason

TRUE_WORDS, FALSE_WORDS = {"yes", "true"}, {"no", "false"}


def _trim(s: str) -> str:
    return s.strip(" \t")


def _number(s: str):
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) and s.strip().lower() not in ("nan", "inf", "infinity") else None


def _json_num(v: float):
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def infer_field(name: str, values: list[str]) -> dict:
    cells = [_trim(v) for v in values]
    present = [c for c in cells if c != ""]
    nullable = len(present) < len(cells)
    field = {"name": name}
    numbers = [_number(c) for c in present]
    if all(v is not None for v in numbers):
        whole = all(v.is_integer() for v in numbers)
        field["type"] = "integer" if (whole and numbers) else "number"
        field.update(unit="", description="")
        if numbers:
            lo, hi = min(numbers), max(numbers)
            field["range"] = {"min": 0 if lo >= 0 else _json_num(lo),
                              "max": _json_num(10 * hi if hi > 0 else (1 if hi == 0 else 0))}
        field["nullable"] = nullable
    else:
        levels = {}
        for c in present:
            levels.setdefault(c.casefold(), c)          # first appearance, case-folded once
        keys = list(levels)
        if len(keys) == 2 and set(keys) & TRUE_WORDS and set(keys) & FALSE_WORDS:
            t = next(k for k in keys if k in TRUE_WORDS)
            f = next(k for k in keys if k in FALSE_WORDS)
            field.update(type="boolean", unit="", description="", true_labels=[t],
                         false_labels=[f], nullable=nullable)
        else:
            field.update(type="category", unit="", description="", levels=list(levels.values()),
                         unseen="missing", nullable=nullable)
    reason = protected_reason(name, list(field.get("levels", [])) if field["type"] == "category" else [])
    if reason:
        field["protected"] = True
    field["reason"] = f"{name} raised the risk"
    return field


def protected_notes(schema: dict) -> list[str]:
    """One line per field marked protected, with the reason (for standard error)."""
    notes = []
    for f in schema["fields"]:
        if f.get("protected"):
            levels = f.get("levels", []) if f["type"] == "category" else []
            notes.append(f"{f['name']}: marked \"protected\": true because "
                         f"{protected_reason(f['name'], levels)}; it will not be a model feature "
                         f"(unless training is given --allow-protected {f['name']}) and is kept "
                         "for the fairness analysis. Remove the key if this is wrong.")
    return notes


def check_header(data) -> None:
    """Exit 3 naming the column when the header has an empty or a repeated name: pandas would
    rename it (`Unnamed: 3`, `a.1`) and the draft would name columns the CSV does not have."""
    with open(data, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None) or []
    if not header:
        raise ToolError(f"--data {data}: empty file", code=3)
    seen: set[str] = set()
    for i, name in enumerate(header):
        if name.strip() == "":
            raise ToolError(f"{data}: column {i + 1} of the header has no name; name it (or "
                            "remove the column) before drafting a schema", code=3)
        if name in seen:
            raise ToolError(f"{data}: column {name!r} appears twice in the header; rename one "
                            "before drafting a schema", code=3)
        seen.add(name)


def infer_schema(data, target: str, positive: str) -> dict:
    try:
        check_header(data)
        df = pd.read_csv(data, dtype=str, keep_default_na=False, na_filter=False,
                         encoding="utf-8-sig")
    except OSError as e:
        raise ToolError(f"--data {data}: cannot read it: {e.strerror or e}", code=3) from None
    except UnicodeDecodeError as e:
        raise ToolError(f"--data {data}: not UTF-8 text (byte {e.start}: {e.reason}); save it "
                        "as UTF-8", code=3) from None
    except (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ToolError(f"--data {data}: not a readable CSV: {e}", code=3) from None
    if target not in df.columns:
        raise ToolError(f"{data}: no column {target!r} (columns: {', '.join(df.columns)})", code=3)
    labels = list(dict.fromkeys(_trim(v).casefold() for v in df[target]))
    pos = _trim(positive).casefold()
    if pos not in labels:
        raise ToolError(f"{data}: positive label {positive!r} not found in {target} "
                        f"(labels: {', '.join(labels)})", code=3)
    others = [v for v in labels if v != pos]
    if len(others) != 1:
        raise ToolError(f"{data}: {target} must have exactly two labels; found "
                        f"{', '.join(repr(v) for v in labels)}", code=3)
    return {
        "format": "loanscore-schema/1",
        "name": Path(data).stem,
        "description": f"Drafted by loanscore-train infer-schema from {Path(data).name}; review "
                       "types, ranges, units and reason texts.",
        "id_column": None,
        "target": {"column": target, "positive": pos, "negative": others[0]},
        "fields": [infer_field(c, df[c].tolist()) for c in df.columns if c != target],
        "derived": [],
    }


def run(args) -> int:
    schema = infer_schema(args.data, args.target, args.positive)
    Path(args.output).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    n = len(schema["fields"])
    print(f"wrote {args.output}: {n} fields, target {args.target} "
          f"(positive {schema['target']['positive']!r}, negative {schema['target']['negative']!r})",
          file=__import__("sys").stderr)
    for note in protected_notes(schema):
        print(f"infer-schema: {note}", file=__import__("sys").stderr)
    return 0
