"""Command line: `loanscore-train train|infer-schema`."""
from __future__ import annotations

import argparse
import sys

from .features import ToolError


def _probability(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{s} is not in [0, 1]")
    return v


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loanscore-train",
                                description="Train LoanScore's ensemble and write model bundles.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the ensemble on a CSV and write a bundle")
    t.add_argument("--data", required=True, help="training data CSV (header row, target included)")
    t.add_argument("--schema", required=True, help="input schema (loanscore-schema/1)")
    t.add_argument("--output", required=True, help="bundle directory to write")
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--json", action="store_true",
                   help="print the leaderboard as one JSON object on stdout (table on stderr)")
    t.add_argument("--approve-below", type=_probability, default=0.15)
    t.add_argument("--decline-at", type=_probability, default=0.45)
    t.add_argument("--name", help="model name (default: the schema's name)")
    t.add_argument("--force", action="store_true", help="replace an existing bundle")

    s = sub.add_parser("infer-schema", help="draft a schema from a CSV")
    s.add_argument("--data", required=True)
    s.add_argument("--target", required=True, help="the label column")
    s.add_argument("--positive", required=True, help="the positive (default) label")
    s.add_argument("--output", required=True)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "train":
            from . import train
            return train.run(args)
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
