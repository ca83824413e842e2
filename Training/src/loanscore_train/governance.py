"""Governance for `loanscore-train train`: one entry point per step of the recipe.

    add_governance_options(train_parser)                  # the options, validated by argparse
    check_before_fit(schema, header, rows, y, args)       # protected/derived, exposure, leakage
    ... the recipe: out-of-fold calibrated PDs on the training part, holdout PDs ...
    gov = analyse(schema, header, rows, y, pd_oof, train_index, args,
                  pd_holdout=..., holdout_index=...)      # cut-offs, risk levels, fairness (+gate)
    policy_obj = policy(gov)                              # manifest "policy"
    files = write_documents(tmp_bundle_dir, gov, leaderboard, lineage, model_name=...)
    manifest.update(manifest_additions(gov))              # manifest "fairness", "cutoffs"

The rules and the JSON shapes are in Training/GOVERNANCE.md.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import columns, cutoffs as cutoffs_mod, data_quality, fairness as fairness_mod
from . import leakage, model_card, report
from .features import ToolError
from .protected import check_allowed, is_age_like, protected_fields

REPORT_FILE = "report.html"
MODEL_CARD_FILE = "model_card.md"


# ---- options ------------------------------------------------------------------------------

def _number_in(accept, problem: str):
    """An argparse type: a float for which `accept(v)` holds, else `"<s> <problem>"` (exit 2,
    argparse names the option)."""
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
        if not (np.isfinite(v) and accept(v)):
            raise argparse.ArgumentTypeError(f"{s} {problem}")
        return v
    return parse


_lgd = _number_in(lambda v: 0.0 < v <= 1.0, "is outside (0, 1]: the loss given default is a "
                  "fraction of the exposure (0.45: Basel foundation IRB)")
_positive = _number_in(lambda v: v > 0.0, "must be above 0")
_rate = _number_in(lambda v: 0.0 < v <= 1.0, "is outside (0, 1]")


def add_allow_protected_option(parser) -> None:
    """--allow-protected FIELD (repeatable), shared by `train` and `evaluate` so both measure
    and train the same model."""
    parser.add_argument("--allow-protected", action="append", default=[], metavar="FIELD",
                        help="let this protected field be a model feature (repeatable; e.g. age "
                             "where Regulation B allows it); train's report shows its effect "
                             "by age band")


def add_governance_options(parser: argparse.ArgumentParser) -> None:
    """Adds --lgd, --margin, --exposure-field, --target-approval-rate, --fairness-gate,
    --allow-protected FIELD and --allow-leakage FIELD (both repeatable) to a train parser.

    Invalid values exit 2 through argparse, naming the option (e.g. `--lgd 1.5`).
    """
    g = parser.add_argument_group("governance (Training/GOVERNANCE.md)")
    g.add_argument("--lgd", type=_lgd, default=cutoffs_mod.DEFAULT_LGD, metavar="FRACTION",
                   help="loss given default, a fraction of the exposure in (0, 1]; the Basel "
                        "foundation-IRB value by default")
    g.add_argument("--margin", type=_positive, default=cutoffs_mod.DEFAULT_MARGIN,
                   metavar="FRACTION",
                   help="income on a good loan as a fraction of the exposure")
    g.add_argument("--exposure-field", metavar="FIELD", default=None,
                   help="numeric field with each applicant's exposure (default: the schema field "
                        "marked \"exposure\": true, else 1 per applicant)")
    g.add_argument("--target-approval-rate", type=_rate, default=None, metavar="RATE",
                   help="choose approve_below for this approval rate instead of maximum profit")
    g.add_argument("--fairness-gate", action="store_true",
                   help="fail (exit 3) when a protected group's adverse impact ratio is below 0.8")
    add_allow_protected_option(g)
    g.add_argument("--allow-leakage", action="append", default=[], metavar="FIELD",
                   help="train although this field fails the label-leakage check (repeatable)")


def _opt(args: Any, name: str, default: Any = None) -> Any:
    return getattr(args, name, default) if args is not None else default


# ---- before fitting -----------------------------------------------------------------------

def check_before_fit(schema: dict, raw_header: Sequence[str], raw_rows: Sequence[Sequence[str]],
                     y, args: Any) -> None:
    """Refuses, before any fitting: an --allow-protected name that is not a protected field
    (exit 2), a derived feature using a protected field (exit 2), an exposure field that is not
    numeric (exit 2), label leakage (exit 3)."""
    allow_p = list(_opt(args, "allow_protected", []) or [])
    check_allowed(schema, allow_p)
    for name in _opt(args, "allow_leakage", []) or []:
        if name not in {f["name"] for f in schema.get("fields", [])}:
            raise ToolError(f"--allow-leakage {name}: the schema has no field {name!r}", code=2)
    exposure, _, _ = cutoffs_mod.exposure_values(schema, raw_header, raw_rows,
                                                  _opt(args, "exposure_field"))
    cutoffs_mod.check_profit_finite(exposure, _opt(args, "lgd", cutoffs_mod.DEFAULT_LGD),
                                    _opt(args, "margin", cutoffs_mod.DEFAULT_MARGIN))
    leakage.check_leakage(schema, raw_header, raw_rows, y, _opt(args, "allow_leakage", []) or [],
                          allow_p)


# ---- after the recipe ---------------------------------------------------------------------

@dataclass
class Governance:
    """Everything the governance step decided and measured."""
    schema: dict
    cutoffs: cutoffs_mod.Cutoffs
    risk_levels: cutoffs_mod.RiskLevels
    fairness: fairness_mod.FairnessTable
    protected_effects: list = dc_field(default_factory=list)
    regulation_b: list[str] = dc_field(default_factory=list)
    data_quality: list[dict] = dc_field(default_factory=list)
    allowed_protected: list[str] = dc_field(default_factory=list)
    allowed_leakage: list[str] = dc_field(default_factory=list)
    y_oof: np.ndarray | None = None
    pd_oof: np.ndarray | None = None
    y_holdout: np.ndarray | None = None
    pd_holdout: np.ndarray | None = None
    data_rows: int = 0
    default_rate: float = 0.0
    notes: list[str] = dc_field(default_factory=list)


def analyse(schema: dict, raw_header: Sequence[str], raw_rows: Sequence[Sequence[str]], y,
            pd_oof, train_index, args: Any, *, pd_holdout=None, holdout_index=None,
            pd_oof_without: Mapping[str, Any] | None = None) -> Governance:
    """Cut-offs, risk levels and the fairness analysis on the training part's out-of-fold
    calibrated PDs (`pd_oof[i]` is the PD of row `train_index[i]` of `raw_rows`/`y`).

    Reads from `args`: lgd, margin, exposure_field, target_approval_rate, fairness_gate,
    allow_protected, allow_leakage (absent attributes take their defaults). When
    `args.approve_below` / `args.decline_at` are numbers (not None) they override the chosen
    cut-offs (noted in the report). `pd_holdout` with `holdout_index` are used for the report's
    curves. `pd_oof_without` maps an allowed protected field to out-of-fold PDs of a model
    fitted without it (optional; shown beside the PDs with it). With --fairness-gate a flagged
    group raises ToolError (exit 3) after the analysis.
    """
    y = np.asarray(y)
    ti = np.asarray(train_index, dtype=np.int64)
    pd_oof = np.asarray(pd_oof, dtype=np.float64)
    if len(ti) != len(pd_oof):
        raise ValueError("train_index and pd_oof differ in length")
    rows_tr = [raw_rows[i] for i in ti]
    y_tr = y[ti].astype(np.float64)
    exposure, exp_field, exp_notes = cutoffs_mod.exposure_values(
        schema, raw_header, rows_tr, _opt(args, "exposure_field"))
    c = cutoffs_mod.choose_cutoffs(
        pd_oof, y_tr, exposure, lgd=_opt(args, "lgd", cutoffs_mod.DEFAULT_LGD),
        margin=_opt(args, "margin", cutoffs_mod.DEFAULT_MARGIN),
        target_approval_rate=_opt(args, "target_approval_rate"), exposure_field=exp_field)
    c.notes[:0] = exp_notes
    ab, da = _opt(args, "approve_below"), _opt(args, "decline_at")
    if ab is not None or da is not None:
        new_ab = float(ab) if ab is not None else c.approve_below
        new_da = float(da) if da is not None else max(c.decline_at, new_ab)
        if not 0.0 <= new_ab <= new_da <= 1.0:
            given = "--approve-below" if ab is not None else "approve_below from the economics"
            raise ToolError(f"--decline-at {new_da:g} is below {given} ({new_ab:g}): cut-offs must "
                            "satisfy approve_below <= decline_at; give a higher --decline-at, or "
                            "--approve-below too", 2)
        c.notes.append(f"cut-offs set by hand (--approve-below {new_ab:g}, --decline-at "
                       f"{new_da:g}) instead of the economics' {c.approve_below:g} / "
                       f"{c.decline_at:g}")
        c.approve_below, c.decline_at, c.rule = new_ab, new_da, "set by hand on the command line"
        c.table = sorted({r.pd_cutoff: r for r in c.table + [
            cutoffs_mod.table_row(v, pd_oof, y_tr, exposure, c.lgd, c.margin) for v in (new_ab, new_da)]
        }.values(), key=lambda r: r.pd_cutoff)
    rl = cutoffs_mod.fit_risk_levels(pd_oof, y_tr)
    ft = fairness_mod.fairness_table(schema, raw_header, rows_tr, y_tr, pd_oof, c.approve_below)
    allowed = list(_opt(args, "allow_protected", []) or [])
    effects, regb = [], []
    for f in protected_fields(schema):
        if f["name"] in allowed and f["name"] in raw_header:
            without = (pd_oof_without or {}).get(f["name"])
            e = fairness_mod.protected_effect(f, columns.column(raw_header, rows_tr, f["name"]),
                                              y_tr, pd_oof, c.approve_below, without)
            effects += e
            if is_age_like(f):
                regb.append(f"{f['name']}: " + fairness_mod.regulation_b_check(e))
    gov = Governance(
        schema=schema, cutoffs=c, risk_levels=rl, fairness=ft, protected_effects=effects,
        regulation_b=regb, data_quality=data_quality.summarise(schema, raw_header, raw_rows),
        allowed_protected=allowed, allowed_leakage=list(_opt(args, "allow_leakage", []) or []),
        y_oof=y_tr, pd_oof=pd_oof, data_rows=len(raw_rows), default_rate=float(np.mean(y)))
    if pd_holdout is not None and holdout_index is not None:
        gov.y_holdout = y[np.asarray(holdout_index, dtype=np.int64)].astype(np.float64)
        gov.pd_holdout = np.asarray(pd_holdout, dtype=np.float64)
    if _opt(args, "fairness_gate", False):
        fairness_mod.fairness_gate(ft)
    return gov


def policy(gov: Governance) -> dict:
    """The manifest's `policy`: `{"approve_below", "decline_at", "risk_levels": [{"name",
    "upper"}, ...]}` (uppers strictly increasing, the last 1.0)."""
    return {"approve_below": gov.cutoffs.approve_below, "decline_at": gov.cutoffs.decline_at,
            "risk_levels": gov.risk_levels.policy_levels()}


def manifest_additions(gov: Governance) -> dict:
    """`{"fairness": {...}, "cutoffs": {...}}` for manifest.json (shapes in GOVERNANCE.md)."""
    return {"fairness": gov.fairness.as_dict(), "cutoffs": gov.cutoffs.as_dict()}


def write_documents(bundle_dir, gov: Governance, leaderboard: Mapping | None,
                    lineage: Mapping | None, *, model_name: str,
                    feature_importance: Mapping[str, float] | None = None,
                    monotonicity: Sequence[Mapping] | None = None,
                    resampling: Sequence[Mapping] | None = None) -> list[str]:
    """Writes `report.html` and `model_card.md` into `bundle_dir`; returns their paths relative
    to it (to be listed and hashed in the manifest's `files`)."""
    bundle_dir = Path(bundle_dir)
    curves = ((gov.y_holdout, gov.pd_holdout, "holdout") if gov.pd_holdout is not None
              else (gov.y_oof, gov.pd_oof, "out-of-fold (training part)"))
    notes = list(gov.notes)
    report.write_report(bundle_dir / REPORT_FILE, report.ReportInputs(
        model_name=model_name, y=curves[0], pd=curves[1], curves_on=curves[2],
        leaderboard=leaderboard, cutoffs=gov.cutoffs, risk_levels=gov.risk_levels,
        fairness=gov.fairness, protected_effects=gov.protected_effects,
        regulation_b=gov.regulation_b, feature_importance=feature_importance,
        monotonicity=monotonicity, resampling=resampling, data_quality=gov.data_quality,
        lineage=lineage, notes=notes))
    card = model_card.render(
        model_name=model_name, schema=gov.schema, data_rows=gov.data_rows,
        default_rate=gov.default_rate, leaderboard=leaderboard, cutoffs=gov.cutoffs,
        risk_levels=gov.risk_levels, fairness=gov.fairness,
        allowed_protected=gov.allowed_protected, allowed_leakage=gov.allowed_leakage,
        lineage=lineage, notes=notes)
    (bundle_dir / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
    return [REPORT_FILE, MODEL_CARD_FILE]
