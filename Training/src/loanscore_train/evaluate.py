"""`loanscore-train evaluate`: the whole recipe inside each outer fold of a repeated stratified
K-fold, scored on the outer test folds (nothing fitted sees its test fold)."""
from __future__ import annotations

import json
import math
import sys
import time
from typing import Callable, NoReturn

import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold

from . import metrics, monotone
from .features import ToolError, compute_features, find_binary
from .recipe import RecipeConfig, fit_recipe

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ks")


def fold_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier, log loss and KS of one test fold."""
    return {"roc_auc": metrics.roc_auc(y, p), "pr_auc": metrics.pr_auc(y, p),
            "brier": metrics.brier(y, p), "log_loss": metrics.log_loss(y, p),
            "ks": metrics.ks(y, p)}


def summarise(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation of each metric over the folds."""
    return {k: {"mean": float(np.mean([f[k] for f in per_fold])),
                "std": float(np.std([f[k] for f in per_fold]))} for k in per_fold[0]}


def evaluate(X: np.ndarray, y: np.ndarray, *, folds: int = 5, repeats: int = 2, seed: int = 42,
             fit: Callable = fit_recipe, fit_kwargs: dict | None = None,
             progress: Callable[[str], None] = lambda s: None) -> dict:
    """Runs `fit(X_train, y_train, seed, progress=..., **fit_kwargs)` in every outer fold and
    scores its members and its calibrated ensemble on the outer test fold."""
    fit_kwargs = fit_kwargs or {}
    rskf = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    ens, mem, fit_seconds, member_seconds = [], {}, [], {}
    t0 = time.monotonic()
    for i, (tr, te) in enumerate(rskf.split(X, y)):
        t = time.monotonic()
        model = fit(X[tr], y[tr], seed, progress=lambda s: None, **fit_kwargs)
        fit_seconds.append(time.monotonic() - t)
        for name, sec in getattr(model, "seconds", {}).items():
            member_seconds.setdefault(name, []).append(sec)
        P = model.predict_members(X[te])
        for k, (m, _) in enumerate(model.members):
            mem.setdefault(m.name, []).append(fold_metrics(y[te], P[:, k]))
        ens.append(fold_metrics(y[te], model.predict(X[te])))
        progress(f"outer fold {i + 1}/{folds * repeats}: ensemble ROC AUC "
                 f"{ens[-1]['roc_auc']:.4f}, Brier {ens[-1]['brier']:.4f} "
                 f"(fit {fit_seconds[-1]:.1f}s)")
    return {"ensemble": {**summarise(ens), "fit_seconds": _mean_std(fit_seconds)},
            "members": [{"name": n, **summarise(v),
                         **({"fit_seconds": _mean_std(member_seconds[n])}
                            if n in member_seconds else {})} for n, v in mem.items()],
            "folds": folds, "repeats": repeats, "seconds": round(time.monotonic() - t0, 1)}


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def format_table(result: dict) -> str:
    """The leaderboard: one row per member and the ensemble, mean ± std over the outer folds."""
    head = (f"{'model':<10} " + " ".join(f"{k:>15}" for k in METRICS) + f" {'fit s':>9}")
    lines = [head, "-" * len(head)]
    rows = [(m["name"], m) for m in result["members"]] + [("ensemble", result["ensemble"])]
    for name, r in rows:
        lines.append(f"{name:<10} " + " ".join(
            f"{r[k]['mean']:.4f}±{r[k]['std']:.4f}".rjust(15) for k in METRICS)
            + (f" {r['fit_seconds']['mean']:9.1f}" if "fit_seconds" in r else f" {'':>9}"))
    lines.append(f"(mean ± std over {result['folds']} folds × {result['repeats']} repeats of the "
                 f"outer test folds; fit s: mean seconds per outer fold, the ensemble's = the "
                 f"whole recipe; {result['seconds']:.0f}s in all)")
    return "\n".join(lines)


# ---- reading it back (`train --evaluation`) ------------------------------------------------

EVALUATION_MAX_BYTES = 1 << 20     # `evaluate --json` writes a few kilobytes


def _reject_constant(name: str) -> NoReturn:
    """json.loads' parse_constant: NaN, Infinity and -Infinity are refused."""
    raise ValueError(f"{name} is not a number JSON allows")


