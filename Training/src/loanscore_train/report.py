"""`report.html`: one self-contained validation report (inline SVG figures, no scripts, no
external requests), written into the bundle for the model-risk review."""
from __future__ import annotations

import datetime as dt
import html
import io
import re
from dataclasses import dataclass, field as dc_field
from typing import Any, Mapping, Sequence

import numpy as np

from . import metrics

GOOD_COLOUR, BAD_COLOUR, LINE_COLOUR = "#2b7bba", "#d1495b", "#444444"


@dataclass
class ReportInputs:
    """Everything the report shows; each part may be absent (then it says so)."""
    model_name: str
    y: np.ndarray | None = None                 # outcomes of the PDs the curves are drawn on
    pd: np.ndarray | None = None
    curves_on: str = "holdout"                  # what y/pd are ("holdout", "out-of-fold")
    leaderboard: Mapping | None = None
    cutoffs: Any = None                         # cutoffs.Cutoffs
    risk_levels: Any = None                     # cutoffs.RiskLevels
    fairness: Any = None                        # fairness.FairnessTable
    protected_effects: Sequence = ()            # fairness.BandEffect rows
    regulation_b: Sequence[str] = ()
    feature_importance: Mapping[str, float] | None = None
    monotonicity: Sequence[Mapping] | None = None
    resampling: Sequence[Mapping] | None = None  # the same recipe with and without resampling
    data_quality: Sequence[Mapping] | None = None
    lineage: Mapping | None = None
    notes: Sequence[str] = dc_field(default_factory=list)


# ---- figures ------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False,
                         "axes.spines.right": False, "font.family": "sans-serif"})
    return plt


def svg(fig, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog; ids unique per figure)."""
    plt = _plt()
    plt.rcParams["svg.hashsalt"] = salt
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)   # RDF namespaces, not needed
    # make ids unique across figures of one page
    s = re.sub(r'id="([^"]+)"', lambda m: f'id="{salt}-{m.group(1)}"', s)
    s = re.sub(r'(url\(#|xlink:href="#|href="#)([^)"]+)', lambda m: f"{m.group(1)}{salt}-{m.group(2)}", s)
    return s


def roc_ks_figure(y: np.ndarray, pd: np.ndarray) -> str:
    from sklearn.metrics import roc_curve
    plt = _plt()
    fpr, tpr, _ = roc_curve(y, pd)
    auc = metrics.roc_auc(y, pd)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(fpr, tpr, color=BAD_COLOUR, lw=2, label=f"model (AUC {auc:.3f}, Gini {2 * auc - 1:.3f})")
    a.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1, label="random")
    a.set(xlabel="false positive rate (goods declined)", ylabel="true positive rate (bads caught)",
          title="ROC curve", xlim=(0, 1), ylim=(0, 1.01))
    a.legend(loc="lower right", frameon=False)
    grid = np.linspace(0, 1, 201)
    cb = np.array([np.mean(pd[y == 1] <= t) for t in grid])
    cg = np.array([np.mean(pd[y == 0] <= t) for t in grid])
    k = int(np.argmax(cg - cb))
    b.plot(grid, cg, color=GOOD_COLOUR, lw=2, label="goods")
    b.plot(grid, cb, color=BAD_COLOUR, lw=2, label="bads")
    b.vlines(grid[k], cb[k], cg[k], color=LINE_COLOUR, lw=1.5, ls=":")
    b.annotate(f"KS {metrics.ks(y, pd):.3f}\nat PD {grid[k]:.2f}", (grid[k], (cb[k] + cg[k]) / 2),
               xytext=(8, 0), textcoords="offset points", va="center")
    b.set(xlabel="PD", ylabel="cumulative share", title="KS: cumulative PD by outcome",
          xlim=(0, max(0.05, float(np.quantile(pd, 0.995)))), ylim=(0, 1.01))
    b.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    return svg(fig, "roc")


def calibration_bins(y: np.ndarray, pd: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Equal-count bins of PD: mean PD, observed default rate, applicants."""
    order = np.argsort(pd, kind="mergesort")
    out = []
    for idx in np.array_split(order, min(n_bins, len(pd))):
        if len(idx):
            out.append({"mean_pd": float(pd[idx].mean()), "default_rate": float(y[idx].mean()),
                        "applicants": int(len(idx))})
    return out


