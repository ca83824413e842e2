"""loanscore-stream against a real Kafka-protocol broker (tansu) and a real loanscored on
loopback: the formats of Protocol/STREAM.md, dead letters, commits, SIGTERM, and the errors
of issue 17 (a broker down at start, a topic that does not exist, a message over the size
limit, an appliance refusing the TLS handshake), each with no application lost."""
import json
import re
import signal
import socket
import time
import urllib.request

import pytest

import streamkit as sk

TOPICS = ("applications", "decisions", "dead-letters")


@pytest.fixture
def broker():
    b = sk.Broker()
    b.create_topics(*TOPICS)
    yield b
    b.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def appliance(certs, tmp_path_factory):
    a = sk.Appliance(certs, tmp_path_factory.mktemp("appliance"))
    yield a
    a.stop()


def test_decisions_dead_letters_metrics_and_sigterm(broker, appliance, certs, tmp_path):
    good = list(sk.applications(300, prefix="ok"))
    bad = [
        (b"bad-json", b"{not json"),
        (b"bad-type", json.dumps({"id": "bad-type", "duration_in_month": "twelve"}).encode()),
        (b"bad-range", json.dumps({**sk.holdout_rows()[0], "id": "bad-range", "duration_in_month": 9999}).encode()),
        (b"bad-key", json.dumps({**sk.holdout_rows()[0], "id": "other"}).encode()),
        (b"bad-field", json.dumps({**sk.holdout_rows()[0], "id": "bad-field", "salary": 1}).encode()),
        (None, b"[1, 2]"),
    ]
    broker.produce(good[:150] + bad + good[150:], TOPICS[0])
    metrics_port = sk.free_port()
    bridge = sk.start_bridge(sk.bridge_args(broker, appliance, certs, extra=["--metrics", f"127.0.0.1:{metrics_port}"]), tmp_path)
    try:
        decisions = broker.read_all(TOPICS[1], expect=300, timeout=90)
        letters = broker.read_all(TOPICS[2], expect=len(bad), timeout=30)
        assert len(decisions) == 300, bridge.log[-3000:]
        by_id = sk.decisions_by_id(decisions)
        assert set(by_id) == {f"ok-{i}" for i in range(300)}
        first = by_id["ok-0"][0]
        assert list(first) == ["id", "pd", "risk_level", "decision", "confidence", "reasons", "model_version", "source"]
        assert 0 <= first["pd"] <= 1 and first["decision"] in ("approve", "review", "decline")
        assert first["source"]["topic"] == TOPICS[0] and first["source"]["offset"] >= 0
        for key, value, _, _ in decisions:
            assert key.decode() == json.loads(value)["id"]

        letters = {(k.decode() if k else None): json.loads(v) for k, v, _, _ in letters}
        assert set(letters) == {"bad-json", "bad-type", "bad-range", "bad-key", "bad-field", None}
        assert letters["bad-json"]["error"]["kind"] == "invalid_json" and "line 1, column 2" in letters["bad-json"]["error"]["message"]
        assert letters["bad-type"]["error"] | {"message": None} == {
            "kind": "wrong_type", "message": None, "field": "duration_in_month", "value": "twelve", "expected": "a JSON number"}
        rng = letters["bad-range"]
        assert rng["error"]["kind"] == "invalid_application" and rng["error"]["field"] == "duration_in_month"
        assert rng["error"]["value"] == "9999" and "[1, 120]" in rng["error"]["expected"] and rng["model_version"]
        assert letters["bad-key"]["error"]["kind"] == "key_mismatch"
        assert letters["bad-field"]["error"] | {"message": None, "expected": None} == {
            "kind": "unknown_field", "message": None, "field": "salary", "value": "1", "expected": None}
        assert letters[None]["error"]["kind"] == "not_an_object"
        for letter in letters.values():
            assert letter["source"]["topic"] == TOPICS[0] and letter["source"]["offset"] >= 0
        assert letters["bad-json"]["original"] == "{not json"

        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        assert "loanscore_stream_applications_in_total 306" in text
        assert "loanscore_stream_decisions_out_total 300" in text
        assert "loanscore_stream_dead_letters_total 6" in text
        assert 'loanscore_stream_consumer_lag{topic="applications",partition="0"}' in text
        assert "loanscore_stream_batch_duration_seconds_count" in text
    finally:
        rc = bridge.stop(signal.SIGTERM)
    assert rc == 0, bridge.log[-3000:]
    # Every input offset is committed: the high watermark of each partition.
    ends = {}
    for _, _, p, o in broker.read_all(TOPICS[0], expect=306, timeout=30):
        ends[p] = max(ends.get(p, 0), o + 1)
    assert broker.committed("bridge", TOPICS[0]) == ends


