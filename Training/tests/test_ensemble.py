import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from loanscore_train import ensemble


def test_simplex_grid():
    g = ensemble.simplex_grid(3, 0.05)
    assert g.shape == (231, 3)
    assert np.all(g >= 0)
    assert np.allclose(g.sum(axis=1), 1.0, atol=1e-12)


def test_weights_pick_the_perfect_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    perfect = np.where(y == 1, 0.999, 0.001)
    noisy = rng.uniform(0, 1, 400)
    weak = np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    w = ensemble.choose_weights(np.column_stack([noisy, perfect, weak]), y)
    assert w.tolist() == [0.0, 1.0, 0.0]
    assert abs(w.sum() - 1.0) <= 1e-9


def test_weights_minimise_log_loss_on_the_grid():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    P = np.column_stack([np.clip(0.5 + (y - 0.5) * s + rng.normal(0, 0.25, 300), 0.02, 0.98)
                         for s in (0.3, 0.2, 0.1)])
    w = ensemble.choose_weights(P, y)
    def ll(weights):
        p = ensemble.combine(P, weights)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    best = min(ll(g) for g in ensemble.simplex_grid(3))
    assert ll(w) == pytest.approx(best, abs=1e-12)


def test_combine_is_the_weighted_mean():
    P = np.array([[0.1, 0.5, 0.9], [0.2, 0.2, 0.2]])
    assert np.allclose(ensemble.combine(P, [0.5, 0.3, 0.2]), [0.38, 0.2])


def test_isotonic_points_reproduce_predict():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 2000)
    y = (rng.uniform(0, 1, 2000) < p ** 2).astype(int)
    cal = ensemble.fit_calibration(p, y)
    assert cal["kind"] == "isotonic"
    x = np.array(cal["x"])
    assert np.all(np.diff(x) > 0) and np.all(np.diff(cal["y"]) >= 0)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=ensemble.PD_FLOOR, y_max=ensemble.PD_CEILING).fit(p, y)
    test = np.r_[rng.uniform(-0.2, 1.2, 5000), p, x]
    calibrated = ensemble.calibrate(test, cal)
    assert np.max(np.abs(calibrated - iso.predict(test))) <= 1e-12
    assert calibrated.min() >= ensemble.PD_FLOOR and calibrated.max() <= ensemble.PD_CEILING


def test_degenerate_calibration_is_identity():
    cal = ensemble.fit_calibration(np.full(10, 0.3), np.array([0, 1] * 5))
    assert cal == {"kind": "identity"}
    assert np.array_equal(ensemble.calibrate(np.array([0.1, 0.7]), cal), [0.1, 0.7])
