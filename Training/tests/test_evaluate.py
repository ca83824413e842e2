"""`loanscore-train evaluate`: nothing fitted sees its outer test fold; the JSON's shape."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from loanscore_train.evaluate import METRICS, evaluate
from loanscore_train.recipe import FittedEnsemble

from conftest import DATA, require_loanscore


class _Constant:
    """A stand-in recipe that records the rows it was fitted on (column 0 is the row id)."""

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def __call__(self, X, y, seed, progress=None, **kwargs):
        self.seen.append(set(X[:, 0].astype(int)))
        rate = float(np.mean(y))
        member = type("M", (), {"name": "const", "predict": staticmethod(lambda m, X: np.full(len(X), rate))})
        fe = FittedEnsemble([(member, None)], np.array([1.0]), {"kind": "identity"},
                            np.zeros((len(y), 1)), np.zeros(len(y)), np.zeros(len(y), int))
        return fe


def test_no_outer_test_row_reaches_the_fit() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([np.arange(200), rng.normal(size=200)])
    y = (rng.uniform(size=200) < 0.3).astype(int)
    seen: list = []
    out = evaluate(X, y, folds=4, repeats=2, seed=1, fit=_Constant(seen))
    assert len(seen) == 8
    from sklearn.model_selection import RepeatedStratifiedKFold
    splits = list(RepeatedStratifiedKFold(n_splits=4, n_repeats=2, random_state=1).split(X, y))
    for rows, (tr, te) in zip(seen, splits):
        assert rows == set(tr) and not rows & set(te)
    assert out["ensemble"]["roc_auc"]["mean"] == 0.5     # a constant PD ranks nobody


def test_recipe_on_shuffled_labels_scores_chance_and_prints_the_json(tmp_path: Path) -> None:
    """The whole recipe (tuning, weights, calibration) inside each outer fold: with labels
    shuffled there is nothing to learn, so any leak of the test fold would show as AUC > 0.5."""
    require_loanscore()
    with open(DATA / "german_credit.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    j = header.index("creditability")
    labels = [r[j] for r in body]
    np.random.default_rng(7).shuffle(labels)
    for r, v in zip(body, labels):
        r[j] = v
    data = tmp_path / "shuffled.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    proc = subprocess.run([sys.executable, "-m", "loanscore_train.cli", "evaluate",
                           "--data", str(data), "--schema", str(DATA / "german_credit.schema.json"),
                           "--folds", "4", "--repeats", "1", "--trials", "2", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    sys.stderr.write(proc.stderr)
    result = json.loads(proc.stdout)
    assert set(result) == {"ensemble", "members", "folds", "repeats", "seconds"}
    assert result["folds"] == 4 and result["repeats"] == 1 and result["seconds"] > 0
    assert [m["name"] for m in result["members"]] == ["xgboost", "forest", "logistic"]
    for entry in [result["ensemble"], *result["members"]]:
        for k in METRICS:
            assert set(entry[k]) == {"mean", "std"} and np.isfinite(entry[k]["mean"])
        assert entry["fit_seconds"]["mean"] > 0
    assert abs(result["ensemble"]["roc_auc"]["mean"] - 0.5) <= 0.06, result["ensemble"]["roc_auc"]
    for m in result["members"]:
        assert abs(m["roc_auc"]["mean"] - 0.5) <= 0.08, m
    assert "outer fold 4/4" in proc.stderr and "ensemble" in proc.stderr   # progress and table


def test_evaluate_refuses_one_fold() -> None:
    proc = subprocess.run([sys.executable, "-m", "loanscore_train.cli", "evaluate",
                           "--data", str(DATA / "german_credit.csv"),
                           "--schema", str(DATA / "german_credit.schema.json"), "--folds", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--folds" in proc.stderr
