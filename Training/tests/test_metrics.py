import numpy as np
import pytest
from sklearn import metrics as skm

from loanscore_train import metrics


def test_hand_computed_case():
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]
    assert metrics.roc_auc(y, p) == pytest.approx(0.75)
    assert metrics.gini(y, p) == pytest.approx(0.5)
    assert metrics.ks(y, p) == pytest.approx(0.5)
    assert metrics.brier(y, p) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    # rounded scores give plenty of ties; include exact 0 and 1
    p = np.clip(np.round(0.3 * y + rng.uniform(0, 0.7, 500), 2), 0, 1)
    p[:3] = [0.0, 1.0, 0.5]
    fpr, tpr, _ = skm.roc_curve(y, p)
    m = metrics.holdout_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["gini"] == pytest.approx(2 * skm.roc_auc_score(y, p) - 1, abs=1e-12)
    assert m["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-9)


def test_one_class_is_refused():
    with pytest.raises(ValueError):
        metrics.roc_auc([1, 1], [0.2, 0.3])
