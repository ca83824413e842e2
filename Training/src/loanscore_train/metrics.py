"""Credit-scoring metrics: ROC AUC, Gini, KS, Brier score, log loss (numpy only)."""
from __future__ import annotations

import numpy as np


def _check(y, p):
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError("labels and probabilities differ in length")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return y, p


def _rank_average(p):
    """Ranks 1..n, ties sharing their mean rank."""
    order = np.argsort(p, kind="mergesort")
    sp = p[order]
    ranks = np.empty(len(p), dtype=np.float64)
    # boundaries of runs of equal values
    starts = np.r_[0, np.flatnonzero(np.diff(sp)) + 1]
    ends = np.r_[starts[1:], len(sp)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    return ranks


def roc_auc(y, p) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count one half)."""
    y, p = _check(y, p)
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs both classes")
    r = _rank_average(p)
    return float((r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gini(y, p) -> float:
    return 2.0 * roc_auc(y, p) - 1.0


def ks(y, p) -> float:
    """Kolmogorov-Smirnov statistic: max over cut-offs of TPR - FPR."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    sp, sy = p[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(sp)), len(sp) - 1]
    tpr = np.cumsum(sy)[last_of_run] / sy.sum()
    fpr = np.cumsum(1 - sy)[last_of_run] / (1 - sy).sum()
    return float(max(0.0, np.max(tpr - fpr)))


def pr_auc(y, p) -> float:
    """Area under the precision-recall curve as average precision (ties grouped, as
    scikit-learn's `average_precision_score`): sum over cut-offs of (R_n - R_n-1) * P_n."""
    y, p = _check(y, p)
    if y.sum() == 0:
        raise ValueError("PR AUC needs a positive")
    order = np.argsort(-p, kind="mergesort")
    sp, sy = p[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(sp)), len(sp) - 1]
    tp = np.cumsum(sy)[last_of_run]
    precision = tp / (last_of_run + 1)
    recall = tp / sy.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y, p) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y, p) -> float:
    """Mean negative log likelihood; p clipped to [eps, 1 - eps] as scikit-learn does."""
    y, p = _check(y, p)
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def holdout_metrics(y, p) -> dict:
    auc = roc_auc(y, p)
    return {"roc_auc": auc, "gini": 2.0 * auc - 1.0, "ks": ks(y, p),
            "brier": brier(y, p), "log_loss": log_loss(y, p)}
