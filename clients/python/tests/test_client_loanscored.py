"""loanscore.Client / AsyncClient against a real loanscored (mutual TLS, certificates made by the
tests): the same answers as `loanscore score` (offline, and byte for byte as `--server` writes
them), NaNs and rejects included, and every error of issue 16 as a typed exception."""
from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loanscore
from loanscore.results import format_number
from conftest import DATA
from loanscored import Loanscored, free_port

TARGETS = {"credit_data": "Status", "german_credit": "creditability"}


@pytest.fixture(scope="module")
def servers(bundle: Callable[[str], Path], certs: Path, loanscored_bin: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Loanscored]]:
    """servers(name) -> a loanscored serving bundle(name), started once per module."""
    started: dict[str, Loanscored] = {}

    def get(name: str) -> Loanscored:
        if name not in started:
            started[name] = Loanscored(loanscored_bin, bundle(name), certs, tmp_path_factory.mktemp(f"srv-{name}"))
        return started[name]

    yield get
    for server in started.values():
        server.stop()


def make_client(server: Loanscored, certs: Path, **kw: object) -> loanscore.Client:
    return loanscore.Client(server.address, ca=str(certs / "ca.pem"), cert=str(certs / "client.pem"),  # type: ignore[arg-type]
                            key=str(certs / "client.key"), **kw)


def cli_csv(decisions: pd.DataFrame) -> str:
    """The decisions as `loanscore score` writes them (numbers in Swift's shortest form)."""
    out = decisions.astype(object)
    out["pd"] = decisions["pd"].map(format_number)
    out["confidence"] = decisions["confidence"].map(format_number)
    return out.to_csv(index=False, lineterminator="\n")


def cli_rejects(path: Path) -> list[tuple[int, str]]:
    with open(path, newline="") as f:
        return [(int(r["row"]), r["rejection_reasons"]) for r in csv.DictReader(f)]


def run_cli(loanscore_bin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(loanscore_bin), "score", *args], capture_output=True, text=True)


def input_file(name: str, bundle: Callable[[str], Path]) -> Path:
    # german: the bundle's holdout; credit_data: the whole file (missing cells in several fields)
    return bundle(name) / "validation" / "holdout.csv" if name == "german_credit" else DATA / "credit_data.csv"


@pytest.mark.parametrize("name", ["german_credit", "credit_data"])
def test_answers_equal_loanscore_score(name: str, servers: Callable[[str], Loanscored], bundle: Callable[[str], Path],
                                       certs: Path, loanscore_bin: Path, tmp_path: Path) -> None:
    server, source = servers(name), input_file(name, bundle)
    offline = run_cli(loanscore_bin, "--bundle", str(bundle(name)), "--input", str(source),
                      "--output", str(tmp_path / "off.csv"), "--rejects", str(tmp_path / "off-rej.csv"))
    assert offline.returncode == 0, offline.stderr
    remote = run_cli(loanscore_bin, "--server", server.address, *server.tls_args(), "--input", str(source),
                     "--output", str(tmp_path / "srv.csv"), "--rejects", str(tmp_path / "srv-rej.csv"),
                     "--ignore-column", TARGETS[name], "--batch", "256")
    assert remote.returncode == 0, remote.stderr

    df = pd.read_csv(source)
    if name == "credit_data":
        assert df.isna().any().any()  # NaN cells travel as missing values
    with make_client(server, certs, unknown_fields="ignore", batch_size=256) as client:
        scored = client.score_frame(df, rejects="keep")
    assert cli_csv(scored.decisions) == (tmp_path / "srv.csv").read_text()
    assert list(zip(scored.rejects["row"], scored.rejects["rejection_reasons"])) == cli_rejects(tmp_path / "srv-rej.csv")

    off = pd.read_csv(tmp_path / "off.csv", dtype=str, keep_default_na=False)
    mine = pd.read_csv(io.StringIO(cli_csv(scored.decisions)), dtype=str, keep_default_na=False)
    same = ["id", "pd", "risk_level", "decision", "confidence", "reasons", "model_version"]
    assert len(mine) == len(off) > 100
    assert (mine[same].values == off[same].values).all()
    assert list(scored.rejects["row"]) == [row for row, _ in cli_rejects(tmp_path / "off-rej.csv")]


