"""`loanscore-train train`: features -> holdout split -> the recipe (`recipe.fit_recipe`) -> bundle."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from sklearn.model_selection import train_test_split

from . import bundle, ensemble, governance, metrics, monotone, reference_bins, served_checks
from .evaluate import read_evaluation
from .features import ToolError, compute_features, compute_slots, find_binary
from .output_folder import check_output
from .protected import with_allowed
from .recipe import RecipeConfig, fit_recipe

HOLDOUT_FRACTION = 0.2


def _norm(label: str) -> str:
    return label.strip(" \t").casefold()


def read_raw(path) -> tuple[list[str], list[list[str]], str]:
    """The CSV as raw strings: header, data rows, and the file's line terminator. Exit 3
    naming the file when it cannot be read, is not UTF-8 or is not CSV."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
        terminator = "\r\n" if first.endswith(b"\r\n") else "\n"
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ToolError(f"{path}: empty file", code=3)
            rows = [r for r in reader if r]
    except OSError as e:
        raise ToolError(f"--data {path}: cannot read it: {e.strerror or e}", code=3) from None
    except UnicodeDecodeError as e:
        raise ToolError(f"--data {path}: not UTF-8 text (byte {e.start}: {e.reason}); save "
                        "it as UTF-8", code=3) from None
    except csv.Error as e:
        raise ToolError(f"--data {path}: not a readable CSV: {e}", code=3) from None
    return header, rows, terminator


def labels(path, header, rows, target: dict) -> np.ndarray:
    col = target.get("column")
    if col not in header:
        raise ToolError(f"{path}: target column {col!r} not found", code=3)
    j = header.index(col)
    pos = _norm(str(target["positive"]))
    neg = _norm(str(target["negative"])) if target.get("negative") is not None else None
    y, bad = np.zeros(len(rows), dtype=np.int64), []
    for i, r in enumerate(rows):
        v = _norm(r[j]) if j < len(r) else ""
        if v == pos:
            y[i] = 1
        elif v == neg or (neg is None and v != ""):
            y[i] = 0
        else:
            bad.append(f"{path}: row {i + 1}: {col} {r[j] if j < len(r) else ''!r} is neither "
                       f"{target['positive']!r} nor {target.get('negative')!r}")
    if bad:
        more = f"\n(and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise ToolError("\n".join(bad[:5]) + more, code=3)
    if y.sum() == 0 or y.sum() == len(y):
        raise ToolError(f"{path}: the target has only one class", code=3)
    return y


BOOLEAN_FIELD_KEYS = ("protected", "post_origination", "exposure", "feature", "nullable")


def load_schema(path) -> dict:
    """The schema as a dict; exit 3 when it cannot be read, names no target, or its fields are
    not objects with a name whose governance keys (`BOOLEAN_FIELD_KEYS`) are true or false —
    checked here because the governance checks read them before `loanscore features` does."""
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ToolError(f"{path}: cannot read the schema: {e}", code=3)
    if not isinstance(schema, dict):
        raise ToolError(f"{path}: the schema is not a JSON object", code=3)
    if not isinstance(schema.get("target"), dict) or "positive" not in schema["target"]:
        raise ToolError(f"{path}: the schema has no target with a positive label", code=3)
    fields = schema.get("fields")
    if not isinstance(fields, list):
        raise ToolError(f"{path}: the schema's \"fields\" is not a list", code=3)
    for i, f in enumerate(fields):
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise ToolError(f"{path}: fields[{i}] is not an object with a \"name\"", code=3)
        for key in BOOLEAN_FIELD_KEYS:
            if key in f and not isinstance(f[key], bool):
                raise ToolError(f"{path}: field {f['name']!r}: \"{key}\" must be true or false, "
                                f"not {json.dumps(f[key])}", code=3)
    return schema


def _summary(cv_aucs, y, p) -> dict:
    return {"cv_roc_auc": float(np.mean(cv_aucs)), "cv_roc_auc_std": float(np.std(cv_aucs)),
            "holdout": metrics.holdout_metrics(y, p)}


def format_table(board: dict, weights) -> str:
    head = f"{'model':<10} {'weight':>6} {'CV AUC':>15} {'AUC':>7} {'Gini':>7} {'KS':>7} {'Brier':>7} {'LogLoss':>8}"
    lines = [head, "-" * len(head)]
    entries = [(m["name"], f"{w:.2f}", m) for m, w in zip(board["members"], weights)]
    entries.append(("ensemble", "", board["ensemble"]))
    for name, w, e in entries:
        h = e["holdout"]
        cv = f"{e['cv_roc_auc']:.4f}±{e['cv_roc_auc_std']:.4f}"
        lines.append(f"{name:<10} {w:>6} {cv:>15} {h['roc_auc']:>7.4f} {h['gini']:>7.4f} "
                     f"{h['ks']:>7.4f} {h['brier']:>7.4f} {h['log_loss']:>8.4f}")
    lines.append("(holdout figures; the ensemble's use the calibrated PD; CV AUC: mean±std over "
                 "the inner folds of the training part)")
    return "\n".join(lines)


