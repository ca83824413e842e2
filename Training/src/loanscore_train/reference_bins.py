"""The bundle's reference distributions for drift monitoring: `reference.json`
(Sources/LoanScoreModel/BUNDLE.md, "reference.json").

Every schema field and derived feature is binned on its *slot* values — what LoanScore's
feature pipeline parsed, as `loanscore features --slots` writes them (`features.compute_slots`),
never re-parsed here — over the rows the members were fitted on; the PD is binned on the final
bundle's calibrated PDs of the holdout. Numbers get decile edges, categories their levels,
booleans false/true, and every entry a separate missing bin.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .features import ToolError

FORMAT = "loanscore-reference/1"
FILE = "reference.json"
# The probabilities of the decile edges: exactly k/10 (the doubles nearest to 0.1, …, 0.9).
QUANTILES = np.arange(1, 10) / 10


def decile_edges(values: np.ndarray) -> list[float]:
    """The distinct values of `numpy.quantile(values, QUANTILES)` (its default, linear method)
    over the non-missing (non-NaN) values: 0 to 9 strictly increasing finite numbers, `[]`
    when every value is missing. -0.0 is written as 0.0."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    edges = [float(e) + 0.0 for e in np.unique(np.quantile(present, QUANTILES))]
    if not all(np.isfinite(edges)):          # interpolating between values near ±1.8e308
        raise ToolError(f"reference bins: decile edges {edges!r} are not all finite")
    return edges


def number_bins(edges: Sequence[float], values: np.ndarray) -> np.ndarray:
    """The bin of every value: the number of edges strictly less than it
    (`numpy.searchsorted(edges, x, side="left")`), so bins are (-inf, e1], (e1, e2], …,
    (e_n, +inf) and a value equal to an edge falls in the lower bin; NaN (missing) gets
    `len(edges) + 1`, the missing bin, which comes last."""
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.where(np.isnan(values), len(edges) + 1, bins)


def _shares(bins: np.ndarray, n_bins: int, total: int) -> tuple[list[float], float]:
    """Shares of bins 0 … n_bins − 1 and of the missing bin (index n_bins) among `total`
    rows."""
    counts = np.bincount(bins.astype(np.int64), minlength=n_bins + 1)
    shares = [float(c) / total for c in counts]
    return shares[:n_bins], shares[n_bins]


def _check_values(name: str, values: np.ndarray) -> None:
    """Refuses values the reference cannot hold: none at all, or an infinity (the feature
    pipeline writes a value that is not finite as missing, so this is a broken CLI)."""
    if values.size == 0:
        raise ToolError(f"reference bins of {name!r}: no rows to count")
    if np.isinf(values).any():
        row = int(np.nonzero(np.isinf(values))[0][0]) + 1
        raise ToolError(f"reference bins of {name!r}: value {values[row - 1]} in row {row} of "
                        "the rows binned is not finite")


def number_entry(name: str, source: str, values: np.ndarray) -> dict[str, Any]:
    """The entry of a numeric field, derived feature or the PD: decile `edges`, one share per
    bin (`len(edges) + 1`), the `missing` share, and the non-missing `min`/`max` (None, written
    `null`, when every value is missing: then `edges` is [] and `shares` is [0.0])."""
    values = np.asarray(values, dtype=np.float64)
    _check_values(name, values)
    edges = decile_edges(values)
    shares, missing = _shares(number_bins(edges, values), len(edges) + 1, values.size)
    present = values[~np.isnan(values)]
    low = float(present.min()) + 0.0 if present.size else None
    high = float(present.max()) + 0.0 if present.size else None
    return {"name": name, "source": source, "type": "number", "edges": edges, "shares": shares,
            "missing": missing, "min": low, "max": high}


def _index_bins(name: str, values: np.ndarray, n_levels: int) -> np.ndarray:
    """Slot values that are level indices (0 … n_levels − 1) or NaN as bins, NaN as the
    missing bin `n_levels`; anything else is a broken `features --slots` output."""
    missing = np.isnan(values)
    present = values[~missing]
    bad = (present != np.floor(present)) | (present < 0) | (present >= n_levels)
    if bad.any():
        raise ToolError(f"reference bins of {name!r}: slot value {present[bad][0]!r} is not one "
                        f"of the {n_levels} level indices 0 … {n_levels - 1}")
    return np.where(missing, n_levels, np.nan_to_num(values, nan=0.0)).astype(np.int64)


