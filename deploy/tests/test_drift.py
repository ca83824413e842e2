"""Drift in the server, end to end: the admin port's /drift and the drift gauges of a live
loanscored against `loanscore drift` on the same applications (byte for byte), the window
bounds, anomaly counts, a same-version reload, and every "drift is unavailable" answer.

Binaries and bundle: see conftest.py.
"""
import csv
import json
import re
import subprocess

import pytest

from conftest import REPO, Server, binary, http


def loanscore(*args, check=True):
    """Runs the `loanscore` CLI; returns the finished process."""
    p = subprocess.run([str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), *args], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def shifted(source, target, field, factor):
    """Copies a CSV with one numeric field multiplied by `factor` (empty cells stay empty)."""
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row[field] != "":
            row[field] = repr(float(row[field]) * factor)
    with open(target, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def psi(report, field):
    """The PSI of one field in a /drift document."""
    return next(f["psi"] for f in report["fields"] if f["field"] == field)


def sample(metrics_text, name, **labels):
    """The value of one series in a /metrics text, or None."""
    for line in metrics_text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def server(bundle, certs, tmp_path):
    s = Server(bundle, certs, tmp_path)
    yield s
    s.stop()


def test_drift_before_traffic_is_409_and_gauges_are_absent(server, bundle):
    status, body = http(f"{server.admin_url}/drift")
    assert status == 409, body
    answer = json.loads(body)
    assert answer["code"] == "no_traffic" and "drift needs live traffic" in answer["error"]
    text = server.metrics()
    assert "loanscore_drift_psi{" not in text
    assert sample(text, "loanscore_drift_window_applications") == 0
    reference = json.loads((bundle / "reference.json").read_text())
    assert sample(text, "loanscore_reference_approval_rate") == pytest.approx(reference["approval_rate"], abs=1e-12)


def test_served_drift_equals_the_cli_on_the_same_applications_and_shift_is_seen(server, bundle, tmp_path):
    holdout = bundle / "validation" / "holdout.csv"
    server.score(holdout, tmp_path / "decisions.csv")
    status, body = http(f"{server.admin_url}/drift")
    assert status == 200, body
    offline = loanscore("drift", "--bundle", str(bundle), "--input", str(holdout), "--json").stdout
    # Same applications, same code: the same document, byte for byte.
    assert json.loads(body) == json.loads(offline)
    assert body.strip() == offline.strip()
    report = json.loads(body)
    assert report["applications"] == sum(1 for _ in open(holdout)) - 1
    assert [f["field"] for f in report["fields"]][-1] == "pd"
    assert all(f["band"] == "stable" for f in report["fields"]), [(f["field"], f["psi"]) for f in report["fields"]]
    text = server.metrics()
    assert sample(text, "loanscore_drift_psi", field="pd") == pytest.approx(psi(report, "pd"), abs=1e-12)
    assert sample(text, "loanscore_drift_psi", field="Income") == pytest.approx(psi(report, "Income"), abs=1e-12)
    before = sample(text, "loanscore_anomalies_total", field="Income", kind="out_of_range") or 0

    # The same applicants earning three times as much: Income drifts, and the richest are out of range.
    server.score(shifted(holdout, tmp_path / "shifted.csv", "Income", 3), tmp_path / "decisions2.csv")
    report = json.loads(http(f"{server.admin_url}/drift")[1])
    income = next(f for f in report["fields"] if f["field"] == "Income")
    assert income["band"] in ("moderate", "significant") and income["psi"] >= 0.1, income["psi"]
    after = sample(server.metrics(), "loanscore_anomalies_total", field="Income", kind="out_of_range")
    assert after > before
    offline_flags = loanscore("score", "--bundle", str(bundle), "--input", str(tmp_path / "shifted.csv"),
                              "--output", str(tmp_path / "offline.csv")).returncode == 0
    assert offline_flags
    with open(tmp_path / "offline.csv", newline="") as f:
        flagged = sum("out_of_range:Income" in r["flags"] for r in csv.DictReader(f))
    assert after - before == flagged  # the server counts exactly what offline scoring flags

    # A reload of the same bundle (for example a certificate rotation) keeps the window.
    assert http(f"{server.admin_url}/reload", data=b"")[0] == 200
    assert json.loads(http(f"{server.admin_url}/drift")[1])["applications"] == report["applications"]


def test_window_is_bounded_by_count(bundle, certs, tmp_path):
    server = Server(bundle, certs, tmp_path, drift={"window": 100})
    try:
        server.score(bundle / "validation" / "holdout.csv", tmp_path / "d.csv")
        report = json.loads(http(f"{server.admin_url}/drift")[1])
        assert report["applications"] == 100
        for field in report["fields"]:
            assert sum(b["live"] for b in field["bins"]) == pytest.approx(1, abs=1e-9)
        assert sample(server.metrics(), "loanscore_drift_window_applications") == 100
    finally:
        server.stop()


def test_drift_turned_off_answers_404_disabled(bundle, certs, tmp_path):
    server = Server(bundle, certs, tmp_path, drift={"enabled": False})
    try:
        server.score(bundle / "validation" / "holdout.csv", tmp_path / "d.csv")
        status, body = http(f"{server.admin_url}/drift")
        assert status == 404 and json.loads(body)["code"] == "disabled"
        assert "loanscore_drift_" not in server.metrics()
    finally:
        server.stop()


def test_bundle_without_reference_bins_answers_404_no_reference(certs, tmp_path):
    old = REPO / "Tests/Fixtures/old-bundle-german-credit-300"
    server = Server(old, certs, tmp_path)
    try:
        status, body = http(f"{server.admin_url}/drift")
        assert status == 404, body
        answer = json.loads(body)
        assert answer["code"] == "no_reference" and "reference.json" in answer["error"]
        text = server.metrics()
        assert "loanscore_drift_" not in text and "loanscore_anomalies_total" not in text
        p = loanscore("drift", "--bundle", str(old), "--input", str(old / "validation" / "holdout.csv"), check=False)
        assert p.returncode == 3 and "reference" in p.stderr
    finally:
        server.stop()
