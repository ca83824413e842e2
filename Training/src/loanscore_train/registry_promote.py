"""`registry promote` and the approval trail `registry history` / `registry list` read.

A promotion downloads the version's bundle, runs the checks of `registry_checks` in order
(hashes, bundle verify, fairness gate, and for `champion` the holdout AUC against the current
champion), and only when all pass moves the alias and records the approval as model-version
tags `promotion.<n>.{alias, approved_by, approved_at, note, checks, previous, waived,
waiver_reason, manifest_sha256}` (n: the version's 1st, 2nd, … approval, so none is
overwritten). `manifest_sha256` ties the approval to the exact bundle checked: the manifest
holds every other file's sha256, so `registry pull` refuses a bundle whose manifest differs
from the approved one. A failure of the fairness gate or of the holdout AUC check may be
waived on the approver's authority (`--waive`, with `--waiver-reason`): the check still runs
and its failure is recorded as waived; integrity checks cannot be waived. The version that
held `champion` before gets the tag `archived` ("replaced as champion by version N at T"); a
version promoted to champion loses its `challenger`/`staging` aliases and any `archived` tag.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

from . import registry, registry_checks as checks
from .features import ToolError


@dataclass
class Promotion:
    """What a promotion did: the version, the alias, the checks passed, the previous holder."""
    model: str
    version: str
    alias: str
    approved_by: str
    approved_at: str
    checks: list[str] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    previous: str | None = None
    unchanged: bool = False
    seconds: float = 0.0


def utc_now() -> str:
    """The current time, UTC, to the second: `2026-12-03T23:04:05Z`."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def promote(reg: registry.Registry, model: str, version: str, alias: str, *, approved_by: str,
            note: str = "", max_auc_drop: float = 0.01, binary: str | None = None,
            waive: list[str] | None = None, waiver_reason: str = "") -> Promotion:
    """Runs the checks on `version` of `model` and, when they pass, points `alias` at it.

    Raises ToolError: exit 2 for an unknown model, version or alias; exit 3 (`CheckFailed`)
    naming the failed check; exit 4 when the registry or its artifact store fails. Promoting
    the version that already holds `alias` changes nothing (`unchanged`). `waive` names checks
    (`fairness gate`, `holdout AUC`) whose failure is accepted and recorded with `waiver_reason`."""
    started = time.monotonic()
    if alias not in registry.ALIASES:
        raise ToolError(f"alias {alias!r} does not exist: use one of "
                        + ", ".join(registry.ALIASES), registry.CODE_USAGE)
    mv = reg.model_version(model, version)
    holder = reg.version_by_alias(model, alias)
    result = Promotion(model, str(mv.version), alias, approved_by, utc_now())
    if holder is not None and str(holder.version) == str(mv.version):
        result.unchanged, result.previous = True, str(holder.version)
        return result
    result.previous = str(holder.version) if holder is not None else None
    try:
        _run_checks(reg, mv, holder, result, max_auc_drop, binary, set(waive or []), waiver_reason)
    except checks.CheckFailed as e:
        raise ToolError(f"promotion of version {result.version} of {model!r} to {alias} "
                        f"refused: {e}", 3) from None
    _record(reg, mv, holder, result, note, waiver_reason)
    result.seconds = time.monotonic() - started
    return result


def _run_checks(reg: registry.Registry, mv: Any, holder: Any, result: Promotion,
                max_auc_drop: float, binary: str | None, waive: set[str], reason: str) -> None:
    """The checks in order, each summary appended to `result.checks`; CheckFailed stops them,
    except a waived check's, recorded as `NAME: WAIVED (reason): failure` in `result.waived`."""
    def waivable(name: str, run: Any) -> None:
        try:
            result.checks.append(run())
        except checks.CheckFailed as e:
            if name not in waive:
                raise
            result.checks.append(f"{name}: WAIVED by {result.approved_by} ({reason}): {e}")
            result.waived.append(name)

    with registry.temporary_folder("loanscore-promote-") as tmp:
        bundle = reg.download_bundle(mv, tmp / "candidate")
        result.checks.append(checks.verify_hashes(bundle))
        result.manifest_sha256 = checks.manifest_sha256(bundle)
        result.checks.append(checks.bundle_verify(bundle, binary))
        waivable("fairness gate", lambda: checks.fairness_gate(checks.read_manifest(bundle)))
        if result.alias == "champion":
            if holder is None:
                result.checks.append("holdout AUC: no current champion to compare with")
            else:
                champion = reg.download_bundle(holder, tmp / "champion")
                waivable("holdout AUC", lambda: checks.holdout_auc(
                    bundle, champion, max_auc_drop, tmp, binary)[0] + f" (version {holder.version})")