def category_entry(name: str, levels: Sequence[str], values: np.ndarray) -> dict[str, Any]:
    """The entry of a category field: the schema's `levels` in schema order, the share of each
    (bin = level index; 0.0 for a level absent from the rows) and the `missing` share
    (missing, sentinel or unseen level)."""
    values = np.asarray(values, dtype=np.float64)
    _check_values(name, values)
    shares, missing = _shares(_index_bins(name, values, len(levels)), len(levels), values.size)
    return {"name": name, "source": "input", "type": "category", "levels": list(levels),
            "shares": shares, "missing": missing}


def boolean_entry(name: str, values: np.ndarray) -> dict[str, Any]:
    """The entry of a boolean field: shares of [false, true] (slots 0 and 1) and `missing`."""
    values = np.asarray(values, dtype=np.float64)
    _check_values(name, values)
    shares, missing = _shares(_index_bins(name, values, 2), 2, values.size)
    return {"name": name, "source": "input", "type": "boolean", "shares": shares,
            "missing": missing}


def check_names(schema: dict) -> None:
    """Refuses a schema with a field or derived feature named `pd`: reference.json names the
    PD's own entry `pd`, and LoanScore refuses a bundle where another entry shares it (drift
    reports and metric labels would mix the two). Called before any fitting.

    Raises:
        ToolError: naming the field, with exit code 3 (invalid data).
    """
    for name in expected_slot_names(schema):
        if name == "pd":
            raise ToolError("schema: a field or derived feature is named 'pd', the name reference.json and the "
                            "drift reports keep for the PD itself; rename it (for example 'pd_input')", code=3)


def expected_slot_names(schema: dict) -> list[str]:
    """The columns `loanscore features --slots` writes after `row`: every schema field, in
    schema order, then every derived feature, in declaration order."""
    return ([f["name"] for f in schema.get("fields", [])]
            + [d["name"] for d in schema.get("derived", [])])


def build_reference(schema: dict, slot_names: Sequence[str], slots: np.ndarray,
                    pd_holdout: np.ndarray, approve_below: float) -> dict[str, Any]:
    """The whole `reference.json` object.

    `slots`: one row per training row the members were fitted on, one column per
    `slot_names` (which must be `expected_slot_names(schema)`); `pd_holdout`: the final
    bundle's calibrated PDs of the holdout; `approve_below`: the policy's cut-off
    (`approval_rate` is the share of holdout PDs strictly below it, as the policy approves).
    """
    expected = expected_slot_names(schema)
    if list(slot_names) != expected:
        raise ToolError("`loanscore features --slots` wrote the columns "
                        f"{list(slot_names)!r}, expected every schema field then every derived "
                        f"feature: {expected!r}")
    slots = np.asarray(slots, dtype=np.float64).reshape(-1, len(expected))
    pd_holdout = np.asarray(pd_holdout, dtype=np.float64)
    if np.isnan(pd_holdout).any():
        raise ToolError("reference bins of the PD: a holdout PD is not a number")
    entries: list[dict[str, Any]] = []
    for j, field in enumerate(schema.get("fields", [])):
        column = slots[:, j]
        kind = field.get("type")
        if kind == "category":
            entries.append(category_entry(field["name"], field.get("levels", []), column))
        elif kind == "boolean":
            entries.append(boolean_entry(field["name"], column))
        elif kind in ("number", "integer"):
            entries.append(number_entry(field["name"], "input", column))
        else:
            raise ToolError(f"reference bins: field {field['name']!r} has type {kind!r}, not "
                            "number, integer, category or boolean")
    offset = len(schema.get("fields", []))
    for k, derived in enumerate(schema.get("derived", [])):
        entries.append(number_entry(derived["name"], "derived", slots[:, offset + k]))
    entries.append(number_entry("pd", "pd", pd_holdout))
    return {"format": FORMAT, "rows": int(slots.shape[0]), "pd_rows": int(pd_holdout.size),
            "approval_rate": float(np.mean(pd_holdout < approve_below)), "fields": entries}


def dumps(reference: dict[str, Any]) -> str:
    """The file's text: JSON (numbers in Python's shortest round-trip `repr`, NaN and infinity
    refused), the top-level keys on their own lines and one line per field entry."""
    head = {k: v for k, v in reference.items() if k != "fields"}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, allow_nan=False, ensure_ascii=False)},"
             for k, v in head.items()]
    fields = [f"    {json.dumps(e, allow_nan=False, ensure_ascii=False)}"
              for e in reference["fields"]]
    return "{\n" + "\n".join(lines) + '\n  "fields": [\n' + ",\n".join(fields) + "\n  ]\n}\n"


def write_reference(path: Path | str, reference: dict[str, Any]) -> None:
    """Writes `reference` as `dumps` lays it out (UTF-8)."""
    Path(path).write_text(dumps(reference), encoding="utf-8")
