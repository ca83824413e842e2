"""``Client``: the blocking LoanScore client.

It runs an :class:`loanscore.aio.AsyncClient` on an event loop in a thread of its own, so the
pool, pipelining, deadlines and retries are one implementation for both; its methods block the
caller until the answer is in. A ``Client`` may be shared by many threads: their calls are
pipelined on the same connections.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._protocol import Welcome
from .aio import AsyncClient
from .errors import ConnectionClosedError
from .results import Decision, Rejected, ScoredFrame

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """A blocking LoanScore client; the arguments are :class:`loanscore.AsyncClient`'s.

    ```python
    with loanscore.Client("scoring.internal:7443", ca="ca.pem", cert="client.pem", key="client.key") as client:
        decisions = client.score_frame(df)
    ```
    """

    def __init__(self, address: str, ca: str | None = None, cert: str | None = None, key: str | None = None,
                 *, server_hostname: str | None = None, connections: int = 2, deadline: float = 10.0,
                 retries: int = 6, compress_threshold: int | None = 4096,
                 unknown_fields: Literal["reject", "ignore"] = "reject", batch_size: int = 1024,
                 connect_timeout: float = 5.0, send_deadline: bool = True,
                 client_name: str = "loanscore-python/0.16") -> None:
        self._async = AsyncClient(address, ca, cert, key, server_hostname=server_hostname, connections=connections,
                                  deadline=deadline, retries=retries, compress_threshold=compress_threshold,
                                  unknown_fields=unknown_fields, batch_size=batch_size,
                                  connect_timeout=connect_timeout, send_deadline=send_deadline,
                                  client_name=client_name)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"loanscore-client {address}",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def address(self) -> str:
        return self._async.address

    @property
    def welcome(self) -> Welcome | None:
        """The WELCOME of the most recently opened connection (model, schema, limits); None before."""
        return self._async.welcome

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise ConnectionClosedError("the client is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def connect(self) -> Welcome:
        """Opens every connection of the pool; see :meth:`AsyncClient.connect`."""
        return self._run(self._async.connect())

    def score(self, applications: pd.DataFrame | Sequence[Mapping[str, object]], *,
              deadline: float | None = None) -> list[Decision | Rejected]:
        """Scores applications; see :meth:`AsyncClient.score`."""
        return self._run(self._async.score(applications, deadline=deadline))

    @overload
    def score_frame(self, df: pd.DataFrame, *, rejects: Literal["raise"] = ...,
                    rows: npt.NDArray[np.integer] | None = ..., deadline: float | None = ...) -> pd.DataFrame: ...

    @overload
    def score_frame(self, df: pd.DataFrame, *, rejects: Literal["keep"],
                    rows: npt.NDArray[np.integer] | None = ..., deadline: float | None = ...) -> ScoredFrame: ...

    def score_frame(self, df: pd.DataFrame, *, rejects: Literal["raise", "keep"] = "raise",
                    rows: npt.NDArray[np.integer] | None = None, deadline: float | None = None
                    ) -> pd.DataFrame | ScoredFrame:
        """Scores a DataFrame into ``loanscore score``'s columns; see :meth:`AsyncClient.score_frame`."""
        if rejects == "keep":
            return self._run(self._async.score_frame(df, rejects="keep", rows=rows, deadline=deadline))
        return self._run(self._async.score_frame(df, rejects="raise", rows=rows, deadline=deadline))

    def close(self) -> None:
        """Says GOODBYE, closes the connections and stops the client's thread (idempotent)."""
        if self._closed:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._async.close(), self._loop).result()
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
