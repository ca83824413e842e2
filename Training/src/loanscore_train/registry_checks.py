"""The checks `registry promote` runs on a downloaded bundle before it moves an alias.

Each check either returns a one-line summary of what passed or raises `CheckFailed` naming
itself (exit 3). Every check runs LoanScore's own CLI or the training tool's own gate:

* `hashes` — every file the manifest lists has its sha256 (`verify_hashes`, also used by
  `registry pull`);
* `bundle verify` — `loanscore bundle verify --json` (parity with the training libraries on the
  holdout, monotone fields);
* `fairness gate` — the manifest's fairness table through `fairness.fairness_gate`, the gate
  `train --fairness-gate` applies (skipped, and said so, when the bundle has no table);
* `holdout AUC` (champion only) — the candidate's `validation/holdout.csv` scored by the
  candidate and by the current champion with `loanscore score --bundle`; the candidate's ROC
  AUC may be below the champion's by at most `--max-auc-drop`.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .features import ToolError, find_binary, run_loanscore


class CheckFailed(ToolError):
    """A promotion check failed: exit 3, the message names the check."""

    def __init__(self, check: str, detail: str):
        super().__init__(f"check {check!r} failed: {detail}", code=3)
        self.check = check


def manifest_sha256(bundle: Path) -> str:
    """The sha256 of the bundle's manifest.json: with every other file's sha256 inside it, the
    digest of the whole bundle an approval records."""
    from .bundle import sha256_file
    return sha256_file(bundle / "manifest.json")


def read_manifest(bundle: Path) -> dict:
    """The bundle's manifest.json as a dict (CheckFailed `hashes` when unreadable)."""
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckFailed("hashes", f"{bundle}/manifest.json cannot be read: {e}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CheckFailed("hashes", f"{bundle}/manifest.json has no \"files\" table")
    return manifest


def verify_hashes(bundle: Path) -> str:
    """Every file in the manifest's `files` exists under `bundle` with that sha256; refuses a
    path that leaves the folder. O(bundle size)."""
    from .bundle import sha256_file
    files = read_manifest(bundle)["files"]
    root = bundle.resolve()
    for rel, expected in files.items():
        path = (bundle / rel).resolve()
        if root not in path.parents:
            raise CheckFailed("hashes", f"manifest lists {rel!r}, outside the bundle")
        if not path.is_file():
            raise CheckFailed("hashes", f"{rel} is missing from the bundle")
        actual = sha256_file(path)
        if actual != expected:
            raise CheckFailed("hashes", f"{rel} has sha256 {actual[:12]}…, the manifest says "
                                        f"{str(expected)[:12]}…")
    return f"hashes: {len(files)} files match the manifest"


def bundle_verify(bundle: Path, binary: str | None = None) -> str:
    """`loanscore bundle verify --json` on `bundle` (parity, monotone fields)."""
    try:
        proc = run_loanscore(["bundle", "verify", str(bundle), "--json"], binary or find_binary())
    except ToolError as e:
        if e.code != 3:
            raise
        detail = " ".join(str(e).split("\n", 1)[-1].split())
        raise CheckFailed("bundle verify", detail[:600]) from None
    try:
        found = json.loads(proc.stdout)
    except ValueError:
        found = {}
    rows = found.get("applications") or found.get("rows") if isinstance(found, dict) else None
    return "bundle verify: passed" + (f" ({rows} holdout applications)" if rows else "")


