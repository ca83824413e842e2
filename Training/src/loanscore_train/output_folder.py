"""Checks a bundle's output folder before any work (cheap: no training libraries imported)."""
from __future__ import annotations

import os
from pathlib import Path

from .features import ToolError


def check_output(output: str | os.PathLike[str], force: bool = False) -> Path:
    """Refuses an output folder the bundle could not be written to; returns its absolute path.

    Checked before training starts (and again before writing): an existing non-empty folder
    without --force, a non-empty folder that is not a bundle, a file in the way, or a place
    this user cannot write (the nearest existing folder up the path is not writable).
    Raises ToolError with exit status 2.
    """
    output = Path(output).resolve()
    if output.exists():
        if not output.is_dir():
            raise ToolError(f"{output} exists and is not a folder; give another --output", code=2)
        if any(output.iterdir()):
            if not force:
                raise ToolError(f"{output} already exists (use --force to replace a bundle)", code=2)
            if not (output / "manifest.json").exists():
                raise ToolError(f"{output} is not empty and is not a bundle; refusing to replace it", 2)
    existing = output.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ToolError(f"{output}: {existing} is not a folder", code=2)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ToolError(f"{output}: cannot write in {existing} (permission denied)", code=2)
    return output