def _record(reg: registry.Registry, mv: Any, holder: Any, result: Promotion, note: str,
            waiver_reason: str = "") -> None:
    """Tags the approval, moves the alias, archives the champion it replaces."""
    model, version, alias = result.model, result.version, result.alias
    n = 1 + max((e["n"] for e in registry.promotions(mv)), default=0)
    reg.set_tags(model, version, registry.promotion_tags(n, {
        "alias": alias, "approved_by": result.approved_by, "approved_at": result.approved_at,
        "note": note, "checks": result.checks, "previous": result.previous or "none",
        "waived": result.waived, "waiver_reason": waiver_reason if result.waived else "",
        "manifest_sha256": result.manifest_sha256}))
    reg.set_alias(model, alias, version)
    if alias != "champion":
        return
    for other in reg.aliases(model).get(version, []):
        if other in registry.ALIASES and other != "champion":
            reg.delete_alias(model, other)
    if registry.TAG_ARCHIVED in (mv.tags or {}):
        reg.delete_tag(model, version, registry.TAG_ARCHIVED)
    if holder is not None:
        reg.set_tags(model, str(holder.version), {
            registry.TAG_ARCHIVED: f"replaced as champion by version {version} at "
                                   f"{result.approved_at}"})


def _created(mv: Any) -> str:
    ms = getattr(mv, "creation_timestamp", None)
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def history(reg: registry.Registry, model: str) -> dict:
    """The trail of `model`: `{"model", "versions": [...], "promotions": [...]}` — versions
    oldest first (version, created, bundle version, holdout AUC, aliases, archived, run id),
    promotions in time order (approved_at, version, alias, approved_by, note, checks — a list
    of each passed check's line —, previous), every one kept."""
    versions, events = [], []
    aliases = reg.aliases(model)
    for mv in reg.versions(model):
        tags = mv.tags or {}
        versions.append({
            "version": str(mv.version), "created": _created(mv),
            "bundle_version": tags.get(registry.TAG_BUNDLE_VERSION, ""),
            "holdout_roc_auc": tags.get(registry.TAG_HOLDOUT_AUC, ""),
            "aliases": aliases.get(str(mv.version), []),
            "archived": tags.get(registry.TAG_ARCHIVED, ""),
            "run_id": mv.run_id or ""})
        events += registry.promotions(mv)
    events.sort(key=lambda e: (e.get("approved_at", ""), int(e["version"]), e["n"]))
    return {"model": model, "versions": versions, "promotions": events}


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain-text table: `columns` are (key, heading); cells as text, long ones kept whole."""
    cells = [[h for _, h in columns]] + [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A table cell: a list comma-joined, text on one line, empty as `-`."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return " ".join(str(value).split()) or "-"


def check_names(checks: list[str]) -> list[str]:
    """The passed checks at a glance: each check's name (the text before `:`), with the AUCs
    of `holdout AUC` (`holdout AUC 0.8011 vs 0.7990`) and `n/a` for a check that did not apply."""
    out = []
    for line in checks:
        name, _, detail = str(line).partition(":")
        numbers = re.findall(r"\d\.\d{4}", detail)
        if detail.startswith(" WAIVED"):
            name += " WAIVED"
        elif name == "holdout AUC" and len(numbers) >= 2:
            name += f" {numbers[0]} vs {numbers[1]}"
        elif "not applicable" in detail or "no current champion" in detail:
            name += " n/a"
        out.append(name)
    return out


VERSION_COLUMNS = [("version", "version"), ("created", "created (UTC)"),
                   ("bundle_version", "bundle"), ("holdout_roc_auc", "holdout AUC"),
                   ("aliases", "aliases"), ("archived", "archived")]
PROMOTION_COLUMNS = [("approved_at", "approved (UTC)"), ("version", "version"),
                     ("alias", "alias"), ("approved_by", "approved by"),
                     ("previous", "previous"), ("note", "note"), ("checks", "checks passed")]


def format_history(trail: dict) -> str:
    """`registry history`'s text: the promotions table, then the versions table."""
    out = [f"model {trail['model']}: promotions"]
    events = [{**e, "checks": check_names(e.get("checks") or [])} for e in trail["promotions"]]
    out.append(table(events, PROMOTION_COLUMNS) if events else "(no promotion recorded)")
    out += ["", f"model {trail['model']}: versions", table(trail["versions"], VERSION_COLUMNS)]
    return "\n".join(out)


def format_versions(trail: dict) -> str:
    """`registry list`'s text: the versions table."""
    return table(trail["versions"], VERSION_COLUMNS)

