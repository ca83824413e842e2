"""Cut-offs from the lender's economics, and risk levels fitted on out-of-fold PDs.

Economics (per applicant i with exposure E_i, the amount lent; 1 when no exposure field):
approving earns `margin * E_i` when the loan is repaid and loses `lgd * E_i` when it
defaults. The expected profit per unit of exposure at PD p is `margin - (margin + lgd) * p`,
zero at the break-even PD `p* = margin / (margin + lgd)` (0.1818 at the defaults 0.10 and 0.45).

* `approve_below` (approve when PD < approve_below): the cut-off that maximises the
  **realised** profit on the out-of-fold calibrated PDs with the observed outcomes, over every
  distinct PD of the data (approving the k lowest PDs, for every k; on equal profit, the lower
  cut-off). The number written is the shortest decimal that separates the same applicants.
* With `--target-approval-rate r`: the cut-off whose approval rate is closest to r (ties in PD
  can make it inexact); it wins over profit, and a note says so when it approves applicants
  whose PD is above break-even or gives up more than 1% of the maximum profit.
* `decline_at` (decline when PD >= decline_at): where the expected loss per unit of exposure
  equals one good loan's margin, `margin - (margin + lgd) * p = -margin`, i.e.
  `p = 2 * margin / (margin + lgd) = 2 p*` (rounded to 4 decimals, capped at 1), and never
  below approve_below. So the
  review band [approve_below, decline_at) holds the applicants near break-even: within one
  margin of it, where a reviewer's extra information can change the answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from decimal import Decimal
from typing import Sequence

import numpy as np

from . import columns
from .features import ToolError

DEFAULT_LGD = 0.45        # Basel foundation IRB, senior unsecured claims
DEFAULT_MARGIN = 0.10
RULE = ("approve_below: the cut-off maximising realised profit on out-of-fold calibrated PDs "
        "(approving earns margin*E when good, loses lgd*E when bad); decline_at = 2 * break-even "
        "PD (expected loss per unit exposure equal to one good loan's margin), at least "
        "approve_below")
RULE_TARGET = ("approve_below: the cut-off whose approval rate on the out-of-fold PDs is "
               "closest to the target approval rate; decline_at = 2 * break-even PD, at least "
               "approve_below")
LEVEL_NAMES = {5: ["very_low", "low", "medium", "high", "very_high"],
               4: ["low", "medium", "high", "very_high"],
               3: ["low", "medium", "high"],
               2: ["low", "high"],
               1: ["all"]}


def shortest_between(lo: float, hi: float) -> float:
    """The shortest decimal c with lo < c <= hi (lo < hi)."""
    if not lo < hi:
        raise ValueError("need lo < hi")
    for digits in range(1, 17):
        q = Decimal(1).scaleb(-digits)
        c = (Decimal(repr(lo)) / q).to_integral_value(rounding="ROUND_FLOOR") * q + q
        if float(c) <= hi and float(c) > lo:
            return float(c)
    return hi


def exposure_values(schema: dict, header: Sequence[str], rows: Sequence[Sequence[str]],
                    exposure_field: str | None) -> tuple[np.ndarray, str | None, list[str]]:
    """Exposure per row: `exposure_field`, else the schema field with `"exposure": true`, else 1.

    Returns (exposures, the field used or None, notes). A field that is protected or not
    numeric is an error (exit 2) naming it; missing values take the median exposure (noted); a negative
    exposure, or no positive one, is an error (exit 3).
    """
    name = exposure_field
    source = "--exposure-field"
    if name is None:
        marked = [f["name"] for f in schema.get("fields", []) if f.get("exposure") is True]
        if len(marked) > 1:
            raise ToolError(f"the schema marks {len(marked)} fields \"exposure\": true "
                            f"({', '.join(marked)}); mark one, or pass --exposure-field", code=2)
        name = marked[0] if marked else None
        source = "the schema's \"exposure\" field"
    if name is None:
        return np.ones(len(rows)), None, []
    try:
        f = columns.schema_field(schema, name)
    except ToolError:
        raise ToolError(f"{source} {name!r} is not a field of the schema", code=2) from None
    if f.get("protected") is True:
        raise ToolError(f"{source} {name!r} is a protected field: weighting profit and loss by it "
                        "would make the cut-off depend on a protected attribute; give the amount "
                        "lent", code=2)
    if f.get("type") not in ("number", "integer"):
        raise ToolError(f"{source} {name!r} is a {f.get('type')}, not a number: the exposure "
                        "must be a numeric field (the amount lent)", code=2)
    x = columns.numbers(columns.column(header, rows, name), f)
    notes = []
    if (x < 0).any():
        i = int(np.flatnonzero(x < 0)[0])
        raise ToolError(f"exposure field {name!r}: row {i + 1} has a negative value {x[i]:g}",
                        code=3)
    miss = np.isnan(x)
    if miss.all():
        raise ToolError(f"exposure field {name!r} has no value in any row", code=3)
    if not (x[~miss] > 0).any():
        raise ToolError(f"exposure field {name!r} has no positive value: profit and loss would be "
                        "0 for every cut-off; give the amount lent, or no exposure field", code=3)
    if miss.any():
        x = np.where(miss, float(np.nanmedian(x)), x)
        notes.append(f"exposure field {name!r}: {int(miss.sum())} missing values set to the "
                     f"median {float(np.nanmedian(x)):g}")
    return x, name, notes


@dataclass
class CutoffRow:
    """One row of the cut-off table (approved = PD < pd_cutoff); sums in exposure units."""
    pd_cutoff: float
    approval_rate: float
    bad_rate: float | None
    expected_loss: float
    profit: float

    def as_dict(self) -> dict:
        return {"pd_cutoff": self.pd_cutoff, "approval_rate": self.approval_rate,
                "bad_rate": self.bad_rate, "expected_loss": self.expected_loss,
                "profit": self.profit}


@dataclass
class Cutoffs:
    """The chosen cut-offs, the economics behind them, and the cut-off table."""
    lgd: float
    margin: float
    exposure_field: str | None
    target_approval_rate: float | None
    break_even_pd: float
    approve_below: float
    decline_at: float
    rule: str
    table: list[CutoffRow]
    max_profit: float
    notes: list[str] = dc_field(default_factory=list)

    def as_dict(self) -> dict:
        """The manifest's `cutoffs` object (GOVERNANCE.md)."""
        return {"lgd": self.lgd, "margin": self.margin, "exposure_field": self.exposure_field,
                "target_approval_rate": self.target_approval_rate,
                "break_even_pd": self.break_even_pd, "approve_below": self.approve_below,
                "decline_at": self.decline_at, "rule": self.rule,
                "table": [r.as_dict() for r in self.table]}


