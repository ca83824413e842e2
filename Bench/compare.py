#!/usr/bin/env python3
"""LoanScore's in-process evaluator against what a user would pick instead, in one run.

On one bundle and one set of applications (default 1,000,000, resampled from the bundle's
holdout exactly as `loanscore bench` resamples: application i is holdout row i*7919 mod n),
measures applications/s and µs per application at batch sizes 1, 64 and 1024, with 1 and 2
threads, for:

  * LoanScore (`loanscore bench --json`, PD only and with reasons; validation + features +
    ensemble + calibration + decision, features computed from the raw applications);
  * XGBoost's own `Booster.inplace_predict` on the bundle's members/xgboost.json;
  * scikit-learn `RandomForestClassifier.predict_proba`: the forest is RETRAINED with the
    Training package's own `fit_forest` (same hyperparameters, same seed, same training rows:
    the split is redone from the manifest's seed and holdout fraction) and checked against the
    bundle's validation/predictions.csv, so it is the bundle's forest, not a look-alike;
  * the three libraries' own predictors combined (XGBoost + forest + logistic Pipeline,
    weighted mean, isotonic calibration by numpy.interp): what a Python service would run;
  * ONNX Runtime on the converted XGBoost (onnxmltools) and forest (skl2onnx), and on the
    whole ensemble as one graph (three converted members, weighted mean; calibration is left
    out of the graph, which favours ONNX Runtime);
  * TL2cgen-compiled C (Treelite import, gcc) of the XGBoost member and the forest, and of
    the XGBoost member with quantized thresholds.

The alternatives get the model-ready float matrix (from `loanscore features`): their figures
exclude validation and feature computation, LoanScore's include them.

Timing: every method scores consecutive batches of the same application matrix; each
repetition runs over the N applications, or stops after --max-seconds (the applications it
actually scored are counted and reported); the figure is the median over --reps repetitions
after one warm-up. Batch 1 is one call per application. Threads: LoanScore --threads,
XGBoost nthread, scikit-learn n_jobs, ONNX Runtime intra_op_num_threads, TL2cgen nthread;
OMP_WAIT_POLICY=PASSIVE and ONNX Runtime spinning off everywhere (the machine is shared).

Writes Bench/results/<date>-compare.md and prints the same table.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any OpenMP runtime loads

import argparse
import datetime as dt
import hashlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# ---- helpers ----------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict:
    model, cores = platform.processor() or "unknown", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                model = v.strip()
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return {"cpu": model, "cores": cores, "load": load, "kernel": platform.release()}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "Sources"],
                               capture_output=True, text=True).stdout.strip()
        return sha + (" (Sources modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def version(mod: str) -> str:
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "?")
    except Exception as e:  # noqa: BLE001
        return f"not installed ({type(e).__name__})"


def time_batches(fn, X: np.ndarray, batch: int, reps: int, max_seconds: float) -> dict:
    """Median applications/s over `reps` runs of fn over consecutive batches of X."""
    n = X.shape[0]
    starts = range(0, n, batch)
    # warm-up: a few batches
    for s in list(starts)[:3]:
        fn(X[s:s + batch])
    rates, scored = [], []
    for _ in range(reps):
        done = 0
        t0 = time.perf_counter()
        deadline = t0 + max_seconds if max_seconds > 0 else float("inf")
        for s in starts:
            fn(X[s:s + batch])
            done += min(batch, n - s)
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - t0
        rates.append(done / elapsed)
        scored.append(done)
    rate = statistics.median(rates)
    return {"apps_per_s": rate, "us_per_app": 1e6 / rate, "scored": int(statistics.median(scored)),
            "spread": (min(rates), max(rates))}


# ---- data and models --------------------------------------------------------------------

class Setup:
    def __init__(self, args):
        from loanscore_train import features as lf
        from loanscore_train import members as lm
        from loanscore_train import train as lt
        from sklearn.model_selection import train_test_split
        import xgboost as xgb

        self.args = args
        self.bundle = Path(args.bundle)
        self.manifest = json.loads((self.bundle / "manifest.json").read_text())
        self.binary = args.loanscore_bin
        self.weights = {m["name"]: m["weight"] for m in self.manifest["members"]}
        cal = self.manifest["calibration"]
        self.cal = (np.array(cal["x"]), np.array(cal["y"])) if cal["kind"] == "isotonic" else None
        holdout = self.bundle / "validation" / "holdout.csv"
        schema = self.bundle / "schema.json"
        log("computing the holdout's features with loanscore features")
        _, pool = lf.compute_features(schema, holdout, binary=self.binary)
        self.pool = pool
        n = args.rows
        idx = (np.arange(n, dtype=np.int64) * 7919) % pool.shape[0]
        self.X64 = np.ascontiguousarray(pool[idx], dtype=np.float64)
        self.X32 = np.ascontiguousarray(self.X64, dtype=np.float32)
        self.holdout = holdout
        self.n_features = pool.shape[1]
        preds = np.genfromtxt(self.bundle / "validation" / "predictions.csv", delimiter=",", names=True)
        self.expected = {k: np.asarray(preds[f"pd_{k}"], dtype=np.float64)
                         for k in ("xgboost", "forest", "logistic", "ensemble")}
        self.expected["pd"] = np.asarray(preds["pd"], dtype=np.float64)

        self.booster = xgb.Booster()
        self.booster.load_model(str(self.bundle / "members" / "xgboost.json"))

        # Retrain forest and logistic exactly as the training tool did (same rows, same seed).
        data = Path(args.data)
        sha = hashlib.sha256(data.read_bytes()).hexdigest()
        lineage = self.manifest["lineage"]
        if sha != lineage["training_data"]["sha256"]:
            raise SystemExit(f"{data}: sha256 differs from the bundle's training data; pass --data")
        header, rows, _ = lt.read_raw(data)
        schema_obj = json.loads(schema.read_text())
        y = lt.labels(data, header, rows, schema_obj["target"])
        log("computing the training data's features and refitting forest + logistic (same seed)")
        _, Xall = lf.compute_features(schema, data, len(rows), self.binary)
        i_tr, _ = train_test_split(np.arange(len(y)), test_size=lineage["holdout_fraction"], stratify=y,
                                   random_state=lineage["seed"])
        self.forest = lm.fit_forest(Xall[i_tr], y[i_tr], lineage["seed"])
        self.logistic = lm.fit_logistic(Xall[i_tr], y[i_tr], lineage["seed"])
        self.lm = lm
        self.parity = {
            "xgboost": self._maxdiff(lm.predict_xgboost(self.booster, pool), "xgboost"),
            "forest (retrained)": self._maxdiff(lm.predict_forest(self.forest, pool), "forest"),
            "logistic (retrained)": self._maxdiff(lm.predict_logistic(self.logistic, pool), "logistic"),
        }
        log(f"parity of the Python members with the bundle's predictions.csv: {self.parity}")

    def _maxdiff(self, p, key) -> float:
        return float(np.max(np.abs(np.asarray(p, dtype=np.float64) - self.expected[key])))


# ---- methods ----------------------------------------------------------------------------
# Each factory returns fn(Xbatch) for a thread count, or raises (recorded as "not run").

def m_xgboost(S: Setup, threads: int):
    S.booster.set_param({"nthread": threads})
    b = S.booster
    return lambda X: b.inplace_predict(X, missing=np.nan), "X64"


def m_forest(S: Setup, threads: int):
    S.forest.set_params(n_jobs=threads)
    f = S.forest
    return lambda X: f.predict_proba(X)[:, 1], "X64"


def m_three(S: Setup, threads: int):
    S.booster.set_param({"nthread": threads})
    S.forest.set_params(n_jobs=threads)
    b, f, lg = S.booster, S.forest, S.logistic
    w = S.weights
    cal = S.cal

    def fn(X):
        p = (w["xgboost"] * b.inplace_predict(X, missing=np.nan)
             + w["forest"] * f.predict_proba(X)[:, 1]
             + w["logistic"] * lg.predict_proba(X)[:, 1])
        return np.interp(p, *cal) if cal is not None else p
    return fn, "X64"


def _ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


class OnnxModels:
    """Converted members and the one-graph ensemble (built once)."""

    def __init__(self, S: Setup):
        from onnxmltools.convert import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType as MFloat
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
        import onnx

        n = S.n_features
        log("converting to ONNX")
        opset = 15  # the highest onnxmltools supports here
        self.xgb = convert_xgboost(S.booster, initial_types=[("input", MFloat([None, n]))],
                                   target_opset=opset)
        self.forest = convert_sklearn(S.forest, initial_types=[("input", FloatTensorType([None, n]))],
                                      options={id(S.forest): {"zipmap": False}}, target_opset=opset)
        self.logistic = convert_sklearn(S.logistic, initial_types=[("input", FloatTensorType([None, n]))],
                                        options={id(S.logistic): {"zipmap": False}}, target_opset=opset)
        self.ensemble = self._combine(onnx, S)

    @staticmethod
    def _prob_output(model) -> str:
        names = [o.name for o in model.graph.output]
        for cand in ("probabilities", "output_probability"):
            if cand in names:
                return cand
        return names[-1]

    def _combine(self, onnx, S: Setup):
        from onnx import TensorProto, helper, numpy_helper
        from onnx.compose import add_prefix
        parts, nodes, inits, opsets = [], [], [], {}
        terms = []
        for name, model in (("xgboost", self.xgb), ("forest", self.forest), ("logistic", self.logistic)):
            m = add_prefix(model, prefix=f"{name}_", rename_inputs=False)
            prob = f"{name}_" + self._prob_output(model)
            nodes.extend(m.graph.node)
            inits.extend(m.graph.initializer)
            for op in m.opset_import:
                opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
            col = f"{name}_col1"
            w = f"{name}_w"
            inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), f"{name}_idx1"))
            inits.append(numpy_helper.from_array(np.array([S.weights[name]], dtype=np.float32), w))
            nodes.append(helper.make_node("Gather", [prob, f"{name}_idx1"], [col], axis=1))
            nodes.append(helper.make_node("Mul", [col, w], [f"{name}_wp"]))
            terms.append(f"{name}_wp")
        nodes.append(helper.make_node("Sum", terms, ["pd_ensemble"]))
        graph = helper.make_graph(nodes, "loanscore_ensemble", [self.xgb.graph.input[0]],
                                  [helper.make_tensor_value_info("pd_ensemble", TensorProto.FLOAT, [None, 1])],
                                  initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
        model.ir_version = self.xgb.ir_version
        onnx.checker.check_model(model)
        return model


def _ort_fn(model, threads: int, output: str | None = None):
    sess = _ort_session(model.SerializeToString(), threads)
    out = output or OnnxModels._prob_output(model)
    inp = sess.get_inputs()[0].name
    return lambda X: sess.run([out], {inp: X})[0]


def m_ort_xgb(S, threads):
    return _ort_fn(S.onnx.xgb, threads), "X32"


def m_ort_forest(S, threads):
    return _ort_fn(S.onnx.forest, threads), "X32"


def m_ort_ensemble(S, threads):
    return _ort_fn(S.onnx.ensemble, threads, "pd_ensemble"), "X32"


class Compiled:
    """TL2cgen-compiled shared libraries (gcc), built once."""

    def __init__(self, S: Setup, workdir: Path):
        import pickle
        import tl2cgen
        import treelite
        self.tl2cgen = tl2cgen
        # Compiling takes minutes on 2 shared cores: keep the libraries in Bench/.cache, keyed
        # by the models' bytes, the parameters and the tl2cgen version.
        cache = HERE / ".cache"
        cache.mkdir(exist_ok=True)
        log("compiling with TL2cgen (gcc), or reusing Bench/.cache")
        xgb_model = treelite.frontend.load_xgboost_model(str(S.bundle / "members" / "xgboost.json"))
        rf_model = treelite.sklearn.import_model(S.forest)
        self.libs = {}
        for key, model, params in (("xgboost", xgb_model, {"parallel_comp": 8}),
                                   ("xgboost_quantized", xgb_model, {"parallel_comp": 8, "quantize": 1}),
                                   ("forest", rf_model, {"parallel_comp": 16})):
            src = (S.bundle / "members" / "xgboost.json").read_bytes() if key.startswith("xgboost") \
                else pickle.dumps([(e.tree_.__getstate__()["nodes"].tobytes(), e.tree_.value.tobytes())
                                   for e in S.forest.estimators_])
            digest = hashlib.sha256(src + repr(sorted(params.items())).encode() + tl2cgen.__version__.encode()).hexdigest()[:16]
            path = cache / f"{key}-{digest}.so"
            if not path.exists():
                t0 = time.perf_counter()
                tmp = workdir / path.name
                tl2cgen.export_lib(model, toolchain="gcc", libpath=str(tmp), params=params, nthread=2)
                shutil.copy(tmp, path)
                log(f"  {key}: compiled in {time.perf_counter() - t0:.1f}s")
            self.libs[key] = path

    def fn(self, key: str, threads: int):
        pred = self.tl2cgen.Predictor(str(self.libs[key]), nthread=threads)
        DM = self.tl2cgen.DMatrix
        return lambda X: pred.predict(DM(X, dtype="float32"))


def m_tl_xgb(S, threads):
    return S.compiled.fn("xgboost", threads), "X32"


def m_tl_xgbq(S, threads):
    return S.compiled.fn("xgboost_quantized", threads), "X32"


def m_tl_forest(S, threads):
    return S.compiled.fn("forest", threads), "X32"


PY_METHODS = [
    ("XGBoost inplace_predict (xgboost member)", "xgboost", m_xgboost, None),
    ("scikit-learn predict_proba (forest member, retrained)", "forest", m_forest, None),
    ("XGBoost + scikit-learn + numpy (whole ensemble, calibrated)", "ensemble", m_three, None),
    ("ONNX Runtime (xgboost member, onnxmltools)", "xgboost", m_ort_xgb, "onnx"),
    ("ONNX Runtime (forest member, skl2onnx)", "forest", m_ort_forest, "onnx"),
    ("ONNX Runtime (whole ensemble, one graph, uncalibrated)", "ensemble", m_ort_ensemble, "onnx"),
    ("TL2cgen gcc (xgboost member)", "xgboost", m_tl_xgb, "tl2cgen"),
    ("TL2cgen gcc (xgboost member, quantized thresholds)", "xgboost", m_tl_xgbq, "tl2cgen"),
    ("TL2cgen gcc (forest member)", "forest", m_tl_forest, "tl2cgen"),
]


def loanscore_bench(S: Setup, batch: int, threads: int, reasons: bool, rows: int, reps: int, member: str = None) -> dict:
    cmd = [S.binary, "bench", "--bundle", str(S.bundle), "--input", str(S.holdout), "--rows", str(rows),
           "--batch", str(batch), "--threads", str(threads), "--json"]
    if not reasons:
        cmd.append("--no-reasons")
    if member:
        cmd += ["--member", member]
    subprocess.run(cmd[:6] + ["--rows", str(min(rows, 2000))] + cmd[8:], capture_output=True, check=True)  # warm-up
    rates = []
    for _ in range(reps):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rates.append(json.loads(out)["applications_per_s"])
    rate = statistics.median(rates)
    return {"apps_per_s": rate, "us_per_app": 1e6 / rate, "scored": rows, "spread": (min(rates), max(rates))}


# ---- report -----------------------------------------------------------------------------

def fmt_rate(x):
    return f"{x:,.0f}"


def fmt_us(x):
    return f"{x:,.2f}" if x < 100 else f"{x:,.0f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", default=str(ROOT / "Data" / "credit_data.csv"),
                   help="the bundle's training data (checked by sha256; used to refit the forest)")
    p.add_argument("--loanscore-bin", default=str(ROOT / ".build" / "release" / "loanscore"))
    p.add_argument("--rows", type=int, default=1_000_000, help="applications (default 1,000,000)")
    p.add_argument("--batches", default="1,64,1024")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=1.0,
                   help="cap on one repetition of one method (0: always all --rows)")
    p.add_argument("--skip", default="", help="comma list: onnx, tl2cgen, loanscore")
    p.add_argument("--output", default=str(HERE / "results"))
    args = p.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    threads_list = [int(t) for t in args.threads.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    started = dt.datetime.now(dt.timezone.utc)
    m0 = machine()

    S = Setup(args)
    notes = []
    workdir = Path(tempfile.mkdtemp(prefix="loanscore-compare-"))
    available = {}
    for key, build in (("onnx", lambda: OnnxModels(S)), ("tl2cgen", lambda: Compiled(S, workdir))):
        if key in skip:
            available[key] = "skipped (--skip)"
            continue
        try:
            t0 = time.perf_counter()
            setattr(S, "onnx" if key == "onnx" else "compiled", build())
            available[key] = f"ok (built in {time.perf_counter() - t0:.1f}s)"
        except Exception as e:  # noqa: BLE001
            available[key] = f"failed: {type(e).__name__}: {e}"
            traceback.print_exc()
    log(f"alternatives: {available}")

    # parity of the converted/compiled models against the libraries (on the holdout pool)
    if hasattr(S, "onnx"):
        pool32 = np.asarray(S.pool, dtype=np.float32)
        for label, model, key, out in (("ONNX xgboost", S.onnx.xgb, "xgboost", None),
                                       ("ONNX forest", S.onnx.forest, "forest", None),
                                       ("ONNX ensemble (vs pd_ensemble)", S.onnx.ensemble, "ensemble", "pd_ensemble")):
            r = np.asarray(_ort_fn(model, 1, out)(pool32))
            r = r[:, 1] if r.ndim == 2 and r.shape[1] == 2 else r.reshape(-1)
            S.parity[label] = S._maxdiff(r, key)
            complete = ~np.isnan(S.pool).any(axis=1)
            S.parity[label + " on rows without missing values"] = float(
                np.max(np.abs(np.asarray(r, dtype=np.float64)[complete] - S.expected[key][complete])))
    if hasattr(S, "compiled"):
        for key, exp in (("xgboost", "xgboost"), ("xgboost_quantized", "xgboost"), ("forest", "forest")):
            r = np.asarray(S.compiled.fn(key, 1)(np.asarray(S.pool, dtype=np.float32)))
            r = r.reshape(r.shape[0], -1)[:, -1]
            S.parity[f"TL2cgen {key}"] = S._maxdiff(r, exp)

    results = []  # (group, method, batch, threads, res)
    for threads in threads_list:
        for batch in batches:
            if "loanscore" not in skip:
                for reasons in (False, True):
                    label = "LoanScore (features + ensemble + decision" + (" + reasons)" if reasons else ", PD)")
                    # batch 1 and the cap: score as many rows as the cap allows (estimated from a
                    # short run), at most --rows
                    probe = loanscore_bench(S, batch, threads, reasons, min(args.rows, 20_000), 1)
                    rows = args.rows if args.max_seconds <= 0 else int(
                        min(args.rows, max(batch, probe["apps_per_s"] * args.max_seconds)))
                    log(f"{label} batch {batch} threads {threads}: {rows} rows")
                    res = loanscore_bench(S, batch, threads, reasons, rows, args.reps)
                    results.append(("ensemble" if not reasons else "ensemble+reasons", label, batch, threads, res))
                for member in ("xgboost", "forest"):
                    # One member on the model-ready matrix (features computed before the clock),
                    # like the alternatives below.
                    label = f"LoanScore ({member} member)"
                    probe = loanscore_bench(S, batch, threads, False, min(args.rows, 20_000), 1, member)
                    rows = args.rows if args.max_seconds <= 0 else int(
                        min(args.rows, max(batch, probe["apps_per_s"] * args.max_seconds)))
                    res = loanscore_bench(S, batch, threads, False, rows, args.reps, member)
                    log(f"{label} batch {batch} threads {threads}: {fmt_rate(res['apps_per_s'])}/s")
                    results.append((member, label, batch, threads, res))
            for label, group, factory, need in PY_METHODS:
                if need and not hasattr(S, "onnx" if need == "onnx" else "compiled"):
                    continue
                fn, which = factory(S, threads)
                X = S.X32 if which == "X32" else S.X64
                if batch == 1:
                    # one call per application; rows as 1-row views
                    pass
                res = time_batches(fn, X, batch, args.reps, args.max_seconds)
                log(f"{label} batch {batch} threads {threads}: {fmt_rate(res['apps_per_s'])}/s")
                results.append((group, label, batch, threads, res))

    m1 = machine()
    text = report(args, S, results, available, m0, m1, started, batches, threads_list)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{started.strftime('%Y-%m-%d')}-compare.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {path}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(args, S, results, available, m0, m1, started, batches, threads_list) -> str:
    import sklearn
    import xgboost
    L = []
    L.append(f"# LoanScore vs the alternatives — {started.strftime('%Y-%m-%d %H:%M UTC')}")
    L.append("")
    L.append(f"* Machine: {m0['cpu']}, {m0['cores']} cores, Linux {m0['kernel']}. **Shared with other "
             f"engineers' builds and tests**: load average {m0['load'][0]:.2f} at the start, "
             f"{m1['load'][0]:.2f} at the end; 2-thread figures especially are noisy.")
    L.append(f"* LoanScore commit {git_commit()}, binary `{os.path.relpath(S.binary, ROOT)}`; "
             f"bundle `{S.manifest['model']['name']}` {S.manifest['model']['version']} "
             f"({S.n_features} features; xgboost {json.loads((S.bundle / 'members' / 'xgboost.json').read_text())['learner']['gradient_booster']['model']['gbtree_model_param']['num_trees']} trees, "
             f"forest {len(S.forest.estimators_)} trees, weights {S.weights}).")
    L.append(f"* Python {platform.python_version()}, xgboost {xgboost.__version__}, scikit-learn {sklearn.__version__}, "
             f"numpy {np.__version__}, onnxruntime {version('onnxruntime')}, onnxmltools {version('onnxmltools')}, "
             f"skl2onnx {version('skl2onnx')}, treelite {version('treelite')}, tl2cgen {version('tl2cgen')}.")
    L.append(f"* Applications: {args.rows:,} resampled from the bundle's holdout ({S.pool.shape[0]} rows; "
             "application i = holdout row i×7919 mod n, as `loanscore bench` does). Median of "
             f"{args.reps} repetitions after a warm-up; a repetition stops after "
             f"{args.max_seconds:g} s (column *scored*: applications it covered)."
             if args.max_seconds > 0 else
             f"* Applications: {args.rows:,}, every repetition scores all of them; median of {args.reps}.")
    L.append("* LoanScore's figures include validation and feature computation from the raw application "
             "(`loanscore bench`); the alternatives get the model-ready matrix. The forest (and the "
             "logistic regression) for scikit-learn, ONNX and TL2cgen are refitted with the Training package's "
             "own functions, same seed and rows; their predictions match the bundle's (parity below).")
    L.append(f"* Alternatives built: ONNX {available.get('onnx')}; TL2cgen {available.get('tl2cgen')}.")
    L.append("")
    L.append("Max |difference| from the training libraries' predictions (validation/predictions.csv, holdout): " +
             ", ".join(f"{k} {v:.2e}" for k, v in S.parity.items()) + ".")
    L.append("")

    def find(group_prefix, label_prefix, batch, threads):
        for g, lab, b, t, r in results:
            if lab.startswith(label_prefix) and b == batch and t == threads:
                return r
        return None

    L.append("| method | threads | batch | applications/s | µs/application | scored | LoanScore / it |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for threads in threads_list:
        for batch in batches:
            ls = find("ensemble", "LoanScore (features + ensemble + decision, PD)", batch, threads)
            for g, lab, b, t, r in results:
                if b != batch or t != threads:
                    continue
                ratio = "" if ls is None or lab.startswith("LoanScore") else f"{ls['apps_per_s'] / r['apps_per_s']:.2f}×"
                L.append(f"| {lab} | {t} | {b} | {fmt_rate(r['apps_per_s'])} | {fmt_us(r['us_per_app'])} | "
                         f"{r['scored']:,} | {ratio} |")
    L.append("")
    L.append("*LoanScore / it* = LoanScore's whole-ensemble PD rate (with features) ÷ that row's rate, same "
             "threads and batch. For member rows it compares LoanScore's whole ensemble with one member "
             "of the alternative.")
    L.append("")

    # targets (issue 4, item 4)
    L.append("## Targets (issue 4, one thread, batch 1024)")
    L.append("")
    ls = find("", "LoanScore (features + ensemble + decision, PD)", 1024, 1)
    ls1 = find("", "LoanScore (features + ensemble + decision, PD)", 1, 1)
    ort = find("", "ONNX Runtime (whole ensemble", 1024, 1)
    three = find("", "XGBoost + scikit-learn + numpy", 1024, 1)

    def check(label, ok, detail):
        mark = "x" if ok else " "
        status = "PASS" if ok else ("FAIL" if ok is not None else "NOT MEASURED")
        L.append(f"- [{mark}] {label}: **{status}** — {detail}")

    if ls and ort:
        r = ls["apps_per_s"] / ort["apps_per_s"]
        check("whole ensemble >= 2 × ONNX Runtime one-graph ensemble", r >= 2,
              f"{fmt_rate(ls['apps_per_s'])} vs {fmt_rate(ort['apps_per_s'])} applications/s = {r:.2f}×")
    else:
        check("whole ensemble >= 2 × ONNX Runtime one-graph ensemble", None, "a side was not measured")
    if ls and three:
        r = ls["apps_per_s"] / three["apps_per_s"]
        check("whole ensemble >= 4 × the three libraries' own predictors combined", r >= 4,
              f"{fmt_rate(ls['apps_per_s'])} vs {fmt_rate(three['apps_per_s'])} applications/s = {r:.2f}×")
    else:
        check("whole ensemble >= 4 × the three libraries combined", None, "a side was not measured")
    xg = find("", "XGBoost inplace_predict", 1024, 1)
    tl = find("", "TL2cgen gcc (xgboost member)", 1024, 1)
    member = find("", "LoanScore (xgboost member)", 1024, 1)
    if member and xg and tl:
        r1, r2 = member["apps_per_s"] / xg["apps_per_s"], member["apps_per_s"] / tl["apps_per_s"]
        check("gradient-boosted member alone >= 2 × XGBoost inplace_predict and >= 1.5 × TL2cgen", r1 >= 2 and r2 >= 1.5,
              f"{fmt_rate(member['apps_per_s'])} vs {fmt_rate(xg['apps_per_s'])} (inplace_predict) = {r1:.2f}×, "
              f"vs {fmt_rate(tl['apps_per_s'])} (TL2cgen) = {r2:.2f}× applications/s")
    else:
        check("gradient-boosted member alone >= 2 × XGBoost inplace_predict and >= 1.5 × TL2cgen", None, "a side was not measured")
    if ls1:
        check("a single application scored in-process in under 20 µs", ls1["us_per_app"] < 20,
              f"{fmt_us(ls1['us_per_app'])} µs per application at batch 1, one thread (features included)")
    L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
