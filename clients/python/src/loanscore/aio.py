"""``AsyncClient``: score loan applications on loanscored from asyncio.

A pool of TLS connections (ALPN ``loanscore/1``, the server's name checked against its
certificate, mutual TLS when a client certificate is given), each pipelining many requests.
A call's applications are laid out in the columns the server announced (WELCOME), split into
batches and sent concurrently; each batch has a deadline (sent to the server, ``PROTOCOL.md``
§5.4) and is retried with exponential backoff and jitter on BUSY, a dropped connection and the
server's SHUTTING_DOWN/TIMEOUT/INTERNAL/UNAVAILABLE, after the server's hint on QUOTA_EXCEEDED,
and laid out again for the new WELCOME after a SCHEMA_MISMATCH (a reload with another schema),
as the Swift SDK does (``Sources/LoanScoreClient``). The blocking :class:`loanscore.Client`
runs this same client on a thread of its own.
"""
from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping, Sequence
from typing import Final, Literal, cast, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _protocol as wire
from ._assemble import decisions_frame, rejection_reason, rejects_frame, to_results
from ._connection import Connection, TooLarge, make_ssl_context
from ._input import Applications
from ._window import Window
from .errors import (BusyError, ConnectionClosedError, ConnectionFailedError, DeadlineExceededError, InputError,
                     InternalServerError, InvalidApplicationError, LoanScoreError, QuotaExceededError,
                     SchemaMismatchError, ServerTimeoutError, ShuttingDownError, TLSError, UnavailableError)
from .results import Decision, Rejected, ScoredFrame

__all__ = ["AsyncClient", "Welcome", "Limits"]

Welcome = wire.Welcome
Limits = wire.Limits
Answer = wire.Scored | wire.Invalid | list[str]
Applicationish = pd.DataFrame | Sequence[Mapping[str, object]]

#: Batches in flight per connection at most (the window narrows on BUSY: _window.Window).
PIPELINE_DEPTH: Final = 4
_RETRYABLE: Final = (BusyError, ShuttingDownError, ServerTimeoutError, InternalServerError, UnavailableError,
                     QuotaExceededError, ConnectionClosedError, ConnectionFailedError)
_DEADLINE_MARGIN: Final = 0.002  # seconds left off the deadline sent to the server, for the network


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"the server address must be HOST:PORT, not {address!r}")
    return host.strip("[]"), int(port)


def _check_seconds(name: str, value: float) -> float:
    """``value`` when it is a finite number of seconds above 0 (NaN once made a call wait forever)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number of seconds above 0, not {value!r}")
    return float(value)


def backoff(attempt: int, initial: float = 0.01, maximum: float = 1.0) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): uniform in [d/2, d], d doubling
    from `initial` up to `maximum` ("equal jitter", the Swift SDK's ``RetryPolicy``)."""
    cap = min(maximum, initial * 2 ** min(max(attempt - 1, 0), 40))
    return random.uniform(cap / 2, cap)


