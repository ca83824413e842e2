"""Data-quality summary of the raw training CSV against its schema (for the report)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import columns


def summarise(schema: dict, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[dict]:
    """Per schema field: `{"field", "type", "rows", "missing_rate", "sentinel_rate",
    "invalid", "out_of_range", "unseen_levels"}`.

    missing_rate: empty cells; sentinel_rate: cells equal to one of the field's sentinels;
    invalid: cells that are not a number in a numeric field; out_of_range: numbers outside
    `range`; unseen_levels: {text: count} of category texts not among `levels`.
    """
    out = []
    n = len(rows)
    for f in schema.get("fields", []):
        name = f["name"]
        entry = {"field": name, "type": f.get("type"), "rows": n, "missing_rate": None,
                 "sentinel_rate": None, "invalid": 0, "out_of_range": 0, "unseen_levels": {},
                 "protected": bool(f.get("protected"))}
        if name not in header:
            entry["missing_rate"] = 1.0
            out.append(entry)
            continue
        cells = columns.column(header, rows, name)
        trimmed = [c.strip(" \t") for c in cells]
        sentinels = {str(s).strip(" \t") for s in f.get("sentinels", [])}
        empty = sum(1 for c in trimmed if c == "")
        sent = sum(1 for c in trimmed if c != "" and c in sentinels)
        entry["missing_rate"] = empty / n if n else 0.0
        entry["sentinel_rate"] = sent / n if n else 0.0
        if f.get("type") in ("number", "integer"):
            x = columns.numbers(cells, f)
            present = [c for c in trimmed if c != "" and c not in sentinels]
            entry["invalid"] = int(len(present) - np.sum(~np.isnan(x)))
            r = f.get("range") or {}
            v = x[~np.isnan(x)]
            bad = np.zeros(len(v), dtype=bool)
            if "min" in r:
                bad |= v < float(r["min"])
            if "max" in r:
                bad |= v > float(r["max"])
            entry["out_of_range"] = int(bad.sum())
        else:
            lv = columns.levels(cells, f)
            entry["unseen_levels"] = dict(sorted(lv.unseen.items(), key=lambda kv: -kv[1]))
        out.append(entry)
    return out
