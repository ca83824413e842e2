"""One TLS connection to loanscored (asyncio): handshake, pipelined requests, the read loop.

Requests are matched to answers by request id (answers may come in any order, §2.3); at most
WELCOME's maximum in flight are outstanding (more wait here, not at the server). A PING from
the server is answered; a GOODBYE marks the connection as draining (no new requests, answers in
flight still arrive); a connection-fatal ERROR or a closed stream fails every request in flight.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from typing import Final

from . import _protocol as wire
from .errors import (ConnectionClosedError, ConnectionFailedError, LoanScoreError, ProtocolError,
                     ServerError, TLSError)

ALPN: Final = "loanscore/1"
_READ_SIZE: Final = 1 << 18


#: The largest frame this client buffers from a server, whatever WELCOME announces: a response
#: to the largest batch is a few MiB, and a server announcing 4 GiB limits could otherwise make
#: the client hold a 4 GiB payload per connection before one byte of it is checked.
MAX_RECEIVE_PAYLOAD: Final = 64 * 1024 * 1024


def receive_limits(announced: wire.Limits) -> wire.Limits:
    """The limits for frames from the server: WELCOME's, each capped at :data:`MAX_RECEIVE_PAYLOAD`."""
    return dataclasses.replace(announced, max_frame_payload=min(announced.max_frame_payload, MAX_RECEIVE_PAYLOAD),
                               max_uncompressed_payload=min(announced.max_uncompressed_payload, MAX_RECEIVE_PAYLOAD))


