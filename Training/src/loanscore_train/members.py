"""The three ensemble members: training, prediction and export to the bundle formats."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

XGB_ROUNDS = 300


def xgb_params(seed: int) -> dict:
    """The untuned XGBoost parameters (the baseline, and the first trial of the tuning)."""
    return {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
            "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "nthread": 1,
            "seed": seed, "eval_metric": "logloss", "verbosity": 0}


def xgb_matrix(X: np.ndarray, y: np.ndarray | None = None) -> xgb.DMatrix:
    """A plain numpy matrix: no feature names (german level names contain '<'), NaN missing."""
    return xgb.DMatrix(np.asarray(X, dtype=np.float64), label=y, missing=np.nan, nthread=1)


def monotone_string(monotone: Sequence[int] | None) -> str | None:
    """XGBoost's `monotone_constraints` for one -1/0/1 entry per column, None if all 0."""
    if monotone is None or not any(monotone):
        return None
    return "(" + ",".join(str(int(v)) for v in monotone) + ")"


def fit_xgboost(X: np.ndarray, y: np.ndarray, seed: int, *, params: dict | None = None,
                rounds: int = XGB_ROUNDS, monotone: Sequence[int] | None = None) -> xgb.Booster:
    """A booster of exactly `rounds` trees (no early stopping: nothing after a best iteration)."""
    p = {**xgb_params(seed), **(params or {})}
    cst = monotone_string(monotone)
    if cst:
        p["monotone_constraints"] = cst
    return xgb.train(p, xgb_matrix(X, y), num_boost_round=int(rounds))


def predict_xgboost(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.inplace_predict(np.asarray(X, dtype=np.float64), missing=np.nan),
                      dtype=np.float64)


FOREST_TREES = 200


def fit_forest(X: np.ndarray, y: np.ndarray, seed: int, *, params: dict | None = None,
               monotone: Sequence[int] | None = None) -> RandomForestClassifier:
    """A random forest; `params` override the defaults (200 trees, leaves of >= 5, sqrt)."""
    p = {"n_estimators": FOREST_TREES, "min_samples_leaf": 5, "max_features": "sqrt",
         **(params or {})}
    cst = list(int(v) for v in monotone) if monotone is not None and any(monotone) else None
    rf = RandomForestClassifier(**p, monotonic_cst=cst, n_jobs=1, random_state=seed)
    return rf.fit(X, y)


def predict_forest(rf: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    return rf.predict_proba(X)[:, _positive_index(rf.classes_)].astype(np.float64)


def fit_logistic(X: np.ndarray, y: np.ndarray, seed: int, *, C: float = 1.0,
                 monotone: Sequence[int] | None = None) -> Pipeline:
    """Median imputation, standard scaling, L2 logistic regression with inverse strength C.

    With `monotone` (-1/0/1 per column), a coefficient whose sign opposes its column's declared
    direction is held at exactly 0 and the regression refitted, until every sign agrees."""
    pipe = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()),
                     ("logit", LogisticRegression(C=C, max_iter=5000, random_state=seed))])
    pipe.fit(X, y)
    if monotone is None or not any(monotone):
        return pipe
    direction = np.asarray(monotone, dtype=np.float64)
    lr = pipe.named_steps["logit"]
    sign = 1.0 if _positive_index(lr.classes_) == 1 else -1.0
    Z = pipe[:-1].transform(X)
    held = np.zeros(len(direction), dtype=bool)
    while True:
        against = (sign * lr.coef_[0] * direction < 0) & ~held
        if not against.any():
            break
        held |= against
        Z[:, held] = 0.0                 # a column held at 0 cannot move the score
        lr.fit(Z, y)
        lr.coef_[0, held] = 0.0
    return pipe


def predict_logistic(pipe: Pipeline, X: np.ndarray) -> np.ndarray:
    return pipe.predict_proba(X)[:, _positive_index(pipe.classes_)].astype(np.float64)


def _positive_index(classes) -> int:
    idx = np.flatnonzero(np.asarray(classes) == 1)
    if len(idx) != 1:
        raise ValueError(f"positive class 1 not among the model's classes {list(classes)}")
    return int(idx[0])


