"""Writes a model bundle (`format_version` 1, Sources/LoanScoreModel/BUNDLE.md)."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .members import export_member
from .output_folder import check_output
from .reference_bins import FILE as REFERENCE_FILE, write_reference
from .version import code_commit

PREDICTION_COLUMNS = ["pd_xgboost", "pd_forest", "pd_logistic", "pd_ensemble", "pd"]


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> dict:
    """Versions of everything that shaped the model: the members' libraries, the tuner, the
    resampler and the report's plotting library (all strings, as the manifest requires)."""
    from importlib.metadata import PackageNotFoundError, version

    import xgboost
    versions = {"python": platform.python_version(), "xgboost": xgboost.__version__}
    for name in ("scikit-learn", "numpy", "pandas", "optuna", "imbalanced-learn", "matplotlib"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def reason_codes(schema: dict) -> dict:
    """One code per input field, R01.. in field order."""
    return {f["name"]: {"code": f"R{i:02d}", "text": f.get("reason") or f"{f['name']} raised the risk"}
            for i, f in enumerate(schema.get("fields", []), start=1)}


def write_raw_csv(path, header: list[str], rows: list[list[str]], line_terminator: str) -> None:
    """Rows as raw strings, through the csv module (only quoting is added where needed)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator=line_terminator)
        w.writerow(header)
        w.writerows(rows)


def write_predictions(path, columns: dict[str, np.ndarray]) -> None:
    n = len(next(iter(columns.values())))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", *PREDICTION_COLUMNS])
        for i in range(n):
            w.writerow([i + 1, *(repr(float(columns[c][i])) for c in PREDICTION_COLUMNS)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def write_bundle(output, *, schema_path, schema: dict, features: list[str], fitted: list,
                 weights, calibration: dict, policy_obj: dict, leaderboard: dict,
                 holdout_header: list[str], holdout_rows: list[list[str]], line_terminator: str,
                 predictions: dict[str, np.ndarray], data_path, data_rows: int, seed: int,
                 holdout_fraction: float, name: str, force: bool = False,
                 schema_text: str | None = None, manifest_extra: dict | None = None,
                 documents: Callable[[Path], list[str]] | None = None,
                 reference: dict | None = None) -> Path:
    """Write everything into a temp dir beside `output`, then rename it into place.

    `fitted` is a list of (Member, model) in manifest order. `schema_text` replaces the byte
    copy of `schema_path` (training wrote a changed schema, e.g. for --allow-protected);
    `manifest_extra` adds top-level manifest keys (`fairness`, `cutoffs`). `documents(dir)`,
    when given, runs once the bundle in `dir` is complete and loadable (so it may call
    `loanscore bundle verify` and `score` on it) and returns the files it wrote there; the
    manifest is then rewritten with every file hashed. `reference` (the object
    `reference_bins.build_reference` makes) is written as `reference.json`, named by the
    manifest key `"reference"` and hashed like every file; without it neither exists.
    """
    output = check_output(output, force)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        if schema_text is None:
            shutil.copyfile(schema_path, tmp / "schema.json")
        else:
            (tmp / "schema.json").write_text(schema_text, encoding="utf-8")
        (tmp / "members").mkdir()
        (tmp / "validation").mkdir()
        for member, model in fitted:
            export_member(member, model, tmp / member.file, len(features))
        write_raw_csv(tmp / "validation/holdout.csv", holdout_header, holdout_rows, line_terminator)
        write_predictions(tmp / "validation/predictions.csv", predictions)
        if reference is not None:
            write_reference(tmp / REFERENCE_FILE, reference)

        lineage = {
            "training_data": {"file": Path(data_path).name, "sha256": sha256_file(data_path),
                              "rows": int(data_rows)},
            "code_commit": code_commit(),
            "libraries": library_versions(),
            "seed": int(seed),
            "holdout_fraction": float(holdout_fraction),
        }

        def write_manifest() -> None:
            files = {}
            for p in sorted(tmp.rglob("*")):
                if p.is_file() and p.name != "manifest.json":
                    files[p.relative_to(tmp).as_posix()] = sha256_file(p)
            created = _now()
            digest = hashlib.sha256("".join(f"{k}={v}\n" for k, v in files.items()).encode()).hexdigest()
            manifest = {
                "format_version": 1,
                "model": {"name": name, "version": created.strftime("%Y%m%dT%H%M%SZ") + "-" + digest[:8]},
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lineage": lineage,
                "schema": "schema.json",
                "features": list(features),
                "members": [{"name": m.name, "kind": m.kind, "file": m.file, "weight": float(w)}
                            for (m, _), w in zip(fitted, weights)],
                "combination": "weighted_mean",
                "calibration": calibration,
                "policy": policy_obj,
                "reason_codes": reason_codes(schema),
                "metrics": leaderboard,
                **(manifest_extra or {}),
                "validation": {"holdout": "validation/holdout.csv",
                               "predictions": "validation/predictions.csv"},
                **({"reference": REFERENCE_FILE} if reference is not None else {}),
                "files": files,
            }
            with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2, allow_nan=False)
                f.write("\n")

        write_manifest()
        if documents is not None:
            documents(tmp)
            write_manifest()
        os.chmod(tmp, 0o755)
        if output.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
            os.rename(output, old / "bundle")
            os.rename(tmp, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output
