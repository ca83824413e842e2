"""The `loanscore-train` command line itself: --version, help texts, early output checks."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loanscore_train.cli import parser
from loanscore_train.features import REPO_ROOT
from loanscore_train.version import package_version

DATA = REPO_ROOT / "Data"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs `loanscore-train ARGS` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "loanscore_train.cli", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_version_names_the_package_version_and_the_commit() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0, proc.stderr
    match = re.fullmatch(r"loanscore-train (\S+) \(commit ([0-9a-f]{12}|unknown)\)\n", proc.stdout)
    assert match, proc.stdout
    assert match.group(1) == package_version()
    pyproject = (REPO_ROOT / "Training/pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{match.group(1)}"' in pyproject


def test_the_package_version_is_the_swift_executables_version() -> None:
    swift = (REPO_ROOT / "Sources/LoanScoreVersion/LoanScoreVersion.swift").read_text(encoding="utf-8")
    declared = re.search(r'public static let number = "([^"]+)"', swift)
    assert declared, "LoanScoreVersion.number not found"
    assert declared.group(1) == package_version()


@pytest.mark.parametrize("command", ["train", "evaluate", "infer-schema"])
def test_every_option_is_explained(command: str) -> None:
    sub = parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001 (argparse has no public accessor)
    for action in sub._actions:                                     # noqa: SLF001
        assert action.help, f"{command} {action.option_strings} has no help text"
    text = sub.format_help()
    if command == "train":
        assert "(default: 42)" in text and "(default: 0.45)" in text and "(default: 0.1)" in text
        assert "--lgd" in text and "--fairness-gate" in text and "--allow-protected" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default: [])" not in text
    if command in ("train", "evaluate"):
        assert "--trials" in text and "--resample" in text and "(default: none)" in text


def _env_with_recording_loanscore(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose LOANSCORE_BIN records that it ran: the checks must come first."""
    marker = tmp_path / "loanscore-ran"
    fake = tmp_path / "loanscore"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    return {**os.environ, "LOANSCORE_BIN": str(fake)}, marker


def test_train_refuses_an_existing_bundle_before_any_work(tmp_path: Path) -> None:
    env, marker = _env_with_recording_loanscore(tmp_path)
    output = tmp_path / "bundle"
    output.mkdir()
    (output / "manifest.json").write_text("{}", encoding="utf-8")
    started = time.monotonic()
    proc = run_cli("train", "--data", str(DATA / "credit_data.csv"),
                   "--schema", str(DATA / "credit_data.schema.json"), "--output", str(output), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "already exists (use --force to replace a bundle)" in proc.stderr
    assert "computing features" not in proc.stderr
    assert not marker.exists()
    assert time.monotonic() - started < 30


def test_train_refuses_an_output_under_a_file_before_any_work(tmp_path: Path) -> None:
    env, marker = _env_with_recording_loanscore(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    proc = run_cli("train", "--data", str(DATA / "credit_data.csv"),
                   "--schema", str(DATA / "credit_data.schema.json"),
                   "--output", str(blocker / "bundle"), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "is not a folder" in proc.stderr
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_train_refuses_an_unwritable_output_before_any_work(tmp_path: Path) -> None:
    env, marker = _env_with_recording_loanscore(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    proc = run_cli("train", "--data", str(DATA / "credit_data.csv"),
                   "--schema", str(DATA / "credit_data.schema.json"),
                   "--output", str(locked / "new" / "bundle"), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write in" in proc.stderr
    assert not marker.exists()