def test_topic_that_does_not_exist(broker, appliance, certs, tmp_path):
    bridge = sk.start_bridge(sk.bridge_args(broker, appliance, certs, topics=("no-such-topic", TOPICS[1], TOPICS[2])), tmp_path)
    assert bridge.proc.wait(60) == 2
    assert "--input-topic 'no-such-topic': the topic does not exist on the brokers" in bridge.log


def test_broker_down_at_start_gives_up_after_the_deadline(appliance, certs, tmp_path):
    port = sk.free_port()  # nothing listens there
    fake = type("B", (), {"address": f"127.0.0.1:{port}"})()
    started = time.time()
    bridge = sk.start_bridge(sk.bridge_args(fake, appliance, certs, extra=["--broker-wait-seconds", "4"]), tmp_path)
    assert bridge.proc.wait(60) == 4
    elapsed = time.time() - started
    assert f"cannot reach the Kafka brokers 127.0.0.1:{port} (attempt 1)" in bridge.log
    assert "retrying in 1.0 seconds" in bridge.log
    assert f"cannot reach the Kafka brokers 127.0.0.1:{port} within 4.0 s" in bridge.log
    assert elapsed < 30


def test_broker_down_at_start_then_up_loses_nothing(appliance, certs, tmp_path):
    port = sk.free_port()
    fake = type("B", (), {"address": f"127.0.0.1:{port}"})()
    bridge = sk.start_bridge(sk.bridge_args(fake, appliance, certs), tmp_path)
    try:
        assert bridge.wait_for("cannot reach the Kafka brokers .*attempt 1", 30), bridge.log
        broker = sk.Broker(port=port)
        try:
            broker.create_topics(*TOPICS)
            broker.produce(list(sk.applications(50, prefix="late")), TOPICS[0])
            decisions = broker.read_all(TOPICS[1], expect=50, timeout=90)
            assert set(sk.decisions_by_id(decisions)) == {f"late-{i}" for i in range(50)}, bridge.log[-3000:]
        finally:
            assert bridge.stop() == 0, bridge.log[-3000:]
            broker.stop(signal.SIGKILL)
    finally:
        bridge.stop(signal.SIGKILL)


def test_message_over_the_size_limit(broker, appliance, certs, tmp_path):
    big = json.dumps({"id": "big", "padding": "x" * 50_000}).encode()
    broker.produce([(b"before", json.dumps({**sk.holdout_rows()[0], "id": "before"}).encode()), (b"big", big),
                    (b"after", json.dumps({**sk.holdout_rows()[1], "id": "after"}).encode())], TOPICS[0])
    bridge = sk.start_bridge(sk.bridge_args(broker, appliance, certs), tmp_path, config={"max_message_bytes": 10_000})
    try:
        letters = broker.read_all(TOPICS[2], expect=1, timeout=60)
        decisions = broker.read_all(TOPICS[1], expect=2, timeout=60)
    finally:
        assert bridge.stop() == 0
    assert set(sk.decisions_by_id(decisions)) == {"before", "after"}
    (key, value, _, _), = letters
    letter = json.loads(value)
    assert key == b"big" and letter["error"]["kind"] == "message_too_large"
    assert letter["error"]["value"] == f"{len(big)} bytes" and "at most 10000 bytes" in letter["error"]["expected"]
    assert letter["original_bytes"] == len(big) and letter["original_truncated"] is True
    assert len(letter["original"]) == 4096