# ---- export ------------------------------------------------------------------------------

def trim_to_best_iteration(booster: xgb.Booster) -> xgb.Booster:
    """The booster without the trees grown after its best iteration, if it records one.

    XGBoost's JSON keeps every tree grown under early stopping (with `best_iteration` in its
    attributes); `inplace_predict` and LoanScore use every tree, the scikit-learn wrapper only
    those up to the best iteration. Sliced, the saved model predicts what was validated."""
    best = booster.attr("best_iteration")
    if best is None or int(best) + 1 >= booster.num_boosted_rounds():
        return booster
    sliced = booster[: int(best) + 1]
    for key in ("best_iteration", "best_score"):
        sliced.set_attr(**{key: None})
    return sliced


def save_xgboost(booster: xgb.Booster, path) -> None:
    """`Booster.save_model` (JSON), sliced to its best iteration first when it has one."""
    trim_to_best_iteration(booster).save_model(str(path))


def forest_to_dict(rf: RandomForestClassifier, n_features: int) -> dict:
    pos = _positive_index(rf.classes_)
    trees = []
    for est in rf.estimators_:
        t = est.tree_
        # classes of each tree are the forest's (0, 1), so `pos` indexes them too
        counts = t.value[:, 0, :].astype(np.float64)
        totals = counts.sum(axis=1)
        value = counts[:, pos] / np.where(totals == 0, 1.0, totals)
        trees.append({
            "children_left": t.children_left.astype(int).tolist(),
            "children_right": t.children_right.astype(int).tolist(),
            "feature": t.feature.astype(int).tolist(),
            "threshold": [_finite_threshold(v) for v in t.threshold],
            "missing_go_to_left": [int(v) for v in t.missing_go_to_left],
            "value": [float(v) for v in value],
        })
    return {"format": "loanscore-forest/1", "library": "scikit-learn",
            "library_version": sklearn.__version__, "n_features": int(n_features), "trees": trees}


def _finite_threshold(v) -> float:
    """scikit-learn uses +inf for "all non-missing values go left, missing go right"; JSON has
    no infinity, so it is written as the largest double, which every finite float32 is <= too."""
    v = float(v)
    if v == np.inf:
        return float(np.finfo(np.float64).max)
    if not np.isfinite(v):
        raise ValueError(f"unexpected forest threshold {v}")
    return v


def logistic_to_dict(pipe: Pipeline, n_features: int) -> dict:
    imp, sc, lr = pipe.named_steps["impute"], pipe.named_steps["scale"], pipe.named_steps["logit"]
    sign = 1.0 if _positive_index(lr.classes_) == 1 else -1.0
    return {"format": "loanscore-logistic/1", "library": "scikit-learn",
            "library_version": sklearn.__version__, "n_features": int(n_features),
            "imputation": {"strategy": "median", "values": [float(v) for v in imp.statistics_]},
            "scaling": {"mean": [float(v) for v in sc.mean_], "scale": [float(v) for v in sc.scale_]},
            "coefficients": [sign * float(v) for v in lr.coef_[0]],
            "intercept": sign * float(lr.intercept_[0])}


def write_json(obj: Any, path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


@dataclass(frozen=True)
class Member:
    name: str
    kind: str
    file: str
    fit: Callable
    predict: Callable


MEMBERS = (
    Member("xgboost", "xgboost", "members/xgboost.json", fit_xgboost, predict_xgboost),
    Member("forest", "random_forest", "members/forest.json", fit_forest, predict_forest),
    Member("logistic", "logistic_regression", "members/logistic.json", fit_logistic, predict_logistic),
)


def export_member(member: Member, model, path, n_features: int) -> None:
    if member.kind == "xgboost":
        save_xgboost(model, path)
    elif member.kind == "random_forest":
        write_json(forest_to_dict(model, n_features), path)
    elif member.kind == "logistic_regression":
        write_json(logistic_to_dict(model, n_features), path)
    else:  # pragma: no cover
        raise ValueError(member.kind)
