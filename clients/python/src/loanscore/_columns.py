"""DataFrame columns as the C API's ``loanscore_column`` descriptors, built with numpy.

Numbers travel as float64 with a presence mask (NaN/NA is missing), booleans as bytes, and
everything else (text, categoricals, mixed object columns) as UTF-8 with Arrow-style offsets:
one ``str.join`` and one ``encode`` per column, no Python loop per value. Each value is then
validated by the library exactly as ``loanscore score`` validates a CSV cell, so text in a
number column rejects that application, not the call.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from . import _clib
from ._input import encodable_utf8
from .errors import ColumnTypeError, InputError


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input field of the bundle's schema (``loanscore_field``)."""

    name: str
    type: str
    accepts_missing: bool
    optional_column: bool
    is_feature: bool
    levels: tuple[str, ...]


@dataclass(slots=True)
class EncodedColumns:
    """Column descriptors and the numpy arrays they point into (kept alive for the call)."""

    descriptors: ctypes.Array[_clib.Column]
    keep: list[Any] = field(default_factory=list)


def _pointer(array: npt.NDArray[Any] | None) -> int | None:
    return None if array is None or len(array) == 0 else int(array.ctypes.data)


def _mask(missing: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8] | None:
    """The C presence mask (1 present, 0 missing), or None when every value is present."""
    if not missing.any():
        return None
    return np.ascontiguousarray(~missing, dtype=np.uint8)


def encode_column(series: pd.Series, spec: FieldSpec, keep: list[Any]) -> _clib.Column:
    """One field's values as a descriptor; arrays it points into are appended to ``keep``.

    Raises:
        ColumnTypeError: the dtype cannot hold the field's values (datetimes, timedeltas,
            periods, intervals, complex numbers; booleans for a field that is not boolean).
        InputError: text that cannot be encoded as UTF-8 (a lone surrogate).
    """
    dtype = series.dtype
    if dtype == object and len(series) and ptypes.infer_dtype(series, skipna=True) == "boolean":
        # True/False with None or NaN (what pandas makes of a bool column with gaps): booleans, as a bool dtype is.
        series = series.astype("boolean")
        dtype = series.dtype
    refused = (ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype)
               or ptypes.is_complex_dtype(dtype) or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype)))
    if ptypes.is_bool_dtype(dtype) and spec.type != "boolean":
        refused = True
    if refused:
        raise ColumnTypeError(f"column '{spec.name}' has dtype {dtype}, which cannot hold a {spec.type} field's values",
                              field=spec.name, dtype=str(dtype), expected=spec.type)
    column = _clib.Column()
    missing = np.ascontiguousarray(series.isna().to_numpy(dtype=bool))
    valid = _mask(missing)
    if ptypes.is_bool_dtype(dtype):
        # Through bool first: pyarrow-backed booleans refuse an integer na_value.
        booleans = np.ascontiguousarray(series.to_numpy(dtype=bool, na_value=False), dtype=np.uint8)
        keep.append(booleans)
        column.kind, column.booleans = _clib.COLUMN_BOOL, _pointer(booleans)
    elif ptypes.is_numeric_dtype(dtype):
        values = np.ascontiguousarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
        keep.append(values)
        column.kind, column.values = _clib.COLUMN_DOUBLE, _pointer(values)
    else:
        offsets, data = _utf8(series, missing, spec.name)
        keep.extend((offsets, data))
        column.kind, column.offsets = _clib.COLUMN_UTF8, int(offsets.ctypes.data)
        column.data, column.data_length = (int(data.ctypes.data) if len(data) else None), len(data)
    if valid is not None:
        keep.append(valid)
        column.valid = int(valid.ctypes.data)
    return column


def _utf8(series: pd.Series, missing: npt.NDArray[np.bool_], name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (n + 1, int64) and UTF-8 bytes of a column's values as text (missing: empty)."""
    objects = series.to_numpy(dtype=object, copy=True)
    objects[missing] = ""
    texts: list[str] = list(map(str, objects))
    joined = "".join(texts)
    try:
        data = joined.encode("utf-8")
        if len(data) == len(joined):  # ASCII: byte lengths are character lengths
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        else:
            encoded: list[bytes] = list(map(str.encode, texts))
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    except UnicodeEncodeError as error:
        bad = next(i for i, text in enumerate(texts) if not encodable_utf8(text))
        raise InputError(f"column '{name}', row {bad + 1}: the text cannot be encoded as UTF-8 ({error.reason})",
                         field=name, row=bad + 1, index=bad) from None
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.frombuffer(data, dtype=np.uint8)


def encode_frame(frame: pd.DataFrame, fields: tuple[FieldSpec, ...]) -> EncodedColumns:
    """Every schema field's descriptor, in schema order; a field without a column is missing."""
    keep: list[Any] = []
    descriptors = (_clib.Column * max(len(fields), 1))()
    for i, spec in enumerate(fields):
        if spec.name in frame.columns:
            series = frame[spec.name]
            if isinstance(series, pd.DataFrame):
                raise InputError(f"column '{spec.name}' appears more than once", field=spec.name)
            descriptors[i] = encode_column(series, spec, keep)
        else:
            descriptors[i] = _clib.Column(kind=_clib.COLUMN_MISSING)
    return EncodedColumns(descriptors, keep)