def test_appliance_refusing_the_tls_handshake(broker, appliance, certs, tmp_path):
    broker.produce(list(sk.applications(20, prefix="tls")), TOPICS[0])
    # The appliance requires a client certificate (--client-ca); this bridge has none.
    refused = sk.start_bridge(sk.bridge_args(broker, appliance, certs, client_cert=False), tmp_path)
    assert refused.proc.wait(60) == 4, refused.log[-3000:]
    assert "TLS" in refused.log and "nothing was consumed" in refused.log
    assert all(o < 0 for o in broker.committed("bridge", TOPICS[0]).values())
    # The same applications, with the certificate: none was lost.
    good = sk.start_bridge(sk.bridge_args(broker, appliance, certs), tmp_path)
    try:
        decisions = broker.read_all(TOPICS[1], expect=20, timeout=60)
    finally:
        assert good.stop() == 0
    assert set(sk.decisions_by_id(decisions)) == {f"tls-{i}" for i in range(20)}


def test_busy_appliance_pauses_consumption_and_loses_nothing(broker, certs, tmp_path):
    # One worker and a 1 ms queue-delay limit: batches queued behind another are answered BUSY.
    limits = tmp_path / "limits.json"
    limits.write_text(json.dumps({"workers": 1, "limits": {"max_queue_delay_ms": 1}}))
    busy = sk.Appliance(certs, tmp_path, extra=["--config", str(limits)])
    count = 3000
    broker.produce(list(sk.applications(count, prefix="busy")), TOPICS[0])
    metrics_port = sk.free_port()
    bridge = sk.start_bridge(sk.bridge_args(broker, busy, certs, batch=128, linger=5,
                                            extra=["--metrics", f"127.0.0.1:{metrics_port}"]), tmp_path,
                             config={"max_in_flight_batches": 8})
    try:
        decisions = broker.read_all(TOPICS[1], expect=count, timeout=180)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    finally:
        rc = bridge.stop()
        busy.stop()
    assert rc == 0, bridge.log[-3000:]
    assert set(sk.decisions_by_id(decisions)) == {f"busy-{i}" for i in range(count)}
    busy_total = int(float(re.search(r"^loanscore_stream_busy_total (\S+)$", text, re.M).group(1)))
    assert busy_total > 0, "the appliance never answered BUSY: the test did not exercise back-pressure"
    assert "back-pressure: the appliance is BUSY or unreachable; consumption paused" in bridge.log


def test_rebalance_commits_what_is_done_before_giving_partitions_up(broker, appliance, certs, tmp_path):
    count = 6000
    broker.produce(list(sk.applications(count, prefix="rb")), TOPICS[0])
    args = sk.bridge_args(broker, appliance, certs, batch=64, linger=5)
    first = sk.start_bridge(args, tmp_path)
    second = None
    try:
        assert first.wait_for(r"assigned applications\[0\], applications\[1\], applications\[2\], applications\[3\]", 60), first.log
        time.sleep(1)  # some work done and in flight
        second = sk.start_bridge(args, tmp_path)  # same group: the partitions are split between the two
        assert first.wait_for(r"revoking applications", 60), first.log[-3000:]
        assert second.wait_for(r"assigned applications", 60), second.log[-3000:]
        decisions = broker.read_all(TOPICS[1], expect=count, timeout=180)
    finally:
        rc_first = first.stop()
        rc_second = second.stop() if second else None
    assert rc_first == 0 and rc_second == 0, first.log[-2000:] + second.log[-2000:]
    by_id = {}
    for key, value, _, _ in decisions:
        by_id.setdefault(key.decode(), []).append(json.loads(value))
    missing = {f"rb-{i}" for i in range(count)} - set(by_id)
    assert not missing, f"{len(missing)} without a decision, e.g. {sorted(missing)[:5]}\n--- first bridge:\n{first.log[-4000:]}\n--- second bridge:\n{second.log[-4000:]}"
    assert set(by_id) == {f"rb-{i}" for i in range(count)}
    assert all(d == ds[0] for ds in by_id.values() for d in ds)
    # The first bridge committed what it had done before the partitions went (sync commit logged).
    # A partition with nothing committed yet (for instance while the appliance answered BUSY) shows "@none".
    gave_up = re.search(r"gave up ((applications\[\d\]@(\d+|none))(, )?)+ \(the committed offsets", first.log)
    assert gave_up, first.log[-3000:]
    assert re.search(r"applications\[\d\]@\d+", gave_up.group(0)), gave_up.group(0)


