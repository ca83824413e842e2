"""Applications (a DataFrame or a list of dicts) as columns for the wire, with local rejects.

The remote client lays a batch out for the schema a server announced in WELCOME. Cells that
cannot travel are rejected here with the message shape ``loanscore score`` uses for the same
CSV cell (text in a number field, NaN written as text, infinity, an unknown boolean label);
everything else (ranges, category levels, required fields) is the server's to check, exactly as
``loanscore score --server`` does. Whole columns are converted with numpy/pandas, never a
Python loop per value (strings are encoded once per distinct value).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _protocol as wire
from .errors import ColumnTypeError, InputError, MissingFieldError, UnknownFieldError

ID_COLUMNS: Final = ("id", "application_id")
_NUMBER_TEXT: Final = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_NOT_FINITE: Final = frozenset({"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_TRUE: Final = frozenset({"true", "yes", "y", "t", "1"})
_FALSE: Final = frozenset({"false", "no", "n", "f", "0"})
_WIRE_EXPECTED: Final = {wire.NUMBER: "number", wire.BOOL: "boolean", wire.STRING: "category"}


def application_records(data: Sequence[Mapping[str, object]], refusal: str) -> list[Mapping[str, object]]:
    """``data`` as a list of mappings, each checked: the one way a list of dicts comes in.

    Args:
        data: what the caller passed for the applications (not a DataFrame).
        refusal: how the TypeError for a lone string or mapping begins ("score takes").

    Raises:
        TypeError: ``data`` is a string, bytes or one mapping rather than a sequence of them.
        InputError: an item is not a mapping (with its ``row`` and ``index``).
    """
    if isinstance(data, (str, bytes, Mapping)):
        raise TypeError(f"{refusal} a sequence of mappings or a DataFrame, not one {type(data).__name__}")
    records = list(data)
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InputError(f"application {index} is a {type(record).__name__}, not a mapping of field name "
                             "to value", row=index + 1, index=index)
    return records


def records_frame(records: list[Mapping[str, object]]) -> pd.DataFrame:
    """A list of dicts as a DataFrame (a key missing from a dict is NaN).

    pandas' own type inference (its pyarrow-backed strings) raises UnicodeEncodeError on a string
    holding a lone surrogate; such a list is framed as objects, so the bad cell is found and
    named by the column encoders.
    """
    try:
        return pd.DataFrame(records)
    except UnicodeEncodeError:
        return pd.DataFrame(records, dtype=object)


def check_rows(rows: object, count: int) -> npt.NDArray[np.int64]:
    """``rows`` as int64 row numbers, checked: one dimension, ``count`` whole numbers.

    Raises:
        InputError: another shape or length, or values that are not whole numbers.
    """
    values = np.asarray(rows)
    if values.ndim != 1 or len(values) != count:
        raise InputError(f"rows has shape {values.shape} for {count} rows: give one row number per row")
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    raise InputError(f"rows must be whole numbers (an integer array), not dtype {values.dtype}")


def violation(field_name: str, value: str, problem: str, expected: str) -> str:
    """One cell's problem in the CLI's words (``Violation.description`` in LoanScoreFeatures)."""
    return f"field '{field_name}': {problem} (value \"{value}\"; expected {expected})"


@dataclass
class Applications:
    """Applications as whole columns by name, with their ids and 1-based row numbers.

    Attributes:
        frame: the input as a DataFrame (a list of dicts becomes one; missing keys are NaN).
        ids: one id per application (strings).
        rows: the 1-based row number of each application.
        from_records: True when the input was a list of dicts (indexes, not rows, in messages).
    """

    frame: pd.DataFrame
    ids: npt.NDArray[np.object_]
    rows: npt.NDArray[np.int64]
    from_records: bool
    id_column: str | None = None
    _layouts: dict[bytes, Layout] = field(default_factory=dict)
    _ids: npt.NDArray[np.object_] | None = None

    @classmethod
    def of(cls, data: pd.DataFrame | Sequence[Mapping[str, object]],
           rows: npt.NDArray[np.integer] | None = None) -> Applications:
        """Wraps a DataFrame or a list of dicts; ids from ``id``/``application_id``, else the rows."""
        from_records = not isinstance(data, pd.DataFrame)
        if isinstance(data, pd.DataFrame):
            frame = data
        else:
            frame = records_frame(application_records(data, "applications must be"))
        n = len(frame)
        row_numbers = np.arange(1, n + 1, dtype=np.int64) if rows is None else check_rows(rows, n)
        duplicated = frame.columns[frame.columns.duplicated()]
        if len(duplicated):
            raise InputError(f"column '{duplicated[0]}' appears more than once", field=str(duplicated[0]))
        id_column = next((c for c in ID_COLUMNS if c in frame.columns), None)
        if id_column is not None:
            # Not astype(str): pandas' pyarrow-backed strings raise UnicodeEncodeError on a lone surrogate.
            ids = np.array(list(map(str, frame[id_column].to_numpy(dtype=object))) + [""], dtype=object)[:-1]
        else:
            ids = row_numbers.astype(str).astype(object)
        return cls(frame, ids, row_numbers, from_records, id_column)

    def __len__(self) -> int:
        return len(self.frame)

    def encoded_ids(self, positions: npt.NDArray[np.intp]) -> bytes:
        """The ids at `positions` as consecutive u16 strings (each id encoded once per call)."""
        if self._ids is None:
            try:
                self._ids = np.array([wire.str16(i) for i in self.ids.tolist()] + [b""], dtype=object)[:-1]
            except UnicodeEncodeError as exc:
                raise InputError(f"an application id cannot be encoded as UTF-8 ({exc.reason})",
                                 field=self.id_column) from None
            except ValueError as exc:
                raise InputError(f"an application id is too long: {exc}", field=self.id_column) from None
        return b"".join(self._ids[positions].tolist())

    def layout(self, welcome: wire.Welcome, ignore_unknown: bool) -> Layout:
        """The columns laid out for `welcome`'s schema (computed once per schema)."""
        cached = self._layouts.get(welcome.schema_hash)
        if cached is None:
            cached = Layout.build(self, welcome, ignore_unknown)
            self._layouts[welcome.schema_hash] = cached
        return cached


