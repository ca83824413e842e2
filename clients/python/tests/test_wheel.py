"""The platform wheel (scripts/build-wheel.sh, `make wheel`) installed into a fresh virtual
environment, run with no Swift toolchain on PATH and no LOANSCORE_LIBRARY: it scores with the
library it carries, byte for byte as `loanscore score`.

To keep the suite's time down the wheel is built from the debug library (the debug build is
already there; `make wheel` builds the release one). Both link the Swift runtime statically.
The fresh environment gets the wheel alone (`--no-deps --no-index`: no network); numpy and
pandas, ordinary PyPI dependencies, are made visible from the test's own environment through a
.pth file placed after its site-packages, so the loanscore package imported is the wheel's.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy

from conftest import DATA, REPO
from local_support import cli_score

CHECK = """
import os, shutil, sys
import pandas as pd
import loanscore
from loanscore import LocalScorer, write_csv
assert shutil.which("swift") is None and shutil.which("swiftc") is None, "a Swift toolchain is on PATH"
assert "LOANSCORE_LIBRARY" not in os.environ
assert loanscore.__file__.startswith(sys.prefix), loanscore.__file__
scorer = LocalScorer(sys.argv[1])
write_csv(scorer.score_frame(pd.read_csv(sys.argv[2])), sys.argv[3])
maps = open("/proc/self/maps").read()
assert "libswiftCore" not in maps and "/opt/swift" not in maps, "a shared Swift runtime was loaded"
print(scorer.library_version, scorer._lib.path)
"""


def test_wheel_installs_and_scores_without_swift(bundle: Callable[[str], Path], loanscore_bin: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = subprocess.run([str(REPO / "scripts/build-wheel.sh"), "debug", str(dist)], capture_output=True, text=True,
                           env={**os.environ, "PYTHON": sys.executable})
    assert build.returncode == 0, build.stderr[-4000:]
    wheels = list(dist.glob("loanscore-*-py3-none-linux_*.whl"))
    assert len(wheels) == 1, build.stdout
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "loanscore/_lib/libloanscore.so" in names and "loanscore/local.py" in names

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-index",
                              str(wheels[0])], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    Path(site, "zz_test_dependencies.pth").write_text(str(Path(numpy.__file__).parents[1]) + "\n")

    credit = bundle("credit_data")
    expected, _ = cli_score(loanscore_bin, credit, DATA / "credit_data.csv", tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    run = subprocess.run([str(python), "-c", CHECK, str(credit), str(DATA / "credit_data.csv"), str(tmp_path / "out.csv")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    assert str(venv) in run.stdout
    assert (tmp_path / "out.csv").read_bytes() == expected.read_bytes()