def test_async_client_and_dicts(servers: Callable[[str], Loanscored], bundle: Callable[[str], Path],
                                certs: Path) -> None:
    server = servers("german_credit")
    df = pd.read_csv(input_file("german_credit", bundle)).drop(columns=["creditability"])
    records = [{"id": f"app-{i}", **row} for i, row in enumerate(df.head(50).to_dict("records"))]

    async def main() -> tuple[list[loanscore.Decision | loanscore.Rejected], pd.DataFrame]:
        async with loanscore.AsyncClient(server.address, ca=str(certs / "ca.pem"), cert=str(certs / "client.pem"),
                                         key=str(certs / "client.key")) as client:
            welcome = await client.connect()
            assert welcome.model_name == "german_credit" and len(welcome.fields) == df.shape[1]
            return await client.score(records), await client.score_frame(df.head(50))

    results, frame = asyncio.run(main())
    assert [r.id for r in results] == [f"app-{i}" for i in range(50)]
    assert all(isinstance(r, loanscore.Decision) for r in results)
    assert [r.pd for r in results if isinstance(r, loanscore.Decision)] == list(frame["pd"])


def test_invalid_rows_as_the_cli_rejects_them(servers: Callable[[str], Loanscored], bundle: Callable[[str], Path],
                                             certs: Path, loanscore_bin: Path, tmp_path: Path) -> None:
    server = servers("german_credit")
    df = pd.read_csv(input_file("german_credit", bundle)).drop(columns=["creditability"])
    df = df.astype({"credit_amount": object, "duration_in_month": float})
    df.loc[2, "credit_amount"] = "lots"            # text in a number field: rejected here, as the CLI does
    df.loc[4, "duration_in_month"] = np.inf         # not a finite number: rejected here
    df.loc[6, "present_residence_since"] = 7       # out of range: the server says so
    df.loc[8, "age_in_years"] = 400                 # out of range: the server says so
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    remote = run_cli(loanscore_bin, "--server", server.address, *server.tls_args(), "--input", str(path),
                     "--output", str(tmp_path / "srv.csv"), "--rejects", str(tmp_path / "srv-rej.csv"))
    assert remote.returncode == 0, remote.stderr
    expected = cli_rejects(tmp_path / "srv-rej.csv")
    assert [row for row, _ in expected] == [3, 5, 7, 9]

    with make_client(server, certs) as client:
        kept = client.score_frame(df, rejects="keep")
        assert list(zip(kept.rejects["row"], kept.rejects["rejection_reasons"])) == expected
        assert list(kept.rejects.columns) == ["row", *df.columns, "rejection_reasons"]
        assert cli_csv(kept.decisions) == (tmp_path / "srv.csv").read_text()
        with pytest.raises(loanscore.InvalidApplicationError) as info:
            client.score_frame(df)
        assert (info.value.row, info.value.index, info.value.field) == (3, 2, "credit_amount")
        assert len(info.value.rejects) == 4  # type: ignore[arg-type]
        results = client.score(df.to_dict("records"))
        bad = [r for r in results if isinstance(r, loanscore.Rejected)]
        assert [(r.index, r.field) for r in bad] == [(2, "credit_amount"), (4, "duration_in_month"),
                                                     (6, "present_residence_since"), (8, "age_in_years")]


def test_input_errors(servers: Callable[[str], Loanscored], bundle: Callable[[str], Path], certs: Path) -> None:
    server = servers("german_credit")
    df = pd.read_csv(input_file("german_credit", bundle)).head(20)
    with make_client(server, certs) as client:
        with pytest.raises(loanscore.UnknownFieldError) as unknown:
            client.score_frame(df)  # the target column is no field of the served schema
        assert unknown.value.field == "creditability"
        df = df.drop(columns=["creditability"])
        with pytest.raises(loanscore.MissingFieldError) as missing:
            client.score_frame(df.drop(columns=["purpose"]))
        assert missing.value.field == "purpose"
        wrong = df.assign(credit_amount=pd.Timestamp("2026-01-01"))
        with pytest.raises(loanscore.ColumnTypeError) as dtype:
            client.score_frame(wrong)
        assert (dtype.value.field, dtype.value.expected) == ("credit_amount", "number")
        assert dtype.value.dtype.startswith("datetime64")


