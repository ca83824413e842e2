"""The training recipe: one function that turns a feature matrix and labels into a fitted,
weighted and calibrated ensemble. `train` and `evaluate` both call `fit_recipe`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import ensemble
from .members import MEMBERS, Member

Progress = Callable[[str], None]


@dataclass
class FittedEnsemble:
    """What the recipe produces from a training part.

    `members` are (Member, model) fitted on the whole training part, in manifest order;
    `oof_members` (n, k) and `oof_pd` (n,) are out-of-fold predictions of the training part
    (each row predicted by models that did not see it; `oof_pd` is the weighted, calibrated
    ensemble PD); `fold_of` is each training row's inner fold.
    """
    members: list[tuple[Member, Any]]
    weights: np.ndarray
    calibration: dict
    oof_members: np.ndarray
    oof_pd: np.ndarray
    fold_of: np.ndarray
    params: dict[str, dict] = field(default_factory=dict)

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """Each member's probability of default, (n, k) in member order."""
        return np.column_stack([m.predict(model, X) for m, model in self.members])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The calibrated ensemble PD, exactly as LoanScore computes it from the bundle."""
        return ensemble.calibrate(ensemble.combine(self.predict_members(X), self.weights),
                                  self.calibration)


def fit_recipe(X: np.ndarray, y: np.ndarray, seed: int,
               progress: Progress = lambda s: None,
               members: Sequence[Member] = MEMBERS) -> FittedEnsemble:
    """Fit the whole recipe on (X, y): out-of-fold member predictions, weights, calibration,
    then the members refitted on all of (X, y)."""
    oof, fold_of = ensemble.out_of_fold(members, X, y, seed, progress=progress)
    weights = ensemble.choose_weights(oof, y)
    calibration = ensemble.fit_calibration(ensemble.combine(oof, weights), y)
    fitted = []
    for m in members:
        fitted.append((m, m.fit(X, y, seed)))
        progress(f"refit {m.name} on the training part")
    return FittedEnsemble(fitted, weights, calibration, oof,
                          ensemble.calibrate(ensemble.combine(oof, weights), calibration), fold_of)
