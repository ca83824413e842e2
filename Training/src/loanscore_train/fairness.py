"""Fairness analysis of the protected fields, and the `--fairness-gate`.

Groups of a protected field:

* an age-like numeric field (name word `age`, `dob`, `birth`, ...): Regulation B's bands
  `under 25`, `25-61`, `62 and over` (and `missing`);
* a category or boolean: one group per level (and `missing`, and `unseen` when present);
* any other number: quartiles of the field's values (`Q1 (<= a)` ... `Q4 (> c)`).

A category of more than two levels whose every level names exactly one of the words `male` /
`female` (german_credit's
`personal_status_and_sex`: "male : single", "female : divorced/separated/married", ...) is also
analysed as a derived field `sex (from <field>)` with the groups `male` and `female`.

Per group: applicants, observed default rate, approval rate at the chosen cut-off
(approved = PD < approve_below), ROC AUC of the PD within the group (None when the group has
one class), and the adverse impact ratio = the group's approval rate / the approval rate of
the most favoured group of the same field (the highest approval rate among the field's groups
with at least `min_applicants` applicants). A ratio below 0.8 is flagged (the four-fifths
rule of the US Uniform Guidelines, used for credit as a screening test for disparate impact);
groups with fewer than `min_applicants` applicants are shown but never flagged (too few to
judge) and the `missing` group is never flagged (not a protected class).
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Sequence

import numpy as np

from . import columns, metrics
from .features import ToolError
from .protected import is_age_like, protected_fields, value_tokens

FOUR_FIFTHS = 0.8
MIN_APPLICANTS = 30
AGE_BANDS = (("under 25", -np.inf, 25.0), ("25-61", 25.0, 62.0), ("62 and over", 62.0, np.inf))


@dataclass
class Group:
    """One row of the fairness table."""
    field: str
    group: str
    applicants: int
    default_rate: float | None
    approval_rate: float | None
    roc_auc: float | None
    adverse_impact_ratio: float | None
    flagged: bool
    mean_pd: float | None = None

    def as_dict(self) -> dict:
        """The manifest's shape (mean_pd is for the report only)."""
        return {"field": self.field, "group": self.group, "applicants": self.applicants,
                "default_rate": self.default_rate, "approval_rate": self.approval_rate,
                "roc_auc": self.roc_auc, "adverse_impact_ratio": self.adverse_impact_ratio,
                "flagged": self.flagged}


@dataclass
class FairnessTable:
    """The fairness analysis at one cut-off."""
    approve_below: float
    groups: list[Group]
    threshold: float = FOUR_FIFTHS
    min_applicants: int = MIN_APPLICANTS
    notes: list[str] = dc_field(default_factory=list)
    unassessed: list[str] = dc_field(default_factory=list)   # protected fields nothing could flag

    @property
    def passed(self) -> bool:
        return not any(g.flagged for g in self.groups)

    def as_dict(self) -> dict:
        """`{"threshold", "passed", "min_applicants", "approve_below", "groups": [...]}`."""
        return {"threshold": self.threshold, "passed": self.passed,
                "min_applicants": self.min_applicants, "approve_below": self.approve_below,
                "groups": [g.as_dict() for g in self.groups]}


def age_band(values: np.ndarray) -> list[str]:
    """Regulation B's age bands of ages in years ('missing' for NaN)."""
    out = []
    for v in values:
        if np.isnan(v):
            out.append("missing")
            continue
        out.append(next(name for name, lo, hi in AGE_BANDS if lo <= v < hi))
    return out


def _fmt(v: float) -> str:
    return f"{v:g}"


