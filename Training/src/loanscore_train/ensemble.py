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


def choose_weights(P: np.ndarray, y: np.ndarray, step: float = 0.05) -> np.ndarray:
    """The simplex-grid weights minimising the log loss of the weighted mean (first on ties)."""
    grid = simplex_grid(P.shape[1], step)
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


def fit_calibration(p: np.ndarray, y: np.ndarray) -> dict:
    """Isotonic calibration as stored in the manifest (identity if it degenerates)."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=PD_FLOOR, y_max=PD_CEILING).fit(p, y)
    x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    yv = np.asarray(iso.y_thresholds_, dtype=np.float64)
    if len(x) < 2:
        return {"kind": "identity"}
    return {"kind": "isotonic", "x": [float(v) for v in x], "y": [float(v) for v in yv]}


def calibrate(p: np.ndarray, calibration: dict) -> np.ndarray:
    if calibration["kind"] == "identity":
        return np.asarray(p, dtype=np.float64)
    return np.interp(p, np.asarray(calibration["x"]), np.asarray(calibration["y"]))