def calibration_figure(y: np.ndarray, pd: np.ndarray) -> str:
    plt = _plt()
    bins = calibration_bins(y, pd)
    fig, a = plt.subplots(figsize=(4.6, 4.0))
    top = max(max(b["mean_pd"] for b in bins), max(b["default_rate"] for b in bins)) * 1.1
    a.plot([0, top], [0, top], ls="--", color="#999999", lw=1, label="perfect calibration")
    a.plot([b["mean_pd"] for b in bins], [b["default_rate"] for b in bins], "o-", color=BAD_COLOUR,
           lw=2, label="model (10 equal-count bins)")
    a.set(xlabel="mean PD in bin", ylabel="observed default rate", title="Calibration (reliability)",
          xlim=(0, top), ylim=(0, top))
    a.legend(loc="upper left", frameon=False)
    fig.tight_layout()
    return svg(fig, "cal")


def gains_table(y: np.ndarray, pd: np.ndarray, n: int = 10) -> list[dict]:
    """Deciles by PD (highest first): share of bads captured and lift."""
    order = np.argsort(-pd, kind="mergesort")
    base = y.mean()
    out, cum = [], 0.0
    for i, idx in enumerate(np.array_split(order, n), start=1):
        cum += y[idx].sum()
        out.append({"decile": i, "applicants": int(len(idx)), "bad_rate": float(y[idx].mean()),
                    "cumulative_bads_captured": float(cum / y.sum()),
                    "lift": float(y[idx].mean() / base) if base > 0 else None})
    return out


def gains_figure(y: np.ndarray, pd: np.ndarray) -> str:
    plt = _plt()
    order = np.argsort(-pd, kind="mergesort")
    share = np.r_[0, np.arange(1, len(y) + 1) / len(y)]
    captured = np.r_[0, np.cumsum(y[order]) / y.sum()]
    g = gains_table(y, pd)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(share, captured, color=BAD_COLOUR, lw=2, label="model")
    a.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1, label="random")
    a.set(xlabel="share of applicants (highest PD first)", ylabel="share of bads captured",
          title="Cumulative gains", xlim=(0, 1), ylim=(0, 1.01))
    a.legend(loc="lower right", frameon=False)
    b.bar([r["decile"] for r in g], [r["lift"] for r in g], color=BAD_COLOUR, alpha=0.85)
    b.axhline(1.0, ls="--", color="#999999", lw=1)
    b.set(xlabel="PD decile (1 = highest PD)", ylabel="lift (bad rate / overall)",
          title="Lift by decile", xticks=range(1, 11))
    fig.tight_layout()
    return svg(fig, "gains")


def pd_distribution_figure(y: np.ndarray, pd: np.ndarray, cutoffs=None) -> str:
    plt = _plt()
    fig, a = plt.subplots(figsize=(9, 3.4))
    top = float(np.quantile(pd, 0.995))
    bins = np.linspace(0, max(top, 0.05), 41)
    for cls, colour, name in ((0, GOOD_COLOUR, "good"), (1, BAD_COLOUR, "bad")):
        v = np.clip(pd[y == cls], 0, bins[-1])
        a.hist(v, bins=bins, weights=np.full(len(v), 1.0 / max(len(v), 1)), alpha=0.6,
               color=colour, label=f"{name} ({len(v):,})")
    if cutoffs is not None:
        for x, lab in ((cutoffs.approve_below, "approve below"), (cutoffs.decline_at, "decline at")):
            if x <= bins[-1]:
                a.axvline(x, color=LINE_COLOUR, ls=":", lw=1.5)
                a.annotate(f"{lab} {x:g}", (x, a.get_ylim()[1] * 0.95), xytext=(4, 0),
                           textcoords="offset points", va="top", fontsize=9)
    a.set(xlabel="PD", ylabel="share of the outcome's applicants",
          title="PD distribution by outcome")
    a.legend(loc="upper right", frameon=False)
    fig.tight_layout()
    return svg(fig, "pddist")


def importance_figure(importance: Mapping[str, float], top: int = 20) -> str:
    plt = _plt()
    items = sorted(importance.items(), key=lambda kv: -kv[1])[:top][::-1]
    fig, a = plt.subplots(figsize=(8, 0.3 * len(items) + 1.0))
    a.barh([k for k, _ in items], [v for _, v in items], color=GOOD_COLOUR)
    a.set(xlabel="mean absolute contribution to PD", title="Feature importance (input fields)")
    fig.tight_layout()
    return svg(fig, "imp")