def quartile_groups(values: np.ndarray) -> list[str]:
    """Quartile labels of numbers (fewer groups when quartiles coincide); NaN is 'missing'."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return ["missing"] * len(values)
    edges = list(np.unique(np.quantile(present, [0.25, 0.5, 0.75])))
    labels = []
    for k in range(len(edges) + 1):
        if k == 0:
            labels.append(f"Q1 (<= {_fmt(edges[0])})")
        elif k == len(edges):
            labels.append(f"Q{k + 1} (> {_fmt(edges[-1])})")
        else:
            labels.append(f"Q{k + 1} ({_fmt(edges[k - 1])}, {_fmt(edges[k])}]")
    out = []
    for v in values:
        out.append("missing" if np.isnan(v) else labels[int(np.searchsorted(edges, v, side="left"))])
    return out


def field_groups(field: dict, cells: Sequence[str]) -> list[str]:
    """The group of every row for one protected field (module docstring)."""
    if field.get("type") in ("number", "integer"):
        x = columns.numbers(cells, field)
        return age_band(x) if is_age_like(field) else quartile_groups(x)
    lv = columns.levels(cells, field)
    out = []
    for v, cell in zip(lv.values, cells):
        if v is None:
            out.append("missing" if columns.is_missing(cell, field) else "unseen")
        else:       # a level named like the unflagged groups is still a level, and flaggable
            out.append(f"{v} (level)" if v.strip().casefold() in ("missing", "unseen") else v)
    return out


def sex_from_levels(field: dict) -> dict[str, str] | None:
    """level -> 'male'/'female' when every level names exactly one of the two words."""
    if field.get("type") != "category":
        return None
    mapping = {}
    for level in field.get("levels", []):
        words = value_tokens([level]) & {"male", "female"}
        if len(words) != 1:
            return None
        mapping[level] = words.pop()
    # only when it groups something (levels that are just "male"/"female" need no derived field)
    return mapping if len(set(mapping.values())) == 2 and len(mapping) > 2 else None


def group_rows(field_name: str, groups: Sequence[str], y: np.ndarray, pd: np.ndarray,
               approve_below: float, threshold: float = FOUR_FIFTHS,
               min_applicants: int = MIN_APPLICANTS) -> list[Group]:
    """The table rows of one field: statistics per group, ratios to the most favoured group."""
    g = np.array(groups, dtype=object)
    names = sorted(set(groups), key=lambda s: (s in ("missing", "unseen"), _order_key(s)))
    rows = []
    for name in names:
        m = g == name
        n = int(m.sum())
        yy, pp = y[m], pd[m]
        auc = metrics.roc_auc(yy, pp) if 0 < yy.sum() < n else None
        rows.append(Group(field_name, name, n, float(yy.mean()) if n else None,
                          float(np.mean(pp < approve_below)) if n else None, auc, None, False,
                          float(pp.mean()) if n else None))
    eligible = [r for r in rows if r.applicants >= min_applicants and r.group not in ("missing",
                                                                                      "unseen")]
    ref = max((r.approval_rate for r in (eligible or rows)), default=0.0)
    for r in rows:
        if ref and ref > 0:
            r.adverse_impact_ratio = r.approval_rate / ref
        r.flagged = bool(r.adverse_impact_ratio is not None and r.adverse_impact_ratio < threshold
                         and r.applicants >= min_applicants and r.group not in ("missing", "unseen"))
    return rows


def _order_key(s: str):
    band_order = [b[0] for b in AGE_BANDS]
    if s in band_order:
        return (0, band_order.index(s), "")
    if s.startswith("Q") and s[1:2].isdigit():
        return (1, int(s[1]), "")
    return (2, 0, s)


def fairness_table(schema: dict, header: Sequence[str], rows: Sequence[Sequence[str]],
                   y, pd, approve_below: float, threshold: float = FOUR_FIFTHS,
                   min_applicants: int = MIN_APPLICANTS) -> FairnessTable:
    """The fairness analysis of every protected field of the schema.

    `rows`, `y` and `pd` are aligned (the applicants the analysis is run on, e.g. the training
    part with out-of-fold PDs).
    """
    y = np.asarray(y, dtype=np.float64)
    pd = np.asarray(pd, dtype=np.float64)
    if not (len(rows) == len(y) == len(pd)):
        raise ValueError("rows, labels and PDs differ in length")
    out: list[Group] = []
    notes: list[str] = []
    unassessed: list[str] = []
    for f in protected_fields(schema):
        if f["name"] not in header:
            notes.append(f"{f['name']}: not in the data; not analysed")
            continue
        cells = columns.column(header, rows, f["name"])
        groups = field_groups(f, cells)
        rows_f = group_rows(f["name"], groups, y, pd, approve_below, threshold, min_applicants)
        out += rows_f
        if not any(r.applicants >= min_applicants and r.group not in ("missing", "unseen")
                   for r in rows_f):
            unassessed.append(f["name"])
            notes.append(f"{f['name']}: no group with a value has {min_applicants} applicants "
                         f"({sum(r.applicants for r in rows_f if r.group == 'missing')} missing): "
                         "nothing could be flagged; its fairness is not assessed")
        if is_age_like(f):
            notes.append(f"{f['name']}: grouped in Regulation B's age bands (under 25, 25-61, "
                         "62 and over)")
        sexes = sex_from_levels(f)
        if sexes:
            derived = [sexes.get(gr, gr) for gr in groups]
            name = f"sex (from {f['name']})"
            out += group_rows(name, derived, y, pd, approve_below, threshold, min_applicants)
            notes.append(f"{name}: derived from the levels of {f['name']} "
                         + "; ".join(f"{k!r} -> {v}" for k, v in sexes.items()))
    return FairnessTable(approve_below, out, threshold, min_applicants, notes, unassessed)


def fairness_gate(table: FairnessTable) -> None:
    """Raises ToolError (exit 3) listing every flagged group; returns None when none is."""
    bad = [g for g in table.groups if g.flagged]
    if not bad:
        return
    lines = [f"  {g.field} = {g.group}: approval rate {g.approval_rate:.1%} is "
             f"{g.adverse_impact_ratio:.2f} of the most favoured group's ({g.applicants} applicants)"
             for g in bad]
    raise ToolError("fairness gate failed: adverse impact ratio below "
                    f"{table.threshold:g} (four-fifths rule) at approve_below "
                    f"{table.approve_below:g} for\n" + "\n".join(lines)
                    + "\nReview the features that act as proxies for these groups, the cut-off, "
                    "or run without --fairness-gate to write the bundle and its fairness report "
                    "for review.", code=3)


@dataclass
class BandEffect:
    """One age band (or group) of an allowed protected field: its effect on PD and approval."""
    field: str
    group: str
    applicants: int
    default_rate: float
    mean_pd: float
    approval_rate: float
    mean_pd_without: float | None = None
    approval_rate_without: float | None = None


def protected_effect(field: dict, cells: Sequence[str], y, pd, approve_below: float,
                     pd_without=None) -> list[BandEffect]:
    """For a protected field that is a feature (`--allow-protected`): by group (age bands for
    age), mean PD and approval rate, and the same for a model fitted without the field when
    the caller gives its PDs (`pd_without`)."""
    y = np.asarray(y, dtype=np.float64)
    pd = np.asarray(pd, dtype=np.float64)
    g = np.array(field_groups(field, cells), dtype=object)
    out = []
    for name in sorted(set(g), key=lambda s: (s in ("missing", "unseen"), _order_key(s))):
        m = g == name
        e = BandEffect(field["name"], name, int(m.sum()), float(y[m].mean()), float(pd[m].mean()),
                       float(np.mean(pd[m] < approve_below)))
        if pd_without is not None:
            pw = np.asarray(pd_without, dtype=np.float64)[m]
            e.mean_pd_without, e.approval_rate_without = float(pw.mean()), float(np.mean(pw < approve_below))
        out.append(e)
    return out


def regulation_b_check(effects: list[BandEffect]) -> str:
    """Regulation B (12 CFR 1002.6(b)(2)): an empirically derived system may use age if
    applicants aged 62 or over are not disadvantaged. Says what the figures show."""
    old = [e for e in effects if e.group == "62 and over"]
    if not old:
        return "no applicant aged 62 or over in the analysed data: the check cannot be made"
    e = old[0]
    if e.mean_pd_without is None:
        return ("62 and over: mean PD {:.3f}, approval rate {:.1%}; without a model fitted "
                "without the field the effect of age itself is not measured".format(
                    e.mean_pd, e.approval_rate))
    ok = e.mean_pd <= e.mean_pd_without + 1e-12
    return ("62 and over: mean PD {:.3f} with the field, {:.3f} without; approval rate {:.1%} "
            "with, {:.1%} without: {}".format(
                e.mean_pd, e.mean_pd_without, e.approval_rate, e.approval_rate_without,
                "not disadvantaged" if ok else "DISADVANTAGED by the field (Regulation B)"))
