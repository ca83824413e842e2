"""Typed exceptions of the LoanScore Python package.

One hierarchy serves the remote client (:mod:`loanscore.client`), the in-process scorer
(:mod:`loanscore.local`) and the Spark job (:mod:`loanscore.spark`). Every exception says what
was wrong and where (field, row, application index, request id, byte offset) and what to do.

The server's error codes (``Protocol/PROTOCOL.md`` §7) map one to one onto subclasses of
:class:`ServerError`; :func:`server_error` builds the right one from an ERROR frame.
"""
from __future__ import annotations

__all__ = [
    "LoanScoreError",
    "BundleError",
    "InputError",
    "MissingFieldError",
    "UnknownFieldError",
    "ColumnTypeError",
    "InvalidApplicationError",
    "ConnectionFailedError",
    "TLSError",
    "ConnectionClosedError",
    "DeadlineExceededError",
    "ServerError",
    "ProtocolError",
    "BatchTooLargeError",
    "SchemaMismatchError",
    "BusyError",
    "ShuttingDownError",
    "ServerTimeoutError",
    "InternalServerError",
    "UnavailableError",
    "QuotaExceededError",
    "ServerDeadlineExceededError",
    "ERROR_CODES",
    "server_error",
]

import re
from typing import Final


class LoanScoreError(Exception):
    """Base class of every error this package raises on purpose."""


class BundleError(LoanScoreError):
    """The model bundle was refused (missing file, hash mismatch, unsupported format...).

    The message is the one ``loanscore bundle inspect`` prints for the same bundle.

    Attributes:
        path: the bundle folder as given.
        code: the C library's error code (``LOANSCORE_E_*`` in ``include/loanscore.h``), or 0.
    """

    def __init__(self, message: str, *, path: str, code: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.code = code


class InputError(LoanScoreError, ValueError):
    """Applications that cannot be scored as given (found before or while scoring).

    Attributes:
        field: the schema field concerned, or None when the problem is not one field's.
        row: the 1-based row (DataFrame position + 1, or the input file's data row), or None.
        index: the 0-based application index in the batch, or None.
    """

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None,
                 index: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row
        self.index = index


class MissingFieldError(InputError):
    """A non-nullable schema field has no column in the input."""


class UnknownFieldError(InputError):
    """The input has a column the schema does not name (with ``unknown_fields="reject"``)."""


class ColumnTypeError(InputError):
    """A whole column has a dtype that cannot hold the field's type (e.g. datetimes for a number).

    Attributes:
        dtype: the column's dtype as pandas names it.
        expected: what the field needs (``"number"``, ``"category"``, ``"boolean"``).
    """

    def __init__(self, message: str, *, field: str, dtype: str, expected: str) -> None:
        super().__init__(message, field=field)
        self.dtype = dtype
        self.expected = expected


class InvalidApplicationError(InputError):
    """One or more applications fail the schema (type, range, level, missing value).

    ``field``/``row``/``index`` describe the first one; ``rejects`` (when set) is a DataFrame of
    every rejected row with the columns ``loanscore score --rejects`` writes.
    """

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None,
                 index: int | None = None, rejects: object | None = None) -> None:
        super().__init__(message, field=field, row=row, index=index)
        self.rejects = rejects


class ConnectionFailedError(LoanScoreError, ConnectionError):
    """The server could not be reached (refused, unreachable, name not resolved).

    Attributes:
        address: ``HOST:PORT`` as given.
    """

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class TLSError(ConnectionFailedError):
    """The TLS handshake failed: unknown CA, wrong host name, client certificate refused, no ALPN."""


class ConnectionClosedError(LoanScoreError, ConnectionError):
    """The connection closed before the answer arrived (the request may or may not have been scored)."""


class DeadlineExceededError(LoanScoreError, TimeoutError):
    """The call's deadline passed before every answer arrived.

    Attributes:
        deadline: the deadline in seconds that was given.
    """

    def __init__(self, message: str, *, deadline: float) -> None:
        super().__init__(message)
        self.deadline = deadline