def _check_scores(where: str, entry: object) -> str | None:
    """Why `entry` (the ensemble or one member of `evaluate --json`) is malformed, or None."""
    if not isinstance(entry, dict):
        return f"{where} is not an object"
    for key, value in entry.items():
        if key == "name":
            if not isinstance(value, str):
                return f"{where}.name is not a string"
            continue
        if not isinstance(value, dict) or set(value) != {"mean", "std"}:
            return f"{where}.{key} is not {{\"mean\", \"std\"}}"
        for stat in ("mean", "std"):
            v = value[stat]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return f"{where}.{key}.{stat} is not a finite number"
    if "roc_auc" not in entry:
        return f"{where} has no roc_auc"
    return None


def read_evaluation(path) -> dict | None:
    """`evaluate --json` output given with --evaluation; exit 3 naming the flag when it is not
    one (unreadable, over 1 MiB, NaN or infinity, a metric that is not {mean, std} of finite
    numbers, folds or repeats that are not positive whole numbers) — checked before any fitting."""
    if path is None:
        return None
    try:
        with open(path, "rb") as f:                 # at most the limit, even from a device
            raw = f.read(EVALUATION_MAX_BYTES + 1)
        if len(raw) > EVALUATION_MAX_BYTES:
            raise ToolError(f"--evaluation {path}: larger than {EVALUATION_MAX_BYTES} bytes; "
                            "give the output of `loanscore-train evaluate --json`", code=3)
        ev = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ToolError(f"--evaluation {path}: cannot read it as JSON: {e}", code=3)
    if not (isinstance(ev, dict) and isinstance(ev.get("ensemble"), dict)
            and isinstance(ev.get("members"), list) and "folds" in ev):
        raise ToolError(f"--evaluation {path}: not the output of `loanscore-train evaluate "
                        "--json` (it needs ensemble, members and folds)", code=3)
    problem = _check_scores("ensemble", ev["ensemble"])
    for i, m in enumerate(ev["members"]):
        problem = problem or _check_scores(f"members[{i}]", m)
        if problem is None and not isinstance(m.get("name"), str):
            problem = f"members[{i}] has no name"
    for key in ("folds", "repeats"):
        v = ev.get(key, 1)
        if problem is None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            problem = f"{key} is not a positive whole number"
    s = ev.get("seconds", 0)
    if problem is None and (isinstance(s, bool) or not isinstance(s, (int, float))):
        problem = "seconds is not a number"
    if problem:
        raise ToolError(f"--evaluation {path}: {problem}; give the unedited output of "
                        "`loanscore-train evaluate --json`", code=3)
    return ev


def run(args) -> int:
    """The `evaluate` command: features once (row-wise, fit-free), then `evaluate`."""
    from .protected import check_allowed
    from .train import labels, load_schema, model_schema, read_raw
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if args.folds < 2 or args.repeats < 1:
        raise ToolError("--folds must be at least 2 and --repeats at least 1", code=2)
    schema = load_schema(args.schema)
    monotone.declared(schema)                     # a bad monotone declaration: before any work
    header, rows, _ = read_raw(args.data)
    y = labels(args.data, header, rows, schema["target"])
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2:
        raise ToolError(f"{args.data}: the smaller class of {schema['target'].get('column')} has "
                        f"{minority} row; evaluation needs at least 2 (one per outer fold)", code=3)
    if args.folds > minority:
        raise ToolError(f"--folds {args.folds}: the smaller class has only {minority} rows, so some "
                        f"outer test folds would hold none of it; use --folds {minority} or fewer",
                        code=2)
    config = RecipeConfig(trials=args.trials, resample=args.resample)
    if minority - -(-minority // args.folds) < config.inner_folds:
        raise ToolError(f"{args.data}: the smaller class has only {minority} rows; each outer "
                        f"training part needs {config.inner_folds} of them (the recipe's inner "
                        f"folds): give more rows of it, or more --folds", code=3)
    allow = getattr(args, "allow_protected", None) or []
    check_allowed(schema, allow)                  # the same check as train's
    binary = find_binary()
    progress(f"computing features with {binary}")
    with model_schema(args.schema, schema, allow) as (schema_file, schema, _):
        names, X = compute_features(schema_file, args.data, len(rows), binary)
    progress(f"{X.shape[0]} rows, {X.shape[1]} features, {int(y.sum())} positive")
    result = evaluate(X, y, folds=args.folds, repeats=args.repeats, seed=args.seed,
                      fit_kwargs={"config": config,
                                  "monotone": monotone.constraints(schema, names)},
                      progress=progress)
    table = format_table(result)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result))
    else:
        print(table)
    return 0