@contextlib.contextmanager
def model_schema(schema_path, schema: dict, allow_protected) -> Iterator[tuple[str, dict, str | None]]:
    """The schema the model is trained on: the file itself, or (with --allow-protected) a
    temporary copy marking the allowed protected fields `"feature": true`. Yields (path for
    `loanscore features`, the schema, the text the bundle's schema.json gets or None for a byte
    copy of the file)."""
    allowed = with_allowed(schema, allow_protected or [])
    if allowed is schema:
        yield str(schema_path), schema, None
        return
    text = json.dumps(allowed, indent=2, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory(prefix="loanscore-schema-") as tmp:
        path = Path(tmp) / Path(schema_path).name
        path.write_text(text, encoding="utf-8")
        yield str(path), allowed, text


def holdout_split(path, y: np.ndarray, seed: int, inner_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """The stratified holdout split (row indices of the training part and the holdout); exit 3
    naming the data file when the smaller class is too small for it: the holdout needs one row
    of each class and the training part `inner_folds` of each (its inner CV)."""
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority >= 2:
        i_tr, i_ho = train_test_split(np.arange(len(y)), test_size=HOLDOUT_FRACTION, stratify=y,
                                      random_state=seed)
        in_tr = int(min(y[i_tr].sum(), len(i_tr) - y[i_tr].sum()))
        in_ho = int(min(y[i_ho].sum(), len(i_ho) - y[i_ho].sum()))
        if in_tr >= inner_folds and in_ho >= 1:
            return i_tr, i_ho
    raise ToolError(f"{path}: the smaller class of the target has only {minority} rows; training "
                    f"needs at least one in the {HOLDOUT_FRACTION:.0%} holdout and {inner_folds} "
                    f"in the training part (its {inner_folds} inner folds): give more rows of it",
                    code=3)


def run(args) -> int:
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    check_output(args.output, args.force)            # an unusable --output, before any work
    if (args.approve_below is not None and args.decline_at is not None
            and args.approve_below > args.decline_at):
        raise ToolError("cut-offs must satisfy --approve-below <= --decline-at", code=2)
    schema = load_schema(args.schema)
    monotone.declared(schema)                     # a bad monotone declaration: before any work
    reference_bins.check_names(schema)            # a field named 'pd': before any work
    evaluation = read_evaluation(getattr(args, "evaluation", None))
    header, rows, terminator = read_raw(args.data)
    y = labels(args.data, header, rows, schema["target"])
    config = RecipeConfig(trials=args.trials, resample=args.resample)
    i_tr, i_ho = holdout_split(args.data, y, args.seed, config.inner_folds)
    # Protected fields, derived features on them, the exposure field, label leakage.
    governance.check_before_fit(schema, header, rows, y, args)
    binary = find_binary()
    with model_schema(args.schema, schema, args.allow_protected) as (schema_file, schema, schema_text):
        progress(f"computing features with {binary}")
        features, X = compute_features(schema_file, args.data, len(rows), binary)
        # The slot values for reference.json's bins (the members' rows only, below): asked
        # for now so that a CLI without `features --slots` fails before any fitting.
        slot_names, slots = compute_slots(schema_file, args.data, len(rows), binary)
    progress(f"{X.shape[0]} rows, {X.shape[1]} features, {int(y.sum())} positive")

    X_tr, y_tr, X_ho, y_ho = X[i_tr], y[i_tr], X[i_ho], y[i_ho]

    fe = fit_recipe(X_tr, y_tr, args.seed, config=config,
                    monotone=monotone.constraints(schema, features), progress=progress)
    weights, calibration, oof, fold_of = fe.weights, fe.calibration, fe.oof_members, fe.fold_of

    fitted, preds, board = fe.members, {}, {"members": []}
    for k, (m, model) in enumerate(fitted):
        preds[f"pd_{m.name}"] = m.predict(model, X_ho)
        board["members"].append({"name": m.name,
                                 **_summary(ensemble.fold_aucs(y_tr, oof[:, k], fold_of),
                                            y_ho, preds[f"pd_{m.name}"])})
    P_ho = np.column_stack([preds[f"pd_{m.name}"] for m, _ in fitted])
    preds["pd_ensemble"] = ensemble.combine(P_ho, weights)
    preds["pd"] = ensemble.calibrate(preds["pd_ensemble"], calibration)
    p_oof = ensemble.combine(oof, weights)
    board["ensemble"] = _summary(ensemble.fold_aucs(y_tr, p_oof, fold_of), y_ho, preds["pd"])
    if evaluation is not None:
        board["evaluation"] = evaluation
    resampling = None
    if config.resample != "none":
        # The report shows what resampling did: the same recipe on the same rows without it.
        progress(f"fitting the recipe again without --resample {config.resample}, for the report")
        plain = fit_recipe(X_tr, y_tr, args.seed, config=dataclasses.replace(config, resample="none"),
                           monotone=monotone.constraints(schema, features))
        resampling = [resampling_row(f"with --resample {config.resample} (this bundle)", fe, y_tr,
                                     preds["pd"], y_ho),
                      resampling_row("without resampling", plain, y_tr, plain.predict(X_ho), y_ho)]

    # Cut-offs, risk levels and fairness on the training part's out-of-fold calibrated PDs.
    gov = governance.analyse(schema, header, rows, y, fe.oof_pd, i_tr, args,
                             pd_holdout=preds["pd"], holdout_index=i_ho)
    c = gov.cutoffs
    progress(f"cut-offs: approve below {c.approve_below:.4g}, decline at {c.decline_at:.4g} "
             f"(break-even PD {c.break_even_pd:.4g}); fairness "
             + ("passed" if gov.fairness.passed else "FLAGGED: see report.html"))
    name = args.name or schema.get("name") or Path(args.data).stem
    # Drift reference: fields and derived features over the rows the members were fitted on,
    # the PD over the holdout (the final bundle's calibrated PDs, predictions.csv's `pd`).
    policy_obj = governance.policy(gov)
    reference = reference_bins.build_reference(schema, slot_names, slots[i_tr], preds["pd"],
                                               policy_obj["approve_below"])

    def documents(folder: Path) -> list[str]:
        progress("verifying the bundle with loanscore (parity, monotone fields)")
        verified = served_checks.verify(folder, binary)
        importance = served_checks.feature_importance(folder, folder / "validation/holdout.csv",
                                                      binary)
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        written = governance.write_documents(
            folder, gov, evaluation or board, manifest.get("lineage"), model_name=name,
            feature_importance=importance,
            monotonicity=served_checks.monotonicity_rows(verified), resampling=resampling)
        progress("wrote " + ", ".join(written))
        return written

    out = bundle.write_bundle(
        args.output, schema_path=args.schema, schema=schema, features=features, fitted=fitted,
        weights=weights, calibration=calibration,
        policy_obj=policy_obj, leaderboard=board,
        holdout_header=header, holdout_rows=[rows[i] for i in i_ho], line_terminator=terminator,
        predictions=preds, data_path=args.data, data_rows=len(rows), seed=args.seed,
        holdout_fraction=HOLDOUT_FRACTION, name=name, force=args.force,
        schema_text=schema_text, manifest_extra=governance.manifest_additions(gov),
        documents=documents, reference=reference)
    progress(f"bundle written to {out}")
    logged = None
    if getattr(args, "experiment", None):      # set by cli.main when an MLflow option is given
        from .registry_log import log_training
        logged = log_training(args, out)
        progress(logged["line"])

    table = format_table(board, weights)
    summary = governance_summary(gov)
    if args.json:
        print(table + "\n" + summary, file=sys.stderr)
        print(json.dumps({**board, **governance.manifest_additions(gov), "bundle": str(out),
                          **({"mlflow": logged["mlflow"]} if logged else {})}))
    else:
        print(table)
        print(summary)
        print(f"bundle: {out} (report: {out / governance.REPORT_FILE})")
    return 0


def resampling_row(label: str, fe, y_tr: np.ndarray, pd_holdout: np.ndarray,
                   y_ho: np.ndarray) -> dict:
    """One row of the report's resampling comparison: out-of-fold and holdout figures."""
    h = metrics.holdout_metrics(y_ho, pd_holdout)
    return {"recipe": label, "out-of-fold ROC AUC": metrics.roc_auc(y_tr, fe.oof_pd),
            "out-of-fold Brier": metrics.brier(y_tr, fe.oof_pd), "holdout ROC AUC": h["roc_auc"],
            "holdout Brier": h["brier"]}


def governance_summary(gov) -> str:
    """Cut-offs and any flagged fairness groups, in a few lines under the leaderboard."""
    c = gov.cutoffs
    exposure = c.exposure_field or "1 per applicant"
    lines = [f"cut-offs: approve PD < {c.approve_below:.4g}, decline PD >= {c.decline_at:.4g} "
             f"(LGD {c.lgd:g}, margin {c.margin:g}, exposure {exposure}, break-even PD "
             f"{c.break_even_pd:.4g})"]
    flagged = [g for g in gov.fairness.as_dict()["groups"] if g["flagged"]]
    if flagged:
        lines.append("fairness: adverse impact ratio below 0.8 for " + ", ".join(
            f"{g['field']} {g['group']} ({g['adverse_impact_ratio']:.2f})" for g in flagged)
            + " (--fairness-gate makes this an error)")
    else:
        lines.append("fairness: every group's adverse impact ratio is at least 0.8")
    if gov.fairness.unassessed:
        lines.append("fairness: not assessed for " + ", ".join(gov.fairness.unassessed)
                     + f" (no group with a value has {gov.fairness.min_applicants} applicants; "
                     "see report.html)")
    return "\n".join(lines)
