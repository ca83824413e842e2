import json

import numpy as np
import pytest
import xgboost as xgb

from loanscore_train import members

from reference import forest_predict, logistic_predict


def synthetic(seed=0, n=600, d=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1, 10, 100, 0.01, 1, 1]
    X[:, 4] = rng.integers(0, 3, n)                  # a discrete column
    margin = X[:, 0] + 0.1 * X[:, 1] - 0.01 * X[:, 2] + (X[:, 4] == 2)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-margin))).astype(int)
    X[rng.uniform(size=(n, d)) < 0.1] = np.nan       # 10% missing everywhere
    X[:, 5] = np.nan                                 # an all-missing column
    return X, y


def roundtrip(obj):
    return json.loads(json.dumps(obj, allow_nan=False))


def test_forest_export_reproduces_predict_proba():
    X, y = synthetic(0)
    rf = members.fit_forest(X[:400], y[:400], seed=3)
    model = roundtrip(members.forest_to_dict(rf, X.shape[1]))
    assert model["format"] == "loanscore-forest/1" and model["n_features"] == X.shape[1]
    assert len(model["trees"]) == 200
    assert any(0 in t["missing_go_to_left"] for t in model["trees"])
    assert any(1 in t["missing_go_to_left"] for t in model["trees"])
    # "non-missing left, missing right" splits: sklearn's +inf threshold, written finite
    assert any(np.finfo(np.float64).max in t["threshold"] for t in model["trees"])
    Xt = X[400:]
    got = forest_predict(model, Xt)
    want = members.predict_forest(rf, Xt)
    assert np.max(np.abs(got - want)) <= 1e-12


def test_forest_value_is_positive_fraction_at_every_node():
    X, y = synthetic(1)
    rf = members.fit_forest(X, y, seed=0)
    t = members.forest_to_dict(rf, X.shape[1])["trees"][0]
    est = rf.estimators_[0].tree_
    # the root of a bootstrap tree: positive fraction of its (weighted) sample
    assert 0 < t["value"][0] < 1
    assert len(t["value"]) == est.node_count
    # a leaf's value is what the tree predicts
    leaf = rf.estimators_[0].apply(X[:1].astype(np.float32))[0]
    assert t["value"][leaf] == pytest.approx(rf.estimators_[0].predict_proba(X[:1])[0, 1], abs=1e-15)


def test_logistic_export_reproduces_predict_proba():
    X, y = synthetic(2)
    pipe = members.fit_logistic(X[:400], y[:400], seed=0)
    model = roundtrip(members.logistic_to_dict(pipe, X.shape[1]))
    assert model["format"] == "loanscore-logistic/1"
    assert model["imputation"]["values"][5] == 0.0          # keep_empty_features
    Xt = X[400:]
    assert np.max(np.abs(logistic_predict(model, Xt) - members.predict_logistic(pipe, Xt))) <= 1e-12


def test_xgboost_file_round_trips(tmp_path):
    X, y = synthetic(3)
    booster = members.fit_xgboost(X, y, seed=1)
    path = tmp_path / "xgboost.json"
    members.save_xgboost(booster, path)
    cfg = json.loads(path.read_text())
    assert cfg["learner"]["objective"]["name"] == "binary:logistic"
    assert cfg["learner"]["feature_names"] == []
    fresh = xgb.Booster(model_file=str(path))
    assert np.array_equal(members.predict_xgboost(fresh, X), members.predict_xgboost(booster, X))
