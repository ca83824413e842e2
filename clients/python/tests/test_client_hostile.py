"""The client against a hostile server: bounded memory and time, typed errors, nothing left pending."""
from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loanscore
from loanscore import _protocol as wire
from fake_server import FakeServer, Seen, scored


def test_absurd_announced_limits_do_not_let_a_server_fill_memory(certs: Path) -> None:
    # WELCOME announces 4 GiB frames, then a response claims 4 GiB: the client once buffered all a
    # server sent (600 MB in 3 s on localhost) until the deadline; now the header is refused at once.
    huge = 2**32 - 1

    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        return [wire.HEADER.pack(wire.MAGIC, wire.FRAME_VERSION, wire.SCORE_RESPONSE, 0, seen.request_id, huge, huge),
                b"\0" * 65536]

    with FakeServer(certs, respond, limits=wire.Limits(huge, huge, 4096, 64)) as server, \
            loanscore.Client(server.address, ca=str(certs / "ca.pem"), retries=0, deadline=5) as client:
        started = time.monotonic()
        with pytest.raises(loanscore.ProtocolError, match="FRAME_TOO_LARGE"):
            client.score([{"Income": 1.0}])
        assert time.monotonic() - started < 2


def test_close_finishes_a_connection_still_waiting_for_welcome(certs: Path) -> None:
    # A server that completes TLS and never sends WELCOME: close() cancelled the open but did not
    # wait for it, so the blocking Client's loop closed under it ("Task was destroyed but it is
    # pending", "Event loop is closed" at garbage collection, the socket left open until then).
    async def main() -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
        ctx.set_alpn_protocols(["loanscore/1"])

        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        server = await asyncio.start_server(mute, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        client = loanscore.AsyncClient(f"127.0.0.1:{port}", ca=str(certs / "ca.pem"), retries=0, deadline=0.5,
                                       connect_timeout=2)
        with pytest.raises(loanscore.ConnectionFailedError, match="completed TLS but sent no WELCOME within 0.5 s"):
            await client.score([{"Income": 1.0}])
        await client.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and "Connection.open" in repr(t)]
        assert pending == []
        server.close()

    asyncio.run(main())


def test_a_connection_opened_after_its_wait_timed_out_is_closed(certs: Path) -> None:
    # The open outlived a 1 ms deadline and finished later: close() left its read loop pending
    # ("Task was destroyed but it is pending", the socket open until garbage collection).
    async def main() -> None:
        with FakeServer(certs, lambda s, seen: scored(seen)) as server:
            client = loanscore.AsyncClient(server.address, ca=str(certs / "ca.pem"), retries=0, deadline=0.001)
            with pytest.raises((loanscore.DeadlineExceededError, loanscore.ConnectionFailedError)):
                await client.score([{"Income": 1.0}])
            await asyncio.sleep(1.0)  # the open completes meanwhile
            await client.close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
            assert pending == []

    asyncio.run(main())


@pytest.mark.parametrize("deadline", [float("nan"), float("inf"), -1.0, 0.0])
def test_deadlines_that_are_not_finite_positive_seconds(certs: Path, deadline: float) -> None:
    # NaN made score() wait forever; infinity raised OverflowError from inside; -1 was sent.
    with pytest.raises(ValueError, match="deadline must be a finite number"):
        loanscore.Client("127.0.0.1:1", ca=str(certs / "ca.pem"), deadline=deadline)
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, \
            loanscore.Client(server.address, ca=str(certs / "ca.pem")) as client:
        started = time.monotonic()
        with pytest.raises(ValueError, match="deadline must be a finite number"):
            client.score([{"Income": 1.0}], deadline=deadline)
        assert time.monotonic() - started < 1


def test_hostile_applications_are_input_errors(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, \
            loanscore.Client(server.address, ca=str(certs / "ca.pem")) as client:
        # A lone surrogate: pandas raised UnicodeEncodeError building the frame.
        with pytest.raises(loanscore.InputError, match="cannot be encoded as UTF-8") as caught:
            client.score([{"Home": "rent"}, {"Home": "\udc80"}])
        assert (caught.value.field, caught.value.index) == ("Home", 1)
        with pytest.raises(loanscore.InputError, match="application id cannot be encoded"):
            client.score([{"id": "\udc80", "Home": "rent"}])
        # A non-mapping application: KeyError '0' from inside.
        with pytest.raises(loanscore.InputError, match="application 1 is a int") as caught:
            client.score([{"Home": "rent"}, 7])  # type: ignore[list-item]
        assert caught.value.index == 1
        # A duplicated column: AttributeError ('DataFrame' object has no attribute 'dtype').
        frame = pd.DataFrame([[1.0, "rent", 2.0]], columns=["Income", "Home", "Income"])
        with pytest.raises(loanscore.InputError, match="'Income' appears more than once"):
            client.score_frame(frame)
        # rows of the wrong shape or dtype: ids "[1]", or ValueError from int().
        frame = pd.DataFrame({"Income": [1.0, 2.0], "Home": ["rent", "owner"], "Seniority": [1.0, 2.0],
                              "Records": ["yes", "no"]})
        for rows in (np.ones((2, 1), dtype=np.int64), np.array(["a", "b"]), np.array([1])):
            with pytest.raises(loanscore.InputError, match="rows"):
                client.score_frame(frame, rows=rows)
        # An unhashable cell in a STRING field: TypeError from pd.factorize; now its text, like any cell.
        results = client.score([{"Home": {"a": 1}, "Income": 1.0}])
        assert isinstance(results[0], loanscore.Decision)
        assert server.seen[-1].decoded.columns[1] == ["{'a': 1}"]
