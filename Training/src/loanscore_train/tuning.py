"""Hyperparameters chosen by inner cross-validation on the training part only.

Every search scores a candidate on the same inner stratified folds of the training part and
returns, with the chosen parameters, that candidate's out-of-fold predictions (each training
row predicted by a model that did not see it), which the recipe uses for the weights and the
calibration. Resampling, when asked, touches only the rows a model is fitted on."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import optuna
import xgboost as xgb

from . import members, metrics
from .resample import resample

Folds = Sequence[tuple[np.ndarray, np.ndarray]]
Progress = Callable[[str], None]

XGB_MAX_ROUNDS = 2000
XGB_EARLY_STOPPING = 50
FOREST_GRID = tuple({"min_samples_leaf": leaf, "max_features": mf}
                    for leaf in (3, 5, 10, 20) for mf in ("sqrt", 0.5))
LOGISTIC_C = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass
class Tuned:
    """A member's chosen settings (keyword arguments of its fit function, `monotone` aside),
    its out-of-fold predictions under them, the inner-CV score and the seconds spent."""
    kwargs: dict
    oof: np.ndarray
    score: float
    seconds: float


def _fit_rows(X: np.ndarray, y: np.ndarray, idx: np.ndarray, seed: int,
              method: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows a model is fitted on, resampled if asked (validation rows never are)."""
    return resample(X[idx], y[idx], seed, method)


# ---- XGBoost -----------------------------------------------------------------------------

def xgb_space(trial: optuna.Trial) -> dict:
    """The XGBoost search space (booster parameters)."""
    return {"eta": trial.suggest_float("eta", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 30, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "lambda": trial.suggest_float("lambda", 1e-2, 30, log=True),
            "alpha": trial.suggest_float("alpha", 1e-3, 10, log=True),
            "gamma": trial.suggest_float("gamma", 1e-3, 5, log=True)}


DEFAULT_TRIAL = {"eta": 0.05, "max_depth": 4, "min_child_weight": 1.0, "subsample": 0.8,
                 "colsample_bytree": 0.8, "lambda": 1.0, "alpha": 1e-3, "gamma": 1e-3}


def xgb_cv(X: np.ndarray, y: np.ndarray, folds: Folds, params: dict, seed: int,
           monotone: Sequence[int] | None, method: str) -> tuple[int, float, np.ndarray]:
    """Inner CV of one XGBoost setting with early stopping on the mean validation log loss.

    Each fold grows trees until its validation log loss has not improved for 50 rounds; the
    number of rounds is the minimum of the folds' mean log-loss curve (one number for every
    fold, as `xgb.cv` chooses it). Returns (rounds, mean log loss, out-of-fold predictions at
    that number of rounds)."""
    p = {**members.xgb_params(seed), **params}
    cst = members.monotone_string(monotone)
    if cst:
        p["monotone_constraints"] = cst
    curves, boosters = [], []
    for tr, va in folds:
        Xf, yf = _fit_rows(X, y, tr, seed, method)
        dtr, dva = members.xgb_matrix(Xf, yf), members.xgb_matrix(X[va], y[va])
        hist: dict = {}
        b = xgb.train(p, dtr, num_boost_round=XGB_MAX_ROUNDS, evals=[(dva, "va")],
                      early_stopping_rounds=XGB_EARLY_STOPPING, evals_result=hist,
                      verbose_eval=False)
        curves.append(np.asarray(hist["va"]["logloss"]))
        boosters.append(b)
    n = min(len(c) for c in curves)
    mean_curve = np.mean([c[:n] for c in curves], axis=0)
    rounds = int(np.argmin(mean_curve)) + 1
    oof = np.full(len(y), np.nan)
    for b, (_, va) in zip(boosters, folds):
        oof[va] = b.inplace_predict(np.asarray(X[va], dtype=np.float64), missing=np.nan,
                                    iteration_range=(0, rounds))
    return rounds, float(mean_curve[rounds - 1]), oof


def tune_xgboost(X: np.ndarray, y: np.ndarray, folds: Folds, seed: int, trials: int, *,
                 monotone: Sequence[int] | None = None, method: str = "none",
                 progress: Progress = lambda s: None) -> Tuned:
    """Seeded TPE search (Optuna) of XGBoost's parameters by inner-CV log loss; the first
    trial is the untuned default. `trials` <= 1: the default alone (its rounds still chosen
    by inner CV). Returns kwargs {params, rounds} for `members.fit_xgboost`."""
    t0 = time.monotonic()
    best: dict = {}

    def objective(trial: optuna.Trial) -> float:
        params = xgb_space(trial)
        rounds, loss, oof = xgb_cv(X, y, folds, params, seed, monotone, method)
        trial.set_user_attr("rounds", rounds)
        if not best or loss < best["score"]:
            best.update(score=loss, params=params, rounds=rounds, oof=oof)
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(1, trials // 3)),
                                         multivariate=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(DEFAULT_TRIAL)
    study.optimize(objective, n_trials=max(1, trials))
    progress(f"xgboost: {max(1, trials)} trials, inner-CV log loss {best['score']:.4f} with "
             f"{best['rounds']} rounds, eta {best['params']['eta']:.3f}, "
             f"depth {best['params']['max_depth']}")
    return Tuned({"params": best["params"], "rounds": best["rounds"]}, best["oof"],
                 best["score"], time.monotonic() - t0)


# ---- forest and logistic regression: small grids -----------------------------------------

def _grid(X: np.ndarray, y: np.ndarray, folds: Folds, seed: int, candidates: Sequence[dict],
          fit: Callable, predict: Callable, monotone: Sequence[int] | None,
          method: str) -> tuple[int, list]:
    """Each candidate's inner-CV out-of-fold predictions and log loss; the best's index."""
    results = []
    for kwargs in candidates:
        oof = np.full(len(y), np.nan)
        for tr, va in folds:
            Xf, yf = _fit_rows(X, y, tr, seed, method)
            oof[va] = predict(fit(Xf, yf, seed, monotone=monotone, **kwargs), X[va])
        results.append((metrics.log_loss(y, oof), kwargs, oof))
    best = min(range(len(results)), key=lambda i: results[i][0])   # first on ties
    return best, results


def tune_forest(X: np.ndarray, y: np.ndarray, folds: Folds, seed: int, *,
                monotone: Sequence[int] | None = None, method: str = "none",
                grid: Sequence[dict] = FOREST_GRID,
                progress: Progress = lambda s: None) -> Tuned:
    """`min_samples_leaf` and `max_features` of the forest by inner-CV log loss."""
    t0 = time.monotonic()
    i, results = _grid(X, y, folds, seed, [{"params": g} for g in grid], members.fit_forest,
                       members.predict_forest, monotone, method)
    score, kwargs, oof = results[i]
    progress(f"forest: {kwargs['params']} (inner-CV log loss {score:.4f})")
    return Tuned(kwargs, oof, score, time.monotonic() - t0)


def tune_logistic(X: np.ndarray, y: np.ndarray, folds: Folds, seed: int, *,
                  monotone: Sequence[int] | None = None, method: str = "none",
                  grid: Sequence[float] = LOGISTIC_C,
                  progress: Progress = lambda s: None) -> Tuned:
    """The L2 strength C of the logistic regression by inner-CV log loss."""
    t0 = time.monotonic()
    i, results = _grid(X, y, folds, seed, [{"C": c} for c in grid], members.fit_logistic,
                       members.predict_logistic, monotone, method)
    score, kwargs, oof = results[i]
    progress(f"logistic: C={kwargs['C']} (inner-CV log loss {score:.4f})")
    return Tuned(kwargs, oof, score, time.monotonic() - t0)
