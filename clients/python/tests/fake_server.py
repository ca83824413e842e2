"""A scripted LoanScore server for the client's retry, deadline and schema-change tests.

The real loanscored cannot be made to answer BUSY, QUOTA_EXCEEDED or SCHEMA_MISMATCH on cue;
this one can. It speaks TLS with ALPN ``loanscore/1`` (the certificates of the ``certs``
fixture), answers HELLO with a WELCOME of its current schema, and hands each SCORE_REQUEST to a
``respond(server, request, decoded)`` callback returning an action: a list of frames to send,
``"drop"`` (close the connection), or ``"silent"`` (never answer).
"""
from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loanscore import _protocol as wire

FIELDS = (wire.Field("Seniority", wire.NUMBER), wire.Field("Home", wire.STRING),
          wire.Field("Income", wire.NUMBER), wire.Field("Records", wire.BOOL))


@dataclass
class Seen:
    """One SCORE_REQUEST as received."""

    connection: int
    request_id: int
    flags: int
    decoded: wire.DecodedRequest


Action = list[bytes] | str
Respond = Callable[["FakeServer", Seen], Action]


def scored(seen: Seen, version: str = "m1") -> list[bytes]:
    """A SCORE_RESPONSE scoring every application: PD 0.1 × (index + 1), approve, reason R1."""
    results: list[wire.Scored | wire.Invalid] = [
        wire.Scored(0.1 * (i + 1), "low", "approve", 0.9, ("R1",), version) for i in range(len(seen.decoded.ids))]
    payload = wire.encode_score_response(wire.ScoreResponse(version, results))
    return [wire.encode_frame(wire.SCORE_RESPONSE, seen.request_id, payload)]


def error(seen: Seen, code: int, message: str) -> list[bytes]:
    return [wire.encode_frame(wire.ERROR, seen.request_id, wire.encode_error(code, message))]


@dataclass
class FakeServer:
    certs: Path
    respond: Respond
    fields: tuple[wire.Field, ...] = FIELDS
    version: int = 2
    limits: wire.Limits = wire.DEFAULT_LIMITS
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def welcome(self) -> wire.Welcome:
        return wire.Welcome(self.version, "fake", "m1", wire.schema_hash(self.fields), self.fields, self.limits)

    def __enter__(self) -> FakeServer:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.certs / "server.pem", self.certs / "server.key")
            ctx.set_alpn_protocols(["loanscore/1"])
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ctx)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop)
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        decoder = wire.FrameDecoder(accepted=wire.FROM_CLIENT)
        welcome: wire.Welcome | None = None
        try:
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    if frame.type == wire.HELLO:
                        welcome = self.welcome()
                        writer.write(wire.encode_frame(wire.WELCOME, frame.request_id, wire.encode_welcome(welcome)))
                    elif frame.type == wire.SCORE_REQUEST and welcome is not None:
                        decoded = wire.decode_score_request(frame.payload, frame.flags, welcome.fields)
                        seen = Seen(number, frame.request_id, frame.flags, decoded)
                        self.seen.append(seen)
                        if decoded.schema_hash != wire.schema_hash(self.fields):
                            action: Action = error(seen, 0x0102, "schema changed")
                        else:
                            action = self.respond(self, seen)
                        if action == "drop":
                            writer.close()
                            return
                        if action != "silent":
                            for out in action:
                                writer.write(out)
                    elif frame.type == wire.GOODBYE:
                        writer.close()
                        return
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