def test_rebalance_while_paused_by_back_pressure_resumes_the_new_assignment(broker, certs, tmp_path):
    """A rebalance while back-pressure holds consumption paused, and the appliance answering
    again before the new assignment arrives: librdkafka keeps a partition's pause flag across
    revocation and reassignment (confluent-kafka-go#193), so the bridge must set the state of
    the partitions it gets back, or they are never consumed again. The first bridge's appliance
    is stopped (SIGSTOP) to hold it paused, and continued when the rebalance starts: the first
    bridge finishes its revoked work and resumes before tansu, which holds the group's join for
    half the 6 s session, gives it its new partitions."""
    appliance = sk.Appliance(certs, tmp_path)
    other = sk.Appliance(certs, tmp_path)  # the second bridge's: it must connect while the first's is stopped
    count = 4000
    broker.produce(list(sk.applications(count, prefix="rp")), TOPICS[0])
    args = sk.bridge_args(broker, appliance, certs, batch=64, linger=5)
    first = sk.start_bridge(args, tmp_path)
    second = None
    try:
        assert first.wait_for(r"assigned applications\[0\], applications\[1\], applications\[2\], applications\[3\]", 60), first.log
        appliance.proc.send_signal(signal.SIGSTOP)
        # Paused first because the applications in flight reach the high-water mark, then
        # (after the SDK's deadline and retries) because no appliance answers.
        assert first.wait_for(r"pausing consumption", 90), first.log[-3000:]
        second = sk.start_bridge(sk.bridge_args(broker, other, certs, batch=64, linger=5), tmp_path)
        assert first.wait_for(r"revoking applications", 90), first.log[-3000:] + "\n--- second bridge:\n" + second.log[-3000:]
        appliance.proc.send_signal(signal.SIGCONT)
        assert second.wait_for(r"assigned applications", 60), second.log[-3000:]
        decisions = broker.read_all(TOPICS[1], expect=count, timeout=120)
    finally:
        appliance.proc.send_signal(signal.SIGCONT)
        rc_first = first.stop()
        rc_second = second.stop() if second else None
        appliance.stop()
        other.stop()
    assert rc_first == 0 and rc_second == 0, first.log[-2000:] + (second.log[-2000:] if second else "")
    missing = {f"rp-{i}" for i in range(count)} - set(sk.decisions_by_id(decisions))
    assert not missing, f"{len(missing)} without a decision\n--- first bridge:\n{first.log[-4000:]}\n--- second bridge:\n{second.log[-4000:]}"


def test_one_of_two_appliances_killed_loses_nothing(broker, certs, tmp_path):
    """The bridge given two appliances (--server twice: one SDK client over both); one is
    SIGKILLed mid-stream. The SDK marks it down and sends its unanswered batches to the other:
    every application gets its decision, and duplicates (a batch scored just before the kill,
    its answer lost) equal their first."""
    survivor = sk.Appliance(certs, tmp_path)
    doomed = sk.Appliance(certs, tmp_path)
    count = 6000
    broker.produce(list(sk.applications(count, prefix="two")), TOPICS[0])
    args = sk.bridge_args(broker, survivor, certs, batch=64, linger=5, extra=["--server", doomed.address])
    bridge = sk.start_bridge(args, tmp_path)
    try:
        assert bridge.wait_for(r"connected to appliance\(s\)", 60), bridge.log[-3000:]
        time.sleep(1)
        doomed.stop(signal.SIGKILL)
        # It had scored batches before the kill: its audit log holds decisions.
        audited = sum(f.stat().st_size for f in (tmp_path / f"audit-{doomed.port}").rglob("*") if f.is_file())
        decisions = broker.read_all(TOPICS[1], expect=count, timeout=180)
    finally:
        rc = bridge.stop()
        survivor.stop()
    assert rc == 0, bridge.log[-3000:]
    by_id = sk.decisions_by_id(decisions)
    assert set(by_id) == {f"two-{i}" for i in range(count)}, bridge.log[-3000:]
    for key, copies in by_id.items():
        assert all((c["pd"], c["model_version"], c["decision"]) == (copies[0]["pd"], copies[0]["model_version"], copies[0]["decision"])
                   for c in copies), key
    assert audited > 0, "the killed appliance had scored nothing: the test did not exercise failover"
    assert "endpoint down" in bridge.log and doomed.address in bridge.log, bridge.log[-3000:]
    print(f"\nbridge log after the kill:\n" + "".join(l for l in bridge.log.splitlines(True) if doomed.address in l)[:2000])
