"""LoanScore for Python: the appliance's client SDK, in-process scoring and Spark batch scoring.

- :class:`loanscore.Client` / :class:`loanscore.AsyncClient`: score against loanscored over the
  binary protocol (TLS, LZ4, pipelined connections, deadlines, retries).
- :class:`loanscore.LocalScorer`: score in this process through the C library (``libloanscore.so``),
  the same feature pipeline and ensemble as the server.
- ``loanscore-spark``: batch scoring on a Spark cluster (:mod:`loanscore.spark`).
"""
from __future__ import annotations

from .errors import *  # noqa: F403  (the exception hierarchy is part of the public API)
from .errors import __all__ as _error_names
from .aio import AsyncClient
from .client import Client
from .local import Field, LocalScorer
from .results import DECISION_COLUMNS, Decision, Reason, Rejected, ScoredFrame, write_csv

__all__ = [*_error_names, "DECISION_COLUMNS", "Decision", "Reason", "Rejected", "ScoredFrame", "write_csv", "Client",
           "AsyncClient", "LocalScorer", "Field"]
