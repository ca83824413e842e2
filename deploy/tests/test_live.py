"""The rules and the dashboard against a live loanscored.

1. Completeness: every metric name the rules or the dashboard select exists in a live
   /metrics scrape (after traffic, an ERROR, a BUSY answer, a reload and an admin error, so
   that counters created on first use exist too).
2. End to end: Prometheus on loopback scrapes a live loanscored every second with the
   shipped rules; ordinary applications must not raise the drift alert, applications with
   Income × 3 must, within 90 s.
"""
import csv
import json
import subprocess
import time
import urllib.parse

import pytest
import yaml

import metricnames as mn
from conftest import REPO, Server, free_port, http, tool

import reference_client as rc  # noqa: E402  (Protocol/, on the path through conftest)


def holdout(bundle):
    return bundle / "validation" / "holdout.csv"


def shifted_copy(src, dst, factor=3.0):
    """The holdout with Income multiplied by `factor` (missing cells and sentinels kept)."""
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r["Income"] not in ("", "99999999"):
            r["Income"] = repr(float(r["Income"]) * factor)
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst


def applications(conn, path, n):
    schema = json.loads((REPO / "Data/credit_data.schema.json").read_text())
    labels = {f["name"]: set(f["true_labels"]) for f in schema["fields"] if f["type"] == "boolean"}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    return [rc.application_from_row(r, conn.fields, labels) for r in rows]


# ---------------------------------------------------------------- 1. completeness

@pytest.fixture(scope="module")
def busy_server(bundle, certs, tmp_path_factory):
    # One request in flight per connection: a pipelined second request is answered BUSY.
    s = Server(bundle, certs, tmp_path_factory.mktemp("live"), limits={"max_in_flight_per_connection": 1})
    yield s
    s.stop()


def provoke_every_counter(server, bundle, tmp_path):
    """Traffic and the events whose counters exist only once they happened."""
    server.score(holdout(bundle), tmp_path / "scored.csv")
    conn = server.connect()
    try:
        # BUSY: ten requests pipelined on a connection that may have one in flight (measured:
        # most of them are answered BUSY). Not asserted: a server that declares the family
        # from start-up passes the check below either way, one that does not fails it.
        apps = applications(conn, holdout(bundle), 256)
        ids = [str(i) for i in range(len(apps))]
        for rid in [conn.send_score(apps, ids) for _ in range(10)]:
            try:
                conn.read_response(rid)
            except rc.ProtocolError as e:
                assert e.code == rc.CODES["BUSY"], e
        # An invalid application (Age below the schema's range) is answered, not scored.
        bad = dict(apps[0], Age=5.0)
        conn.read_response(conn.send_score([bad], ["bad"]))
        # An anomaly: Income far above the training maximum (959), within the schema's range; scored.
        conn.read_response(conn.send_score([dict(apps[0], Income=500000.0)], ["rich"]))
    finally:
        conn.close()
    # An ERROR frame: SCORE_REQUEST before HELLO is refused HANDSHAKE_REQUIRED.
    sock = rc.tls_socket("127.0.0.1", server.port, str(server.certs / "ca.pem"), str(server.certs / "client.pem"),
                         str(server.certs / "client.key"), timeout=10)
    sock.sendall(rc.encode_frame(rc.SCORE_REQUEST, 1, b""))
    msg_type, _, _ = rc.read_frame(sock)
    assert msg_type == rc.ERROR
    sock.close()
    # A reload (same bundle) and an admin error.
    status, body = http(f"{server.admin_url}/reload", data=b"")
    assert status == 200, body
    assert http(f"{server.admin_url}/no-such-page")[0] == 404


def test_every_metric_the_rules_and_dashboard_use_exists_in_a_live_scrape(busy_server, bundle, tmp_path):
    provoke_every_counter(busy_server, bundle, tmp_path)
    text = busy_server.metrics()
    (tmp_path / "metrics.txt").write_text(text)
    samples, types = mn.parse_exposition(text)
    recording = mn.recording_names()
    missing = {}
    for name, where in sorted(mn.used_names().items()):
        if name in recording or name in mn.PROMETHEUS_SERIES:
            continue
        if name in samples or name in types or mn.family(name, types) in types:
            continue
        missing[name] = where
    assert not missing, ("metric names used by deploy/ but absent from a live /metrics "
                         f"({len(missing)}): {sorted(missing)}\n" + json.dumps(missing, indent=1))


# ---------------------------------------------------------------- 2. end to end with Prometheus