# ---- html ---------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1.5em;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
th,td{border:1px solid #d6d6d6;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.chosen td{background:#fff6d6;font-weight:600}tr.flag td{background:#fde2e4}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
.muted{color:#666;font-size:.9em}nav a{margin-right:1em}
figure{margin:.5em 0 1.5em}svg{max-width:100%;height:auto}
code{background:#f3f3f3;padding:0 .25em}
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt(v: Any, kind: str = "num") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)) and kind != "pct":
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if kind == "pct":
            return f"{v:.1%}"
        if kind == "money":
            return f"{v:,.2f}"
        if kind == "pd":
            return f"{v:.4g}"
        return f"{v:.4f}"
    return esc(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1,
          row_classes: Sequence[str] | None = None) -> str:
    """An HTML table; cells are already-escaped HTML; the first `left` columns left-aligned."""
    h = "".join(f'<th class="{"l" if i < left else ""}">{esc(c)}</th>' for i, c in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>'
                                          for i, c in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric_cell(v: Any) -> str:
    if isinstance(v, Mapping) and "mean" in v:
        return f"{v['mean']:.4f} ± {v.get('std', 0.0):.4f}"
    if isinstance(v, (float, int)):
        return f"{v:.4f}"
    return esc(v)


def leaderboard_html(board: Mapping | None) -> str:
    """The `evaluate --json` leaderboard (mean ± std per metric) or the train leaderboard."""
    if not board:
        return "<p class='muted'>No leaderboard was given.</p>"
    entries = [(m.get("name", "?"), m) for m in board.get("members", [])]
    if "ensemble" in board:
        entries.append(("ensemble", board["ensemble"]))

    def flat(e: Mapping, prefix: str = "") -> dict:
        out = {}
        for k, v in e.items():
            if k == "name":
                continue
            if isinstance(v, Mapping) and "mean" not in v:
                out.update(flat(v, f"{prefix}{k} "))
            else:
                out[f"{prefix}{k}"] = v
        return out

    flats = [(n, flat(e)) for n, e in entries]
    keys = list(dict.fromkeys(k for _, f in flats for k in f))
    rows = [[esc(n), *(_metric_cell(f[k]) if k in f else "–" for k in keys)] for n, f in flats]
    extra = ", ".join(f"{k} {esc(board[k])}" for k in ("folds", "repeats", "seconds") if k in board)
    return table(["model", *keys], rows, row_classes=["chosen" if n == "ensemble" else ""
                                                      for n, _ in flats]) + \
        (f"<p class='muted'>{extra}</p>" if extra else "")


def cutoffs_html(c) -> str:
    if c is None:
        return "<p class='muted'>No cut-offs.</p>"
    exp = f"field <code>{esc(c.exposure_field)}</code>" if c.exposure_field else "constant 1 per applicant"
    head = (f"<p>LGD <b>{c.lgd:g}</b>, margin <b>{c.margin:g}</b>, exposure: {exp}"
            + (f", target approval rate <b>{c.target_approval_rate:.1%}</b>"
               if c.target_approval_rate is not None else "")
            + f". Break-even PD = margin / (margin + LGD) = <b>{c.break_even_pd:.4f}</b>.</p>"
            f"<p><b>approve</b> when PD &lt; <b>{c.approve_below:g}</b>; <b>review</b> when "
            f"{c.approve_below:g} ≤ PD &lt; {c.decline_at:g}; <b>decline</b> when PD ≥ "
            f"<b>{c.decline_at:g}</b>.</p><p class='muted'>Rule: {esc(c.rule)}.</p>")
    notes = "".join(f"<p class='bad'>{esc(n)}</p>" for n in c.notes)
    rows, classes = [], []
    for r in c.table:
        rows.append([fmt(r.pd_cutoff, "pd"), fmt(r.approval_rate, "pct"), fmt(r.bad_rate, "pct"),
                     fmt(r.expected_loss, "money"), fmt(r.profit, "money")])
        tag = ("chosen" if r.pd_cutoff == c.approve_below else
               "flag" if r.pd_cutoff == c.decline_at else "")
        classes.append(tag)
    unit = "exposure units" if c.exposure_field else "loans (exposure 1 each)"
    return head + notes + table(["approve when PD <", "approval rate", "bad rate among approved",
                                 "expected loss Σ PD·LGD·E", "realised profit"], rows,
                                left=0, row_classes=classes) + \
        (f"<p class='muted'>Sums over the approved applicants, in {unit}. Highlighted: the chosen "
         "approve_below (yellow) and decline_at (red, the rows at and above it would be "
         "declined).</p>")


def risk_levels_html(rl) -> str:
    if rl is None:
        return "<p class='muted'>No risk levels.</p>"
    rows = [[esc(lv.name), fmt(lv.lower, "pd"), fmt(lv.upper, "pd"), fmt(lv.applicants),
             fmt(lv.defaults), fmt(lv.default_rate, "pct"), fmt(lv.mean_pd, "pct")] for lv in rl.levels]
    status = ("<p class='ok'>Observed default rates increase strictly from level to level.</p>"
              if rl.increasing else
              "<p class='bad'>Observed default rates do NOT increase strictly.</p>")
    merged = "".join(f"<li>{esc(m)}</li>" for m in rl.merged)
    return (table(["level", "PD from", "PD below", "applicants", "defaults", "observed default rate",
                   "mean PD"], rows) + status
            + (f"<p class='muted'>Merged while fitting:</p><ul>{merged}</ul>" if merged else ""))


def fairness_html(ft, effects: Sequence = (), regb: Sequence[str] = ()) -> str:
    if ft is None:
        return "<p class='muted'>No fairness analysis.</p>"
    if not ft.groups:
        return "<p class='muted'>The schema marks no protected field: nothing to analyse.</p>"
    rows, classes = [], []
    for g in ft.groups:
        rows.append([esc(g.field), esc(g.group), fmt(g.applicants), fmt(g.default_rate, "pct"),
                     fmt(g.mean_pd, "pct"), fmt(g.approval_rate, "pct"), fmt(g.roc_auc),
                     f"{g.adverse_impact_ratio:.2f}" if g.adverse_impact_ratio is not None else "–",
                     "<span class='bad'>below 0.8</span>" if g.flagged else ""])
        classes.append("flag" if g.flagged else "")
    status = ("<p class='ok'>No group's adverse impact ratio is below "
              f"{ft.threshold:g} (four-fifths rule).</p>" if ft.passed else
              f"<p class='bad'>Some groups' adverse impact ratio is below {ft.threshold:g}.</p>")
    out = (f"<p>Approval at approve_below {ft.approve_below:g}. Adverse impact ratio = the group's "
           "approval rate / the approval rate of the most favoured group of the field (groups "
           f"with at least {ft.min_applicants} applicants); below {ft.threshold:g} is flagged "
           "(four-fifths rule). Groups smaller than that, and <i>missing</i>, are shown but not "
           "flagged.</p>" + status
           + table(["field", "group", "applicants", "default rate", "mean PD", "approval rate",
                    "ROC AUC", "adverse impact ratio", ""], rows, left=2, row_classes=classes)
           + "".join(f"<p class='muted'>{esc(n)}</p>" for n in ft.notes))
    if effects:
        rows = [[esc(e.field), esc(e.group), fmt(e.applicants), fmt(e.default_rate, "pct"),
                 fmt(e.mean_pd, "pct"), fmt(e.approval_rate, "pct"),
                 fmt(e.mean_pd_without, "pct"), fmt(e.approval_rate_without, "pct")] for e in effects]
        out += ("<h3>Protected fields used as features (--allow-protected)</h3>"
                + table(["field", "group", "applicants", "default rate", "mean PD",
                         "approval rate", "mean PD without the field",
                         "approval rate without the field"], rows, left=2)
                + "".join(f"<p>Regulation B: {esc(r)}</p>" for r in regb))
    return out


def monotonicity_html(checks: Sequence[Mapping] | None) -> str:
    if not checks:
        return "<p class='muted'>No monotone constraints declared (or no check results given).</p>"
    keys = list(dict.fromkeys(k for c in checks for k in c))
    rows = [[fmt(c.get(k)) for k in keys] for c in checks]
    return table(keys, rows)


def data_quality_html(dq: Sequence[Mapping] | None) -> str:
    if not dq:
        return "<p class='muted'>No data-quality summary.</p>"
    rows = []
    for d in dq:
        unseen = ", ".join(f"{esc(k)} ({v})" for k, v in list(d["unseen_levels"].items())[:5])
        if len(d["unseen_levels"]) > 5:
            unseen += f", … ({len(d['unseen_levels'])} texts)"
        rows.append([esc(d["field"]) + (" <span class='muted'>(protected)</span>"
                                        if d.get("protected") else ""),
                     esc(d["type"]), fmt(d["rows"]), fmt(d["missing_rate"], "pct"),
                     fmt(d["sentinel_rate"], "pct"), fmt(d["invalid"]), fmt(d["out_of_range"]),
                     unseen or "–"])
    return table(["field", "type", "rows", "missing", "sentinel", "not a number", "out of range",
                  "unseen levels"], rows, left=2)


def lineage_html(lineage: Mapping | None) -> str:
    if not lineage:
        return "<p class='muted'>No lineage given.</p>"

    def flat(d: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
        out = []
        for k, v in d.items():
            if isinstance(v, Mapping):
                out += flat(v, f"{prefix}{k}.")
            else:
                out.append((f"{prefix}{k}", v))
        return out
    return table(["item", "value"], [[esc(k), f"<code>{esc(v)}</code>"] for k, v in flat(lineage)],
                 left=2)


SECTIONS = [("performance", "Performance"), ("curves", "ROC, KS, calibration, gains"),
            ("importance", "Feature importance"), ("cutoffs", "Cut-offs"),
            ("levels", "Risk levels"), ("fairness", "Fairness"),
            ("monotonicity", "Monotonicity"), ("quality", "Data quality"), ("lineage", "Lineage")]


def render(inp: ReportInputs) -> str:
    """The whole report as one HTML string."""
    parts = [f"<h1>Model report: {esc(inp.model_name)}</h1>",
             f"<p class='muted'>Written by loanscore-train on "
             f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
             "Every figure is computed from the training data named under Lineage.</p>",
             "<nav>" + "".join(f"<a href='#{k}'>{esc(t)}</a>" for k, t in SECTIONS) + "</nav>"]
    parts += [f"<p class='bad'>{esc(n)}</p>" for n in inp.notes]
    parts.append("<h2 id='performance'>Performance</h2>" + leaderboard_html(inp.leaderboard))
    if inp.resampling:
        parts.append("<h3>Resampling</h3><p>The same recipe fitted on the same training part "
                     "with and without resampling (resampled rows are used for fitting only, "
                     "never for weights or calibration); the bundle holds the first row's "
                     "model.</p>" + monotonicity_html(inp.resampling))
    parts.append("<h2 id='curves'>ROC, KS, calibration, gains</h2>")
    if inp.y is not None and inp.pd is not None and 0 < np.sum(inp.y) < len(inp.y):
        y, pd = np.asarray(inp.y, dtype=float), np.asarray(inp.pd, dtype=float)
        m = metrics.holdout_metrics(y, pd)
        parts.append(f"<p>On the {esc(inp.curves_on)} applicants ({len(y):,}, "
                     f"{int(y.sum()):,} bad): ROC AUC {m['roc_auc']:.4f}, Gini {m['gini']:.4f}, "
                     f"KS {m['ks']:.4f}, Brier {m['brier']:.4f}, log loss {m['log_loss']:.4f}.</p>")
        parts.append(f"<figure>{roc_ks_figure(y, pd)}</figure>")
        cal = calibration_bins(y, pd)
        parts.append("<div style='display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap'>"
                     f"<figure>{calibration_figure(y, pd)}</figure><div>"
                     + table(["bin", "applicants", "mean PD", "observed default rate"],
                             [[str(i + 1), fmt(b["applicants"]), fmt(b["mean_pd"], "pct"),
                               fmt(b["default_rate"], "pct")] for i, b in enumerate(cal)])
                     + "</div></div>")
        parts.append(f"<figure>{gains_figure(y, pd)}</figure>")
        parts.append(f"<figure>{pd_distribution_figure(y, pd, inp.cutoffs)}</figure>")
    else:
        parts.append("<p class='muted'>No predictions with both outcomes were given.</p>")
    parts.append("<h2 id='importance'>Feature importance</h2>")
    if inp.feature_importance:
        parts.append("<p>Mean absolute contribution to the PD per input field, with the same "
                     "attribution the reason codes use (BUNDLE.md, \"Reason codes\").</p>"
                     f"<figure>{importance_figure(inp.feature_importance)}</figure>")
    else:
        parts.append("<p class='muted'>Not computed.</p>")
    parts.append("<h2 id='cutoffs'>Cut-offs</h2>" + cutoffs_html(inp.cutoffs))
    parts.append("<h2 id='levels'>Risk levels</h2>" + risk_levels_html(inp.risk_levels))
    parts.append("<h2 id='fairness'>Fairness</h2>"
                 + fairness_html(inp.fairness, inp.protected_effects, inp.regulation_b))
    parts.append("<h2 id='monotonicity'>Monotonicity</h2>" + monotonicity_html(inp.monotonicity))
    parts.append("<h2 id='quality'>Data quality</h2>" + data_quality_html(inp.data_quality))
    parts.append("<h2 id='lineage'>Lineage</h2>" + lineage_html(inp.lineage))
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{esc(inp.model_name)} — model report</title><style>{CSS}</style></head>"
            "<body>" + "\n".join(parts) + "</body></html>\n")


def write_report(path, inp: ReportInputs) -> None:
    """Writes `render(inp)` to `path` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(inp))
