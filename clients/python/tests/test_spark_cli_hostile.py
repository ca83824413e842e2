"""loanscore-spark's exit codes for a Spark that cannot start (README, "Output and errors")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA
from loanscore import spark


def test_a_bad_master_is_a_usage_error(tmp_path: Path) -> None:
    # It exited 1 (internal error) with "[JAVA_GATEWAY_EXITED] Java gateway process exited".
    # A process of its own: in this one, an earlier test's Spark session would be reused.
    proc = subprocess.run([sys.executable, "-m", "loanscore.spark", "score", "--bundle", str(tmp_path),
                           "--input", str(DATA / "credit_data.csv"), "--output", str(tmp_path / "out"),
                           "--master", "bogus://nowhere"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "error: Spark did not start (--master bogus://nowhere)" in proc.stderr


def test_an_output_that_is_not_an_earlier_output_is_not_replaced(tmp_path: Path, bundle: object,
                                                                 library_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # --output naming a folder of other files deleted that folder (recursively) and wrote there.
    source = tmp_path / "small.csv"
    source.write_text("".join((DATA / "credit_data.csv").read_text().splitlines(keepends=True)[:11]))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    common = ["score", "--bundle", str(bundle("credit_data")), "--input", str(source),  # type: ignore[operator]
              "--library", str(library_path), "--master", "local[1]"]
    assert spark.main([*common, "--output", str(precious)]) == 3
    assert "is not an earlier Parquet output of loanscore-spark" in capsys.readouterr().err
    assert (precious / "thesis.txt").read_text() == "years of work"
    # An earlier run's output is replaced, as before.
    assert spark.main([*common, "--output", str(tmp_path / "out")]) == 0
    assert spark.main([*common, "--output", str(tmp_path / "out")]) == 0


def test_an_unwritable_output_is_exit_3_with_a_message(tmp_path: Path, bundle: object, library_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # It exited 1 with 'An error occurred while calling o231.parquet.' and a Java stack trace.
    source = tmp_path / "small.csv"
    source.write_text("".join((DATA / "credit_data.csv").read_text().splitlines(keepends=True)[:11]))
    code = spark.main(["score", "--bundle", str(bundle("credit_data")), "--input", str(source),  # type: ignore[operator]
                       "--library", str(library_path), "--master", "local[1]", "--output", "/proc/nowhere/out"])
    assert code == 3
    assert "error: /proc/nowhere/out: cannot create the output" in capsys.readouterr().err
