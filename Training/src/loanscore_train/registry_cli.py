"""`loanscore-train registry promote|history|list|pull` and train's MLflow options: arguments
and output. The MLflow logic is in registry*.py; this module imports none of it until a
command runs."""
from __future__ import annotations

import argparse
import json
from typing import Any

ALIASES = ("champion", "challenger", "staging")     # registry.ALIASES, without importing it
NOTE_MAX = 1000                                      # characters (MLflow tag values are bounded)


def _auc_drop(s: str) -> float:
    """--max-auc-drop: a number in [0, 1] (exit 2 else)."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{s} is outside [0, 1]")
    return v


def _version(s: str) -> str:
    """--version: a positive whole number, as MLflow's text form (exit 2 else)."""
    if not s.isdigit() or int(s) < 1:
        raise argparse.ArgumentTypeError(f"{s!r} is not a version number (1, 2, …)")
    return str(int(s))


def _text(limit: int):
    """An argparse type: non-empty printable text of at most `limit` characters (exit 2 else)."""
    def parse(s: str) -> str:
        if not s.strip() or not s.isprintable():
            raise argparse.ArgumentTypeError(f"{s!r}: give non-empty text without line breaks "
                                             "or control characters")
        if len(s) > limit:
            raise argparse.ArgumentTypeError(f"longer than {limit} characters")
        return s
    return parse


def _model_name(s: str) -> str:
    """--register / MODEL: text MLflow accepts as a registered model name — no `/` or `:`, not a
    relative path component (exit 2 else, before anything is trained or logged)."""
    s = _text(250)(s)
    if "/" in s or ":" in s or s.strip() in (".", "..") or s != s.strip():
        raise argparse.ArgumentTypeError(f"{s!r}: a model name may not contain '/' or ':', "
                                         "start or end with a space, or be '.' or '..'")
    return s


