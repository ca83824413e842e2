"""Result types shared by the remote client and the in-process scorer.

A scored application is a :class:`Decision`; one that fails the schema is a :class:`Rejected`.
DataFrame results use exactly the columns ``loanscore score`` writes (:data:`DECISION_COLUMNS`)
and ``loanscore score --rejects`` writes (``row``, the input's columns, ``rejection_reasons``).
"""
from __future__ import annotations

__all__ = ["Reason", "Decision", "Rejected", "ScoredFrame", "DECISION_COLUMNS", "format_number", "write_csv"]

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    import pandas as pd

#: The columns of ``loanscore score``'s output, in its order.
DECISION_COLUMNS: Final[tuple[str, ...]] = (
    "id", "pd", "risk_level", "decision", "confidence", "reasons", "reason_texts", "flags", "model_version",
)


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code and its text from the bundle (e.g. ``R03``, "High debt-to-income ratio")."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A scored application.

    Attributes:
        id: the application id (the schema's id column, else the 1-based row number).
        pd: probability of default, in [0, 1].
        risk_level: the bundle's risk level name for ``pd``.
        decision: ``"approve"``, ``"review"`` or ``"decline"`` (the bundle's cut-offs).
        confidence: the ensemble's confidence, in [0, 1].
        reasons: up to four reason codes, strongest first.
        flags: anomaly flags (values outside the training reference), may be empty.
        model_version: the version of the model that decided.
        role: ``"champion"`` or ``"challenger"`` (the server's split mode), else ``"champion"``.
    """

    id: str
    pd: float
    risk_level: str
    decision: Literal["approve", "review", "decline"]
    confidence: float
    reasons: tuple[Reason, ...]
    flags: tuple[str, ...]
    model_version: str
    role: str = "champion"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An application that fails the schema; nothing was scored or recorded for it.

    Attributes:
        id: the application id.
        index: its 0-based index in the batch given.
        field: the first field at fault, when the scorer names one.
        message: what was wrong and what was expected (the CLI's wording).
    """

    id: str
    index: int
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ScoredFrame:
    """Decisions and rejects of a DataFrame, as ``loanscore score --output --rejects`` would write them."""

    decisions: pd.DataFrame
    rejects: pd.DataFrame = field(repr=False)


def format_number(value: float) -> str:
    """A double as ``loanscore score`` writes it: the shortest text that reads back the same value.

    Swift's ``description`` and Python's ``repr`` agree on this for finite doubles
    (``0.1``, ``1e-05``, ``0.123456789``).
    """
    return repr(float(value))


def _csv_column(column: pd.Series) -> pd.Series:
    """A column's cells as ``loanscore score`` writes them: floats in their shortest round-trip
    form (:func:`format_number`), missing values empty, everything else as text; quoted (RFC 4180)
    only when the cell holds a comma, a double quote, a CR or an LF (Swift's ``csvEscape``)."""
    import numpy as np
    import pandas as pd

    missing = column.isna().to_numpy(dtype=bool)
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        texts = np.asarray(list(map(format_number, values.tolist())), dtype=object)
    else:
        texts = np.asarray(list(map(str, column.to_numpy(dtype=object))), dtype=object)
    texts[missing] = ""
    cells = pd.Series(texts, dtype=object)
    special = cells.str.contains(r'[,"\r\n]', regex=True).to_numpy(dtype=bool)
    if special.any():
        cells[special] = '"' + cells[special].str.replace('"', '""', regex=False) + '"'
    return cells


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Writes a decisions or rejects frame with exactly the bytes ``loanscore score`` writes.

    The header, then one line per row, fields separated by commas and each line ended by a
    single LF; UTF-8; floats as :func:`format_number` writes them; missing values as empty
    cells; a cell quoted only when it must be. So a frame from :meth:`LocalScorer.score_frame`
    (or the remote client) written here compares byte for byte with ``loanscore score --output``
    (and ``--rejects``) for the same rows.
    """
    import pandas as pd

    header = ",".join(_csv_column(pd.Series([str(c) for c in frame.columns], dtype=object)))
    lines = [header]
    if len(frame) and len(frame.columns):
        cells = [_csv_column(frame.iloc[:, i].reset_index(drop=True)) for i in range(len(frame.columns))]
        rows = cells[0] if len(cells) == 1 else cells[0].str.cat(pd.concat(cells[1:], axis=1), sep=",")
        lines.extend(rows.tolist())
    elif len(frame):
        lines.extend([""] * len(frame))
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\n".join(lines) + "\n")