def fairness_gate(manifest: dict) -> str:
    """The manifest's `fairness` table through the training tool's gate
    (`fairness.fairness_gate`); a bundle without one passes, saying so."""
    from .fairness import FairnessTable, Group
    table = manifest.get("fairness")
    if not isinstance(table, dict):
        return "fairness gate: not applicable (the bundle has no fairness table)"
    try:
        groups = [Group(**{k: g.get(k) for k in ("field", "group", "applicants", "default_rate",
                                                  "approval_rate", "roc_auc",
                                                  "adverse_impact_ratio")},
                        flagged=bool(g.get("flagged")))
                  for g in table.get("groups") or []]
        ft = FairnessTable(approve_below=float(table.get("approve_below", 0.0)), groups=groups,
                           threshold=float(table.get("threshold", 0.8)))
    except (TypeError, ValueError, AttributeError) as e:
        raise CheckFailed("fairness gate", f"the manifest's fairness table is malformed: {e}") \
            from None
    try:
        from .fairness import fairness_gate as gate
        gate(ft)
    except ToolError as e:
        lines = str(e).splitlines()            # a heading, one line per group, advice
        head = lines[0].removesuffix(" for")
        groups = "; ".join(s.strip() for s in lines[1:-1])
        raise CheckFailed("fairness gate", f"{head}: {groups}") from None
    return f"fairness gate: passed ({len(groups)} groups, none below {ft.threshold:g})"


def _scores(bundle: Path, holdout: Path, tmp: Path, label: str, binary: str) -> dict[str, float]:
    """`loanscore score --bundle` on the holdout: {output id: pd} for the rows it scored."""
    out, rejects = tmp / f"{label}.csv", tmp / f"{label}-rejects.csv"
    run_loanscore(["score", "--bundle", str(bundle), "--input", str(holdout), "--output", str(out),
                   "--rejects", str(rejects)], binary)
    with open(out, newline="", encoding="utf-8") as f:
        return {r["id"]: float(r["pd"]) for r in csv.DictReader(f)}


def holdout_auc(candidate: Path, champion: Path, max_drop: float, tmp: Path,
                binary: str | None = None) -> tuple[str, float, float]:
    """The candidate's holdout scored by both bundles; refuses when the candidate's ROC AUC is
    below the champion's by more than `max_drop`. Returns (summary, candidate AUC, champion AUC)
    over the rows both scored (a row a bundle rejects, e.g. after a schema change, is left out
    and counted)."""
    import numpy as np

    from .metrics import roc_auc
    from .train import labels, load_schema, read_raw
    binary = binary or find_binary()
    holdout = candidate / "validation" / "holdout.csv"
    schema = load_schema(candidate / "schema.json")
    header, rows, _ = read_raw(holdout)
    y_all = labels(holdout, header, rows, schema["target"])
    # `score` names a row by the schema's id column, else by its row number (1-based).
    id_col = schema.get("id_column")
    ids = ([r[header.index(id_col)] for r in rows] if id_col in header
           else [str(i + 1) for i in range(len(rows))])
    label_of = dict(zip(ids, y_all))
    try:
        mine = _scores(candidate, holdout, tmp, "candidate", binary)
        theirs = _scores(champion, holdout, tmp, "champion", binary)
    except ToolError as e:
        raise CheckFailed("holdout AUC", f"scoring the holdout failed: {e}") from None
    common = [i for i in ids if i in mine and i in theirs]
    y = np.array([label_of[i] for i in common])
    if len(common) == 0 or y.min() == y.max():
        raise CheckFailed("holdout AUC", f"the two bundles scored {len(common)} holdout rows in "
                                         "common, not both outcomes: nothing to compare")
    a_new = roc_auc(y, np.array([mine[i] for i in common]))
    a_old = roc_auc(y, np.array([theirs[i] for i in common]))
    left = len(rows) - len(common)
    where = f"on {len(common)} holdout rows" + (f" ({left} not scored by both)" if left else "")
    if a_new < a_old - max_drop:
        raise CheckFailed("holdout AUC", f"ROC AUC {a_new:.4f} is {a_old - a_new:.4f} below the "
                                         f"champion's {a_old:.4f} {where} (--max-auc-drop "
                                         f"{max_drop:g})")
    return (f"holdout AUC: {a_new:.4f} vs champion {a_old:.4f} {where}", a_new, a_old)