def _admin_url(s: str) -> str:
    """--reload: http(s)://HOST:PORT, checked before anything is downloaded or relinked."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(s)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port is not None
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{s!r}: give loanscored's admin address as "
                                         "http://HOST:PORT (e.g. http://127.0.0.1:9090)")
    return s


WAIVABLE = {"fairness-gate": "fairness gate", "holdout-auc": "holdout AUC"}


def _uri_option(p: argparse.ArgumentParser) -> None:
    """--mlflow-uri on a registry subcommand."""
    p.add_argument("--mlflow-uri", metavar="URI", default=None,
                   help="the MLflow registry: a tracking server (http://HOST:PORT) or a database "
                        "(sqlite:///PATH); default: $MLFLOW_TRACKING_URI, else the embedded "
                        "file sqlite:///mlruns.db in the current directory")


def add_train_options(t: argparse.ArgumentParser) -> None:
    """--mlflow-uri [URI], --experiment NAME, --register MODEL on the `train` parser."""
    g = t.add_argument_group("MLflow registry (Training/README.md, \"Registry\")")
    g.add_argument("--mlflow-uri", nargs="?", const="", default=None, metavar="URI",
                   help="log the run to this MLflow registry; without URI: $MLFLOW_TRACKING_URI, "
                        "else sqlite:///mlruns.db in the current directory (artifacts in "
                        "mlartifacts/ beside it)")
    g.add_argument("--experiment", type=_text(250), default=None, metavar="NAME",
                   help="the MLflow experiment of the run (default: loanscore); implies logging")
    g.add_argument("--register", type=_model_name, default=None, metavar="MODEL",
                   help="register the bundle as a new version of this model; implies logging")


def wants_mlflow(args: Any) -> bool:
    """Whether `train` was asked to log to MLflow (any of its three options given)."""
    return (getattr(args, "mlflow_uri", None) is not None or bool(getattr(args, "register", None))
            or getattr(args, "experiment", None) is not None)


def add_registry_parser(sub: Any, formatter: type) -> None:
    """The `registry` command and its subcommands."""
    r = sub.add_parser("registry", formatter_class=formatter,
                       help="promote, inspect and deploy registered model versions (MLflow)",
                       description="The MLflow model registry: versions registered by `train "
                                   "--register`, aliases champion / challenger / staging, "
                                   "approvals recorded as model-version tags.")
    rs = r.add_subparsers(dest="registry_command", required=True, metavar="SUBCOMMAND")

    p = rs.add_parser("promote", formatter_class=formatter,
                      help="check a version and point an alias at it, recording the approval",
                      description="Downloads the version's bundle and refuses (exit 3, naming "
                                  "the check) unless its hashes match, `loanscore bundle verify` "
                                  "passes, its fairness table passes the fairness gate, and — "
                                  "for champion — its holdout ROC AUC, the candidate's holdout "
                                  "scored by both with `loanscore score`, is at most "
                                  "--max-auc-drop below the current champion's.")
    p.add_argument("model", metavar="MODEL", help="the registered model name")
    p.add_argument("--version", dest="model_version", type=_version, required=True, metavar="N",
                   help="the version to promote")
    p.add_argument("--alias", choices=ALIASES, required=True, help="the alias to point at it")
    p.add_argument("--approved-by", type=_text(250), required=True, metavar="NAME",
                   help="who approves the promotion (recorded)")
    p.add_argument("--note", type=_text(NOTE_MAX), default=None, metavar="TEXT",
                   help="why (recorded)")
    p.add_argument("--max-auc-drop", type=_auc_drop, default=0.01, metavar="D",
                   help="champion only: the largest accepted drop of holdout ROC AUC")
    p.add_argument("--waive", action="append", choices=sorted(WAIVABLE), default=[],
                   metavar="CHECK",
                   help="accept a failure of this check (fairness-gate or holdout-auc; repeatable) "
                        "on the approver's authority: the check still runs and its failure is "
                        "recorded as waived with --waiver-reason. Integrity checks (hashes, "
                        "bundle verify) cannot be waived")
    p.add_argument("--waiver-reason", type=_text(NOTE_MAX), default=None, metavar="TEXT",
                   help="why the waived check's failure is accepted (required with --waive; "
                        "recorded, e.g. the committee decision's reference)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _uri_option(p)

    for name, text in (("history", "the promotion trail and the versions of a model"),
                       ("list", "the versions of a model, their aliases and holdout AUC")):
        h = rs.add_parser(name, formatter_class=formatter, help=text, description=text + ".")
        h.add_argument("model", metavar="MODEL", help="the registered model name")
        h.add_argument("--json", action="store_true", help="print one JSON object")
        _uri_option(h)

    u = rs.add_parser("pull", formatter_class=formatter,
                      help="download the version an alias names and repoint DIR's link to it",
                      description="Downloads the bundle of MODEL@ALIAS into DIR/<model>-<version>/"
                                  ", checks every file's sha256 against the manifest, and "
                                  "atomically repoints DIR/current (champion), DIR/challenger or "
                                  "DIR/staging to it. Idempotent; a failed download or hash "
                                  "check leaves the link as it was.")
    u.add_argument("spec", metavar="MODEL@ALIAS", help="e.g. credit@champion")
    u.add_argument("--into", required=True, metavar="DIR", help="the deployment folder")
    u.add_argument("--reload", metavar="http://ADMIN", type=_admin_url,
                   help="then POST ADMIN/reload on loanscored's admin port and print its answer")
    u.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _uri_option(u)


def run(args: Any) -> int:
    """Runs `registry SUBCOMMAND`; returns the exit status (errors raise ToolError)."""
    if getattr(args, "registry_command", None) == "promote" and bool(args.waive) != bool(args.waiver_reason):
        from .features import ToolError
        raise ToolError("--waive and --waiver-reason go together: name the check whose failure is "
                        "accepted and record why", 2)
    from . import registry
    reg = registry.connect(args.mlflow_uri)
    if args.registry_command == "promote":
        return _promote(reg, args)
    if args.registry_command == "pull":
        return _pull(reg, args)
    from .registry_promote import format_history, format_versions, history
    trail = history(reg, args.model)
    if args.json:
        print(json.dumps(trail if args.registry_command == "history" else
                         {"model": trail["model"], "versions": trail["versions"]}, indent=2))
    else:
        print(format_history(trail) if args.registry_command == "history"
              else format_versions(trail))
    return 0


def _promote(reg: Any, args: Any) -> int:
    """`registry promote`: runs the checks, prints each passed one and the outcome."""
    from .registry_promote import promote
    done = promote(reg, args.model, args.model_version, args.alias, approved_by=args.approved_by,
                   note=args.note or "", max_auc_drop=args.max_auc_drop,
                   waive=[WAIVABLE[w] for w in args.waive], waiver_reason=args.waiver_reason or "")
    if args.json:
        print(json.dumps({"model": done.model, "version": done.version, "alias": done.alias,
                          "approved_by": done.approved_by, "approved_at": done.approved_at,
                          "checks": done.checks, "waived": done.waived,
                          "manifest_sha256": done.manifest_sha256, "previous": done.previous,
                          "unchanged": done.unchanged, "seconds": round(done.seconds, 3)}))
    elif done.unchanged:
        print(f"version {done.version} of {done.model} already holds {done.alias}: nothing changed")
    else:
        for line in done.checks:
            print(f"  {'WAIVED' if line.startswith(tuple(done.waived)) else 'passed'}  {line}")
        prev = (f"; previous {done.alias}: version {done.previous}"
                + (" (archived)" if done.alias == "champion" else "")) if done.previous else ""
        print(f"version {done.version} of {done.model} is now {done.alias} (approved by "
              f"{done.approved_by} at {done.approved_at}{prev}) in {done.seconds:.1f} s")
    return 0


def _pull(reg: Any, args: Any) -> int:
    """`registry pull`: downloads, relinks, optionally reloads; prints what it did."""
    from pathlib import Path

    from .registry_pull import pull, reload
    done = pull(reg, args.spec, Path(args.into))
    answer = None
    if args.reload:
        status, body = reload(args.reload)
        answer = {"status": status, "answer": body}
    if args.json:
        print(json.dumps({"model": done.model, "version": done.version, "alias": done.alias,
                          "folder": str(done.folder), "link": str(done.link),
                          "downloaded": done.downloaded, "relinked": done.relinked,
                          "previous_target": done.previous_target, "reload": answer}))
        return 0
    got = "downloaded, hashes verified" if done.downloaded else "already present, hashes verified"
    print(f"version {done.version} of {done.model} ({done.alias}): {done.folder} ({got})")
    if done.relinked:
        was = f" (was {done.previous_target})" if done.previous_target else ""
        print(f"{done.link} -> {done.folder.name}{was}")
    else:
        print(f"{done.link} already points to {done.folder.name}: unchanged")
    if answer is not None:
        print(f"reload: {answer['status']} {answer['answer']}")
    return 0