@dataclass
class _Column:
    """One field's column: values (big-endian doubles, bools, or codes into `levels`) and presence."""

    wire_type: int
    values: npt.NDArray[np.generic]
    present: npt.NDArray[np.bool_]
    levels: npt.NDArray[np.object_] | None = None  # STRING: each distinct value as a u16 string

    def encode(self, positions: npt.NDArray[np.intp]) -> bytes:
        """The column's bytes (bitmap, then the present values) for the applications at `positions`."""
        present = self.present[positions]
        chosen = positions[present]
        if self.levels is not None:
            return wire.bitmap(present) + b"".join(self.levels[self.values[chosen]].tolist())
        return wire.bitmap(present) + self.values[chosen].tobytes()


@dataclass
class Layout:
    """The applications in one schema's columns; `problems[i]` is non-empty for a local reject."""

    welcome: wire.Welcome
    columns: list[_Column]
    problems: list[list[str]]
    ignored: tuple[str, ...]
    _rejected: npt.NDArray[np.bool_] | None = None

    @property
    def rejected(self) -> npt.NDArray[np.bool_]:
        """Per application: True when it was rejected here (it has problems) and is not sent."""
        if self._rejected is None:
            self._rejected = np.array([bool(p) for p in self.problems], dtype=bool)
        return self._rejected

    @property
    def accepted(self) -> npt.NDArray[np.intp]:
        """Positions of the applications that can be sent."""
        return np.flatnonzero(~self.rejected)

    def encode(self, apps: Applications, positions: npt.NDArray[np.intp]) -> tuple[bytes, bytes]:
        """The ids block and the columns of a SCORE_REQUEST for the applications at `positions`."""
        return apps.encoded_ids(positions), b"".join([col.encode(positions) for col in self.columns])

    @classmethod
    def build(cls, apps: Applications, welcome: wire.Welcome, ignore_unknown: bool) -> Layout:
        frame, n = apps.frame, len(apps)
        names = {f.name for f in welcome.fields}
        unknown = [str(c) for c in frame.columns if c not in names and c != apps.id_column]
        if unknown and not ignore_unknown:
            first = unknown[0]
            index = None
            if apps.from_records:
                notna = frame[first].notna().to_numpy()
                index = int(np.argmax(notna)) if notna.any() else None
            where = f"application {index} has" if index is not None else "the input has"
            raise UnknownFieldError(
                f"{where} unknown field '{first}'; the served schema ({welcome.model_name} {welcome.model_version}) "
                f"has fields {', '.join(f.name for f in welcome.fields)} "
                "(unknown_fields=\"ignore\" leaves such fields out)",
                field=first, index=index, row=None if index is None else int(apps.rows[index]))
        if not apps.from_records:
            missing = [f.name for f in welcome.fields if f.name not in frame.columns]
            if missing:
                raise MissingFieldError(
                    f"missing column(s) {', '.join(repr(m) for m in missing)} required by the served schema "
                    f"({welcome.model_name} {welcome.model_version})", field=missing[0])
        problems: list[list[str]] = [[] for _ in range(n)]
        columns = []
        for f in welcome.fields:
            if f.name in frame.columns:
                column, bad = _convert(frame[f.name], f)
            else:  # a list of dicts without this key anywhere: all missing
                column, bad = _Column(f.wire_type, np.zeros(n, dtype=">f8"), np.zeros(n, dtype=bool)), {}
            for position, message in bad.items():
                problems[position].append(message)
            columns.append(column)
        return cls(welcome, columns, problems, tuple(sorted(unknown)) if ignore_unknown else ())


