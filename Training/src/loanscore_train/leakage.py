"""Label leakage: a field that alone predicts the label almost perfectly, or is known only after
the loan was made, stops training (exit 3) unless `--allow-leakage FIELD`.

Univariate ROC AUC of a field (folded: max(AUC, 1 - AUC), so a field that predicts "good"
counts as much as one that predicts "bad"), the largest of:

* numbers, as they are, with missing values (empty cells and sentinels) placed below every
  value, and again above every value (a field that is missing exactly when the loan went bad
  is leakage too);
* every field (numbers binned into up to 20 quantile bins, categories and booleans by level,
  missing and unseen values as a level of their own), each row scored by the default rate of
  its level computed **out of fold** (5 folds, seeded), so that a field with one level per row
  (an identifier) does not look predictive by itself.

Fields checked: those that reach the model (features, and inputs of derived features); a
protected field that is not a feature is not checked. Fields marked `"post_origination": true`
are refused whatever their AUC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from . import columns, metrics
from .features import ToolError
from .protected import model_fields

AUC_LIMIT = 0.95
N_BINS = 20
N_FOLDS = 5


@dataclass
class LeakageFinding:
    """One field that failed the check: its folded univariate AUC and why it was flagged."""
    field: str
    roc_auc: float | None
    reason: str


def _folded(auc: float) -> float:
    return max(auc, 1.0 - auc)


def numeric_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Folded AUC of the values as they are; missing (NaN) placed at either end, the better kept."""
    present = ~np.isnan(x)
    if present.sum() == 0:
        return 0.5
    lo, hi = np.nanmin(x), np.nanmax(x)
    best = 0.5
    for fill in (lo - 1.0, hi + 1.0):
        best = max(best, _folded(metrics.roc_auc(y, np.where(present, x, fill))))
    return best


def level_codes_numeric(x: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Quantile-bin codes of numbers (0..k-1), missing as code -1."""
    codes = np.full(len(x), -1, dtype=np.int64)
    present = ~np.isnan(x)
    if present.any():
        edges = np.unique(np.quantile(x[present], np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes[present] = np.searchsorted(edges, x[present], side="right")
    return codes


def out_of_fold_rate_auc(codes: np.ndarray, y: np.ndarray, seed: int = 0,
                         n_folds: int = N_FOLDS) -> float:
    """Folded AUC of each row's level default rate, estimated on the other folds.

    A level unseen in the other folds gets the other folds' overall default rate.
    """
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):                                   # stratified assignment
        idx = np.flatnonzero(y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % n_folds
    _, inv = np.unique(codes, return_inverse=True)
    score = np.empty(len(y))
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        n = np.bincount(inv[tr], minlength=inv.max() + 1).astype(float)
        bad = np.bincount(inv[tr], weights=y[tr], minlength=inv.max() + 1)
        base = y[tr].mean()
        rate = np.where(n > 0, bad / np.maximum(n, 1), base)
        score[te] = rate[inv[te]]
    return _folded(metrics.roc_auc(y, score))


def field_auc(field: dict, cells: Sequence[str], y: np.ndarray) -> float:
    """The field's univariate folded ROC AUC (module docstring)."""
    if field.get("type") in ("number", "integer"):
        x = columns.numbers(cells, field)
        return max(numeric_auc(x, y), out_of_fold_rate_auc(level_codes_numeric(x), y))
    lv = columns.levels(cells, field)
    keys = [v if v is not None else "\x00missing" for v in lv.values]
    # unseen levels: each its own level (they are missing to the model, but may still leak)
    for i, cell in enumerate(cells):
        if lv.values[i] is None and not columns.is_missing(cell, field):
            keys[i] = "\x00unseen:" + cell.strip(" \t").casefold()
    _, codes = np.unique(np.array(keys, dtype=object).astype(str), return_inverse=True)
    return out_of_fold_rate_auc(codes, y)


def find_leakage(schema: dict, header: Sequence[str], rows: Sequence[Sequence[str]], y,
                 allow: Iterable[str] = (), allow_protected: Iterable[str] = (),
                 limit: float = AUC_LIMIT) -> list[LeakageFinding]:
    """The fields that fail the check (allowed ones left out), in schema order."""
    y = np.asarray(y, dtype=np.float64)
    allowed = set(allow)
    found = []
    for f in model_fields(schema, allow_protected):
        name = f["name"]
        if name in allowed:
            continue
        if f.get("post_origination") is True:
            found.append(LeakageFinding(name, None, "is marked \"post_origination\": true (known "
                                        "only after the loan is made, so not at scoring time)"))
            continue
        if name not in header:
            continue                      # `loanscore features` names a missing column itself
        auc = field_auc(f, columns.column(header, rows, name), y)
        if auc >= limit:
            found.append(LeakageFinding(name, auc, f"alone predicts the label with ROC AUC "
                                        f"{auc:.3f} (>= {limit:g})"))
    return found


def check_leakage(schema: dict, header: Sequence[str], rows: Sequence[Sequence[str]], y,
                  allow: Iterable[str] = (), allow_protected: Iterable[str] = ()) -> None:
    """Raises ToolError (exit 3) naming every leaking field and what to do; else returns None."""
    found = find_leakage(schema, header, rows, y, allow, allow_protected)
    if not found:
        return
    target = (schema.get("target") or {}).get("column", "the label")
    lines = [f"label leakage: field {x.field!r} {x.reason}" for x in found]
    raise ToolError(
        "\n".join(lines) + f"\nA field like this usually records what happened after the "
        f"decision (or is {target} in disguise), and a model using it fails on new applicants. "
        "Remove it from the data or the schema (or give it \"feature\": false), or, if it is "
        "truly known when the applicant applies, pass --allow-leakage "
        + " --allow-leakage ".join(x.field for x in found) + ".", code=3)