class AsyncClient:
    """A LoanScore client for asyncio.

    ``AsyncClient("HOST:PORT", ca="ca.pem")``; give ``cert``/``key`` for mutual TLS. Nothing is
    opened until :meth:`connect` or the first call; ``async with`` closes it. A client belongs to
    the event loop it is first used on (its connections and locks live there): share it among
    that loop's tasks, not across loops or threads (the blocking :class:`loanscore.Client` is
    the one to share between threads).

    Args:
        address: ``HOST:PORT`` of loanscored's scoring port.
        ca: the CA certificate(s) (PEM) the server's certificate must chain to; None: the system's.
        cert: the client certificate (PEM), for servers that require mutual TLS.
        key: its private key (PEM).
        server_hostname: the name checked against the server's certificate (default: the host).
        connections: connections in the pool (each pipelines many requests).
        deadline: seconds one batch may take, retries and backoff included (sent to the server,
            which then does not start a request it cannot answer in time).
        retries: retries of a batch after its first attempt (BUSY, dropped connection …).
        compress_threshold: SCORE_REQUEST payloads of at least this many bytes go LZ4-compressed
            when that makes them smaller; None never compresses.
        unknown_fields: ``"reject"`` (raise :class:`UnknownFieldError` for a key or column the
            served schema lacks) or ``"ignore"`` (leave it out, e.g. a target column).
        batch_size: applications per request (capped by the server's maximum batch).
        connect_timeout: seconds for TCP connect, and again for TLS plus HELLO/WELCOME.
        send_deadline: send each request's deadline (False for a server older than §5.4's field).
        client_name: the name sent in HELLO, for the server's logs.

    Raises:
        ValueError: a malformed address or argument.
        TLSError: a CA, certificate or key file that cannot be loaded.
    """

    def __init__(self, address: str, ca: str | None = None, cert: str | None = None, key: str | None = None, *,
                 server_hostname: str | None = None, connections: int = 2, deadline: float = 10.0,
                 retries: int = 6, compress_threshold: int | None = 4096,
                 unknown_fields: Literal["reject", "ignore"] = "reject", batch_size: int = 1024,
                 connect_timeout: float = 5.0, send_deadline: bool = True,
                 client_name: str = "loanscore-python/0.16") -> None:
        self.address = address
        self._host, self._port = parse_address(address)
        if connections < 1 or retries < 0 or batch_size < 1:
            raise ValueError("connections and batch_size must be at least 1, retries at least 0")
        _check_seconds("deadline", deadline)
        _check_seconds("connect_timeout", connect_timeout)
        if unknown_fields not in ("reject", "ignore"):
            raise ValueError(f"unknown_fields must be \"reject\" or \"ignore\", not {unknown_fields!r}")
        self._ssl = make_ssl_context(address, ca, cert, key)
        self._server_hostname = server_hostname or self._host
        self.deadline = deadline
        self.retries = retries
        self.compress_threshold = compress_threshold
        self.unknown_fields = unknown_fields
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.send_deadline = send_deadline
        self.client_name = client_name
        self._slots: list[Connection | asyncio.Task[Connection] | None] = [None] * connections
        self._progress: dict[asyncio.Task[Connection], list[str]] = {}  # connections being opened: steps done
        self._next = 0
        self._closed = False
        self._welcome: wire.Welcome | None = None
        self._window = Window(PIPELINE_DEPTH * connections)
        #: Every connection opened and not yet closed by close() (a draining one leaves its slot first).
        self._opened: set[Connection] = set()

    # ------------------------------------------------------------ pool

    @property
    def welcome(self) -> wire.Welcome | None:
        """The WELCOME of the most recently opened connection (model, schema, limits); None before."""
        return self._welcome

    async def connect(self) -> wire.Welcome:
        """Opens every connection of the pool; returns the first one's WELCOME.

        Raises:
            ConnectionFailedError, TLSError, ServerError: the first failure.
        """
        connections = [await self._slot(i, self.connect_timeout * 2) for i in range(len(self._slots))]
        return connections[0].welcome

    async def _slot(self, index: int, timeout: float) -> Connection:
        if self._closed:
            raise ConnectionClosedError("the client is closed")
        slot = self._slots[index]
        if isinstance(slot, Connection) and slot.usable:
            return slot
        if not isinstance(slot, asyncio.Task):
            progress: list[str] = []
            slot = asyncio.get_running_loop().create_task(Connection.open(
                self._host, self._port, self.address, self._ssl, self._server_hostname, self.client_name,
                self.connect_timeout, progress))
            self._progress[slot] = progress
            slot.add_done_callback(lambda done: self._progress.pop(done, None))
            self._slots[index] = slot
        try:
            connection = await asyncio.wait_for(asyncio.shield(slot), timeout)
        except BaseException as exc:
            if slot.done() and self._slots[index] is slot:
                self._slots[index] = None
            if isinstance(exc, asyncio.TimeoutError):
                if "tls" in self._progress.get(slot, []):
                    raise ConnectionFailedError(
                        f"{self.address} accepted the connection and completed TLS but sent no WELCOME within "
                        f"{timeout:.3g} s: the server is stalled or overloaded, or a proxy in front of it has no "
                        "upstream that answers", address=self.address) from None
                raise ConnectionFailedError(f"cannot connect to {self.address}: TCP and TLS not completed within "
                                            f"{timeout:.3g} s; check the address and any firewall",
                                            address=self.address) from None
            raise
        if self._slots[index] is slot:
            self._slots[index] = connection
        self._opened = {c for c in self._opened if c.closed is None}  # forget those that ended
        self._opened.add(connection)
        if self._closed:
            await connection.close()
            raise ConnectionClosedError("the client is closed")
        self._welcome = connection.welcome
        return connection

    async def _lease(self, timeout: float) -> Connection:
        """A usable connection, round-robin, opening one when needed."""
        count = len(self._slots)
        for offset in range(count):
            index = (self._next + offset) % count
            slot = self._slots[index]
            if isinstance(slot, Connection) and slot.usable:
                self._next = (index + 1) % count
                return slot
        index, self._next = self._next, (self._next + 1) % count
        return await self._slot(index, timeout)

    async def _retire(self, schema_hash: bytes) -> None:
        """Closes the connections that announced `schema_hash` (a reload changed the schema)."""
        for index, slot in enumerate(self._slots):
            if isinstance(slot, Connection) and slot.welcome.schema_hash == schema_hash:
                self._slots[index] = None
                self._opened.discard(slot)
                await slot.close()

    async def close(self) -> None:
        """Says GOODBYE on every connection and closes them; calls still waiting fail with
        :class:`ConnectionClosedError`, and so do later ones."""
        self._closed = True
        opening: list[asyncio.Task[Connection]] = []
        for index, slot in enumerate(self._slots):
            self._slots[index] = None
            if isinstance(slot, asyncio.Task):
                slot.cancel()
                opening.append(slot)
        # Let the cancelled opens close their sockets now: the blocking Client stops its loop next,
        # and a task left pending there closed its transport at garbage collection, on a closed loop.
        for outcome in await asyncio.gather(*opening, return_exceptions=True):
            if isinstance(outcome, Connection):  # opened after its caller's wait timed out: never handed out
                self._opened.add(outcome)
        opened, self._opened = self._opened, set()
        for connection in opened:
            await connection.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ scoring

    async def score(self, applications: Applicationish, *, deadline: float | None = None
                    ) -> list[Decision | Rejected]:
        """Scores applications (a list of dicts, or a DataFrame); one result each, in input order.

        An application that fails the schema is a :class:`Rejected` (the server's message, or the
        CLI's for a cell that cannot travel, such as text in a number field); nothing is raised
        for it. Ids come from an ``id``/``application_id`` key or column, else the 1-based position.

        Raises:
            UnknownFieldError: a key the served schema lacks, with ``unknown_fields="reject"``.
            ColumnTypeError, MissingFieldError: a DataFrame column of an impossible dtype, or a
                field without a column.
            DeadlineExceededError: a batch was not answered within `deadline` (default the client's).
            ConnectionFailedError, TLSError, ConnectionClosedError, ServerError: as the last attempt failed.
        """
        apps = Applications.of(applications)
        return to_results(apps, await self._answers(apps, deadline))

    @overload
    async def score_frame(self, df: pd.DataFrame, *, rejects: Literal["raise"] = ...,
                          rows: npt.NDArray[np.integer] | None = ..., deadline: float | None = ...
                          ) -> pd.DataFrame: ...

    @overload
    async def score_frame(self, df: pd.DataFrame, *, rejects: Literal["keep"],
                          rows: npt.NDArray[np.integer] | None = ..., deadline: float | None = ...
                          ) -> ScoredFrame: ...

    async def score_frame(self, df: pd.DataFrame, *, rejects: Literal["raise", "keep"] = "raise",
                          rows: npt.NDArray[np.integer] | None = None, deadline: float | None = None
                          ) -> pd.DataFrame | ScoredFrame:
        """Scores a DataFrame into ``loanscore score``'s columns (as ``--server`` fills them).

        Args:
            df: one application per row; columns named as the served schema's fields.
            rejects: ``"raise"``: :class:`InvalidApplicationError` (with ``.rejects``) when any row
                is invalid; ``"keep"``: return a :class:`ScoredFrame` of decisions and rejects.
            rows: the 1-based row numbers (ids when there is no id column); default 1..n.
            deadline: seconds per batch (default the client's).
        """
        apps = Applications.of(df, rows)
        answers = await self._answers(apps, deadline)
        decisions = decisions_frame(apps, answers)
        if rejects == "keep":
            return ScoredFrame(decisions, rejects_frame(apps, answers))
        first = next((i for i, r in enumerate(answers) if not isinstance(r, wire.Scored)), None)
        if first is not None:
            bad = rejects_frame(apps, answers)
            reason = rejection_reason(answers[first])  # type: ignore[arg-type]
            field = to_results(apps, [answers[first]])[0]
            raise InvalidApplicationError(
                f"{len(bad)} of {len(apps)} application(s) are invalid; the first, row {apps.rows[first]} "
                f"(index {first}): {reason} (rejects=\"keep\" returns them in a ScoredFrame)",
                field=field.field if isinstance(field, Rejected) else None, row=int(apps.rows[first]),
                index=first, rejects=bad)
        return decisions

    async def _answers(self, apps: Applications, deadline: float | None) -> list[Answer]:
        """One answer per application: the local layout's rejects, then the server's results."""
        budget = self.deadline if deadline is None else _check_seconds("deadline", deadline)
        answers: list[Answer] = [[]] * len(apps)
        if not len(apps):
            return answers
        first = await self._first_connection(budget)
        layout = apps.layout(first.welcome, self.unknown_fields == "ignore")
        for position, problems in enumerate(layout.problems):
            if problems:
                answers[position] = problems
        accepted = layout.accepted
        size = max(1, min(self.batch_size, first.welcome.limits.max_batch))

        failed: list[BaseException] = []

        async def scored(positions: npt.NDArray[np.intp]) -> list[Answer]:
            """The batch's answers; a batch too large for one frame is sent as two halves."""
            try:
                return await self._score_batch(apps, positions, budget)
            except TooLarge as exc:
                if len(positions) == 1:
                    index = int(positions[0])
                    raise InputError(f"application {index} (row {apps.rows[index]}) alone encodes to {exc.size} "
                                     f"bytes, above the server's frame limits", index=index,
                                     row=int(apps.rows[index])) from None
                half = len(positions) // 2
                return await scored(positions[:half]) + await scored(positions[half:])

        async def one(positions: npt.NDArray[np.intp]) -> None:
            try:
                results = await scored(positions)
            except BaseException as exc:
                failed.append(exc)  # no more batches are sent for this call
                raise
            finally:
                await self._window.release()
            if len(positions) and positions[-1] - positions[0] == len(positions) - 1:
                answers[positions[0]:positions[-1] + 1] = results
            else:
                for position, answer in zip(positions.tolist(), results):
                    answers[position] = answer

        tasks: list[asyncio.Task[None]] = []
        try:
            for start in range(0, len(accepted), size):
                await self._window.acquire()  # a batch is laid out and sent only once it has a place
                if failed:
                    await self._window.release()
                    break
                tasks.append(asyncio.get_running_loop().create_task(one(accepted[start:start + size])))
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return answers

    async def _first_connection(self, budget: float) -> Connection:
        """A connection (its WELCOME lays the call out), retried as a batch is when it cannot be opened."""
        loop = asyncio.get_running_loop()
        end, attempts = loop.time() + budget, 0
        while True:
            try:
                return await self._lease(max(end - loop.time(), 0.001))
            except TLSError:
                raise
            except (ConnectionFailedError, ConnectionClosedError) as exc:
                attempts += 1
                wait = backoff(attempts)
                if attempts > self.retries or self._closed:
                    raise
                if wait >= end - loop.time():
                    raise DeadlineExceededError(f"no connection to {self.address} within the deadline of {budget} s "
                                                f"(last error: {exc})", deadline=budget) from exc
                await asyncio.sleep(wait)

    async def _score_batch(self, apps: Applications, positions: npt.NDArray[np.intp], budget: float
                           ) -> list[Answer]:
        """Sends the applications at `positions` (retrying); one answer each."""
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        attempts, schemas = 0, set[bytes]()
        last: LoanScoreError | None = None
        while True:
            remaining = end - loop.time()
            if remaining <= 0:
                raise DeadlineExceededError(f"no answer from {self.address} within the deadline of {budget} s"
                                            + (f" (last error: {last})" if last else ""), deadline=budget)
            connection: Connection | None = None
            try:
                connection = await self._lease(remaining)
                return await self._attempt(apps, positions, connection, end)
            except asyncio.TimeoutError:
                continue  # the deadline passed while waiting for the answer: refused at the top of the loop
            except SchemaMismatchError as exc:
                stale = connection.welcome.schema_hash if connection else b""
                await self._retire(stale)
                if stale not in schemas:  # once per schema met: lay out again at once, no attempt used
                    schemas.add(stale)
                    continue
                last = exc
            except TLSError:
                raise
            except _RETRYABLE as exc:
                last = exc
                if isinstance(exc, BusyError):
                    self._window.busy()
            attempts += 1
            if attempts > self.retries and last is not None:
                raise last
            wait = backoff(attempts)
            if isinstance(last, QuotaExceededError) and last.retry_after_ms:
                wait = max(wait, last.retry_after_ms / 1000)
            if wait >= end - loop.time():
                raise DeadlineExceededError(f"no answer from {self.address} within the deadline of {budget} s "
                                            f"(last error: {last})", deadline=budget) from last
            await asyncio.sleep(wait)

    async def _attempt(self, apps: Applications, positions: npt.NDArray[np.intp], connection: Connection,
                       end: float) -> list[Answer]:
        welcome = connection.welcome
        layout = apps.layout(welcome, self.unknown_fields == "ignore")
        # A schema change may make cells unsendable that were fine before (a field's wire type).
        problems = layout.problems
        rejected = layout.rejected[positions]
        local = positions[rejected].tolist() if rejected.any() else []
        send = positions[~rejected] if local else positions
        answered: list[wire.Scored | wire.Invalid] = []
        if len(send):
            ids, columns = layout.encode(apps, send)
            remaining = end - asyncio.get_running_loop().time()
            deadline_us = int(max(0.0, remaining - _DEADLINE_MARGIN) * 1e6) if self.send_deadline else None
            payload, flags = wire.encode_score_request(welcome.schema_hash, ids, len(send), [columns], deadline_us)
            frame = await connection.request(payload, flags, self.compress_threshold, remaining)
            if frame.type == wire.ERROR:
                raise wire.decode_error(frame.payload, frame.request_id)
            response = wire.decode_score_response(frame.payload, len(send), welcome.version)
            self._window.answered()
            answered = response.results
        if not local:
            return cast(list[Answer], answered)
        # A schema change made some cells unsendable (a field's wire type changed): merge in order.
        by_position = dict(zip(send.tolist(), answered))
        by_position.update((p, problems[p]) for p in local)
        return [by_position[p] for p in positions.tolist()]
