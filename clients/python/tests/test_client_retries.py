"""The client's pool, retries, deadlines and schema changes against a scripted server
(tests/fake_server.py): BUSY, QUOTA_EXCEEDED's hint, dropped connections, SCHEMA_MISMATCH
(re-WELCOME and lay out again, under both unknown-field policies), deadlines (sent and kept),
typed server errors with their request id, protocol version 2's per-application model version,
LZ4 above the threshold."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loanscore
from loanscore import _protocol as wire
from fake_server import FIELDS, FakeServer, Seen, error, scored

APPS: list[dict[str, object]] = [
    {"id": "a-1", "Seniority": 9.0, "Home": "rent", "Income": 130.5, "Records": False},
    {"id": "a-2", "Home": "owner", "Income": -5.0, "Records": True},
]


def client(server: FakeServer, certs: Path, **kw: object) -> loanscore.Client:
    return loanscore.Client(server.address, ca=str(certs / "ca.pem"), **kw)  # type: ignore[arg-type]


def test_columns_arrive_as_given(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs) as c:
        results = c.score(APPS)
        assert [r.id for r in results] == ["a-1", "a-2"]
        assert all(isinstance(r, loanscore.Decision) and r.reasons == (loanscore.Reason("R1", ""),) for r in results)
        decoded = server.seen[0].decoded
        assert decoded.ids == ["a-1", "a-2"]
        assert decoded.columns == [[9.0, None], ["rent", "owner"], [130.5, -5.0], [False, True]]
        assert server.seen[0].flags & wire.FLAG_DEADLINE and 0 < (decoded.deadline_us or 0) <= 10_000_000


def test_busy_is_retried_with_backoff(certs: Path) -> None:
    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        return error(seen, 0x0103, "at capacity") if len(server.seen) <= 2 else scored(seen)
    with FakeServer(certs, respond) as server, client(server, certs) as c:
        started = time.monotonic()
        assert isinstance(c.score(APPS)[0], loanscore.Decision)
        assert len(server.seen) == 3 and time.monotonic() - started >= 0.005 + 0.01


def test_busy_on_every_attempt_raises_busy_with_request_id(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: error(seen, 0x0103, "at capacity")) as server, \
            client(server, certs, retries=2) as c:
        with pytest.raises(loanscore.BusyError) as info:
            c.score(APPS)
        assert len(server.seen) == 3 and info.value.request_id == server.seen[-1].request_id
        assert "at capacity" in str(info.value)


def test_quota_waits_for_the_hint(certs: Path) -> None:
    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        return error(seen, 0x0108, "retry after 300 ms: over 100 applications/s") if len(server.seen) == 1 \
            else scored(seen)
    with FakeServer(certs, respond) as server, client(server, certs) as c:
        started = time.monotonic()
        c.score(APPS)
        assert time.monotonic() - started >= 0.3 and len(server.seen) == 2


def test_dropped_connection_is_retried_on_a_new_one(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: "drop" if len(s.seen) == 1 else scored(seen)) as server, \
            client(server, certs, connections=1) as c:
        assert isinstance(c.score(APPS)[1], loanscore.Decision)
        assert server.connections == 2


def test_internal_error_after_every_retry(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: error(seen, 0x0106, "boom")) as server, \
            client(server, certs, retries=1) as c:
        with pytest.raises(loanscore.InternalServerError) as info:
            c.score(APPS)
        assert info.value.code == 0x0106 and info.value.request_id == server.seen[-1].request_id
        assert len(server.seen) == 2


def test_server_deadline_exceeded_is_not_retried(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: error(seen, 0x0109, "deadline passed in the queue")) as server, \
            client(server, certs) as c:
        with pytest.raises(loanscore.ServerDeadlineExceededError) as info:
            c.score(APPS)
        assert len(server.seen) == 1 and info.value.request_id == server.seen[0].request_id


def test_client_deadline(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: "silent") as server, client(server, certs) as c:
        started = time.monotonic()
        with pytest.raises(loanscore.DeadlineExceededError) as info:
            c.score(APPS, deadline=0.4)
        assert 0.35 <= time.monotonic() - started < 2 and info.value.deadline == 0.4
        assert 0 < (server.seen[0].decoded.deadline_us or 0) <= 400_000


def test_without_deadline_flag(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs, send_deadline=False) as c:
        c.score(APPS)
        assert server.seen[0].flags & wire.FLAG_DEADLINE == 0 and server.seen[0].decoded.deadline_us is None


def test_schema_change_lays_the_batch_out_again(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, \
            client(server, certs, unknown_fields="ignore") as c:
        c.score(APPS)
        server.fields = (FIELDS[2], FIELDS[1], FIELDS[0])  # reordered, Records dropped
        results = c.score(APPS)
        assert all(isinstance(r, loanscore.Decision) for r in results)
        last = server.seen[-1].decoded
        assert last.columns == [[130.5, -5.0], ["rent", "owner"], [9.0, None]]
        assert c.welcome is not None and c.welcome.fields == server.fields


def test_schema_change_dropping_a_field_fails_under_reject(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs) as c:
        c.score(APPS)
        server.fields = FIELDS[:3]
        with pytest.raises(loanscore.UnknownFieldError) as info:
            c.score(APPS)
        assert info.value.field == "Records" and info.value.index == 0


def test_version_2_names_the_challenger(certs: Path) -> None:
    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        results: list[wire.Scored | wire.Invalid] = [
            wire.Scored(0.2, "low", "approve", 0.8, (), "m1"),
            wire.Scored(0.6, "high", "decline", 0.7, ("R9",), "m2-challenger", True)]
        payload = wire.encode_score_response(wire.ScoreResponse("m1", results))
        return [wire.encode_frame(wire.SCORE_RESPONSE, seen.request_id, payload)]
    with FakeServer(certs, respond) as server, client(server, certs) as c:
        first, second = c.score(APPS)
        assert isinstance(first, loanscore.Decision) and (first.model_version, first.role) == ("m1", "champion")
        assert isinstance(second, loanscore.Decision) and (second.model_version, second.role) == ("m2-challenger", "challenger")
        frame = c.score_frame(pd.DataFrame(APPS))
        assert list(frame["model_version"]) == ["m1", "m2-challenger"]


def test_invalid_application_names_field_and_index(certs: Path) -> None:
    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        results: list[wire.Scored | wire.Invalid] = [
            wire.Scored(0.2, "low", "approve", 0.8, (), "m1"),
            wire.Invalid(wire.INVALID_APPLICATION, "field 'Income': is below the minimum (value \"-5\"; expected >= 0)")]
        payload = wire.encode_score_response(wire.ScoreResponse("m1", results))
        return [wire.encode_frame(wire.SCORE_RESPONSE, seen.request_id, payload)]
    with FakeServer(certs, respond) as server, client(server, certs) as c:
        rejected = c.score(APPS)[1]
        assert isinstance(rejected, loanscore.Rejected)
        assert (rejected.id, rejected.index, rejected.field) == ("a-2", 1, "Income")
        with pytest.raises(loanscore.InvalidApplicationError) as info:
            c.score_frame(pd.DataFrame(APPS))
        assert (info.value.row, info.value.index, info.value.field) == (2, 1, "Income")
        assert list(info.value.rejects["row"]) == [2]  # type: ignore[index]


def test_large_batches_go_lz4_compressed(certs: Path) -> None:
    df = pd.DataFrame({"Seniority": np.arange(2000.0), "Home": ["rent", "owner"] * 1000,
                       "Income": np.full(2000, 100.0), "Records": [True] * 2000})
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs, batch_size=1000) as c:
        out = c.score_frame(df)
        assert len(out) == 2000 and list(out["id"][:3]) == ["1", "2", "3"]
        assert len(server.seen) == 2 and all(s.flags & wire.FLAG_LZ4 for s in server.seen)
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, \
            client(server, certs, batch_size=1000, compress_threshold=None) as c:
        c.score_frame(df)
        assert not any(s.flags & wire.FLAG_LZ4 for s in server.seen)


def test_async_client_pipelines_concurrent_calls(certs: Path) -> None:
    async def main(server: FakeServer) -> list[list[loanscore.Decision | loanscore.Rejected]]:
        async with loanscore.AsyncClient(server.address, ca=str(certs / "ca.pem"), connections=2) as c:
            return await asyncio.gather(*(c.score(APPS) for _ in range(20)))
    with FakeServer(certs, lambda s, seen: scored(seen)) as server:
        answers = asyncio.run(main(server))
        assert len(answers) == 20 and all(len(a) == 2 for a in answers)
        assert server.connections == 2 and len({s.request_id for s in server.seen}) > 1


def test_closed_client_refuses_calls(certs: Path) -> None:
    with FakeServer(certs, lambda s, seen: scored(seen)) as server:
        c = client(server, certs)
        c.close()
        c.close()
        with pytest.raises(loanscore.ConnectionClosedError):
            c.score(APPS)


def test_a_server_breaking_the_protocol_is_a_protocol_error(certs: Path) -> None:
    garbage = wire.HEADER.pack(0x4C4E5358, 1, wire.SCORE_RESPONSE, 0, 1, 0, 0)  # magic "LNSX"
    with FakeServer(certs, lambda s, seen: [garbage]) as server, client(server, certs) as c:
        with pytest.raises(loanscore.ProtocolError, match="bad magic") as info:
            c.score(APPS)
        assert info.value.code == wire.MALFORMED_FRAME and len(server.seen) == 1


def test_goodbye_drains_the_connection_and_the_next_call_reconnects(certs: Path) -> None:
    def respond(server: FakeServer, seen: Seen) -> list[bytes]:
        goodbye = wire.encode_frame(wire.GOODBYE, 0, wire.str16("draining for shutdown"))
        return [goodbye, *scored(seen)] if len(server.seen) == 1 else scored(seen)
    with FakeServer(certs, respond) as server, client(server, certs, connections=1) as c:
        assert isinstance(c.score(APPS)[0], loanscore.Decision)  # answered after the GOODBYE
        assert isinstance(c.score(APPS)[0], loanscore.Decision)
        assert server.connections == 2


def test_pandas_dtypes_travel_as_the_csv_cells_would(certs: Path) -> None:
    df = pd.DataFrame({
        "Seniority": pd.array([9, None, 3], dtype="Int64"),                  # nullable integers
        "Home": pd.Categorical(["rent", None, "owner"]),                      # categorical, with a missing
        "Income": pd.Series(["130.5", " 7 ", ""], dtype=object),              # numbers as text, blank = missing
        "Records": pd.Series([True, False, True]),                            # bool for a BOOL field
    }).set_axis([10, 20, 30])                                                 # an index that is not 0..n-1
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs) as c:
        out = c.score_frame(df, rows=np.array([5, 6, 7]))
        assert list(out["id"]) == ["5", "6", "7"]
        assert server.seen[0].decoded.columns == [[9.0, None, 3.0], ["rent", None, "owner"],
                                                   [130.5, 7.0, None], [True, False, True]]
        df2 = df.assign(Home=[1.0, np.nan, 2.5])  # a category field read as floats: "1", "2.5"
        c.score_frame(df2)
        assert server.seen[-1].decoded.columns[1] == ["1", None, "2.5"]
        kept = c.score_frame(df.assign(Income=["12", "nan", "twelve"]), rejects="keep")
        assert list(kept.rejects["row"]) == [2, 3]
        assert list(kept.rejects["rejection_reasons"]) == [
            "field 'Income': is not a finite number (write missing values as an empty cell) (value \"nan\"; "
            "expected a number)",
            "field 'Income': is not a number (value \"twelve\"; expected a number)"]


def test_a_batch_above_the_frame_limit_is_split(certs: Path) -> None:
    df = pd.DataFrame({"Seniority": np.arange(400.0), "Home": [f"home-{i:05d}-" + "x" * 200 for i in range(400)],
                       "Income": np.full(400, 1.0), "Records": [True] * 400})
    limits = wire.Limits(max_frame_payload=40_000, max_uncompressed_payload=40_000, max_batch=4096, max_in_flight=64)
    server = FakeServer(certs, lambda s, seen: scored(seen), limits=limits)
    with server, client(server, certs, batch_size=400, compress_threshold=None) as c:
        out = c.score_frame(df)
        assert list(out["id"]) == [str(i) for i in range(1, 401)]
        assert len(server.seen) > 2 and sum(len(s.decoded.ids) for s in server.seen) == 400
        with pytest.raises(loanscore.InputError, match="alone encodes") as info:
            c.score([{"Home": "x" * 50_000}])
        assert info.value.index == 0


def test_one_client_shared_by_threads(certs: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor
    with FakeServer(certs, lambda s, seen: scored(seen)) as server, client(server, certs) as c:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: c.score([{**APPS[0], "id": f"t{i}"}]), range(40)))
        assert [a[0].id for a in answers] == [f"t{i}" for i in range(40)]
        assert server.connections == 2 and len(server.seen) == 40
