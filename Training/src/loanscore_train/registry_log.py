"""`loanscore-train train --mlflow-uri/--experiment/--register`: the training run in MLflow.

One MLflow run per training: its parameters (the command line's recipe and governance
options), its metrics (the leaderboard's and, with --evaluation, `evaluate`'s figures, the
cut-offs), tags (the training data's sha256, file and rows, the code commit, the bundle's
model name and version, whether fairness passed) and artifacts (`report.html` at the top and
the whole bundle under `bundle/`). With --register MODEL the bundle becomes a new version of
MODEL (source: the run's `bundle` artifact), tagged with its bundle version and holdout AUC.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import registry
from .features import ToolError

PARAMS = ("data", "schema", "seed", "trials", "resample", "lgd", "margin", "exposure_field",
          "target_approval_rate", "fairness_gate", "allow_protected", "allow_leakage",
          "approve_below", "decline_at", "evaluation", "name")
"""The `train` options logged as run parameters (absent ones are left out)."""

_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")


def parameters(args: Any) -> dict[str, str]:
    """The run parameters from `train`'s parsed arguments (lists as comma-joined text)."""
    out = {}
    for name in PARAMS:
        value = getattr(args, name, None)
        if value is None or value == []:
            continue
        out[name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def flatten_metrics(board: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """(dotted name, value) for every finite number in the leaderboard; a list of objects with
    a `name` (the members) is keyed by that name, booleans and text are left out."""
    for key, value in board.items():
        name = _METRIC_NAME.sub("_", f"{prefix}{key}")
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            if math.isfinite(value):
                yield name, float(value)
        elif isinstance(value, Mapping):
            yield from flatten_metrics(value, name + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    label = item.get("name") if isinstance(item.get("name"), str) else str(i)
                    yield from flatten_metrics(item, f"{name}.{label}.")


def _manifest(bundle_dir: Path) -> dict:
    try:
        return json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ToolError(f"{bundle_dir}: cannot read manifest.json: {e}", code=3) from None


def log_bundle(reg: "registry.Registry", bundle_dir: Path, *, experiment: str,
               params: Mapping[str, str], register: str | None) -> tuple[str, str | None]:
    """Logs `bundle_dir` as one MLflow run of `experiment`; with `register`, makes it a new
    version of that model. Returns (run id, version or None). Exit 4 when the registry fails."""
    from mlflow.entities import Metric, Param, RunTag

    manifest = _manifest(bundle_dir)
    lineage = manifest.get("lineage") or {}
    data = lineage.get("training_data") or {}
    model = manifest.get("model") or {}
    board = manifest.get("metrics") or {}
    holdout_auc = (((board.get("ensemble") or {}).get("holdout") or {}).get("roc_auc"))
    tags = {
        "training_data.sha256": data.get("sha256"), "training_data.file": data.get("file"),
        "training_data.rows": data.get("rows"), "code_commit": lineage.get("code_commit"),
        "mlflow.source.git.commit": lineage.get("code_commit"),
        "model_name": model.get("name"), registry.TAG_BUNDLE_VERSION: model.get("version"),
        "fairness.passed": (manifest.get("fairness") or {}).get("passed"),
    }
    tags = {k: str(v) for k, v in tags.items() if v is not None}
    metrics = dict(flatten_metrics(board))
    for key in ("approve_below", "decline_at"):
        if isinstance((manifest.get("policy") or {}).get(key), (int, float)):
            metrics[f"policy.{key}"] = float(manifest["policy"][key])
    exp_id = registry.experiment_id(reg, experiment)
    c = reg.client
    with reg.errors(f"logging the training run in experiment {experiment!r}"):
        run = c.create_run(exp_id, run_name=str(model.get("version") or bundle_dir.name))
        run_id = run.info.run_id
        c.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                    tags=[RunTag(k, v) for k, v in tags.items()])
        items = [Metric(k, v, 0, 0) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):            # MLflow's batch limit
            c.log_batch(run_id, metrics=items[i:i + 1000])
        if (bundle_dir / "report.html").is_file():
            c.log_artifact(run_id, str(bundle_dir / "report.html"))
        c.log_artifacts(run_id, str(bundle_dir), registry.BUNDLE_ARTIFACT)
    version = None
    if register:
        version = register_version(reg, register, run, tags, holdout_auc)
    with reg.errors("closing the training run"):
        c.set_terminated(run_id)
    return run_id, version


def register_version(reg: "registry.Registry", model: str, run: Any, run_tags: Mapping[str, str],
                     holdout_auc: float | None) -> str:
    """Creates model `model` if new and a version from `run`'s bundle artifact; returns it."""
    from mlflow.exceptions import MlflowException
    c = reg.client
    try:
        c.create_registered_model(model, description="LoanScore model bundles "
                                  "(loanscore-train train --register)")
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise ToolError(f"registering model {model!r}: {registry._first_line(e)}",
                            registry.CODE_UNREACHABLE) from None
    tags = {k: v for k, v in run_tags.items() if not k.startswith("mlflow.")}
    if holdout_auc is not None:
        tags[registry.TAG_HOLDOUT_AUC] = f"{holdout_auc:.6f}"
    with reg.errors(f"registering a version of {model!r}"):
        source = f"{run.info.artifact_uri}/{registry.BUNDLE_ARTIFACT}"
        mv = c.create_model_version(model, source=source, run_id=run.info.run_id, tags=tags)
    return str(mv.version)


def log_training(args: Any, bundle_dir: Path) -> dict:
    """After `train` wrote `bundle_dir`: logs it (and registers it with --register). Returns
    `{"line": text for the user, "mlflow": {"uri", "experiment", "run_id", "model", "version"}}`."""
    reg = registry.connect(args.mlflow_uri, create=True)
    run_id, version = log_bundle(reg, bundle_dir, experiment=args.experiment,
                                 params=parameters(args), register=args.register)
    line = f"mlflow: run {run_id} in experiment {args.experiment!r} at {reg.uri}"
    if version is not None:
        line += f"; registered as version {version} of {args.register!r}"
    return {"line": line, "mlflow": {"uri": reg.uri, "experiment": args.experiment,
                                     "run_id": run_id, "model": args.register,
                                     "version": version}}
