"""The training recipe: one function that turns a feature matrix and labels into a fitted,
weighted and calibrated ensemble. `train` and `evaluate` both call `fit_recipe`.

1. Inner stratified K-fold (3) of the training part; every choice below is made on it.
2. XGBoost: seeded TPE search (Optuna, `trials`) with early stopping; the number of rounds
   is chosen by the inner CV and the final booster is refitted with exactly that many.
3. Forest: `min_samples_leaf` and `max_features` by inner CV; logistic regression: C.
4. Weights on the simplex from the members' out-of-fold predictions of the chosen settings;
   calibration of the weighted mean on the same out-of-fold predictions.
5. Members refitted on the whole training part (resampled, if asked, only there).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold

from . import ensemble, tuning
from .members import MEMBERS, Member
from .resample import resample

Progress = Callable[[str], None]

DEFAULT_TRIALS = 30


@dataclass(frozen=True)
class RecipeConfig:
    """The recipe's switches, in one place.

    trials: Optuna trials for XGBoost (<= 1: its defaults, rounds still by inner CV);
    inner_folds: folds of the inner CV; resample: `none` or `smote` (fitting rows only);
    weights: `roc_auc` or `log_loss` of the out-of-fold weighted mean;
    calibration: `logistic` (Platt, written as a strictly increasing curve) or `isotonic`."""
    trials: int = DEFAULT_TRIALS
    inner_folds: int = 3
    resample: str = "none"
    weights: str = "roc_auc"
    calibration: str = "logistic"


@dataclass
class FittedEnsemble:
    """What the recipe produces from a training part.

    `members` are (Member, model) fitted on the whole training part, in manifest order;
    `oof_members` (n, k) and `oof_pd` (n,) are out-of-fold predictions of the training part
    (each row predicted by models that did not see it; `oof_pd` is the weighted, calibrated
    ensemble PD); `fold_of` is each training row's inner fold; `params` the chosen settings
    per member; `seconds` the time spent per member (tuning and refit)."""
    members: list[tuple[Member, Any]]
    weights: np.ndarray
    calibration: dict
    oof_members: np.ndarray
    oof_pd: np.ndarray
    fold_of: np.ndarray
    params: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """Each member's probability of default, (n, k) in member order."""
        return np.column_stack([m.predict(model, X) for m, model in self.members])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The calibrated ensemble PD, exactly as LoanScore computes it from the bundle."""
        return ensemble.calibrate(ensemble.combine(self.predict_members(X), self.weights),
                                  self.calibration)


def inner_folds(y: np.ndarray, seed: int, k: int) -> tuple[list, np.ndarray]:
    """Stratified K-fold of the training part: [(fit rows, validation rows)], fold of each row."""
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
                 .split(np.zeros(len(y)), y))
    fold_of = np.full(len(y), -1)
    for f, (_, va) in enumerate(folds):
        fold_of[va] = f
    return folds, fold_of


def fit_recipe(X: np.ndarray, y: np.ndarray, seed: int, *,
               config: RecipeConfig = RecipeConfig(),
               monotone: Sequence[int] | None = None,
               progress: Progress = lambda s: None,
               members: Sequence[Member] = MEMBERS) -> FittedEnsemble:
    """Fit the whole recipe on the training part (X, y); nothing else is looked at.

    `monotone`: -1/0/+1 per column (from `monotone.constraints`), passed to every member.
    `members`: in manifest order; each must be one of `members.MEMBERS` (by kind)."""
    folds, fold_of = inner_folds(y, seed, config.inner_folds)
    tuners = {
        "xgboost": lambda: tuning.tune_xgboost(X, y, folds, seed, config.trials,
                                               monotone=monotone, method=config.resample,
                                               progress=progress),
        "random_forest": lambda: tuning.tune_forest(X, y, folds, seed, monotone=monotone,
                                                    method=config.resample, progress=progress),
        "logistic_regression": lambda: tuning.tune_logistic(X, y, folds, seed, monotone=monotone,
                                                            method=config.resample,
                                                            progress=progress),
    }
    tuned = {m.name: tuners[m.kind]() for m in members}
    oof = np.column_stack([tuned[m.name].oof for m in members])
    weights = ensemble.choose_weights(oof, y, criterion=config.weights)
    combined = ensemble.combine(oof, weights)
    calibration = ensemble.fit_calibration(combined, y, kind=config.calibration)
    progress("weights " + ", ".join(f"{m.name}={w:.2f}" for m, w in zip(members, weights))
             + f" ({config.weights}); calibration {config.calibration}")

    X_fit, y_fit = resample(X, y, seed, config.resample)
    fitted, seconds = [], {}
    for m in members:
        t = time.monotonic()
        fitted.append((m, m.fit(X_fit, y_fit, seed, monotone=monotone, **tuned[m.name].kwargs)))
        seconds[m.name] = tuned[m.name].seconds + time.monotonic() - t
        progress(f"refit {m.name} on the training part")
    return FittedEnsemble(fitted, weights, calibration, oof,
                          ensemble.calibrate(combined, calibration), fold_of,
                          params={m.name: tuned[m.name].kwargs for m in members},
                          seconds=seconds)