# The shipped `for:` durations (15 minutes for drift) would make this test take a quarter of an
# hour; a temporary copy of the rules shortens every `for:` to FOR, and keeps every expression,
# threshold, label and annotation as shipped. The durations themselves are checked by the
# promtool unit tests (loanscore-rules.test.yml).
FOR = "3s"
DRIFT_ALERTS = {"LoanScoreDriftModerate", "LoanScoreDriftSignificant"}


class Prometheus:
    def __init__(self, workdir, target):
        rules = mn.load_yaml(mn.RULES)
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = FOR
        (workdir / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        (workdir / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [{"job_name": "loanscore", "static_configs": [{"targets": [target]}]}],
        }))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "prometheus.log", "w")
        self.log_path = workdir / "prometheus.log"
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=self.log)
        self.wait(lambda: http(f"{self.url}/-/ready", timeout=2)[0] == 200, 30, "Prometheus to be ready")

    def api(self, path, **params):
        query = urllib.parse.urlencode(params)
        status, body = http(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""))
        assert status == 200, body
        reply = json.loads(body)
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self):
        return self.api("alerts")["alerts"]

    def wait(self, predicate, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited ({self.proc.returncode}):\n" + self.log_path.read_text()[-3000:])
            try:
                if predicate():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"timed out after {timeout} s waiting for {what}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def e2e(bundle, certs, tmp_path_factory):
    server = Server(bundle, certs, tmp_path_factory.mktemp("e2e-server"))
    prometheus = None
    try:
        prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{server.admin_port}")
        yield server, prometheus
    finally:
        if prometheus:
            prometheus.stop()
        server.stop()


def drift_alerts(prometheus):
    return [a for a in prometheus.alerts() if a["labels"]["alertname"] in DRIFT_ALERTS]


def test_prometheus_scrapes_loanscored_and_loads_the_shipped_rules(e2e):
    server, prometheus = e2e

    def target_up():
        targets = prometheus.api("targets")["activeTargets"]
        return len(targets) == 1 and targets[0]["health"] == "up"
    prometheus.wait(target_up, 30, "the loanscored target to be up")
    shipped = mn.rules()

    def all_evaluated():
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        return len(rules) == len(shipped) and all(r["health"] == "ok" for r in rules)
    prometheus.wait(all_evaluated, 30, "every shipped rule to be evaluated without error")
    assert prometheus.query('up{job="loanscore"}')[0]["value"][1] == "1"


def test_ordinary_applications_raise_no_drift_alert(e2e, bundle, tmp_path):
    server, prometheus = e2e
    scored = server.score(holdout(bundle), tmp_path / "ordinary.csv")["rows_scored"]
    assert scored >= 500  # the drift rules ignore windows of fewer applications

    def seen():
        result = prometheus.query('sum(loanscore_applications_total{outcome="scored"})')
        return result and float(result[0]["value"][1]) >= scored
    # Prometheus has scraped the traffic, and the rules have been evaluated on it for longer
    # than the shortened `for:`.
    prometheus.wait(seen, 30, f"Prometheus to see the {scored} ordinary applications")
    time.sleep(3 * 1 + 3 + 2)  # a few scrapes and evaluations, the shortened `for:`, and slack
    psi = {r["metric"].get("field"): float(r["value"][1]) for r in prometheus.query("loanscore_drift_psi")}
    print("PSI after the ordinary applications:", json.dumps(psi, sort_keys=True))
    assert drift_alerts(prometheus) == [], f"drift alert before any shift (PSI {psi})"


def test_income_times_three_raises_the_drift_alert(e2e, bundle, tmp_path):
    server, prometheus = e2e
    if not prometheus.query("loanscore_drift_psi"):
        pytest.fail("Prometheus scrapes no loanscore_drift_psi from this loanscored: the server needs drift "
                    "gauges (issue 14 part 2) and the bundle reference bins (reference.json, part 1)")
    shifted = shifted_copy(holdout(bundle), tmp_path / "shifted.csv")
    deadline, firing = time.time() + 90, []
    while time.time() < deadline and not firing:
        server.score(shifted, tmp_path / "shifted-out.csv")  # traffic keeps coming, as in production
        time.sleep(2)
        firing = [a for a in drift_alerts(prometheus) if a["state"] == "firing"]
    psi = {r["metric"].get("field"): float(r["value"][1]) for r in prometheus.query("loanscore_drift_psi")}
    print("PSI after the shift:", json.dumps(psi, sort_keys=True))
    assert firing, f"no drift alert firing within 90 s (PSI {psi}; alerts {prometheus.alerts()})"
    fields = {a["labels"]["field"] for a in firing}
    assert "Income" in fields, fields
    income = next(a for a in firing if a["labels"]["field"] == "Income")
    assert income["labels"]["severity"] in {"warning", "critical"} and income["labels"]["model_version"]
    assert float(income["value"]) >= 0.1
