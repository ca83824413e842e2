"""In-process scoring through LoanScore's C library: :class:`LocalScorer`.

The library (``libloanscore.so``, ``include/loanscore.h``) runs the appliance's own
FeaturePipeline and EnsembleScorer, so a DataFrame scored here gives byte for byte the decisions
``loanscore score --bundle`` writes for the same rows. Scoring releases the GIL: one scorer
serves many threads at once.

>>> with LocalScorer("bundles/credit") as scorer:            # doctest: +SKIP
...     decisions = scorer.score_frame(pd.read_csv("applications.csv"))
"""
from __future__ import annotations

__all__ = ["LocalScorer", "Field"]

import ctypes
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _clib
from ._columns import FieldSpec, encode_frame
from ._input import application_records, check_rows, records_frame
from .errors import BundleError, InputError, InvalidApplicationError, LoanScoreError, MissingFieldError, UnknownFieldError
from .results import DECISION_COLUMNS, Decision, Reason, Rejected, ScoredFrame

Field = FieldSpec
"""One input field of a bundle's schema: name, type, whether it accepts missing values, levels."""


@dataclass(frozen=True, slots=True)
class _Batch:
    """A scored batch read out of a C result: one entry per application, in input order."""

    status: npt.NDArray[np.int32]
    pd: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    texts: dict[int, list[str]]


