"""The crash test of issue 17: 100,000 applications, the bridge SIGKILLed twice mid-stream and
restarted; at the end every application id has a decision or a dead letter, none is missing,
and every duplicate decision equals its first (so consumers can de-duplicate by key).

STREAM_KILL_APPLICATIONS overrides the count (default 100,000)."""
import json
import os
import signal
import time

import pytest

import streamkit as sk

TOPICS = ("applications", "decisions", "dead-letters")
COUNT = int(os.environ.get("STREAM_KILL_APPLICATIONS", "100000"))
INVALID_EVERY = 9973  # these offsets' messages are not JSON: dead letters, not decisions


def produced(broker, topic):
    ck = sk.confluent()
    consumer = ck.Consumer({"bootstrap.servers": broker.address, "group.id": "watermarks"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    total = sum(consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)[1] for p in parts)
    consumer.close()
    return total


def wait_for_output(broker, at_least, bridge, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if produced(broker, TOPICS[1]) + produced(broker, TOPICS[2]) >= at_least:
            return
        if bridge.proc.poll() is not None:
            pytest.fail(f"the bridge exited with {bridge.proc.returncode}:\n" + bridge.log[-3000:])
        time.sleep(0.2)
    pytest.fail(f"fewer than {at_least} outputs after {timeout} s:\n" + bridge.log[-3000:])


def test_sigkill_twice_loses_nothing(certs, tmp_path):
    started = time.time()
    broker = sk.Broker()
    appliance = None
    bridges = []
    try:
        broker.create_topics(*TOPICS)
        limits = tmp_path / "limits.json"
        limits.write_text(json.dumps({"limits": {"max_queue_delay_ms": 1000}}))
        appliance = sk.Appliance(certs, tmp_path, extra=["--config", str(limits)])
        messages = []
        for i, (key, value) in enumerate(sk.applications(COUNT)):
            messages.append((key, b"{broken json" if i % INVALID_EVERY == 0 else value))
        broker.produce(messages, TOPICS[0])
        produced_at = time.time()

        args = sk.bridge_args(broker, appliance, certs, batch=256, linger=20)
        for fraction in (0.25, 0.6):
            bridge = sk.start_bridge(args, tmp_path)
            bridges.append(bridge)
            wait_for_output(broker, int(COUNT * fraction), bridge, timeout=600)
            bridge.proc.send_signal(signal.SIGKILL)
            bridge.proc.wait()
        bridge = sk.start_bridge(args, tmp_path)
        bridges.append(bridge)
        # Until the group's committed offsets reach the end of every partition.
        ends = {}
        for _, _, p, o in broker.read_all(TOPICS[0], expect=COUNT, timeout=120):
            ends[p] = max(ends.get(p, 0), o + 1)
        deadline = time.time() + 600
        while broker.committed("bridge", TOPICS[0]) != ends:
            assert time.time() < deadline, bridge.log[-3000:]
            assert bridge.proc.poll() is None, bridge.log[-3000:]
            time.sleep(0.5)
        finished_at = time.time()
        assert bridge.stop() == 0, bridge.log[-3000:]

        decisions = broker.read_all(TOPICS[1], expect=COUNT - COUNT // INVALID_EVERY - 1, timeout=180)
        letters = broker.read_all(TOPICS[2], expect=COUNT // INVALID_EVERY + 1, timeout=60)
    finally:
        for b in bridges:
            b.stop(signal.SIGKILL)
        if appliance:
            appliance.stop()
        broker.stop(signal.SIGKILL)

    by_id = {}
    duplicates = 0
    for key, value, _, _ in decisions:
        seen = by_id.setdefault(key.decode(), [])
        seen.append(value)
        if len(seen) > 1:
            duplicates += 1
            assert json.loads(value) == json.loads(seen[0]), f"duplicate of {key!r} differs: {value!r} vs {seen[0]!r}"
    dead = {k.decode() for k, _, _, _ in letters}
    expected_dead = {f"app-{i}" for i in range(0, COUNT, INVALID_EVERY)}
    assert dead == expected_dead
    missing = [f"app-{i}" for i in range(COUNT) if f"app-{i}" not in by_id and f"app-{i}" not in dead]
    assert not missing, f"{len(missing)} application(s) have neither a decision nor a dead letter: {missing[:10]}"
    assert not (set(by_id) & dead)
    print(f"\nkill test: {COUNT} applications, {len(by_id)} decided ({duplicates} duplicate decisions, "
          f"each equal to its first), {len(dead)} dead letters, none missing; bridge SIGKILLed twice; "
          f"{finished_at - produced_at:.1f} s from the first start to everything committed "
          f"({COUNT / (finished_at - produced_at):.0f} applications/s with two crashes and restarts); "
          f"{time.time() - started:.1f} s in all")
