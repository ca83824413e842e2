"""Command line: `loanscore-train train|evaluate|infer-schema|registry`."""
from __future__ import annotations

import argparse
import sys

from .features import ToolError


def _trials(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s} is not a positive number of trials")
    return v


SEED_MAX = 2**32 - 1          # numpy / scikit-learn random_state range


def _seed(s: str) -> int:
    """A random seed in [0, 2**32 - 1], the range scikit-learn and numpy accept (exit 2 else)."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{s} is outside [0, {SEED_MAX}]")
    return v


def _recipe_options(p: argparse.ArgumentParser) -> None:
    """--trials and --resample, shared by `train` and `evaluate` (the same recipe)."""
    from .recipe import DEFAULT_TRIALS
    p.add_argument("--trials", type=_trials, default=DEFAULT_TRIALS, metavar="N",
                   help="Optuna (seeded TPE) trials tuning XGBoost by inner 3-fold CV; "
                        "1 = its defaults (rounds still chosen by inner CV)")
    p.add_argument("--resample", choices=("none", "smote"), default="none",
                   help="SMOTE-oversample the defaults in the rows each model is fitted on "
                        "(never in weight or calibration data)")


def _probability(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{s} is not in [0, 1]")
    return v


def _name(s: str) -> str:
    """A model name: non-empty printable text (the bundle refuses control characters)."""
    if not s.strip() or not s.isprintable():
        raise argparse.ArgumentTypeError(f"{s!r} is not a name: give non-empty text without "
                                         "line breaks or control characters")
    return s


class _HelpFormatter(argparse.HelpFormatter):
    """Adds `(default: X)` to the help of each option that has a real default (not flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if (action.default not in (None, False, argparse.SUPPRESS, []) and action.option_strings
                and "%(default)" not in help_text):
            help_text += " (default: %(default)s)"
        return help_text


class _VersionAction(argparse.Action):
    """`--version`: prints the version and the commit, then exits 0 (computed only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the version and the commit it runs from, then exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .version import version_line
        print(version_line())
        parser.exit(0)


def parser() -> argparse.ArgumentParser:
    """The `loanscore-train` command line: `train`, `evaluate`, `infer-schema` and `registry`, every option explained."""
    p = argparse.ArgumentParser(prog="loanscore-train", formatter_class=_HelpFormatter,
                                description="Train LoanScore's ensemble and write model bundles.")
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "train", formatter_class=_HelpFormatter,
        help="train the ensemble on a CSV and write a bundle",
        description="Computes the features with LoanScore's `loanscore features`, trains XGBoost, "
                    "a random forest and a logistic regression, weights and calibrates them, and "
                    "writes a model bundle. The output folder is checked before training starts.")
    t.add_argument("--data", required=True, metavar="CSV",
                   help="training data CSV (header row, target column included)")
    t.add_argument("--schema", required=True, metavar="JSON",
                   help="input schema (loanscore-schema/1) naming the fields and the target")
    t.add_argument("--output", required=True, metavar="DIR",
                   help="bundle folder to write (must not exist or be empty, unless --force)")
    t.add_argument("--seed", type=_seed, default=42, metavar="N",
                   help="random seed for the holdout split, folds and members")
    t.add_argument("--json", action="store_true",
                   help="print the leaderboard as one JSON object on stdout (table on stderr)")
    _recipe_options(t)
    from .governance import add_governance_options
    add_governance_options(t)
    t.add_argument("--approve-below", type=_probability, default=None, metavar="PD",
                   help="set the approve cut-off by hand (a PD below it is approved) instead of "
                        "choosing it by expected profit; the report notes the override")
    t.add_argument("--decline-at", type=_probability, default=None, metavar="PD",
                   help="set the decline cut-off by hand (a PD at or above it is declined; "
                        "between the two: review) instead of 2 × the break-even PD")
    t.add_argument("--evaluation", metavar="JSON",
                   help="the output of `loanscore-train evaluate --json` on the same data and "
                        "schema, shown as the leaderboard of report.html and kept in the "
                        "manifest's metrics")
    t.add_argument("--name", type=_name, metavar="NAME",
                   help="model name (default: the schema's name, else the data file's name)")
    t.add_argument("--force", action="store_true",
                   help="replace an existing bundle at --output")
    from .registry_cli import add_registry_parser, add_train_options
    add_train_options(t)

    e = sub.add_parser(
        "evaluate", formatter_class=_HelpFormatter,
        help="measure the whole training recipe by repeated stratified K-fold",
        description="Computes the features once, then runs the whole training recipe (tuning, "
                    "members, weights, calibration) inside each outer fold of a repeated "
                    "stratified K-fold and scores it on the outer test fold, which nothing "
                    "fitted has seen. Prints mean ± std over the folds per member and for the "
                    "ensemble. Progress goes to stderr.")
    e.add_argument("--data", required=True, metavar="CSV",
                   help="data CSV (header row, target column included)")
    e.add_argument("--schema", required=True, metavar="JSON",
                   help="input schema (loanscore-schema/1) naming the fields and the target")
    e.add_argument("--folds", type=int, default=5, metavar="K", help="outer folds per repeat")
    e.add_argument("--repeats", type=int, default=2, metavar="R", help="repeats of the outer K-fold")
    e.add_argument("--seed", type=_seed, default=42, metavar="N",
                   help="random seed for the outer folds and the recipe")
    e.add_argument("--json", action="store_true",
                   help="print the result as one JSON object on stdout (table on stderr)")
    from .governance import add_allow_protected_option
    add_allow_protected_option(e)
    _recipe_options(e)

    s = sub.add_parser(
        "infer-schema", formatter_class=_HelpFormatter, help="draft a schema from a CSV",
        description="Drafts a loanscore-schema/1 file from a CSV: types, levels and ranges from "
                    "the data. Review ranges, units and reason texts before training.")
    s.add_argument("--data", required=True, metavar="CSV",
                   help="the CSV to draft the schema from (header row, target column included)")
    s.add_argument("--target", required=True, metavar="COLUMN", help="the label column")
    s.add_argument("--positive", required=True, metavar="LABEL",
                   help="the positive (default) label of the target column")
    s.add_argument("--output", required=True, metavar="JSON", help="the schema file to write")
    add_registry_parser(sub, _HelpFormatter)
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs `loanscore-train` with `argv` (default: the process's arguments); returns the exit status."""
    args = parser().parse_args(argv)
    for name in ("allow_protected", "allow_leakage"):       # a repeated name counts once
        if getattr(args, name, None):
            setattr(args, name, list(dict.fromkeys(getattr(args, name))))
    try:
        if args.command == "train":
            from .output_folder import check_output
            check_output(args.output, args.force)   # before importing the training libraries
            from .registry_cli import wants_mlflow
            if wants_mlflow(args):                  # an unreachable registry, before any work
                from .registry import DEFAULT_EXPERIMENT, connect
                args.experiment = args.experiment or DEFAULT_EXPERIMENT
                connect(args.mlflow_uri, create=True)
            from . import train
            return train.run(args)
        if args.command == "evaluate":
            from . import evaluate
            return evaluate.run(args)
        if args.command == "registry":
            from . import registry_cli
            return registry_cli.run(args)
        from . import schema_infer
        return schema_infer.run(args)
    except ToolError as e:
        print(f"loanscore-train: error: {e}", file=sys.stderr)
        return e.code
    except OSError as e:
        print(f"loanscore-train: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
