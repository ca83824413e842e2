"""Small pure-numpy evaluators of the bundle's forest and logistic formats (BUNDLE.md)."""
import numpy as np


def forest_predict(model: dict, X: np.ndarray) -> np.ndarray:
    X32 = np.asarray(X, dtype=np.float64).astype(np.float32)
    total = np.zeros(len(X32), dtype=np.float64)
    for t in model["trees"]:
        left, right = t["children_left"], t["children_right"]
        feat, thr = t["feature"], t["threshold"]
        mleft, value = t["missing_go_to_left"], t["value"]
        out = np.empty(len(X32), dtype=np.float64)
        for i, row in enumerate(X32):
            node = 0
            while left[node] != -1:
                v = row[feat[node]]
                if np.isnan(v):
                    node = left[node] if mleft[node] == 1 else right[node]
                else:
                    node = left[node] if float(v) <= thr[node] else right[node]
            out[i] = value[node]
        total += out                      # tree by tree, as scikit-learn accumulates
    return total / len(model["trees"])


def logistic_predict(model: dict, X: np.ndarray) -> np.ndarray:
    X = np.array(X, dtype=np.float64)
    fill = np.array(model["imputation"]["values"])
    X = np.where(np.isnan(X), fill[None, :], X)
    z = (X - np.array(model["scaling"]["mean"])) / np.array(model["scaling"]["scale"])
    margin = model["intercept"] + z @ np.array(model["coefficients"])
    return 1.0 / (1.0 + np.exp(-margin))
