"""Shared fixtures of the Python package's tests.

Binaries and tools come from the repository (never skipped: a missing one fails the test with
the command that makes it):
- LOANSCORE_BIN / LOANSCORED_BIN: the Swift CLI and server (default .build/debug/...);
- LOANSCORE_LIBRARY: the C library (default .build/debug/libLoanScoreC.so, the LoanScoreC product);
- TRAINING_PYTHON: the training tool's interpreter (default Training/.venv/bin/python).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "Data"
DATASETS = ("credit_data", "german_credit")
TEST_TRIALS = 3  # a small Optuna budget keeps the end-to-end tests fast


def repo_path(env: str, default: str, *, what: str, make: str) -> Path:
    """The file named by `env` (or `default` under the repository); fails the test when missing."""
    path = Path(os.environ.get(env, default))
    path = path if path.is_absolute() else REPO / path
    if not path.exists():
        pytest.fail(f"{what} is missing at {path}: run `{make}` first (or set {env})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def loanscore_bin() -> Path:
    return repo_path("LOANSCORE_BIN", ".build/debug/loanscore", what="the loanscore CLI", make="swift build")


@pytest.fixture(scope="session")
def loanscored_bin() -> Path:
    return repo_path("LOANSCORED_BIN", ".build/debug/loanscored", what="loanscored", make="swift build")


@pytest.fixture(scope="session")
def library_path() -> Path:
    return repo_path("LOANSCORE_LIBRARY", ".build/debug/libLoanScoreC.so", what="the C library (libLoanScoreC.so)",
                     make="swift build --product LoanScoreC")


@pytest.fixture(scope="session")
def training_python() -> Path:
    return repo_path("TRAINING_PYTHON", "Training/.venv/bin/python", what="the training tool's virtual environment",
                     make="make venv")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, training_python: Path,
           loanscore_bin: Path) -> Callable[[str], Path]:
    """bundle(name) -> a bundle trained on Data/<name>.csv (made once per session, on first use)."""
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            out = tmp_path_factory.mktemp(name) / "bundle"
            proc = subprocess.run(
                [str(training_python), "-m", "loanscore_train.cli", "train", "--data", str(DATA / f"{name}.csv"),
                 "--schema", str(DATA / f"{name}.schema.json"), "--output", str(out), "--trials", str(TEST_TRIALS)],
                capture_output=True, text=True, env={**os.environ, "LOANSCORE_BIN": str(loanscore_bin)})
            assert proc.returncode == 0, f"training {name} failed (exit {proc.returncode}):\n{proc.stderr}"
            cache[name] = out
        return cache[name]

    return get


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (scripts/make-certs.sh)."""
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([str(REPO / "scripts/make-certs.sh"), str(d)], check=True, capture_output=True)
    return d
