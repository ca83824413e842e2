#!/usr/bin/env python3
"""The bundle's ensemble as an MLflow pyfunc model, for `mlflow models serve` in
Bench/serve_compare.py. Same model as Bench/fastapi_server.py: XGBoost from the bundle's
JSON, forest and logistic regression retrained with the Training package (same seed and
rows), weighted mean, isotonic calibration. Input: model-ready rows ({"inputs": [[...]]}).

Run with the Python of a venv that has mlflow (not Bench/.venv: mlflow is heavy):
    python Bench/mlflow_model.py --bundle DIR --out MODEL_DIR [--data CSV] [--loanscore-bin BIN]
"""
import argparse
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np

HERE = Path(__file__).resolve().parent


class Ensemble(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import xgboost as xgb
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts["xgboost"])
        self.booster.set_param({"nthread": 1})
        with open(context.artifacts["sklearn"], "rb") as f:
            self.forest, self.logistic = pickle.load(f)
        manifest = json.loads(Path(context.artifacts["manifest"]).read_text())
        self.w = {m["name"]: m["weight"] for m in manifest["members"]}
        cal = manifest["calibration"]
        self.cal = (np.array(cal["x"]), np.array(cal["y"])) if cal["kind"] == "isotonic" else None

    def predict(self, context, model_input, params=None):
        M = np.asarray(model_input, dtype=np.float64)
        p = (self.w["xgboost"] * self.booster.inplace_predict(M, missing=np.nan)
             + self.w["forest"] * self.forest.predict_proba(M)[:, 1]
             + self.w["logistic"] * self.logistic.predict_proba(M)[:, 1])
        return np.interp(p, *self.cal) if self.cal is not None else p


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bundle", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=str(HERE.parent / "Data" / "credit_data.csv"))
    p.add_argument("--loanscore-bin", default=str(HERE.parent / ".build" / "release" / "loanscore"))
    args = p.parse_args()
    sys.path.insert(0, str(HERE.parent / "Training" / "src"))
    sys.path.insert(0, str(HERE))
    os.environ["LOANSCORE_BIN"] = args.loanscore_bin
    from fastapi_server import refit  # noqa: E402  (the same refit as the FastAPI endpoint)
    bundle = Path(args.bundle)
    forest, logistic = refit(bundle, Path(args.data), args.loanscore_bin)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "sk.pkl").write_bytes(pickle.dumps((forest, logistic)))
    mlflow.pyfunc.save_model(args.out, python_model=Ensemble(),
                             artifacts={"xgboost": str(bundle / "members" / "xgboost.json"),
                                        "sklearn": str(tmp / "sk.pkl"),
                                        "manifest": str(bundle / "manifest.json")})
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
