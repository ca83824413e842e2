"""The three ensemble members: training, prediction and export to the bundle formats."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

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
    return {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4,
            "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "nthread": 1,
            "seed": seed, "eval_metric": "logloss", "verbosity": 0}


def fit_xgboost(X: np.ndarray, y: np.ndarray, seed: int) -> xgb.Booster:
    # a plain numpy matrix: no feature names (german level names contain '<')
    dtrain = xgb.DMatrix(np.asarray(X, dtype=np.float64), label=y, missing=np.nan, nthread=1)
    return xgb.train(xgb_params(seed), dtrain, num_boost_round=XGB_ROUNDS)


def predict_xgboost(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.inplace_predict(np.asarray(X, dtype=np.float64), missing=np.nan),
                      dtype=np.float64)


def fit_forest(X: np.ndarray, y: np.ndarray, seed: int) -> RandomForestClassifier:
    rf = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, max_features="sqrt",
                                n_jobs=1, random_state=seed)
    return rf.fit(X, y)


def predict_forest(rf: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    return rf.predict_proba(X)[:, _positive_index(rf.classes_)].astype(np.float64)


def fit_logistic(X: np.ndarray, y: np.ndarray, seed: int) -> Pipeline:
    pipe = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()),
                     ("logit", LogisticRegression(max_iter=5000, random_state=seed))])
    return pipe.fit(X, y)


def predict_logistic(pipe: Pipeline, X: np.ndarray) -> np.ndarray:
    return pipe.predict_proba(X)[:, _positive_index(pipe.classes_)].astype(np.float64)


def _positive_index(classes) -> int:
    idx = np.flatnonzero(np.asarray(classes) == 1)
    if len(idx) != 1:
        raise ValueError(f"positive class 1 not among the model's classes {list(classes)}")
    return int(idx[0])


# ---- export ------------------------------------------------------------------------------

def save_xgboost(booster: xgb.Booster, path) -> None:
    booster.save_model(str(path))


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