def test_unreachable_server(certs: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    with loanscore.Client(address, ca=str(certs / "ca.pem"), connect_timeout=2) as client:
        with pytest.raises(loanscore.ConnectionFailedError) as info:
            client.connect()
        assert info.value.address == address and "connection refused" in str(info.value)
        assert not isinstance(info.value, loanscore.TLSError)
        with pytest.raises(loanscore.ConnectionFailedError, match="connection refused"):
            client.score([{}])  # retried with backoff, then the same error


def test_wrong_ca(servers: Callable[[str], Loanscored], tmp_path: Path) -> None:
    server = servers("german_credit")
    other = tmp_path / "other"
    subprocess.run([str(Path(__file__).resolve().parents[3] / "scripts/make-certs.sh"), str(other)],
                   check=True, capture_output=True)
    with loanscore.Client(server.address, ca=str(other / "ca.pem"), cert=str(other / "client.pem"),
                          key=str(other / "client.key")) as client:
        with pytest.raises(loanscore.TLSError, match="not trusted") as info:
            client.score([{}])
    assert info.value.address == server.address


def test_hostname_is_checked(servers: Callable[[str], Loanscored], certs: Path) -> None:
    server = servers("german_credit")
    with make_client(server, certs, server_hostname="scoring.example") as client:
        with pytest.raises(loanscore.TLSError, match="not trusted"):
            client.connect()
    with make_client(server, certs, server_hostname="localhost") as client:
        assert client.connect().model_name == "german_credit"


def test_client_certificate_required(servers: Callable[[str], Loanscored], certs: Path) -> None:
    server = servers("german_credit")
    with loanscore.Client(server.address, ca=str(certs / "ca.pem")) as client:
        with pytest.raises(loanscore.TLSError, match="client certificate"):
            client.connect()


def test_missing_ca_file(tmp_path: Path) -> None:
    with pytest.raises(loanscore.TLSError, match="cannot load"):
        loanscore.Client("127.0.0.1:1", ca=str(tmp_path / "nope.pem"))


def test_deadline_exceeded(servers: Callable[[str], Loanscored], bundle: Callable[[str], Path], certs: Path) -> None:
    server = servers("german_credit")
    df = pd.read_csv(input_file("german_credit", bundle)).drop(columns=["creditability"])
    with make_client(server, certs) as client:
        client.connect()
        with pytest.raises(loanscore.DeadlineExceededError) as info:
            client.score_frame(df, deadline=1e-6)
        assert info.value.deadline == 1e-6
        assert len(client.score_frame(df)) == len(df)  # the connection stays usable


def test_quota_exceeded_is_typed_with_request_id_and_retried_after_its_hint(
        bundle: Callable[[str], Path], certs: Path, loanscored_bin: Path, tmp_path: Path) -> None:
    server = Loanscored(loanscored_bin, bundle("german_credit"), certs, tmp_path,
                        config={"quotas": {"applications_per_second": 200, "burst_applications": 200}})
    try:
        df = pd.read_csv(input_file("german_credit", bundle)).drop(columns=["creditability"])
        with make_client(server, certs, retries=0) as client:
            client.score_frame(df)  # 200 applications: the whole burst
            with pytest.raises(loanscore.QuotaExceededError) as info:
                client.score_frame(df)
            assert info.value.request_id > 0 and (info.value.retry_after_ms or 0) >= 1
            assert info.value.code == 0x0108 and info.value.server_message.startswith("retry after")
        with make_client(server, certs) as client:  # retried after the server's hint
            started = time.monotonic()
            assert len(client.score_frame(df)) == len(df)
            assert len(client.score_frame(df)) == len(df)
            assert time.monotonic() - started >= 0.3
    finally:
        server.stop()
