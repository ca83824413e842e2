"""`model_card.md`: the model card a model-risk committee reads before sign-off."""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from .protected import model_fields


_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "|": "\\|",
               "[": "\\[", "]": "\\]", "\n": " ", "\r": " "}


def _md(text: Any) -> str:
    """`text` (a field name, a category level, a note quoting them) as inert Markdown: no raw
    HTML, no link, no code span, no table-cell break, on one line."""
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in str(text))


def _code(name: Any) -> str:
    """`name` as a Markdown code span, whatever backticks or line breaks it holds."""
    text = " ".join(str(name).splitlines())
    fence = "`" * (max((len(t) for t in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _metric(v: Any) -> str:
    if isinstance(v, Mapping) and "mean" in v:
        return f"{v['mean']:.4f} ± {v.get('std', 0.0):.4f}"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _performance(board: Mapping | None) -> list[str]:
    if not board or "ensemble" not in board:
        return ["No leaderboard was recorded."]
    e = board["ensemble"]
    lines = []
    if "roc_auc" in e and isinstance(e["roc_auc"], Mapping):       # evaluate --json shape
        lines.append("Nested cross-validation (`loanscore-train evaluate`): "
                     + ", ".join(f"{k} {_metric(e[k])}" for k in
                                 ("roc_auc", "brier", "log_loss", "ks") if k in e) + ".")
    if "holdout" in e:                                              # train leaderboard shape
        h = e["holdout"]
        lines.append("Holdout (ensemble, calibrated PD): "
                     + ", ".join(f"{k} {h[k]:.4f}" for k in ("roc_auc", "gini", "ks", "brier",
                                                             "log_loss") if k in h) + ".")
    if "cv_roc_auc" in e:
        lines.append(f"Cross-validated ROC AUC on the training part: {e['cv_roc_auc']:.4f} ± "
                     f"{e.get('cv_roc_auc_std', 0.0):.4f}.")
    for m in board.get("members", []):
        if "roc_auc" in m and isinstance(m["roc_auc"], Mapping):
            lines.append(f"- member {_md(m.get('name'))}: ROC AUC {_metric(m['roc_auc'])}")
        elif "holdout" in m:
            lines.append(f"- member {_md(m.get('name'))}: holdout ROC AUC {m['holdout']['roc_auc']:.4f}")
    return lines


def render(*, model_name: str, schema: Mapping, data_rows: int, default_rate: float,
           leaderboard: Mapping | None, cutoffs: Any, risk_levels: Any, fairness: Any,
           allowed_protected: Sequence[str] = (), allowed_leakage: Sequence[str] = (),
           lineage: Mapping | None = None, notes: Sequence[str] = ()) -> str:
    """The model card as Markdown."""
    target = schema.get("target", {})
    fields = schema.get("fields", [])
    protected = [f["name"] for f in fields if f.get("protected")]
    features = [f["name"] for f in model_fields(dict(schema), allowed_protected)]
    L: list[str] = [f"# Model card: {_md(model_name)}", ""]
    L += ["## Intended use", "",
          f"Estimates the probability of default (PD) of a loan applicant from the application "
          f"fields below, to approve, refer for review or decline applications of the kind in the "
          f"training data ({_md((schema.get('description') or schema.get('name', '')).rstrip('.'))}). "
          "Decisions: approve when PD < approve_below, decline when PD >= decline_at, review "
          "between. Each decision carries up to four adverse-action reasons.",
          "",
          "Not for: applicants or products unlike the training data, pricing beyond the margin "
          "and LGD given below, decisions without a person able to review the referred band, "
          "or any use of the protected attributes to treat applicants differently.", ""]
    L += ["## Data", "",
          f"- {data_rows:,} applications, observed default rate {default_rate:.1%} "
          f"(target {_code(target.get('column'))}, positive label {_code(target.get('positive'))}).",
          f"- Input fields used by the model: {', '.join(_code(n) for n in features) or 'none'}.",
          f"- Derived features: {', '.join(_code(d['name']) for d in schema.get('derived', [])) or 'none'}.",
          f"- Protected fields (not model features, kept for the fairness analysis): "
          f"{', '.join(_code(n) for n in protected if n not in allowed_protected) or 'none'}."]
    leaked = [n for n in protected if n in features and n not in allowed_protected]
    if leaked:
        L.append(f"- **Warning**: protected field(s) {', '.join(_code(n) for n in leaked)} reach "
                 "the model (an explicit `\"feature\": true` or a derived feature uses them).")
    if allowed_protected:
        L.append(f"- Protected fields used as features by explicit permission "
                 f"(`--allow-protected`): {', '.join(_code(n) for n in allowed_protected)}.")
    if allowed_leakage:
        L.append(f"- Fields that failed the leakage check but were allowed (`--allow-leakage`): "
                 f"{', '.join(_code(n) for n in allowed_leakage)}.")
    if lineage:
        td = lineage.get("training_data", {})
        L.append(f"- Training data file {_code(td.get('file'))} sha256 `{td.get('sha256')}`; code commit "
                 f"{_code(lineage.get('code_commit'))}; seed {lineage.get('seed')}.")
    L += ["", "## Performance", "", *_performance(leaderboard), "",
          "Figures, calibration, gains and the PD distribution are in `report.html`.", ""]
    L += ["## Decision policy", ""]
    if cutoffs is not None:
        exp = _code(cutoffs.exposure_field) if cutoffs.exposure_field else "constant 1"
        L += [f"- Economics: LGD {cutoffs.lgd:g}, margin {cutoffs.margin:g}, exposure {exp}; "
              f"break-even PD {cutoffs.break_even_pd:.4f}.",
              f"- approve_below **{cutoffs.approve_below:g}**, decline_at "
              f"**{cutoffs.decline_at:g}** ({cutoffs.rule}).",
              *[f"- Note: {_md(n)}" for n in cutoffs.notes]]
        row = next((r for r in cutoffs.table if r.pd_cutoff == cutoffs.approve_below), None)
        if row:
            bad = f"{row.bad_rate:.1%}" if row.bad_rate is not None else "– (none approved)"
            L.append(f"- At approve_below, out of fold: approval rate {row.approval_rate:.1%}, bad "
                     f"rate among approved {bad}, realised profit {row.profit:,.2f}.")
    if risk_levels is not None:
        L.append("- Risk levels: " + ", ".join(f"{lv.name} < {lv.upper:g} (observed "
                                                f"{lv.default_rate:.1%})" for lv in risk_levels.levels)
                 + (" — observed default rates increase strictly." if risk_levels.increasing
                    else " — observed default rates do NOT increase strictly."))
    L += ["", "## Fairness", ""]
    if fairness is None or not fairness.groups:
        L.append("No protected field is marked in the schema; no fairness analysis was possible.")
    else:
        L.append(f"Adverse impact ratios at approve_below {fairness.approve_below:g} (four-fifths "
                 f"rule, threshold {fairness.threshold:g}): "
                 + ("none below the threshold." if fairness.passed else "**some below the "
                    "threshold**:"))
        L += ["", "| field | group | applicants | default rate | approval rate | AIR | flagged |",
              "|---|---|---:|---:|---:|---:|---|"]
        for g in fairness.groups:
            air = f"{g.adverse_impact_ratio:.2f}" if g.adverse_impact_ratio is not None else "–"
            L.append(f"| {_md(g.field)} | {_md(g.group)} | {g.applicants} | {g.default_rate:.1%} | "
                     f"{g.approval_rate:.1%} | {air} | {'**yes**' if g.flagged else ''} |")
        L += [""] + [f"- {_md(n)}" for n in fairness.notes]
    L += ["", "## Limitations", "",
          "- Trained and validated on one historical sample; the PDs are out-of-fold estimates on "
          "that sample and hold only while applicants and the economy resemble it. Monitor "
          "drift (PSI) and outcomes after deployment.",
          "- Reject inference was not performed: the data hold only applicants who were granted "
          "a loan, so PDs for applicants unlike them are extrapolations.",
          "- The four-fifths rule is a screening test, not proof of fairness or unfairness; "
          "fields correlated with protected attributes can still act as proxies.",
          "- Realised profit uses the given margin and LGD as constants per unit of exposure.",
          *[f"- {_md(n)}" for n in notes], ""]
    L += ["## Approvals still needed", "",
          "- [ ] Model owner: intended use and data are right for the product.",
          "- [ ] Independent model validation: performance, calibration, stability (report.html).",
          "- [ ] Fair lending / compliance: fairness table, proxies, adverse-action reason texts "
          "(ECOA / Regulation B), use of any protected field.",
          "- [ ] Credit risk: cut-offs, LGD and margin, review capacity for the review band.",
          "- [ ] Model risk committee sign-off, with the monitoring plan.", ""]
    return "\n".join(L)
