"""Server answers back into the shared result types: dataclasses and ``loanscore score``'s frames.

A server's answers fill the columns as ``loanscore score --server`` does: ``reason_texts`` and
``flags`` stay empty (the protocol carries reason codes only), ``model_version`` is the version
that decided each application (a challenger's under split mode), numbers are the wire's doubles.
"""
from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import numpy as np
import pandas as pd

from . import _protocol as wire
from ._input import Applications
from .errors import server_error
from .results import DECISION_COLUMNS, Decision, Reason, Rejected

#: One answer per application position: a scored/invalid wire result, or the local problems.
Answer = wire.Scored | wire.Invalid | list[str]


def rejection_reason(result: wire.Invalid | list[str]) -> str:
    """The ``rejection_reasons`` text: the server's message, or the local cells' problems."""
    if isinstance(result, list):
        return "; ".join(result)
    if result.code == wire.INVALID_APPLICATION:
        return result.message
    name = server_error(result.code, "").name
    return f"{name}: {result.message}"


def to_results(apps: Applications, answers: Sequence[Answer]) -> list[Decision | Rejected]:
    """One :class:`Decision` or :class:`Rejected` per application, in input order."""
    out: list[Decision | Rejected] = []
    for index, result in enumerate(answers):
        app_id = str(apps.ids[index])
        if isinstance(result, wire.Scored):
            out.append(Decision(app_id, result.pd, result.risk_level, result.decision,  # type: ignore[arg-type]
                                result.confidence, tuple(Reason(c, "") for c in result.reasons), (),
                                result.model_version, "challenger" if result.named else "champion"))
        else:
            reason = rejection_reason(result)
            field = (result[0].split("'")[1] if isinstance(result, list) and result
                     else wire.field_of(reason))
            out.append(Rejected(app_id, index, field, reason))
    return out


def decisions_frame(apps: Applications, answers: Sequence[Answer]) -> pd.DataFrame:
    """The accepted applications with ``loanscore score``'s columns, in input order."""
    positions = [i for i, r in enumerate(answers) if isinstance(r, wire.Scored)]
    scored: list[wire.Scored] = [answers[i] for i in positions]  # type: ignore[misc]
    if not scored:
        return pd.DataFrame({c: pd.Series(dtype=np.float64 if c in ("pd", "confidence") else object)
                             for c in DECISION_COLUMNS})
    pd_, risk, decision, confidence, reasons, version = (list(map(itemgetter(k), scored)) for k in range(6))
    reason_text = {r: ";".join(r) for r in set(reasons)}
    empty = np.full(len(scored), "", dtype=object)

    def text(values: Sequence[str]) -> np.ndarray:
        return np.array(values, dtype=object)  # pandas makes str columns from these 2-3x faster than from lists

    return pd.DataFrame({
        "id": apps.ids[positions], "pd": np.array(pd_, dtype=np.float64), "risk_level": text(risk),
        "decision": text(decision), "confidence": np.array(confidence, dtype=np.float64),
        "reasons": text([reason_text[r] for r in reasons]), "reason_texts": empty, "flags": empty.copy(),
        "model_version": text(version)}, columns=list(DECISION_COLUMNS))


def rejects_frame(apps: Applications, answers: Sequence[Answer]) -> pd.DataFrame:
    """The rejected applications: ``row``, the input's columns, ``rejection_reasons``."""
    positions = [i for i, r in enumerate(answers) if not isinstance(r, wire.Scored)]
    frame = apps.frame.iloc[positions].reset_index(drop=True)
    reasons = [rejection_reason(answers[i]) for i in positions]  # type: ignore[arg-type]
    out = pd.concat([pd.DataFrame({"row": apps.rows[positions]}), frame], axis=1)
    out["rejection_reasons"] = pd.Series(reasons, dtype=object)
    return out
