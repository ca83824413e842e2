"""Shared fixtures. Tests that need LoanScore's Swift CLI fail (never skip) when it is missing."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loanscore_train.features import REPO_ROOT, ToolError, find_binary

DATA = REPO_ROOT / "Data"
DATASETS = ("credit_data", "german_credit")
TEST_TRIALS = 3          # a small Optuna budget keeps the end-to-end tests fast


def require_loanscore() -> str:
    try:
        return find_binary()
    except ToolError as e:
        message = str(e)
    pytest.fail(f"this test needs LoanScore's Swift CLI: {message}", pytrace=False)


def run_loanscore(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([require_loanscore(), *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, f"loanscore {' '.join(map(str, args))} failed " \
                                 f"(exit {proc.returncode}):\n{proc.stderr}"
    return proc


def train_cli(data: Path, schema: Path, output: Path, *extra) -> dict:
    """Runs `loanscore-train train --json` as a user would; returns the JSON it prints."""
    proc = subprocess.run([sys.executable, "-m", "loanscore_train.cli", "train", "--data", str(data),
                           "--schema", str(schema), "--output", str(output), "--json", *extra],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"training failed (exit {proc.returncode}):\n{proc.stderr}"
    sys.stderr.write(proc.stderr)
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """trained(name) -> (bundle path, --json result): one bundle per data set, made on first use."""
    cache = {}

    def get(name: str):
        require_loanscore()
        if name not in cache:
            out = tmp_path_factory.mktemp(name) / "bundle"
            result = train_cli(DATA / f"{name}.csv", DATA / f"{name}.schema.json", out,
                               "--trials", str(TEST_TRIALS))
            cache[name] = (out, result)
        return cache[name]

    return get