class ServerError(LoanScoreError):
    """The server answered an ERROR frame (``Protocol/PROTOCOL.md`` §7).

    Attributes:
        code: the wire error code (e.g. ``0x0103``).
        name: its name (e.g. ``"BUSY"``).
        request_id: the request the error answers (0 for the connection).
        server_message: the server's own message text.
    """

    code: int = 0
    name: str = "UNKNOWN"

    def __init__(self, server_message: str, *, code: int | None = None, request_id: int = 0,
                 name: str | None = None) -> None:
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.request_id = request_id
        self.server_message = server_message
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"server error {self.name} 0x{self.code:04x}{where}: {server_message}")


class ProtocolError(ServerError):
    """A connection-fatal error (codes ``0x00__``): the server closed the connection."""


class BatchTooLargeError(ServerError):
    """The batch holds more applications than WELCOME's maximum: split it."""
    code, name = 0x0101, "BATCH_TOO_LARGE"


class SchemaMismatchError(ServerError):
    """The server's model changed schema since this connection's WELCOME: reconnect, re-encode."""
    code, name = 0x0102, "SCHEMA_MISMATCH"


class BusyError(ServerError):
    """The server is at capacity; the request was not processed: retry later with backoff."""
    code, name = 0x0103, "BUSY"


class ShuttingDownError(ServerError):
    """The server is draining; the request was not processed: retry elsewhere."""
    code, name = 0x0104, "SHUTTING_DOWN"


class ServerTimeoutError(ServerError):
    """Not answered within the server's deadline; it may or may not have been scored."""
    code, name = 0x0105, "TIMEOUT"


class InternalServerError(ServerError):
    """The server failed on its own account: retry, and report it."""
    code, name = 0x0106, "INTERNAL"


class UnavailableError(ServerError):
    """The server cannot record decisions (its audit log failed); nothing was scored."""
    code, name = 0x0107, "UNAVAILABLE"


class QuotaExceededError(ServerError):
    """This client is over its quota; nothing was processed.

    Attributes:
        retry_after_ms: the server's hint (milliseconds) before the same request fits the quota.
    """
    code, name = 0x0108, "QUOTA_EXCEEDED"

    def __init__(self, server_message: str, *, code: int | None = None, request_id: int = 0,
                 name: str | None = None) -> None:
        super().__init__(server_message, code=code, request_id=request_id, name=name)
        match = re.match(r"retry after (\d+) ms", server_message)
        self.retry_after_ms: int | None = int(match.group(1)) if match else None


class ServerDeadlineExceededError(ServerError):
    """The request's deadline passed before the server started scoring it; nothing was recorded."""
    code, name = 0x0109, "DEADLINE_EXCEEDED"


#: Wire code → (name, exception class), for every code of ``Protocol/PROTOCOL.md`` §7.
ERROR_CODES: Final[dict[int, tuple[str, type[ServerError]]]] = {
    0x0001: ("MALFORMED_FRAME", ProtocolError),
    0x0002: ("UNSUPPORTED_VERSION", ProtocolError),
    0x0003: ("UNKNOWN_TYPE", ProtocolError),
    0x0004: ("FRAME_TOO_LARGE", ProtocolError),
    0x0005: ("DECOMPRESSION_FAILED", ProtocolError),
    0x0006: ("HANDSHAKE_REQUIRED", ProtocolError),
    0x0101: ("BATCH_TOO_LARGE", BatchTooLargeError),
    0x0102: ("SCHEMA_MISMATCH", SchemaMismatchError),
    0x0103: ("BUSY", BusyError),
    0x0104: ("SHUTTING_DOWN", ShuttingDownError),
    0x0105: ("TIMEOUT", ServerTimeoutError),
    0x0106: ("INTERNAL", InternalServerError),
    0x0107: ("UNAVAILABLE", UnavailableError),
    0x0108: ("QUOTA_EXCEEDED", QuotaExceededError),
    0x0109: ("DEADLINE_EXCEEDED", ServerDeadlineExceededError),
}


def server_error(code: int, message: str, request_id: int = 0) -> ServerError:
    """The exception for an ERROR frame's code; unknown codes give a plain :class:`ServerError`.

    Args:
        code: the frame's u16 error code.
        message: the frame's message text.
        request_id: the request id the frame carries (0: the connection).
    """
    name, cls = ERROR_CODES.get(code, (f"UNKNOWN_0x{code:04x}", ServerError))
    return cls(message, code=code, request_id=request_id, name=name)
