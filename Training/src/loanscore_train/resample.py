"""Resampling of the rows a model is fitted on (never of validation, weight or calibration
rows): `none`, or SMOTE (imbalanced-learn) to balance the classes."""
from __future__ import annotations

import warnings

import numpy as np

from .features import ToolError

METHODS = ("none", "smote")


def resample(X: np.ndarray, y: np.ndarray, seed: int, method: str = "none"
             ) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) unchanged for `none`; for `smote`, the rows plus synthetic minority rows.

    SMOTE needs complete rows: neighbours are found and new rows interpolated on a
    median-imputed copy (medians of these rows only); the original rows are returned as they
    were, missing values included, followed by the synthetic rows."""
    if method == "none":
        return X, y
    if method != "smote":
        raise ToolError(f"unknown resampling {method!r} (one of {', '.join(METHODS)})", code=2)
    from imblearn.over_sampling import SMOTE
    n_min = int(min(np.sum(y == 1), np.sum(y == 0)))
    if n_min < 2:
        return X, y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # an all-missing column
        med = np.nan_to_num(np.nanmedian(X, axis=0), nan=0.0)
    filled = np.where(np.isnan(X), med, X)
    sm = SMOTE(k_neighbors=min(5, n_min - 1), random_state=seed)
    Xr, yr = sm.fit_resample(filled, y)
    n = len(y)
    return np.vstack([X, Xr[n:]]), np.concatenate([y, yr[n:]])
