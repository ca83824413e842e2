"""Raw CSV columns read the way the schema reads them (SCHEMA.md, "Rules"), for governance.

Only what the governance analyses need: a column's cells as numbers (NaN when missing, a
sentinel or not a number) or as category levels (the schema's spelling; None when missing;
unseen levels kept apart). The model's features still come from `loanscore features` only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .features import ToolError

MISSING = None


def _trim(s: str) -> str:
    return s.strip(" \t")


def column(header: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> list[str]:
    """The raw cells of column `name` (an absent cell is "")."""
    if name not in header:
        raise ToolError(f"the data has no column {name!r}", code=3)
    j = list(header).index(name)
    return [r[j] if j < len(r) else "" for r in rows]


def is_missing(cell: str, field: dict) -> bool:
    """Empty after trimming, or one of the field's sentinels."""
    c = _trim(cell)
    return c == "" or c in {_trim(str(s)) for s in field.get("sentinels", [])}


def numbers(cells: Sequence[str], field: dict) -> np.ndarray:
    """Cells as float64; NaN for missing, sentinel, or not a finite number."""
    sentinels = {_trim(str(s)) for s in field.get("sentinels", [])}
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        c = _trim(cell)
        if c == "" or c in sentinels or c.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
            continue
        try:
            v = float(c)
        except ValueError:
            continue
        if math.isfinite(v):
            out[i] = v
    return out


@dataclass
class Levels:
    """A category or boolean column: the level of each row (None when missing or unseen)."""
    values: list[str | None]
    unseen: dict[str, int]


def levels(cells: Sequence[str], field: dict) -> Levels:
    """Category cells matched to `levels` (trimmed, case-folded), booleans to "true"/"false"."""
    if field.get("type") == "boolean":
        t = {str(v).strip().casefold() for v in field.get("true_labels", ["yes", "true", "1"])}
        f = {str(v).strip().casefold() for v in field.get("false_labels", ["no", "false", "0"])}
        mapping = {**{k: "false" for k in f}, **{k: "true" for k in t}}
    else:
        mapping = {str(v).strip(" \t").casefold(): str(v) for v in field.get("levels", [])}
    out: list[str | None] = []
    unseen: dict[str, int] = {}
    for cell in cells:
        if is_missing(cell, field):
            out.append(None)
            continue
        key = _trim(cell).casefold()
        if key in mapping:
            out.append(mapping[key])
        else:
            unseen[_trim(cell)] = unseen.get(_trim(cell), 0) + 1
            out.append(None)
    return Levels(out, unseen)


def schema_field(schema: dict, name: str) -> dict:
    """The schema's field called `name` (ToolError exit 2 when there is none)."""
    for f in schema.get("fields", []):
        if f["name"] == name:
            return f
    raise ToolError(f"the schema has no field {name!r}", code=2)