class LocalScorer:
    """Scores applications in this process with a model bundle, through the C library.

    Args:
        bundle_path: the bundle folder. It is checked as the CLI checks it (every file's sha256,
            format version, schema, members); a refused bundle raises :class:`BundleError` with
            the CLI's message.
        library: the C library to load; default ``$LOANSCORE_LIBRARY``, else the one packaged
            in the wheel (``loanscore/_lib/libloanscore.so``).
        unknown_fields: ``"reject"`` (default; like ``loanscore score``, which refuses a file
            with a column the schema does not know) raises :class:`UnknownFieldError` for an
            input column that is neither a field, the id column nor the target;
            ``"ignore"`` leaves such columns out.

    Thread safety: any number of threads may call :meth:`score` and :meth:`score_frame` on one
    scorer at once (the GIL is released while the library scores). Do not :meth:`close` it
    while another thread still scores.

    Raises:
        BundleError: the bundle was refused.
        OSError: the library cannot be found or loaded.
    """

    def __init__(self, bundle_path: str | os.PathLike[str], *, library: str | os.PathLike[str] | None = None,
                 unknown_fields: Literal["reject", "ignore"] = "reject") -> None:
        if unknown_fields not in ("reject", "ignore"):
            raise ValueError(f"unknown_fields must be 'reject' or 'ignore', not {unknown_fields!r}")
        self._lib = _clib.load(library)
        self._unknown_fields = unknown_fields
        self.bundle_path = os.fspath(bundle_path)
        if "\0" in self.bundle_path:  # C would read the path only up to the NUL: another folder
            raise BundleError(f"{self.bundle_path!r}: a path cannot hold a NUL byte", path=self.bundle_path)
        handle = ctypes.c_void_p()
        try:
            self._lib.call("loanscore_bundle_open", os.fsencode(self.bundle_path), ctypes.byref(handle))
        except _clib.CError as error:
            raise BundleError(error.message, path=self.bundle_path, code=error.status) from None
        self._handle: int | None = handle.value
        info = _clib.BundleInfo()
        self._lib.call("loanscore_bundle_describe", self._handle, ctypes.byref(info))
        self.model_name: str = _text(info.model_name)
        self.model_version: str = _text(info.model_version)
        self.schema_name: str = _text(info.schema_name)
        self.id_column: str | None = info.id_column.decode() if info.id_column else None
        self.target_column: str | None = info.target_column.decode() if info.target_column else None
        self.schema: dict[str, Any] = json.loads(_text(info.schema_json))
        self.fields: tuple[Field, ...] = tuple(self._field(i) for i in range(info.field_count))
        self._known = {f.name for f in self.fields} | {c for c in (self.id_column, self.target_column) if c}

    def _field(self, index: int) -> Field:
        raw = _clib.FieldInfo()
        self._lib.call("loanscore_bundle_field", self._handle, index, ctypes.byref(raw))
        levels = []
        for level in range(raw.level_count):
            text = ctypes.c_char_p()
            self._lib.call("loanscore_bundle_level", self._handle, index, level, ctypes.byref(text))
            levels.append(_text(text.value))
        return Field(name=_text(raw.name), type=_clib.FIELD_TYPES[raw.type], accepts_missing=bool(raw.accepts_missing),
                     optional_column=bool(raw.optional_column), is_feature=bool(raw.is_feature), levels=tuple(levels))

    @property
    def library_version(self) -> str:
        """The C library's version line (``loanscore-c 0.1.0 (commit …) abi 1``)."""
        return self._lib.version

    # MARK: scoring

    def score(self, applications: Sequence[Mapping[str, object]] | pd.DataFrame) -> list[Decision | Rejected]:
        """Scores applications given as mappings of field name to value (or a DataFrame's rows), in order.

        A value may be a number, a bool, text, or None/NaN (missing); an absent key is missing.
        Ids are the schema's id column when the application has it, else the 1-based position.

        Returns:
            one :class:`Decision` or :class:`Rejected` per application, in input order (nothing
            is raised for an application that fails the schema).

        Raises:
            UnknownFieldError: a key the schema does not know (with ``unknown_fields="reject"``).
            ColumnTypeError: values of a type no field can hold (e.g. datetimes).
        """
        if isinstance(applications, pd.DataFrame):
            frame = applications.reset_index(drop=True)
        else:
            applications = application_records(applications, "score takes")
            frame = records_frame(applications) if len(applications) else pd.DataFrame()
            frame = frame.reindex(range(len(applications)))
        ids = self._ids(frame, None)
        # A DataFrame's columns are checked as score_frame checks them; a mapping's absent key is a missing value.
        result = self._score(frame, check_required=isinstance(applications, pd.DataFrame))
        try:
            batch = self._read(result)
            out: list[Decision | Rejected] = []
            for i in range(len(ids)):
                if batch.status[i] == _clib.REJECTED:
                    out.append(Rejected(id=ids[i], index=i, field=batch.texts[_clib.RESULT_REJECTED_FIELD][i] or None,
                                        message=batch.texts[_clib.RESULT_REJECTION][i]))
                    continue
                flags, codes = batch.texts[_clib.RESULT_FLAGS][i], batch.texts[_clib.RESULT_REASONS][i]
                out.append(Decision(
                    id=ids[i], pd=float(batch.pd[i]), risk_level=batch.texts[_clib.RESULT_RISK_LEVEL][i],
                    decision=batch.texts[_clib.RESULT_DECISION_NAME][i],  # type: ignore[arg-type]
                    confidence=float(batch.confidence[i]), reasons=self._reasons(result, i, len(codes.split(";")) if codes else 0),
                    flags=tuple(flags.split("; ")) if flags else (), model_version=self.model_version))
            return out
        finally:
            self._lib.dll.loanscore_result_free(result)

    @overload
    def score_frame(self, frame: pd.DataFrame, *, rejects: Literal["raise"] = "raise",
                    rows: npt.NDArray[np.integer[Any]] | None = None) -> pd.DataFrame: ...

    @overload
    def score_frame(self, frame: pd.DataFrame, *, rejects: Literal["keep"],
                    rows: npt.NDArray[np.integer[Any]] | None = None) -> ScoredFrame: ...

    def score_frame(self, frame: pd.DataFrame, *, rejects: Literal["raise", "keep"] = "raise",
                    rows: npt.NDArray[np.integer[Any]] | None = None) -> pd.DataFrame | ScoredFrame:
        """Scores a DataFrame of applications, one per row, as ``loanscore score`` scores a CSV file.

        Args:
            frame: one column per schema field (any order; the id column and the target may be
                there too). Numeric dtypes are numbers (NaN/NA missing), bool is boolean,
                anything else is read as text, like a CSV cell.
            rejects: ``"raise"`` (default): when any row fails the schema, raise
                :class:`InvalidApplicationError` (like ``loanscore score`` without
                ``--rejects``); ``"keep"``: return them beside the decisions.
            rows: the 1-based row number of each row (default 1..n): the ids when the schema
                has no id column, and the ``row`` column of the rejects.

        Returns:
            the decisions (columns :data:`DECISION_COLUMNS`, accepted rows in input order), or
            with ``rejects="keep"`` a :class:`ScoredFrame` whose ``rejects`` has ``row``, the
            input's columns and ``rejection_reasons``.

        Raises:
            MissingFieldError: no column for a field that does not accept missing values.
            UnknownFieldError: a column the schema does not know (``unknown_fields="reject"``).
            ColumnTypeError: a column whose dtype cannot hold its field's values.
            InvalidApplicationError: with ``rejects="raise"``, rows that fail the schema
                (``field``/``row``/``index`` of the first; ``rejects`` holds them all).
        """
        if rejects not in ("raise", "keep"):
            raise ValueError(f"rejects must be 'raise' or 'keep', not {rejects!r}")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"score_frame takes a pandas DataFrame, not {type(frame).__name__} (use score() for mappings)")
        count = len(frame)
        row_numbers = np.arange(1, count + 1, dtype=np.int64) if rows is None else check_rows(rows, count)
        ids = self._ids(frame, row_numbers)
        try:
            result = self._score(frame, check_required=True)
        except InputError as error:
            if error.index is not None and rows is not None:  # name the caller's row, not the position
                error.row = int(row_numbers[error.index])
                error.args = (str(error).replace(f"row {error.index + 1}:", f"row {error.row}:", 1),)
            raise
        try:
            batch = self._read(result)
        finally:
            self._lib.dll.loanscore_result_free(result)
        accepted = batch.status == _clib.ACCEPTED
        texts = {key: np.asarray(values, dtype=object) for key, values in batch.texts.items()}
        def text(values: npt.NDArray[Any]) -> pd.Series:
            return pd.Series(values, dtype=str)

        decisions = pd.DataFrame({
            "id": text(np.asarray(ids, dtype=object)[accepted]),
            "pd": pd.Series(batch.pd[accepted], dtype=np.float64),
            "risk_level": text(texts[_clib.RESULT_RISK_LEVEL][accepted]),
            "decision": text(texts[_clib.RESULT_DECISION_NAME][accepted]),
            "confidence": pd.Series(batch.confidence[accepted], dtype=np.float64),
            "reasons": text(texts[_clib.RESULT_REASONS][accepted]),
            "reason_texts": text(texts[_clib.RESULT_REASON_TEXTS][accepted]),
            "flags": text(texts[_clib.RESULT_FLAGS][accepted]),
            "model_version": text(np.full(int(accepted.sum()), self.model_version, dtype=object)),
        }, columns=list(DECISION_COLUMNS))
        rejected = np.flatnonzero(~accepted)
        reject_frame = frame.iloc[rejected].copy()
        reject_frame.insert(0, "row", row_numbers[rejected])
        reject_frame["rejection_reasons"] = texts[_clib.RESULT_REJECTION][rejected]
        reject_frame = reject_frame.reset_index(drop=True)
        if rejects == "keep":
            return ScoredFrame(decisions=decisions, rejects=reject_frame)
        if len(rejected):
            first = int(rejected[0])
            message = (f"{len(rejected)} of {count} application(s) are invalid; first: row {row_numbers[first]}: "
                       f"{texts[_clib.RESULT_REJECTION][first]}")
            raise InvalidApplicationError(message, field=texts[_clib.RESULT_REJECTED_FIELD][first] or None,
                                          row=int(row_numbers[first]), index=first, rejects=reject_frame)
        return decisions

    # MARK: internals

    def _ids(self, frame: pd.DataFrame, rows: npt.NDArray[np.int64] | None) -> list[str]:
        """The schema's id column as text when the frame has it, else the row numbers."""
        if self.id_column and self.id_column in frame.columns:
            column = frame[self.id_column]
            texts = column.astype(object).where(column.notna(), "").to_numpy(dtype=object)
            return list(map(str, texts))
        numbers = rows if rows is not None else np.arange(1, len(frame) + 1)
        return list(map(str, numbers.tolist()))

    def _check_columns(self, frame: pd.DataFrame, check_required: bool) -> None:
        names = [str(c) for c in frame.columns]
        if check_required:
            absent = [f.name for f in self.fields if f.name not in frame.columns and not f.accepts_missing]
            if absent:
                listed = ", ".join(f"'{name}'" for name in absent)
                raise MissingFieldError(f"missing column(s) {listed} required by schema '{self.schema_name}'", field=absent[0])
        if self._unknown_fields == "reject":
            unknown = [name for name in names if name not in self._known]
            if unknown:
                listed = ", ".join(f"'{name}'" for name in unknown)
                raise UnknownFieldError(f"unknown column(s) {listed}; schema '{self.schema_name}' has fields "
                                        + ", ".join(f.name for f in self.fields), field=unknown[0])

    def _score(self, frame: pd.DataFrame, *, check_required: bool) -> int:
        """Encodes and scores a frame; returns the C result (free it with loanscore_result_free)."""
        if self._handle is None:
            raise LoanScoreError("the scorer is closed")
        self._check_columns(frame, check_required)
        encoded = encode_frame(frame, self.fields)
        result = ctypes.c_void_p()
        try:
            self._lib.call("loanscore_score", self._handle, encoded.descriptors, len(self.fields), len(frame), ctypes.byref(result))
        except _clib.CError as error:
            raise InputError(error.message) from None
        assert result.value is not None
        return result.value

    def _read(self, result: int) -> _Batch:
        count = ctypes.c_size_t()
        self._lib.call("loanscore_result_count", result, ctypes.byref(count))
        n = count.value

        def array(function: str, column: int, ctype: type[Any], dtype: type[Any]) -> npt.NDArray[Any]:
            pointer = ctypes.c_void_p()
            self._lib.call(function, result, column, ctypes.byref(pointer))
            if n == 0:
                return np.empty(0, dtype=dtype)
            return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctype)), shape=(n,)).copy()

        texts = {column: self._texts(result, column, n) for column in (
            _clib.RESULT_DECISION_NAME, _clib.RESULT_RISK_LEVEL, _clib.RESULT_REASONS, _clib.RESULT_REASON_TEXTS,
            _clib.RESULT_FLAGS, _clib.RESULT_REJECTION, _clib.RESULT_REJECTED_FIELD)}
        return _Batch(status=array("loanscore_result_int32s", _clib.RESULT_STATUS, ctypes.c_int32, np.int32),
                      pd=array("loanscore_result_doubles", _clib.RESULT_PD, ctypes.c_double, np.float64),
                      confidence=array("loanscore_result_doubles", _clib.RESULT_CONFIDENCE, ctypes.c_double, np.float64),
                      texts=texts)

    def _texts(self, result: int, column: int, n: int) -> list[str]:
        """A text column: its NUL-terminated values, split in one pass when none holds a NUL."""
        offsets, data, length = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_size_t()
        self._lib.call("loanscore_result_texts", result, column, ctypes.byref(offsets), ctypes.byref(data), ctypes.byref(length))
        text = ctypes.string_at(data, length.value).decode("utf-8") if length.value else ""
        values = text.split("\0")
        if len(values) == n + 1:
            return values[:n]
        # A value holds a NUL byte of its own: cut by the offsets instead.
        bounds = np.ctypeslib.as_array(ctypes.cast(offsets, ctypes.POINTER(ctypes.c_int64)), shape=(n + 1,))
        raw = ctypes.string_at(data, length.value)
        return [raw[bounds[i]:bounds[i + 1] - 1].decode("utf-8") for i in range(n)]

    def _reasons(self, result: int, index: int, count: int) -> tuple[Reason, ...]:
        """Application ``index``'s ``count`` reasons, strongest first."""
        reasons = []
        for rank in range(count):
            info = _clib.ReasonInfo()
            self._lib.call("loanscore_result_reason", result, index, rank, ctypes.byref(info))
            reasons.append(Reason(code=_text(info.code), text=_text(info.text)))
        return tuple(reasons)

    # MARK: lifetime

    def close(self) -> None:
        """Closes the bundle (idempotent). Scoring afterwards raises :class:`LoanScoreError`."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.dll.loanscore_bundle_close(handle)

    def __enter__(self) -> LocalScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()

    def __repr__(self) -> str:
        return f"LocalScorer({self.bundle_path!r}, model={self.model_name!r} {self.model_version!r}, fields={len(self.fields)})"


def _text(value: bytes | None) -> str:
    return value.decode("utf-8") if value else ""
