"""LocalScorer against ``loanscore score``: same bytes, threads, and every error of issue 16."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, DATASETS
from local_support import cli_refusal, cli_score, edited_copy, tampered_copy
from loanscore import (BundleError, ColumnTypeError, Decision, InvalidApplicationError, LoanScoreError, LocalScorer,
                       MissingFieldError, Rejected, ScoredFrame, UnknownFieldError, write_csv)


@pytest.fixture(scope="module")
def scorers(bundle: Callable[[str], Path], library_path: Path) -> dict[str, LocalScorer]:
    return {name: LocalScorer(bundle(name), library=library_path) for name in DATASETS}


@pytest.mark.parametrize("name", DATASETS)
def test_same_bytes_as_the_cli_with_nans_and_rejects(name: str, scorers: dict[str, LocalScorer], bundle: Callable[[str], Path],
                                                     loanscore_bin: Path, tmp_path: Path) -> None:
    source = edited_copy(name, tmp_path)
    cli_output, cli_rejects = cli_score(loanscore_bin, bundle(name), source, tmp_path)
    # Every cell as the text the CLI reads: decisions and rejects byte for byte.
    as_text = pd.read_csv(source, dtype=str, keep_default_na=False)
    scored = scorers[name].score_frame(as_text, rejects="keep")
    write_csv(scored.decisions, tmp_path / "decisions.csv")
    write_csv(scored.rejects, tmp_path / "rejects.csv")
    assert (tmp_path / "decisions.csv").read_bytes() == cli_output.read_bytes()
    assert (tmp_path / "rejects.csv").read_bytes() == cli_rejects.read_bytes()
    assert len(scored.rejects) >= 3 and scored.decisions["flags"].str.contains("unseen level").any()
    # pandas' own dtypes (numbers as float64 with NaN for the empty cells, text as str): the
    # same decisions byte for byte, the same rows rejected with the same reasons (the input
    # cells themselves are pandas' values now: 800 reads back as 800.0 in a column with a NaN).
    typed = pd.read_csv(source)
    assert typed.isna().to_numpy().any()
    scored_typed = scorers[name].score_frame(typed, rejects="keep")
    write_csv(scored_typed.decisions, tmp_path / "decisions-typed.csv")
    assert (tmp_path / "decisions-typed.csv").read_bytes() == cli_output.read_bytes()
    assert scored_typed.rejects["row"].tolist() == scored.rejects["row"].tolist()
    assert scored_typed.rejects["rejection_reasons"].tolist() == scored.rejects["rejection_reasons"].tolist()


@pytest.mark.parametrize("name", DATASETS)
def test_unedited_data_sets_match_the_cli(name: str, scorers: dict[str, LocalScorer], bundle: Callable[[str], Path],
                                          loanscore_bin: Path, tmp_path: Path) -> None:
    cli_output, _ = cli_score(loanscore_bin, bundle(name), DATA / f"{name}.csv", tmp_path)
    decisions = scorers[name].score_frame(pd.read_csv(DATA / f"{name}.csv"))
    assert [str(dtype) for dtype in decisions.dtypes[["pd", "confidence"]]] == ["float64", "float64"]
    assert all(pd.api.types.is_string_dtype(decisions[column]) for column in decisions.columns if column not in ("pd", "confidence"))
    write_csv(decisions, tmp_path / "decisions.csv")
    assert (tmp_path / "decisions.csv").read_bytes() == cli_output.read_bytes()


def test_threads_share_one_scorer(scorers: dict[str, LocalScorer]) -> None:
    scorer = scorers["credit_data"]
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=1500)
    expected = scorer.score_frame(frame)
    results: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(scorer.score_frame(frame))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 12
    for result in results:
        pd.testing.assert_frame_equal(result, expected)


def test_the_gil_is_released_while_the_library_scores(scorers: dict[str, LocalScorer], monkeypatch: pytest.MonkeyPatch) -> None:
    """Python threads run while another thread is inside loanscore_score: that is what lets
    threads scale (ctypes releases the GIL around a foreign call)."""
    scorer = scorers["credit_data"]
    frame = pd.concat([pd.read_csv(DATA / "credit_data.csv")] * 2, ignore_index=True)
    window: list[float] = []
    call = scorer._lib.call

    def timed(name: str, *args: object) -> None:
        if name != "loanscore_score":
            return call(name, *args)
        window.append(time.perf_counter())
        call(name, *args)
        window.append(time.perf_counter())

    monkeypatch.setattr(scorer._lib, "call", timed)
    worker = threading.Thread(target=scorer.score_frame, args=(frame,))
    stamps: list[float] = []
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = window
    inside = sum(start < stamp < end for stamp in stamps)
    assert inside > 100, f"{inside} steps of the main thread during {end - start:.3f} s inside the library"


def test_rows_give_the_ids_and_reject_rows(scorers: dict[str, LocalScorer]) -> None:
    frame = pd.read_csv(DATA / "credit_data.csv").iloc[10:14].reset_index(drop=True)
    frame.loc[2, "Expenses"] = -1
    scored = scorers["credit_data"].score_frame(frame, rejects="keep", rows=np.array([11, 12, 13, 14]))
    assert isinstance(scored, ScoredFrame)
    assert scored.decisions["id"].tolist() == ["11", "12", "14"]
    assert scored.rejects["row"].tolist() == [13]
    assert list(scored.rejects.columns) == ["row", *frame.columns, "rejection_reasons"]
    assert "field 'Expenses': is negative (value \"-1\"" in scored.rejects["rejection_reasons"][0]


def test_score_dicts(scorers: dict[str, LocalScorer]) -> None:
    good = {"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", "Records": "no", "Job": "freelance",
            "Expenses": 73, "Income": 129.0, "Assets": 0.0, "Debt": 0.0, "Amount": 800, "Price": 846}
    results = scorers["credit_data"].score([good, {**good, "Time": None}, {**good, "Income": None, "Home": "castle"}])
    assert isinstance(results[0], Decision) and isinstance(results[2], Decision)
    assert results[0].id == "1" and results[0].decision in ("approve", "review", "decline")
    assert 0 <= results[0].pd <= 1 and results[0].reasons and results[0].model_version == scorers["credit_data"].model_version
    assert results[2].flags == ('Home: unseen level "castle" treated as missing',)
    rejected = results[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.index, rejected.field, rejected.id) == (1, "Time", "2")
    assert "is missing but the field is required" in rejected.message
    # The first row of the data set, as a dict, gets the CLI's PD for that row.
    first = scorers["credit_data"].score_frame(pd.read_csv(DATA / "credit_data.csv", nrows=1))
    assert results[0].pd == first["pd"][0]


def test_describes_the_bundle(scorers: dict[str, LocalScorer]) -> None:
    scorer = scorers["credit_data"]
    assert [f.name for f in scorer.fields][:3] == ["Seniority", "Home", "Time"]
    home = scorer.fields[1]
    assert (home.type, home.accepts_missing, home.levels[0]) == ("category", True, "rent")
    assert scorer.model_name == "credit_data" and scorer.model_version and scorer.id_column is None
    assert scorer.target_column == "Status" and scorer.schema["name"] == "credit_data"
    assert scorer.library_version.startswith("loanscore-c ")


def test_refused_bundle_has_the_cli_message(bundle: Callable[[str], Path], library_path: Path, loanscore_bin: Path,
                                            tmp_path: Path) -> None:
    tampered = tampered_copy(bundle("credit_data"), tmp_path)
    with pytest.raises(BundleError) as caught:
        LocalScorer(tampered, library=library_path)
    assert str(caught.value) == cli_refusal(loanscore_bin, tampered, tmp_path)
    assert "sha256" in str(caught.value) and caught.value.path == str(tampered) and caught.value.code == 4
    with pytest.raises(BundleError, match="no such bundle folder"):
        LocalScorer(tmp_path / "nowhere", library=library_path)


def test_missing_field(scorers: dict[str, LocalScorer]) -> None:
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=5).drop(columns=["Seniority", "Price"])
    with pytest.raises(MissingFieldError) as caught:
        scorers["credit_data"].score_frame(frame)
    assert caught.value.field == "Seniority" and "'Seniority', 'Price'" in str(caught.value)
    # A nullable field's column may be left out: its values are missing.
    nullable = pd.read_csv(DATA / "credit_data.csv", nrows=5).drop(columns=["Income", "Age", "Marital"])
    assert len(scorers["credit_data"].score_frame(nullable)) == 5


def test_wrong_dtype(scorers: dict[str, LocalScorer]) -> None:
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=5)
    frame["Income"] = pd.to_datetime("2024-01-01")
    with pytest.raises(ColumnTypeError) as caught:
        scorers["credit_data"].score_frame(frame)
    assert (caught.value.field, caught.value.expected) == ("Income", "number") and "datetime64" in caught.value.dtype
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=5)
    frame["Amount"] = frame["Amount"] > 1000
    with pytest.raises(ColumnTypeError, match="'Amount' has dtype bool"):
        scorers["credit_data"].score_frame(frame)


def test_text_in_a_number_column(scorers: dict[str, LocalScorer]) -> None:
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=6)
    frame["Expenses"] = frame["Expenses"].astype(object)
    frame.loc[4, "Expenses"] = "seventy"
    with pytest.raises(InvalidApplicationError) as caught:
        scorers["credit_data"].score_frame(frame)
    error = caught.value
    assert (error.field, error.row, error.index) == ("Expenses", 5, 4)
    assert 'is not a number (value "seventy"' in str(error) and "1 of 6 application(s)" in str(error)
    assert isinstance(error.rejects, pd.DataFrame) and error.rejects["row"].tolist() == [5]


def test_unknown_columns(scorers: dict[str, LocalScorer], bundle: Callable[[str], Path], library_path: Path) -> None:
    frame = pd.read_csv(DATA / "credit_data.csv", nrows=3).assign(customer="x")
    with pytest.raises(UnknownFieldError) as caught:
        scorers["credit_data"].score_frame(frame)
    assert caught.value.field == "customer"
    lenient = LocalScorer(bundle("credit_data"), library=library_path, unknown_fields="ignore")
    assert len(lenient.score_frame(frame)) == 3


def test_library_lookup_and_closing(bundle: Callable[[str], Path], library_path: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OSError, match="C library is missing"):
        LocalScorer(bundle("credit_data"), library=tmp_path / "libnothing.so")
    monkeypatch.setenv("LOANSCORE_LIBRARY", str(library_path))
    with LocalScorer(bundle("credit_data")) as scorer:
        assert len(scorer.score_frame(pd.read_csv(DATA / "credit_data.csv", nrows=2))) == 2
    with pytest.raises(LoanScoreError, match="closed"):
        scorer.score_frame(pd.read_csv(DATA / "credit_data.csv", nrows=2))

