"""Monotone constraints from the schema: mapping to columns, errors, and members that obey."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loanscore_train import members, monotone
from loanscore_train.features import ToolError
from loanscore_train.recipe import RecipeConfig, fit_recipe

from conftest import DATA


def schema(**extra_field_keys) -> dict:
    return {"fields": [
        {"name": "income", "type": "number", **extra_field_keys.get("income", {})},
        {"name": "home", "type": "category", "levels": ["rent", "own"], **extra_field_keys.get("home", {})},
        {"name": "arrears", "type": "boolean", **extra_field_keys.get("arrears", {})},
        {"name": "debt", "type": "number"}],
        "derived": [{"name": "debt_per_income", "kind": "ratio", "inputs": ["debt", "income"]}]}


NAMES = ["income", "home=rent", "home=own", "arrears", "debt", "debt_per_income"]


def test_directions_map_to_the_fields_own_columns() -> None:
    s = schema(arrears={"monotone": "increasing"})
    assert monotone.declared(s) == {"arrears": 1}
    assert monotone.constraints(s, NAMES) == [0, 0, 0, 1, 0, 0]
    s["derived"] = []
    s["fields"][0]["monotone"] = "decreasing"
    assert monotone.constraints(s, NAMES) == [-1, 0, 0, 1, 0, 0]
    assert monotone.constraints(schema(), NAMES) is None
    # a monotone field kept out of the matrix constrains nothing
    assert monotone.constraints(schema(arrears={"monotone": "increasing", "feature": False}),
                                ["income", "home=rent", "home=own", "debt"]) is None


@pytest.mark.parametrize("keys, words", [
    ({"income": {"monotone": "decreasing"}}, ["'income'", "'debt_per_income'", "derived"]),
    ({"home": {"monotone": "increasing"}}, ["'home'", "category"]),
    ({"arrears": {"monotone": "up"}}, ["'arrears'", "'up'"]),
])
def test_errors_name_the_field(keys, words) -> None:
    with pytest.raises(ToolError) as e:
        monotone.declared(schema(**keys))
    assert e.value.code == 2
    for w in words:
        assert w in str(e.value)


def _data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    # the label rises with column 0 overall but with a dip the trees would learn, falls with 1;
    # column 2 is declared decreasing but, in the data, raises the risk a little
    margin = X[:, 0] + 1.5 * np.sin(3 * X[:, 0]) - X[:, 1] + 0.3 * X[:, 2]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-margin))).astype(int)
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    return X, y


CST = [1, -1, -1, 0]


def _moves(predict, model, X, col, direction) -> float:
    """The largest move of PD against `direction` when column `col` is raised step by step."""
    grid = np.linspace(-3, 3, 25)
    worst = 0.0
    for row in X[:40]:
        Z = np.tile(row, (len(grid), 1))
        Z[:, col] = grid
        d = np.diff(predict(model, Z)) * direction
        worst = max(worst, float(-d.min()))
    return worst


def test_members_obey_the_declared_directions() -> None:
    X, y = _data()
    xgbm = members.fit_xgboost(X, y, 0, rounds=60, monotone=CST)
    rf = members.fit_forest(X, y, 0, params={"n_estimators": 30, "min_samples_leaf": 3},
                            monotone=CST)
    for col, d in enumerate(CST):
        if d:
            assert _moves(members.predict_xgboost, xgbm, X, col, d) <= 1e-7, col
            assert _moves(members.predict_forest, rf, X, col, d) <= 1e-7, col
    free = members.fit_xgboost(X, y, 0, rounds=60)
    assert _moves(members.predict_xgboost, free, X, 0, 1) > 1e-3   # without: the dip is learnt
    lr = members.fit_logistic(X, y, 0, monotone=CST)
    coef = lr.named_steps["logit"].coef_[0]
    assert coef[0] > 0 and coef[1] < 0 and coef[2] == 0.0     # held at 0: data says otherwise
    assert members.fit_logistic(X, y, 0).named_steps["logit"].coef_[0][2] > 0


def test_recipe_passes_constraints_to_every_member() -> None:
    X, y = _data(1)
    fe = fit_recipe(X, y, 3, config=RecipeConfig(trials=2), monotone=CST)
    for m, model in fe.members:
        for col, d in enumerate(CST):
            if d:
                assert _moves(m.predict, model, X, col, d) <= 1e-7, (m.name, col)
    for col, d in enumerate(CST):
        if d:
            assert _moves(lambda _, Z: fe.predict(Z), None, X, col, d) <= 1e-7, col


def test_train_refuses_a_monotone_field_feeding_a_derived_feature(tmp_path: Path) -> None:
    s = json.loads((DATA / "credit_data.schema.json").read_text(encoding="utf-8"))
    for f in s["fields"]:
        if f["name"] == "Income":
            f["monotone"] = "decreasing"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(s), encoding="utf-8")
    for command in (["train", "--output", str(tmp_path / "bundle")], ["evaluate"]):
        proc = subprocess.run([sys.executable, "-m", "loanscore_train.cli", *command,
                               "--data", str(DATA / "credit_data.csv"), "--schema", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "'Income'" in proc.stderr and "'debt_to_income'" in proc.stderr
        assert "computing features" not in proc.stderr