def check_economics(lgd: float, margin: float, target: float | None = None) -> None:
    """LGD in (0, 1], margin > 0, target approval rate in (0, 1] (exit 2 naming the flag)."""
    if not (0.0 < lgd <= 1.0):
        raise ToolError(f"--lgd {lgd:g} is outside (0, 1]: the loss given default is a fraction "
                        "of the exposure (0.45 is the Basel foundation-IRB value)", code=2)
    if not margin > 0.0:
        raise ToolError(f"--margin {margin:g} must be above 0 (income on a good loan as a "
                        "fraction of the exposure)", code=2)
    if target is not None and not (0.0 < target <= 1.0):
        raise ToolError(f"--target-approval-rate {target:g} is outside (0, 1]", code=2)


def raise_overflow(lgd: float, margin: float) -> None:
    """The profit is not a finite number: exit 2 naming --margin and --lgd."""
    raise ToolError(f"--margin {margin:g} and --lgd {lgd:g} with these exposures overflow the "
                    "profit (not a finite number): give the margin as a fraction of the "
                    "exposure and the exposures in sensible units", code=2)


def check_profit_finite(exposure: np.ndarray, lgd: float, margin: float) -> None:
    """Before fitting: the largest possible profit or loss must be a finite number (exit 2)."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = max(lgd, margin) * float(np.sum(exposure, dtype=np.float64))
    if not np.isfinite(total):
        raise_overflow(lgd, margin)


def table_row(c: float, pd: np.ndarray, y: np.ndarray, e: np.ndarray, lgd: float,
         margin: float) -> CutoffRow:
    """The cut-off table's row for approving PD < c (exposure e, outcomes y)."""
    a = pd < c
    n = int(a.sum())
    return CutoffRow(pd_cutoff=float(c), approval_rate=float(a.mean()),
                     bad_rate=float(y[a].mean()) if n else None,
                     expected_loss=float(np.sum(pd[a] * lgd * e[a])),
                     profit=float(np.sum(np.where(y[a] == 1, -lgd * e[a], margin * e[a]))))