def _convert(series: pd.Series, f: wire.Field) -> tuple[_Column, dict[int, str]]:
    """One input column as wire values and presence, and the local rejects {position: message}."""
    dtype = series.dtype
    kind = dtype.kind
    if kind in "mMcV" or (kind == "b" and f.wire_type == wire.NUMBER):
        raise ColumnTypeError(
            f"column '{f.name}' has dtype {dtype}, which cannot hold a {_WIRE_EXPECTED[f.wire_type]} "
            f"({wire.WIRE_TYPE_NAMES[f.wire_type]} on the wire)",
            field=f.name, dtype=str(dtype), expected=_WIRE_EXPECTED[f.wire_type])
    if f.wire_type == wire.NUMBER:
        return _numbers(series, f.name)
    if f.wire_type == wire.BOOL:
        return _bools(series, f.name)
    return _strings(series, f.name)


def _text(series: pd.Series) -> pd.Series:
    """Non-numeric cells as stripped text ('' for missing)."""
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _numbers(series: pd.Series, name: str) -> tuple[_Column, dict[int, str]]:
    bad: dict[int, str] = {}
    if series.dtype.kind in "iuf":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(values)
        for position in np.flatnonzero(np.isinf(values)).tolist():
            bad[position] = violation(name, "inf" if values[position] > 0 else "-inf",
                                      "is not a finite number (write missing values as an empty cell)", "a number")
        return _Column(wire.NUMBER, values.astype(">f8"), present & ~np.isinf(values)), bad
    text = _text(series)
    present = (text != "").to_numpy()
    numeric = text.str.fullmatch(_NUMBER_TEXT).to_numpy(dtype=bool)
    values = pd.to_numeric(text.where(numeric, "nan"), errors="coerce").to_numpy(dtype=np.float64)
    wrong = present & ~numeric
    if wrong.any():
        for position in np.flatnonzero(wrong).tolist():
            cell = str(series.iat[position])
            folded = cell.strip().lower()
            problem = ("is not a finite number (write missing values as an empty cell)" if folded in _NOT_FINITE
                       else "is not a number")
            bad[position] = violation(name, cell, problem, "a number")
    return _Column(wire.NUMBER, values.astype(">f8"), present & numeric), bad


def _bools(series: pd.Series, name: str) -> tuple[_Column, dict[int, str]]:
    bad: dict[int, str] = {}
    if series.dtype.kind == "b":
        values = series.to_numpy(dtype=bool)
        return _Column(wire.BOOL, values.astype(np.uint8), np.ones(len(values), dtype=bool)), bad
    folded = _text(series).str.lower()
    true, false = folded.isin(_TRUE).to_numpy(), folded.isin(_FALSE).to_numpy()
    present = (folded != "").to_numpy()
    for position in np.flatnonzero(present & ~true & ~false).tolist():
        bad[position] = violation(name, str(series.iat[position]), "is not a known boolean label",
                                  "one of \"true\", \"false\", \"yes\", \"no\", \"1\", \"0\"")
    return _Column(wire.BOOL, true.astype(np.uint8), true | false), bad


def _strings(series: pd.Series, name: str) -> tuple[_Column, dict[int, str]]:
    """A STRING column as codes into its distinct values, each encoded once as a u16 string.

    Missing (NaN/None) and blank cells are absent; whole floats travel without a fraction
    (``3.0`` → ``"3"``, as the CSV's cell would read), other values as their text.
    """
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): factorize their text, as a CSV cell would hold it
        texts_of = series.astype(object).copy()
        present = series.notna().to_numpy()
        texts_of[present] = [str(v) for v in texts_of[present].tolist()]
        codes, uniques = pd.factorize(texts_of, use_na_sentinel=True)
    texts = [_level_text(u) for u in uniques.tolist()]
    blank = np.array([not t.strip() for t in texts] + [True], dtype=bool)  # code -1 (missing) → last
    try:
        levels = np.array([wire.str16(t) for t in texts] + [b""], dtype=object)
    except UnicodeEncodeError as exc:
        index = int(np.argmax(codes == next(i for i, t in enumerate(texts) if not encodable_utf8(t))))
        raise InputError(f"field '{name}' of application {index}: the text cannot be encoded as UTF-8 ({exc.reason})",
                         field=name, index=index, row=index + 1) from None
    except ValueError as exc:
        index = int(np.argmax(codes == next(i for i, t in enumerate(texts) if len(t.encode()) > 0xFFFF)))
        raise InputError(f"field '{name}' of application {index}: {exc}", field=name, index=index,
                         row=index + 1) from None
    codes = codes.astype(np.intp)
    return _Column(wire.STRING, codes, ~blank[codes], levels), {}


def _level_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encodable_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (False for a lone surrogate)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
