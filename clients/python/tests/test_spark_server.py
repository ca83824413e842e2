"""loanscore-spark --server: partitions scored by a real loanscored (mutual TLS) through loanscore.Client."""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loanscore import spark as loanscore_spark
from loanscored import Loanscored, free_port
from resample import resample
from spark_reference import as_text, cli_reference
from test_spark import CREDIT, CREDIT_SCHEMA, read_output

SERVED = ["id", "pd", "risk_level", "decision", "confidence", "reasons", "model_version"]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = loanscore_spark._session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def server(bundle: Callable[[str], Path], certs: Path, loanscored_bin: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loanscored on the credit bundle requiring client certificates; its HOST:PORT."""
    # Correctness, not load shedding: a debug server on a busy 2-core machine must not answer BUSY.
    served = Loanscored(loanscored_bin, bundle("credit_data"), certs, tmp_path_factory.mktemp("server"),
                        config={"limits": {"max_queue_delay_ms": 10000}})
    yield served.address
    served.stop()


def test_server_decisions_equal_loanscore_score(spark: Any, server: str, certs: Path, tmp_path: Path,
                                                bundle: Callable[[str], Path], loanscore_bin: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    applications = tmp_path / "applications.csv"
    resample(CREDIT, 3_000, 5, applications, schema=CREDIT_SCHEMA, invalid=0.01)
    decisions, rejects = cli_reference(loanscore_bin, bundle("credit_data"), applications, tmp_path)
    code = loanscore_spark.main(["score", "--server", server, "--ca", str(certs / "ca.pem"),
                                 "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"),
                                 "--input", str(applications), "--output", str(tmp_path / "out"),
                                 "--rejects", str(tmp_path / "rej"), "--partitions", "3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "'Status' are not fields of the served schema" in err
    got = as_text(read_output(tmp_path / "out"))
    assert (got[SERVED].to_numpy() == decisions[SERVED].to_numpy()).all()
    refused = as_text(read_output(tmp_path / "rej"))
    assert list(refused["row"]) == list(rejects["row"])
    assert all(r.startswith("field '") for r in refused["rejection_reasons"])


def test_unreachable_or_untrusted_server_exits_4(spark: Any, server: str, certs: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    applications = tmp_path / "applications.csv"
    resample(CREDIT, 10, 5, applications)
    other_ca = tmp_path / "other"
    subprocess.run([str(Path(__file__).resolve().parents[3] / "scripts/make-certs.sh"), str(other_ca)], check=True,
                   capture_output=True)
    for address, ca in ((f"127.0.0.1:{free_port()}", certs / "ca.pem"), (server, other_ca / "ca.pem")):
        code = loanscore_spark.main(["score", "--server", address, "--ca", str(ca), "--cert", str(certs / "client.pem"),
                                     "--key", str(certs / "client.key"), "--input", str(applications),
                                     "--output", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 4, err
        assert not (tmp_path / "out").exists()
