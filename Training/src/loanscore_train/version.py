"""`loanscore-train --version`: the package version and the commit the tool runs from."""
from __future__ import annotations

import subprocess
from importlib import metadata

from .features import REPO_ROOT

COMMIT_LENGTH = 12
"""Hex digits of the commit shown, as the Swift executables' `--version` shows it."""


def code_commit() -> str:
    """The full commit of the checkout the tool runs from (`git rev-parse HEAD`), or "unknown"."""
    try:
        proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def package_version() -> str:
    """The installed `loanscore-train` distribution's version, or "unknown" when not installed."""
    try:
        return metadata.version("loanscore-train")
    except metadata.PackageNotFoundError:
        return "unknown"


def version_line() -> str:
    """`loanscore-train 0.1.0 (commit 0123456789ab)`; the commit is "unknown" outside git."""
    commit = code_commit()
    return f"loanscore-train {package_version()} (commit {commit[:COMMIT_LENGTH] if commit != 'unknown' else commit})"