def make_ssl_context(address: str, ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """TLS 1.2+ client context offering ALPN ``loanscore/1``, checking the server's name.

    Raises:
        TLSError: a CA, certificate or key file that cannot be read or loaded (named).
    """
    try:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols([ALPN])
        if cert is not None or key is not None:
            if cert is None:
                raise TLSError("key= was given without cert= (mutual TLS needs both)", address=address)
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(f"cannot load the TLS files (ca={ca!r}, cert={cert!r}, key={key!r}): {exc}",
                       address=address) from None
    return ctx


def _connect_error(exc: BaseException, address: str) -> ConnectionFailedError:
    """A plain-words exception for a failed TCP connect or TLS handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(f"{address}'s certificate is not trusted: {exc.verify_message.rstrip('.')}; give the CA certificate that "
                        "signed the server's certificate (ca=), and connect by a name or address the certificate "
                        "lists (server_hostname=)", address=address)
    if isinstance(exc, ssl.SSLError):
        hint = " (it may require a client certificate: cert=, key=)" if "CERTIFICATE" in str(exc).upper() else ""
        return TLSError(f"TLS with {address} failed: {exc.reason or exc}{hint}", address=address)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionFailedError(f"cannot connect to {address}: connection refused (nothing listens there: is "
                                     "loanscored running, and is the port right?)", address=address)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ConnectionFailedError(f"cannot connect to {address}: no answer in time; check the address and any "
                                     "firewall between", address=address)
    if isinstance(exc, ConnectionResetError):
        return ConnectionFailedError(f"cannot connect to {address}: the connection was reset while connecting: "
                                     "a loanscored that refused this client (its log says why), a port that is not "
                                     "LoanScore's, or a TCP load balancer (nginx) with no live upstream (its error "
                                     "log says so)", address=address)
    return ConnectionFailedError(f"cannot connect to {address}: {exc}", address=address)


class TooLarge(Exception):
    """A request that would exceed the server's frame limits (nothing was sent): split it."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class Connection:
    """A connection after HELLO/WELCOME; use :meth:`open`."""

    def __init__(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 welcome: wire.Welcome, decoder: wire.FrameDecoder) -> None:
        self.address = address
        self.welcome = welcome
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        self._pending: dict[int, asyncio.Future[wire.Frame]] = {}
        self._next_id = 1
        limit = welcome.limits.max_in_flight
        self._slots = asyncio.Semaphore(limit) if limit else None
        self.draining = False
        self.closed: LoanScoreError | None = None
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(cls, host: str, port: int, address: str, ctx: ssl.SSLContext, server_hostname: str,
                   client_name: str, timeout: float, progress: list[str] | None = None) -> Connection:
        """TCP, TLS (ALPN checked), HELLO, WELCOME, within `timeout` seconds each.

        `progress`, when given, receives ``"tls"`` once TCP and TLS are up, so that a caller
        whose own deadline expires first can say which step the server did not finish.

        Raises:
            ConnectionFailedError, TLSError: the connection or handshake failed.
            ServerError: the server refused HELLO (UNSUPPORTED_VERSION) or broke the protocol.
        """
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=server_hostname,
                                        ssl_handshake_timeout=timeout, limit=_READ_SIZE), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise _connect_error(exc, address) from None
        if progress is not None:
            progress.append("tls")
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if chosen != ALPN:
                raise TLSError(f"{address} does not speak the LoanScore protocol (ALPN {ALPN} not chosen, got "
                               f"{chosen!r}): is it the scoring port, not the admin port?", address=address)
            decoder = wire.FrameDecoder()
            writer.write(wire.encode_frame(wire.HELLO, 0, wire.encode_hello(client_name)))
            welcome = await asyncio.wait_for(cls._welcome(reader, decoder, address), timeout)
        except BaseException as exc:
            writer.close()
            if isinstance(exc, asyncio.TimeoutError):
                raise ConnectionFailedError(f"{address} sent no WELCOME within {timeout} s", address=address) from None
            if isinstance(exc, (ssl.SSLError, ConnectionError)) and not isinstance(exc, LoanScoreError):
                raise _connect_error(exc, address) from None
            raise
        decoder.limits = receive_limits(welcome.limits)
        return cls(address, reader, writer, welcome, decoder)

    @staticmethod
    async def _welcome(reader: asyncio.StreamReader, decoder: wire.FrameDecoder, address: str) -> wire.Welcome:
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                raise ConnectionClosedError(f"{address} closed the connection before WELCOME (it may have refused "
                                            "this client's certificate: its log says why)")
            for frame in decoder.feed(data):
                if frame.type == wire.WELCOME:
                    return wire.decode_welcome(frame.payload)
                if frame.type == wire.ERROR:
                    raise wire.decode_error(frame.payload, frame.request_id)
                if frame.type != wire.PING:
                    raise wire.violation(wire.MALFORMED_FRAME, f"type 0x{frame.type:02x} before WELCOME")

    @property
    def usable(self) -> bool:
        """Open and not draining: new requests may go on it."""
        return self.closed is None and not self.draining

    async def request(self, payload: bytes, flags: int, compress_threshold: int | None,
                      timeout: float) -> wire.Frame:
        """Sends one SCORE_REQUEST and waits up to `timeout` seconds for its answer frame.

        Raises:
            TooLarge: the frame would exceed WELCOME's limits (nothing sent).
            ConnectionClosedError: the connection closed or drained before the answer.
            ProtocolError: the server broke the protocol, or sent a connection-fatal ERROR.
            asyncio.TimeoutError: no answer in time (the late answer is discarded).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._slots is not None:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        try:
            if not self.usable:
                raise self.closed or ConnectionClosedError(f"{self.address} is draining (GOODBYE)")
            request_id = self._next_id
            self._next_id += 1
            future: asyncio.Future[wire.Frame] = loop.create_future()
            self._pending[request_id] = future
            try:
                frame = wire.encode_frame(wire.SCORE_REQUEST, request_id, payload, flags=flags,
                                          compress_threshold=compress_threshold)
                limits = self.welcome.limits
                if len(frame) - wire.HEADER_SIZE > limits.max_frame_payload \
                        or len(payload) > limits.max_uncompressed_payload:
                    raise TooLarge(len(payload))
                self._writer.write(frame)
                if self._writer.transport.get_write_buffer_size() > 1 << 20:
                    await self._writer.drain()
                return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            finally:
                self._pending.pop(request_id, None)
        finally:
            if self._slots is not None:
                self._slots.release()

    async def _read_loop(self) -> None:
        error: LoanScoreError
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    error = ConnectionClosedError(f"{self.address} closed the connection")
                    break
                for frame in self._decoder.feed(data):
                    self._dispatch(frame)
                if self.draining and all(f.done() for f in self._pending.values()):
                    error = ConnectionClosedError(f"{self.address} is draining (GOODBYE)")
                    break
        except ServerError as exc:
            error = exc
        except (OSError, ssl.SSLError) as exc:
            error = ConnectionClosedError(f"connection to {self.address} failed: {exc}")
        except asyncio.CancelledError:
            error = ConnectionClosedError("the client is closed")
        self._fail(error)

    def _dispatch(self, frame: wire.Frame) -> None:
        if frame.type == wire.PING:
            self._writer.write(wire.encode_frame(wire.PONG, frame.request_id, frame.payload))
        elif frame.type == wire.GOODBYE:
            wire.decode_goodbye(frame.payload)
            self.draining = True
        elif frame.type == wire.ERROR and frame.request_id == 0:
            raise wire.decode_error(frame.payload, 0)
        elif frame.type in (wire.SCORE_RESPONSE, wire.ERROR):
            future = self._pending.get(frame.request_id)
            if future is not None and not future.done():
                future.set_result(frame)
            # else: the answer to a request whose caller stopped waiting (its deadline passed)
        # PONG: this client sends no PING; an unsolicited PONG is ignored (never answered, §5.7)

    def _fail(self, error: LoanScoreError) -> None:
        if self.closed is None:
            self.closed = error if isinstance(error, (ConnectionClosedError, ProtocolError, ServerError)) \
                else ConnectionClosedError(str(error))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self.closed)
        self._pending.clear()
        self._writer.close()

    async def close(self) -> None:
        """GOODBYE, then close; requests still in flight fail with ConnectionClosedError."""
        if self.closed is None:
            with contextlib.suppress(Exception):
                self._writer.write(wire.encode_frame(wire.GOODBYE, 0, wire.str16("client closing")))
            self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
