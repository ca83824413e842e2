"""What runs on the Spark executors: opening a scorer once per Python worker, and scoring batches.

The function given to ``mapInPandas`` receives the input's columns (``_c0``…), ``_file``,
``_start`` and ``_mono`` (see :mod:`loanscore._spark_rows`) and yields one row per input row:
accepted rows with the decision columns, rejected rows with their input cells and reasons, both
carrying ``_file``/``_start``/``_mono`` so the driver can number them afterwards.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

import numpy as np
import pandas as pd

from .errors import BundleError
from .results import DECISION_COLUMNS, ScoredFrame

#: The columns of the scored frame beyond the input's own (``_c0``…).
REJECTED, REASONS = "_rejected", "rejection_reasons"


class FrameScorer(Protocol):
    """The shared API both :class:`loanscore.LocalScorer` and :class:`loanscore.Client` follow."""

    @overload
    def score_frame(self, df: pd.DataFrame, *, rejects: Literal["raise"] = ..., rows: np.ndarray[Any, Any] | None = ...) -> pd.DataFrame: ...
    @overload
    def score_frame(self, df: pd.DataFrame, *, rejects: Literal["keep"], rows: np.ndarray[Any, Any] | None = ...) -> ScoredFrame: ...


def manifest_digest(bundle: str) -> str:
    """The sha256 of a bundle folder's ``manifest.json`` (which names every other file's sha256)."""
    with open(os.path.join(bundle, "manifest.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@dataclass(frozen=True, slots=True)
class LocalSpec:
    """Score with :class:`loanscore.LocalScorer` on a bundle shipped with ``SparkContext.addFile``.

    Attributes:
        name: the bundle folder's name among the job's files (``SparkFiles.get(name)``).
        digest: the driver's ``manifest.json`` sha256: an executor refuses a different bundle.
        library: the C library's path on the executors, or None (``LOANSCORE_LIBRARY``, else
            the one inside the installed package).
    """

    name: str
    digest: str
    library: str | None = None

    def open(self) -> FrameScorer:
        """Opens the shipped bundle here; the library's open checks every file's sha256."""
        from pyspark import SparkFiles

        from .local import LocalScorer

        path = SparkFiles.get(self.name)
        found = manifest_digest(path) if os.path.exists(os.path.join(path, "manifest.json")) else "none"
        if found != self.digest:
            raise BundleError(f"{path}: the bundle shipped to this executor is not the driver's "
                              f"(manifest.json sha256 {found[:16]}…, expected {self.digest[:16]}…)", path=path)
        return LocalScorer(path, library=self.library)


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    """Score through :class:`loanscore.Client` against a loanscored fleet.

    A task's partition goes to ``servers[partition % len(servers)]``. Certificate files are
    shipped with ``SparkContext.addFile`` and named here by file name (``SparkFiles.get``).
    """

    servers: tuple[str, ...]
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def open(self) -> FrameScorer:
        """A client for this task's server (one per server and Python worker)."""
        import atexit

        from pyspark import SparkFiles, TaskContext

        from .client import Client

        context = TaskContext.get()
        server = self.servers[(context.partitionId() if context else 0) % len(self.servers)]
        if server not in _CLIENTS:
            def shipped(name: str | None) -> str | None:
                return SparkFiles.get(name) if name else None

            client = Client(server, ca=shipped(self.ca), cert=shipped(self.cert), key=shipped(self.key))
            atexit.register(client.close)
            _CLIENTS[server] = client
        return _CLIENTS[server]


#: Scorers opened in this Python worker (Spark reuses workers across tasks), by spec / server.
_OPEN: dict[LocalSpec, FrameScorer] = {}
_CLIENTS: dict[str, FrameScorer] = {}


def scorer_for(spec: LocalSpec | RemoteSpec) -> FrameScorer:
    """The worker's scorer for ``spec``, opened on first use."""
    if isinstance(spec, RemoteSpec):
        return spec.open()
    if spec not in _OPEN:
        _OPEN[spec] = spec.open()
    return _OPEN[spec]


def score_batches(batches: Iterator[pd.DataFrame], spec: LocalSpec | RemoteSpec, names: Sequence[str],
                  given: Sequence[int]) -> Iterator[pd.DataFrame]:
    """``mapInPandas``' function: each batch scored, one output row per input row.

    Args:
        names: the input's column names (its columns arrive as ``_c0``…).
        given: the positions of the columns the scorer is given (``--server`` leaves out
            columns the served schema does not name, as ``loanscore score --server`` does);
            rejected rows keep every column.
    """
    from ._spark_rows import FILE, MONO, START

    scorer = scorer_for(spec)
    inputs = [f"_c{i}" for i in range(len(names))]
    for batch in batches:
        mono = batch[MONO].to_numpy(dtype=np.int64)
        applications = batch[[inputs[i] for i in given]].set_axis([names[i] for i in given], axis=1)
        scored = scorer.score_frame(applications, rejects="keep", rows=mono)
        rejected_rows = scored.rejects["row"].to_numpy(dtype=np.int64)
        rejected = np.isin(mono, rejected_rows)
        accepted = ~rejected
        decisions = scored.decisions.reset_index(drop=True)
        if len(decisions) != int(accepted.sum()):
            raise RuntimeError(f"the scorer answered {len(decisions)} decision(s) for {int(accepted.sum())} accepted row(s)")
        out = pd.DataFrame({c: batch[c].to_numpy() for c in (FILE, START, MONO)})
        out[REJECTED] = rejected
        for column in DECISION_COLUMNS:
            out[column] = _spread(decisions[column].to_numpy(), accepted)
        for column in inputs:
            out[column] = _spread(batch.loc[rejected, column].to_numpy(dtype=object), rejected)
        reasons = pd.Series(scored.rejects[REASONS].to_numpy(dtype=object), index=rejected_rows)
        out[REASONS] = _spread(reasons.reindex(mono[rejected]).to_numpy(dtype=object), rejected)
        yield out


def _spread(values: np.ndarray[Any, Any], where: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An object column with ``values`` at the rows ``where`` is true and None elsewhere."""
    column = np.full(len(where), None, dtype=object)
    column[where] = values
    return column
