"""PARITY: LoanScore's Swift scorer reproduces the training libraries' own predictions."""
import csv

import numpy as np
import pytest
import xgboost as xgb

from loanscore_train.features import compute_features

from conftest import DATASETS, run_loanscore

TOLERANCE = 1e-6
COLUMNS = ("pd_xgboost", "pd_forest", "pd_logistic", "pd")


def read_columns(path, key):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [int(r[key]) for r in rows], rows


@pytest.mark.parametrize("name", DATASETS)
def test_swift_scores_match_training_predictions(trained, name, tmp_path):
    bundle, _ = trained(name)
    out = tmp_path / "scores.csv"
    run_loanscore("score", "--bundle", bundle, "--input", bundle / "validation/holdout.csv",
                  "--output", out, "--members")
    ids, scored = read_columns(out, "id")
    rows, expected = read_columns(bundle / "validation/predictions.csv", "row")
    assert ids == rows, "loanscore score: ids differ from predictions.csv rows"
    report = []
    worst = {}
    for col in COLUMNS:
        got = np.array([float(r[col]) for r in scored])
        want = np.array([float(r[col]) for r in expected])
        worst[col] = float(np.max(np.abs(got - want)))
        report.append(f"{name}: max |swift - python| {col:<11} = {worst[col]:.3e}")
    print("\n" + "\n".join(report))
    assert all(v <= TOLERANCE for v in worst.values()), "\n".join(report)


@pytest.mark.parametrize("name", DATASETS)
def test_xgboost_file_reproduces_predictions_exactly(trained, name):
    bundle, _ = trained(name)
    _, X = compute_features(bundle / "schema.json", bundle / "validation/holdout.csv")
    booster = xgb.Booster()
    booster.load_model(str(bundle / "members/xgboost.json"))
    got = booster.inplace_predict(X, missing=np.nan).astype(np.float64)
    _, expected = read_columns(bundle / "validation/predictions.csv", "row")
    want = np.array([float(r["pd_xgboost"]) for r in expected])
    assert np.array_equal(got, want)
