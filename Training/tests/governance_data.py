"""Synthetic out-of-fold PDs for the governance tests (no Swift CLI, no recipe needed).

A one-hot logistic regression (C = 0.3) on the data set's non-protected fields, 5-fold
out of fold on a stratified 80% training part, isotonic-calibrated out of fold too; and
holdout PDs from the same recipe fitted on the whole training part.
"""
import json

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loanscore_train.train import labels, read_raw

from conftest import DATA


def _design(schema, header, rows):
    df = pd.DataFrame(rows, columns=header)
    parts = []
    for f in schema["fields"]:
        if f.get("protected"):
            continue
        col = df[f["name"]].str.strip()
        if f["type"] in ("number", "integer"):
            v = pd.to_numeric(col, errors="coerce")
            if f.get("sentinels"):
                v[col.isin(f["sentinels"])] = np.nan
            parts.append(v.fillna(v.median()).rename(f["name"]))
        else:
            parts.append(pd.get_dummies(col.str.casefold(), prefix=f["name"], dtype=float))
    return pd.concat(parts, axis=1).to_numpy(dtype=float)


def _fit_predict(X_tr, y_tr, X_te):
    m = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000)).fit(X_tr, y_tr)
    return m.predict_proba(X_te)[:, 1]


def oof_data(name: str, seed: int = 42):
    """(schema, header, rows, y, pd_oof, train_index, pd_holdout, holdout_index)."""
    schema = json.loads((DATA / f"{name}.schema.json").read_text())
    header, rows, _ = read_raw(DATA / f"{name}.csv")
    y = labels(name, header, rows, schema["target"])
    X = _design(schema, header, rows)
    i_tr, i_ho = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    raw = np.zeros(len(i_tr))
    skf = StratifiedKFold(5, shuffle=True, random_state=seed)
    for tr, va in skf.split(i_tr, y[i_tr]):
        raw[va] = _fit_predict(X[i_tr[tr]], y[i_tr[tr]], X[i_tr[va]])
    pd_oof = np.zeros(len(i_tr))
    for tr, va in skf.split(i_tr, y[i_tr]):           # calibration, out of fold as well
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0005, y_max=0.9995)
        pd_oof[va] = iso.fit(raw[tr], y[i_tr[tr]]).predict(raw[va])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0005, y_max=0.9995).fit(raw, y[i_tr])
    pd_ho = iso.predict(_fit_predict(X[i_tr], y[i_tr], X[i_ho]))
    return schema, header, rows, y, pd_oof, i_tr, pd_ho, i_ho
