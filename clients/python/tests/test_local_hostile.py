"""LocalScorer against hostile input: every failure a typed error naming what to fix, never a raw traceback."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from loanscore import BundleError, InputError, LocalScorer


@pytest.fixture(scope="module")
def scorer(bundle: Callable[[str], Path], library_path: Path) -> LocalScorer:
    return LocalScorer(bundle("credit_data"), library=library_path)


def frame(rows: int = 5) -> pd.DataFrame:
    return pd.read_csv(DATA / "credit_data.csv", nrows=rows)


@pytest.mark.parametrize("rows", [np.array([1, 2]), np.ones((5, 1), dtype=np.int64), np.array(list("abcde")),
                                  np.array([1, 2, None, 4, 5], dtype=object), np.array([1.5, 2, 3, 4, 5]), 5])
def test_bad_rows_are_input_errors(scorer: LocalScorer, rows: object) -> None:
    # A (5, 1) array once gave the ids "[1]"; 1.5 was cut to 1; strings and None raised numpy/int() errors.
    with pytest.raises(InputError, match="rows"):
        scorer.score_frame(frame(), rows=rows)  # type: ignore[arg-type]


def test_whole_float_rows_and_lists_are_row_numbers(scorer: LocalScorer) -> None:
    assert scorer.score_frame(frame(), rows=np.array([3.0, 4, 5, 6, 7]))["id"].tolist() == ["3", "4", "5", "6", "7"]


def test_encoding_error_names_the_callers_row(scorer: LocalScorer) -> None:
    data = frame()
    data["Home"] = pd.Series(["rent", "rent", "\udc80", "rent", "rent"], dtype=object)
    with pytest.raises(InputError) as caught:
        scorer.score_frame(data, rows=np.arange(101, 106))
    assert (caught.value.field, caught.value.row, caught.value.index) == ("Home", 103, 2)
    assert "row 103:" in str(caught.value)


def test_object_booleans_with_gaps_are_booleans(scorer: LocalScorer) -> None:
    # A bool column with a None becomes dtype object; its True/False were sent as the text "True" and rejected.
    data = frame()
    data["Records"] = pd.Series([True, False, True, False, None], dtype=object)
    scored = scorer.score_frame(data, rejects="keep")
    assert len(scored.decisions) == 4 and "Records" in scored.rejects["rejection_reasons"][0]
    as_bool = frame()
    as_bool["Records"] = pd.array([True, False, True, False, None], dtype="boolean")
    assert scored.decisions.equals(scorer.score_frame(as_bool, rejects="keep").decisions)


def test_pyarrow_booleans(scorer: LocalScorer) -> None:
    pytest.importorskip("pyarrow")
    data = frame()
    data["Records"] = pd.Series([True, None, False, True, False], dtype="bool[pyarrow]")
    scored = scorer.score_frame(data, rejects="keep")  # raised pyarrow's ArrowInvalid
    assert len(scored.decisions) == 4 and scored.rejects["row"].tolist() == [2]


def test_wrong_argument_types(scorer: LocalScorer) -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        scorer.score_frame([{"Income": 1}])  # type: ignore[call-overload]
    with pytest.raises(InputError, match="application 1 is a int"):
        scorer.score([{}, 1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence of mappings"):
        scorer.score({"Income": 1})  # type: ignore[arg-type]
    assert len(scorer.score(iter([{"Income": 1}]))) == 1  # type: ignore[arg-type]


def test_bundle_path_with_a_nul_byte(bundle: Callable[[str], Path], library_path: Path) -> None:
    # C reads a path up to its NUL: "<bundle>\0junk" opened <bundle>.
    with pytest.raises(BundleError, match="NUL"):
        LocalScorer(f"{bundle('credit_data')}\0junk", library=library_path)


def test_a_library_that_is_not_loanscore(bundle: Callable[[str], Path]) -> None:
    other = next((p for p in map(Path, ("/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                                        "/lib64/libz.so.1")) if p.exists()), None)
    if other is None:
        pytest.skip("no libz to stand in for a foreign library")
    with pytest.raises(OSError, match="not the LoanScore C library"):  # was AttributeError
        LocalScorer(bundle("credit_data"), library=other)


def test_a_lone_surrogate_in_a_mapping(scorer: LocalScorer) -> None:
    # pandas raised UnicodeEncodeError building the frame (its pyarrow strings refuse surrogates).
    with pytest.raises(InputError, match="cannot be encoded as UTF-8") as caught:
        scorer.score([{"Home": "rent"}, {"Home": "\udc80"}])
    assert (caught.value.field, caught.value.row) == ("Home", 2)


def test_a_huge_all_missing_batch_is_refused_not_allocated(bundle: Callable[[str], Path], library_path: Path) -> None:
    """All-missing columns need no input arrays, so only LOANSCORE_MAX_ROWS bounds the result's
    memory: 2^31 - 1 rows once aborted the process on a failed allocation."""
    import ctypes

    from loanscore import _clib

    lib = _clib.load(str(library_path))
    handle = ctypes.c_void_p()
    lib.call("loanscore_bundle_open", str(bundle("german_credit")).encode(), ctypes.byref(handle))
    try:
        info = _clib.BundleInfo()
        lib.call("loanscore_bundle_describe", handle, ctypes.byref(info))
        columns = (_clib.Column * info.field_count)()   # zeroed: LOANSCORE_COLUMN_MISSING
        result = ctypes.c_void_p()
        with pytest.raises(_clib.CError) as refused:
            lib.call("loanscore_score", handle, columns, info.field_count, 2**31 - 1, ctypes.byref(result))
        assert "LOANSCORE_MAX_ROWS" in refused.value.message
    finally:
        lib.dll.loanscore_bundle_close(handle)
