"""The recipe (`recipe.fit_recipe`): tuned members, out-of-fold weights and calibration, the
XGBoost early-stopping trap, SMOTE only in fitting rows."""
from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from loanscore_train import ensemble, members, metrics
from loanscore_train.recipe import RecipeConfig, fit_recipe
from loanscore_train.resample import resample

from test_export import synthetic


@pytest.fixture(scope="module")
def small():
    X, y = synthetic(4, n=700)
    return X[:500], y[:500], X[500:], y[500:]


@pytest.fixture(scope="module")
def fitted(small):
    X, y, _, _ = small
    return fit_recipe(X, y, 5, config=RecipeConfig(trials=3))


def test_recipe_outputs_are_consistent(small, fitted) -> None:
    X, y, Xt, yt = small
    fe = fitted
    assert [m.name for m, _ in fe.members] == ["xgboost", "forest", "logistic"]
    assert fe.oof_members.shape == (len(y), 3) and not np.isnan(fe.oof_members).any()
    assert fe.oof_pd.shape == (len(y),) and set(np.unique(fe.fold_of)) == {0, 1, 2}
    assert np.all(fe.weights >= 0) and abs(fe.weights.sum() - 1) <= 1e-9
    assert fe.calibration["kind"] == "isotonic"               # the manifest's form
    x = np.array(fe.calibration["x"])
    assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) > 0)
    assert np.all(np.diff(fe.calibration["y"]) >= 0)
    pd_ = fe.predict(Xt)
    manual = ensemble.calibrate(ensemble.combine(fe.predict_members(Xt), fe.weights), fe.calibration)
    assert np.array_equal(pd_, manual)
    assert metrics.roc_auc(yt, pd_) > 0.7
    assert set(fe.params) == {"xgboost", "forest", "logistic"}
    assert fe.params["logistic"]["C"] in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    assert set(fe.seconds) == {"xgboost", "forest", "logistic"}


def test_saved_booster_has_exactly_the_rounds_chosen(small, fitted, tmp_path) -> None:
    _, _, Xt, _ = small
    booster = fitted.members[0][1]
    path = tmp_path / "xgboost.json"
    members.save_xgboost(booster, path)
    loaded = xgb.Booster()
    loaded.load_model(str(path))
    assert loaded.num_boosted_rounds() == fitted.params["xgboost"]["rounds"]
    clf = xgb.XGBClassifier()
    clf.load_model(str(path))
    got = loaded.inplace_predict(Xt, missing=np.nan)
    assert np.array_equal(got, clf.predict_proba(Xt)[:, 1])


def test_an_early_stopped_booster_is_saved_sliced_to_its_best_iteration(tmp_path) -> None:
    X, y = synthetic(6, n=800)
    clf = xgb.XGBClassifier(n_estimators=400, learning_rate=0.3, max_depth=5,
                            early_stopping_rounds=20, n_jobs=1, random_state=0)
    clf.fit(X[:400], y[:400], eval_set=[(X[400:600], y[400:600])], verbose=False)
    booster = clf.get_booster()
    best = clf.best_iteration
    assert booster.num_boosted_rounds() > best + 1            # trees after the best iteration
    Xt = X[600:]
    assert not np.allclose(booster.inplace_predict(Xt), clf.predict_proba(Xt)[:, 1])  # the trap
    path = tmp_path / "xgboost.json"
    members.save_xgboost(booster, path)
    loaded = xgb.Booster()
    loaded.load_model(str(path))
    assert loaded.num_boosted_rounds() == best + 1
    assert loaded.attr("best_iteration") is None
    assert np.array_equal(loaded.inplace_predict(Xt, missing=np.nan), clf.predict_proba(Xt)[:, 1])


def test_logistic_calibration_keeps_the_order_and_follows_the_curve() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 3000)
    y = (rng.uniform(size=3000) < p ** 1.5).astype(int)
    a, b = ensemble.fit_logistic_calibration(p, y)
    cal = ensemble.fit_calibration(p, y, kind="logistic")
    test = np.r_[np.linspace(0, 1, 20001), rng.uniform(size=5000)]
    got = ensemble.calibrate(test, cal)
    z = np.log(np.clip(test, 1e-7, 1 - 1e-7)) - np.log1p(-np.clip(test, 1e-7, 1 - 1e-7))
    exact = np.clip(1 / (1 + np.exp(-(a * z + b))), ensemble.PD_FLOOR, ensemble.PD_CEILING)
    assert np.max(np.abs(got - exact)) < 1e-4
    assert metrics.roc_auc(y, ensemble.calibrate(p, cal)) == metrics.roc_auc(y, p)
    iso = ensemble.fit_calibration(p, y, kind="isotonic")
    assert len(np.unique(ensemble.calibrate(p, iso))) < len(np.unique(ensemble.calibrate(p, cal)))


def test_weights_by_roc_auc_pick_the_best_ranker() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    good = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.2, 500), 0.01, 0.99)
    noise = rng.uniform(size=500)
    w = ensemble.choose_weights(np.column_stack([noise, good]), y, criterion="roc_auc")
    assert w[1] > w[0]


def test_smote_adds_only_synthetic_rows_after_the_originals() -> None:
    X, y = synthetic(2, n=300)
    y = (np.arange(300) % 5 == 0).astype(int)                 # 20% positive
    Xr, yr = resample(X, y, 0, "smote")
    assert np.array_equal(Xr[:300], X, equal_nan=True) and np.array_equal(yr[:300], y)
    assert yr.sum() == len(yr) - yr.sum()                     # balanced
    assert np.all(yr[300:] == 1) and not np.isnan(Xr[300:]).any()
    assert resample(X, y, 0, "none")[0] is X


def test_smote_never_reaches_the_weight_and_calibration_rows(small) -> None:
    X, y, Xt, yt = small
    fe = fit_recipe(X, y, 5, config=RecipeConfig(trials=1, resample="smote"))
    assert fe.oof_members.shape == (len(y), 3) and fe.oof_pd.shape == (len(y),)
    # the members were refitted on the training part plus synthetic defaults
    n_pos = int(y.sum())
    assert fe.members[2][1].named_steps["scale"].n_samples_seen_ == 2 * max(n_pos, len(y) - n_pos)
    assert metrics.roc_auc(yt, fe.predict(Xt)) > 0.65
