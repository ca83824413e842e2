"""Ensemble weights (simplex grid search on out-of-fold log loss) and isotonic calibration."""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from . import metrics


def out_of_fold(members: Sequence, X: np.ndarray, y: np.ndarray, seed: int, n_splits: int = 5,
                progress: Callable[[str], None] = lambda s: None):
    """Out-of-fold predictions (n, k) of each member, and the fold index of every row."""
    oof = np.full((len(y), len(members)), np.nan)
    fold_of = np.full(len(y), -1)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for f, (tr, va) in enumerate(skf.split(X, y)):
        fold_of[va] = f
        for k, m in enumerate(members):
            model = m.fit(X[tr], y[tr], seed)
            oof[va, k] = m.predict(model, X[va])
            progress(f"cv fold {f + 1}/{n_splits}: {m.name} done")
    return oof, fold_of


def fold_aucs(y: np.ndarray, p: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    return np.array([metrics.roc_auc(y[fold_of == f], p[fold_of == f])
                     for f in np.unique(fold_of)])


def simplex_grid(k: int, step: float = 0.05) -> np.ndarray:
    """All weight vectors of k non-negative multiples of `step` summing to 1."""
    n = int(round(1.0 / step))
    rows = [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]
    return np.array(rows, dtype=np.float64) / n


def combine(P: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Weighted mean in float64, accumulated in member order (as LoanScore does)."""
    acc = np.zeros(P.shape[0], dtype=np.float64)
    for k, w in enumerate(weights):
        acc += float(w) * P[:, k]
    return acc


def choose_weights(P: np.ndarray, y: np.ndarray, step: float = 0.05,
                   criterion: str = "log_loss") -> np.ndarray:
    """The simplex-grid weights that minimise the log loss (`log_loss`) or maximise the ROC
    AUC (`roc_auc`) of the weighted mean of out-of-fold predictions (first on ties)."""
    grid = simplex_grid(P.shape[1], step)
    if criterion == "roc_auc":
        mixed = P @ grid.T
        aucs = np.array([metrics.roc_auc(y, mixed[:, g]) for g in range(len(grid))])
        return grid[int(np.argmax(aucs))]
    if criterion != "log_loss":
        raise ValueError(f"unknown weight criterion {criterion!r}")
    eps = np.finfo(np.float64).eps
    mixed = np.clip(P @ grid.T, eps, 1 - eps)                  # (n, g)
    yy = y.astype(np.float64)[:, None]
    losses = -np.mean(yy * np.log(mixed) + (1 - yy) * np.log(1 - mixed), axis=0)
    best = grid[int(np.argmin(losses))]
    return best


# A PD of exactly 0 or 1 is not credible for a scored applicant (an isotonic fit gives them
# wherever an end bin saw no default, or only defaults); the calibrated PD is kept within
# Basel III's retail PD floor of 0.05% (BCBS d424, paragraph 161) and its mirror.
PD_FLOOR = 0.0005
PD_CEILING = 1.0 - PD_FLOOR


def fit_calibration(p: np.ndarray, y: np.ndarray, kind: str = "isotonic") -> dict:
    """The manifest's calibration of the combined score `p`, fitted on out-of-fold data.

    `isotonic`: scikit-learn's isotonic regression (its flat steps tie applicants);
    `logistic`: Platt scaling on the logit, PD = 1/(1+exp(-(a*logit(p)+b))), written in the
    manifest's `isotonic` form as a dense piecewise-linear curve (`logistic_points`), which is
    strictly increasing so the ensemble's order (and ROC AUC) is kept. Identity if either
    degenerates."""
    if kind == "logistic":
        a, b = fit_logistic_calibration(p, y)
        if not a > 0:
            return {"kind": "identity"}
        return logistic_points(a, b)
    if kind != "isotonic":
        raise ValueError(f"unknown calibration {kind!r}")
    iso = IsotonicRegression(out_of_bounds="clip", y_min=PD_FLOOR, y_max=PD_CEILING).fit(p, y)
    x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    yv = np.asarray(iso.y_thresholds_, dtype=np.float64)
    if len(x) < 2:
        return {"kind": "identity"}
    return {"kind": "isotonic", "x": [float(v) for v in x], "y": [float(v) for v in yv]}


LOGIT_CLIP = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def fit_logistic_calibration(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling of the logit of `p`: (a, b) of P(y=1) = 1/(1+exp(-(a*logit(p)+b)))."""
    from sklearn.linear_model import LogisticRegression
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


LOGISTIC_POINTS = 801


def logistic_points(a: float, b: float, n: int = LOGISTIC_POINTS) -> dict:
    """The logistic calibration as manifest points: x from 0 to 1 (dense in logit space
    between logits -16 and 16), y = the calibrated PD within [PD_FLOOR, PD_CEILING].
    Linear interpolation between neighbouring points departs from the curve by < 1e-4."""
    z = np.linspace(-16.0, 16.0, n - 2)
    x = np.r_[0.0, 1.0 / (1.0 + np.exp(-z)), 1.0]
    yv = 1.0 / (1.0 + np.exp(-(a * _logit(x) + b)))
    yv = np.clip(yv, PD_FLOOR, PD_CEILING)
    yv = np.maximum.accumulate(yv)
    return {"kind": "isotonic", "x": [float(v) for v in x], "y": [float(v) for v in yv]}


def calibrate(p: np.ndarray, calibration: dict) -> np.ndarray:
    if calibration["kind"] == "identity":
        return np.asarray(p, dtype=np.float64)
    return np.interp(p, np.asarray(calibration["x"]), np.asarray(calibration["y"]))