def choose_cutoffs(pd, y, exposure=None, lgd: float = DEFAULT_LGD,
                   margin: float = DEFAULT_MARGIN, target_approval_rate: float | None = None,
                   exposure_field: str | None = None, table_rows: int = 20) -> Cutoffs:
    """Cut-offs from the lender's economics on out-of-fold calibrated PDs (module docstring)."""
    check_economics(lgd, margin, target_approval_rate)
    pd = np.asarray(pd, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    e = np.ones(len(pd)) if exposure is None else np.asarray(exposure, dtype=np.float64)
    if not (len(pd) == len(y) == len(e)) or len(pd) == 0:
        raise ValueError("PDs, labels and exposures must be non-empty and of one length")
    u = np.unique(pd)                                   # distinct PDs, increasing
    # approving the applicants with PD <= u[k-1] (k = 0..len(u)): cumulative sums by level
    inv = np.searchsorted(u, pd)
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow is reported below
        gain = np.bincount(inv, weights=np.where(y == 1, -lgd * e, margin * e), minlength=len(u))
        profit = np.r_[0.0, np.cumsum(gain)]            # profit[k]: approve the k lowest levels
    if not np.isfinite(profit).all():
        raise_overflow(lgd, margin)
    count = np.bincount(inv, minlength=len(u))
    approved = np.r_[0, np.cumsum(count)] / len(pd)
    # a cut-off for "approve the k lowest levels": shortest decimal in (u[k-1], u[k]]
    def cut(k: int) -> float:
        if k == 0:
            return 0.0 if u[0] > 0 else float(u[0])
        if k == len(u):
            return 1.0 if u[-1] < 1.0 else float(np.nextafter(1.0, 2.0))
        return shortest_between(float(u[k - 1]), float(u[k]))

    best_k = int(np.argmax(profit))                      # first maximum: the lower cut-off
    notes: list[str] = []
    p_star = margin / (margin + lgd)
    if target_approval_rate is None:
        k, rule = best_k, RULE
    else:
        k, rule = int(np.argmin(np.abs(approved - target_approval_rate))), RULE_TARGET
        if abs(approved[k] - target_approval_rate) > 0.01:
            notes.append(f"target approval rate {target_approval_rate:.1%}: the nearest possible "
                         f"on these PDs (ties) is {approved[k]:.1%}")
        if k > 0 and u[k - 1] >= p_star:
            notes.append(f"the target approval rate approves applicants with PD up to "
                         f"{u[k - 1]:.3f}, above the break-even PD {p_star:.3f}: their expected "
                         "profit is negative")
        if profit[k] < profit[best_k] - 0.01 * abs(profit[best_k]):
            notes.append(f"the target approval rate gives a realised profit of {profit[k]:,.2f} "
                         f"against {profit[best_k]:,.2f} at the profit-maximising cut-off "
                         f"{cut(best_k):g} (approval rate {approved[best_k]:.1%})")
    approve_below = min(cut(k), 1.0)
    decline_at = min(1.0, max(approve_below, round(2.0 * p_star, 4)))
    if approved[k] == 0.0:
        notes.append("approve_below approves no applicant on these out-of-fold PDs"
                     + (": no cut-off makes a profit" if target_approval_rate is None else ""))
    if decline_at == approve_below:
        notes.append("approve_below is at or above 2 x break-even PD: there is no review band")

    # table: approval rates 5%, 10%, ... 100% (distinct cut-offs), plus the chosen ones
    ks_ = {int(np.argmin(np.abs(approved - r))) for r in np.linspace(0, 1, table_rows + 1)[1:]}
    cuts = {cut(kk) for kk in ks_} | {approve_below, decline_at, round(p_star, 4)}
    table = [table_row(c, pd, y, e, lgd, margin) for c in sorted(cuts)]
    return Cutoffs(lgd=lgd, margin=margin, exposure_field=exposure_field,
                   target_approval_rate=target_approval_rate, break_even_pd=p_star,
                   approve_below=float(approve_below), decline_at=float(decline_at), rule=rule,
                   table=table, max_profit=float(profit[best_k]), notes=notes)


@dataclass
class RiskLevel:
    """One fitted risk level and its out-of-fold check."""
    name: str
    lower: float
    upper: float
    applicants: int
    defaults: int
    default_rate: float
    mean_pd: float


@dataclass
class RiskLevels:
    """Risk levels whose observed default rates increase strictly, and the check table."""
    levels: list[RiskLevel]
    merged: list[str]

    @property
    def increasing(self) -> bool:
        r = [lv.default_rate for lv in self.levels]
        return all(a < b for a, b in zip(r, r[1:]))

    def policy_levels(self) -> list[dict]:
        """`[{"name", "upper"}, ...]` for the manifest's policy (last upper 1.0)."""
        return [{"name": lv.name, "upper": lv.upper} for lv in self.levels]


def fit_risk_levels(pd, y, n_levels: int = 5) -> RiskLevels:
    """Risk levels on out-of-fold PDs: start from `n_levels` PD quantiles, then merge adjacent
    levels (the pair with the smallest combined size among those that break the order) until
    the observed default rate increases strictly from level to level.

    Level k holds lower_k <= PD < upper_k; uppers are the shortest decimals that separate the
    same applicants; the last upper is 1.0. Names: very_low, low, medium, high, very_high when
    five survive; fewer levels take the names in cutoffs.LEVEL_NAMES.
    """
    pd = np.asarray(pd, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    u = np.unique(pd)
    # candidate boundaries: indices into u where a new level starts
    qs = np.quantile(pd, np.linspace(0, 1, n_levels + 1)[1:-1])
    starts = sorted({int(np.searchsorted(u, q, side="right")) for q in qs} - {0, len(u)})
    merged: list[str] = []

    def stats(bounds):
        edges = [0, *bounds, len(u)]
        out = []
        for a, b in zip(edges, edges[1:]):
            m = (pd >= u[a]) & (pd <= u[b - 1])
            out.append((int(m.sum()), float(y[m].sum())))
        return out

    while True:
        st = stats(starts)
        rates = [d / n for n, d in st]
        bad = [i for i in range(len(rates) - 1) if rates[i] >= rates[i + 1]]
        if not bad:
            break
        i = min(bad, key=lambda i: st[i][0] + st[i + 1][0])
        merged.append(f"levels {i + 1} and {i + 2} merged (default rates {rates[i]:.3f} >= "
                      f"{rates[i + 1]:.3f})")
        del starts[i]
    edges = [0, *starts, len(u)]
    names = LEVEL_NAMES.get(len(edges) - 1) or [f"level_{i + 1}" for i in range(len(edges) - 1)]
    levels = []
    lower = 0.0
    for j, (a, b) in enumerate(zip(edges, edges[1:])):
        upper = 1.0 if b == len(u) else shortest_between(float(u[b - 1]), float(u[b]))
        m = (pd >= u[a]) & (pd <= u[b - 1])
        n, d = int(m.sum()), int(y[m].sum())
        levels.append(RiskLevel(names[j], lower, upper, n, d, d / n, float(pd[m].mean())))
        lower = upper
    return RiskLevels(levels, merged)
