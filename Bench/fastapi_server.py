#!/usr/bin/env python3
"""A minimal FastAPI + uvicorn JSON endpoint serving the same ensemble as a LoanScore bundle:
what a team would otherwise deploy. For Bench/serve_compare.py only.

    POST /score  {"rows": [[f0, f1, ...], ...]}   model-ready feature rows (null = missing)
    -> {"pd": [...]}

Members: XGBoost from the bundle's members/xgboost.json loaded into a Booster
(`inplace_predict`); the forest and the logistic regression are the scikit-learn objects
RETRAINED with the Training package's own functions on the bundle's training rows (same
seed, same split; checked against validation/predictions.csv at start-up); weighted mean and
the bundle's isotonic calibration (numpy.interp). It gets model-ready rows, so it does no
validation, no feature computation, no reason codes, no audit log and no TLS: all work that
LoanScore does and this endpoint is spared.

    python Bench/fastapi_server.py --bundle DIR --data Data/credit_data.csv --port 8000 [--workers 2]

With --workers N, uvicorn runs N worker processes (each refits and checks the model at start),
as a deployment on N cores would.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def refit(bundle: Path, data: Path, binary: str):
    """The forest and logistic regression, refitted exactly as the training tool fitted them."""
    from loanscore_train import features as lf
    from loanscore_train import members as lm
    from loanscore_train import train as lt
    from sklearn.model_selection import train_test_split

    lineage = json.loads((bundle / "manifest.json").read_text())["lineage"]
    header, rows, _ = lt.read_raw(data)
    schema = bundle / "schema.json"
    y = lt.labels(data, header, rows, json.loads(schema.read_text())["target"])
    _, X = lf.compute_features(schema, data, len(rows), binary)
    i_tr, _ = train_test_split(np.arange(len(y)), test_size=lineage["holdout_fraction"], stratify=y,
                               random_state=lineage["seed"])
    return lm.fit_forest(X[i_tr], y[i_tr], lineage["seed"]), lm.fit_logistic(X[i_tr], y[i_tr], lineage["seed"])


def build_model(bundle: Path, data: Path, binary: str):
    import xgboost as xgb
    from loanscore_train import features as lf

    manifest = json.loads((bundle / "manifest.json").read_text())
    weights = {m["name"]: m["weight"] for m in manifest["members"]}
    cal = manifest["calibration"]
    booster = xgb.Booster()
    booster.load_model(str(bundle / "members" / "xgboost.json"))
    booster.set_param({"nthread": 1})
    forest, logistic = refit(bundle, data, binary)
    xs, ys = (np.array(cal["x"]), np.array(cal["y"])) if cal["kind"] == "isotonic" else (None, None)

    def predict(M: np.ndarray) -> np.ndarray:
        p = (weights["xgboost"] * booster.inplace_predict(M, missing=np.nan)
             + weights["forest"] * forest.predict_proba(M)[:, 1]
             + weights["logistic"] * logistic.predict_proba(M)[:, 1])
        return np.interp(p, xs, ys) if xs is not None else p

    # parity with the bundle's own holdout predictions
    schema = bundle / "schema.json"
    _, H = lf.compute_features(schema, bundle / "validation" / "holdout.csv", binary=binary)
    expected = np.genfromtxt(bundle / "validation" / "predictions.csv", delimiter=",", names=True)["pd"]
    diff = float(np.max(np.abs(predict(H) - expected)))
    print(f"fastapi_server: parity with validation/predictions.csv pd: max |diff| {diff:.2e}", file=sys.stderr)
    return predict, H.shape[1]


def make_app(predict, n_features: int):
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    class Request(BaseModel):
        rows: list[list[float | None]]

    app = FastAPI()

    @app.post("/score")
    def score(req: Request):
        M = np.array([[np.nan if v is None else v for v in r] for r in req.rows], dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != n_features:
            raise HTTPException(422, f"rows must have {n_features} features")
        return {"pd": predict(M).tolist()}

    @app.get("/health")
    def health():
        return {"ok": True}

    return app


def app_from_environment():
    """The app for a uvicorn worker process (--workers > 1): the model's files from the
    environment that main() sets."""
    env = os.environ
    predict, n = build_model(Path(env["LOANSCORE_FASTAPI_BUNDLE"]), Path(env["LOANSCORE_FASTAPI_DATA"]),
                             env["LOANSCORE_FASTAPI_BIN"])
    return make_app(predict, n)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", default=str(HERE.parent / "Data" / "credit_data.csv"))
    p.add_argument("--loanscore-bin", default=str(HERE.parent / ".build" / "release" / "loanscore"))
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = p.parse_args()
    import uvicorn
    if args.workers > 1:
        os.environ.update(LOANSCORE_FASTAPI_BUNDLE=args.bundle, LOANSCORE_FASTAPI_DATA=args.data,
                          LOANSCORE_FASTAPI_BIN=args.loanscore_bin)
        sys.path.insert(0, str(HERE))
        uvicorn.run("fastapi_server:app_from_environment", factory=True, workers=args.workers, host="127.0.0.1",
                    port=args.port, log_level="warning", access_log=False)
        return 0
    predict, n = build_model(Path(args.bundle), Path(args.data), args.loanscore_bin)
    uvicorn.run(make_app(predict, n), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
