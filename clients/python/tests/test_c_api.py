"""The C program tests/c_api/loanscore_test.c, built with AddressSanitizer and UBSan and run
against the library: every error path, scoring, four threads on one bundle, no leak.

The program is instrumented; the library is the one under test (LOANSCORE_LIBRARY). ASan
replaces malloc/free for the whole process, so double frees, frees of foreign pointers and
leaks anywhere (the library's handles and strings included: LeakSanitizer runs at exit) are
reported. Out-of-bounds accesses inside the library's own code need the library instrumented
too: `make c-abi-asan` runs this same test against the library the Fuzz package builds under
ASan, and the libFuzzer target Fuzz/Sources/CABIFuzz fuzzes the API there (make fuzz-smoke).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DATA, REPO
from local_support import cli_refusal, cli_score, tampered_copy

SOURCE = Path(__file__).parent / "c_api" / "loanscore_test.c"


def compiler() -> str:
    """clang (the Swift toolchain's, or the system's): the test fails, never skips, without one."""
    for candidate in (os.environ.get("CC"), shutil.which("clang"), "/opt/swift/usr/bin/clang"):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("no clang to build the C test program: install the Swift toolchain (it ships clang) or set CC", pytrace=False)


@pytest.fixture(scope="module")
def program(library_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("c_api") / "loanscore_test"
    # `make c-abi-asan` runs this test against the library built under ASan by the Fuzz package,
    # whose coverage instrumentation needs fuzzer-no-link here too.
    sanitize = os.environ.get("LOANSCORE_C_SANITIZE", "address,undefined")
    command = [compiler(), "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-fno-omit-frame-pointer",
               f"-fsanitize={sanitize}", "-fno-sanitize-recover=undefined", "-I", str(REPO / "include"), str(SOURCE),
               str(library_path), f"-Wl,-rpath,{library_path.parent}", "-lpthread", "-lm", "-o", str(out)]
    if shutil.which("ld.lld") or Path("/opt/swift/usr/bin/ld.lld").exists():
        command.insert(1, "-fuse-ld=lld")
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(command)}\n{proc.stderr}"
    return out


def test_c_program_under_address_sanitizer(program: Path, bundle: Callable[[str], Path], loanscore_bin: Path,
                                           tmp_path: Path) -> None:
    credit = bundle("credit_data")
    # The first 40 applications, four of them edited (missing values, text in a number
    # column, an unseen level): cells without commas, as the program's reader needs.
    with open(DATA / "credit_data.csv", newline="") as source:
        rows = list(csv.reader(source))[:41]
    header = rows[0]
    rows[3][header.index("Income")] = ""
    rows[5][header.index("Expenses")] = "abc"
    rows[8][header.index("Home")] = "castle"
    rows[9][header.index("Seniority")] = ""
    applications = tmp_path / "applications.csv"
    applications.write_text("".join(",".join(row) + "\n" for row in rows))
    tampered = tampered_copy(credit, tmp_path)
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1", "SWIFT_BACKTRACE": "enable=no"}
    proc = subprocess.run([str(program), str(credit), str(applications), str(tampered)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    assert "ERROR: AddressSanitizer" not in proc.stderr and "runtime error" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "PASSED"
    # Error paths: the program checked each status; every one came with a message.
    errors = [line for line in lines if line.startswith("error ")]
    assert len(errors) >= 35
    # The refused bundle: the CLI's message, word for word.
    refused = next(line for line in lines if line.startswith("refused: ")).removeprefix("refused: ")
    assert refused == cli_refusal(loanscore_bin, tampered, tmp_path)
    # Scores: the CLI's PDs and decisions for the same rows, rejects where it rejects.
    cli_output, cli_rejects = cli_score(loanscore_bin, credit, applications, tmp_path)
    with open(cli_output, newline="") as out:
        expected = list(csv.DictReader(out))
    with open(cli_rejects, newline="") as out:
        expected_rejects = list(csv.DictReader(out))
    scored = [line for line in lines if line.startswith(("ok ", "rejected "))]
    assert len(scored) == 40
    accepted = [line.split(" ") for line in scored if line.startswith("ok ")]
    assert len(accepted) == len(expected) == 40 - len(expected_rejects)
    for fields, row in zip(accepted, expected):
        assert float(fields[1]) == float(row["pd"])
        assert (fields[2], fields[3], fields[4]) == (row["decision"], row["risk_level"], row["reasons"])
    rejected = [line for line in scored if line.startswith("rejected ")]
    assert [line.split(" | ")[1] for line in rejected] == [row["rejection_reasons"] for row in expected_rejects]
    assert any("castle" in line for line in scored)
