"""The web console in a real browser: loanscored with a trained bundle, the console on and
traffic sent, every page opened in headless Chromium (Debian's `chromium`), the rendered DOM
(`--dump-dom`, after the page's scripts ran) checked against the JSON endpoints, /metrics, the
audit log (`loanscore audit export`) and `loanscore predict`; a screenshot of each page
(1366x900) saved under the test's output folder, and copied to LOANSCORE_CONSOLE_SHOTS when set.

Binaries and bundle: see conftest.py.
"""
import csv
import hashlib
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, Server, binary, free_port, http

SCRIPT = "<script>alert(1)</script>"


def chromium():
    """Debian's chromium; fails (never skips) naming the package when missing."""
    path = shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed: it is in the Debian package `chromium` "
                    "(apt-get install -y chromium, or scripts/install-system-packages.sh test as root)")
    return path


class Browser:
    """Headless Chromium runs, one per page: the DOM after the scripts ran, or a screenshot."""

    def __init__(self, workdir):
        self.profile = workdir / "chromium-profile"
        self.shots = workdir / "screenshots"
        self.shots.mkdir(parents=True, exist_ok=True)

    def _run(self, url, *flags):
        # Virtual time lets the page's fetches and first timers finish before the DOM is taken.
        p = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={self.profile}", "--window-size=1366,900",
                            "--virtual-time-budget=5000", *flags, url],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout

    def dom(self, url):
        return self._run(url, "--dump-dom")

    def screenshot(self, url, name):
        path = self.shots / f"{name}.png"
        self._run(url, f"--screenshot={path}")
        assert path.stat().st_size > 10_000, f"{path}: an empty screenshot?"
        if os.environ.get("LOANSCORE_CONSOLE_SHOTS"):
            target = Path(os.environ["LOANSCORE_CONSOLE_SHOTS"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
        return path


def element(dom, element_id):
    """(attributes text, inner text) of the element with this id in a dumped DOM, or fails."""
    m = re.search(rf'<(\w+)([^>]*\bid="{re.escape(element_id)}"[^>]*)>(.*?)</\1>', dom, re.S)
    assert m, f"no element #{element_id} in the page:\n{dom[-3000:]}"
    return m.group(2), html.unescape(re.sub(r"<[^>]+>", "", m.group(3)))


def data_value(dom, element_id):
    attributes, _ = element(dom, element_id)
    m = re.search(r'data-value="([^"]*)"', attributes)
    assert m, f"#{element_id} has no data-value"
    return html.unescape(m.group(1))


def assert_escaped(dom, text):
    """`text` (markup) appears in the page only as text, never as an element."""
    assert html.escape(text, quote=False) in dom, f"{text!r} is not shown in the page"
    assert text not in dom, f"{text!r} reached the page as markup"


def metric_sum(metrics_text, name, **labels):
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name + "{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.rindex("}") + 1]))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def loanscore(*args):
    return subprocess.run([str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), *args], capture_output=True, text=True)


def first_application(bundle):
    """The hold-out set's first row as a JSON application (booleans as true/false)."""
    schema = json.loads((bundle / "schema.json").read_text())
    with open(bundle / "validation" / "holdout.csv", newline="") as f:
        row = next(csv.DictReader(f))
    app = {}
    for field in schema["fields"]:
        text = row.get(field["name"], "")
        if text == "":
            continue
        if field["type"] in ("number", "integer"):
            app[field["name"]] = float(text)
        elif field["type"] == "boolean":
            app[field["name"]] = text in field.get("true_labels", ["true"])
        else:
            app[field["name"]] = text
    return app


def number(value):
    """A float as a form would hold it: whole numbers without a fraction."""
    return str(int(value)) if value.is_integer() else repr(value)


def score_url(server, app):
    """The Score page filled from URL parameters and sent by its own script."""
    params = {k: ("true" if v is True else "false" if v is False else number(v) if isinstance(v, float) else v) for k, v in app.items()}
    return f"{server.admin_url}/console/score?" + urllib.parse.urlencode({**params, "submit": "1"})


@pytest.fixture(scope="module")
def console(bundle, certs, tmp_path_factory):
    """A console server with traffic: the hold-out set through `loanscore score --server`,
    and two applications sent by the reference client, one with markup in its id."""
    import reference_client as rc
    workdir = tmp_path_factory.mktemp("console")
    server = Server(bundle, certs, workdir, console=True)
    server.workdir = workdir
    server.score(bundle / "validation" / "holdout.csv", workdir / "decisions.csv")
    conn = server.connect()
    try:
        schema = json.loads((bundle / "schema.json").read_text())
        labels = {f["name"]: set(f["true_labels"]) for f in schema["fields"] if f["type"] == "boolean"}
        with open(bundle / "validation" / "holdout.csv", newline="") as f:
            rows = list(csv.DictReader(f))[:2]
        apps = [rc.application_from_row(r, conn.fields, labels) for r in rows]
        conn.score(apps, [SCRIPT, "plain-console-1"])
    finally:
        conn.close()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(console):
    return Browser(console.workdir)


def test_overview_shows_the_served_model_and_the_metrics_approval_rate(console, browser):
    model = json.loads(http(f"{console.admin_url}/model")[1])
    metrics = console.metrics()
    approvals = metric_sum(metrics, "loanscore_decisions_total", decision="approve")
    decisions = metric_sum(metrics, "loanscore_decisions_total")
    dom = browser.dom(f"{console.admin_url}/console")
    assert data_value(dom, "model-version") == model["version"]
    assert float(data_value(dom, "approval-rate")) == pytest.approx(approvals / decisions, abs=1e-12)
    assert float(data_value(dom, "applications-total")) == metric_sum(metrics, "loanscore_applications_total")
    stats = json.loads(http(f"{console.admin_url}/stats")[1])
    assert stats["approval_rate"] == pytest.approx(approvals / decisions, abs=1e-12)
    assert stats["latency_seconds"]["p99"] >= stats["latency_seconds"]["p50"] > 0
    browser.screenshot(f"{console.admin_url}/console/overview", "overview")


def test_model_page_shows_the_bundle(console, browser, bundle):
    model = json.loads(http(f"{console.admin_url}/model")[1])
    dom = browser.dom(f"{console.admin_url}/console/model")
    assert element(dom, "model-version")[1] == model["version"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    text = html.unescape(dom)
    for field in json.loads((bundle / "schema.json").read_text())["fields"]:
        assert field["name"] in text
    for reason in manifest["reason_codes"].values():
        assert reason["text"] in text
    assert manifest["lineage"]["training_data"]["sha256"] in text
    if (bundle / "report.html").exists():
        assert 'href="/model/report.html"' in dom
        status, body = http(f"{console.admin_url}/model/report.html")
        assert status == 200 and body == (bundle / "report.html").read_text()
    if manifest.get("fairness"):
        assert "Adverse impact" in text
    browser.screenshot(f"{console.admin_url}/console/model", "model")


def test_drift_page_lists_every_field_of_drift(console, browser):
    status, body = http(f"{console.admin_url}/drift")
    assert status == 200, body
    report = json.loads(body)
    dom = browser.dom(f"{console.admin_url}/console/drift")
    for field in report["fields"]:
        assert f'id="bins-{field["field"]}"' in dom
    assert "Population stability index" in dom
    browser.screenshot(f"{console.admin_url}/console/drift", "drift")


def test_a_looked_up_decision_equals_its_audit_record_and_markup_is_escaped(console, browser, tmp_path):
    export = tmp_path / "audit.jsonl"
    p = loanscore("audit", "export", "--dir", str(console.workdir / "audit"), "--output", str(export))
    assert p.returncode == 0, p.stderr
    record = [r for r in map(json.loads, export.read_text().splitlines()) if r["application_id"] == SCRIPT][-1]
    url = f"{console.admin_url}/console/decisions?id=" + urllib.parse.quote(SCRIPT)
    dom = browser.dom(url)
    assert element(dom, "found-id")[1] == SCRIPT
    assert element(dom, "found-decision")[1] == record["decision"]
    assert float(data_value(dom, "found-pd")) == record["pd"]
    assert element(dom, "found-hash")[1] == record["input_sha256"]
    assert element(dom, "found-time")[1] == record["time"]
    assert_escaped(dom, SCRIPT)  # in the lookup and in the recent list
    browser.screenshot(url, "decisions")


def test_the_score_form_gives_what_loanscore_predict_gives(console, browser, bundle):
    app = first_application(bundle)
    p = loanscore("predict", "--bundle", str(bundle), "--application", json.dumps(app), "--json")
    assert p.returncode == 0, p.stderr
    expected = json.loads(p.stdout)
    url = score_url(console, app)
    decided = json.loads(http(f"{console.admin_url}/stats")[1])["decisions_total"]
    dom = browser.dom(url)
    assert element(dom, "result-decision")[1] == expected["decision"]
    assert float(data_value(dom, "result-pd")) == pytest.approx(expected["pd"], abs=1e-12)
    assert float(data_value(dom, "result-confidence")) == pytest.approx(expected["confidence"], abs=1e-12)
    assert element(dom, "result-risk")[1] == expected["risk_level"]
    reasons = element(dom, "result-reasons")[1] if expected["reasons"] else ""
    for reason in expected["reasons"]:
        assert reason["text"] in reasons and reason["code"] in reasons
    assert "not recorded" in html.unescape(dom)
    browser.screenshot(url, "score")
    # Scoring from the console is not a decision: no decision counted, none in the recent list.
    assert json.loads(http(f"{console.admin_url}/stats")[1])["decisions_total"] == decided
    recent = json.loads(http(f"{console.admin_url}/decisions/recent?limit=100")[1])["decisions"]
    assert not [d for d in recent if d["application_id"].startswith("console-")]


def test_a_malformed_score_value_is_named_beside_its_field_as_the_cli_names_it(console, browser, bundle):
    app = dict(first_application(bundle), Age="abc")
    cli = loanscore("predict", "--bundle", str(bundle), "--application", json.dumps(app))
    assert cli.returncode != 0
    dom = browser.dom(score_url(console, app))
    message = element(dom, "error-Age")[1]
    assert message.startswith("field 'Age':") and message in cli.stderr, (message, cli.stderr)
    assert "Not scored" in element(dom, "score-error")[1]
    browser.screenshot(score_url(console, app), "score-error")


def test_markup_in_a_category_value_is_shown_as_text(console, browser, bundle):
    app = dict(first_application(bundle), Home=SCRIPT)
    dom = browser.dom(score_url(console, app))
    assert_escaped(dom, SCRIPT)


def test_an_unknown_id_is_not_found(console, browser):
    dom = browser.dom(f"{console.admin_url}/console/decisions?id=no-such-application")
    assert "not found" in element(dom, "lookup-error")[1]
    status, body = http(f"{console.admin_url}/decisions/no-such-application")
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_console_answers_carry_the_hardening_headers(console):
    for path in ["/console", "/console/console.js", "/stats", "/decisions/recent?limit=5"]:
        with urllib.request.urlopen(console.admin_url + path, timeout=30) as response:
            headers = response.headers
            assert "script-src 'self'" in headers["Content-Security-Policy"] and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
            assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    # No inline script anywhere: the CSP allows none.
    for page in ["overview", "model", "drift", "decisions", "score"]:
        body = http(f"{console.admin_url}/console/{page}")[1]
        assert re.findall(r"<script[^>]*>", body) == ['<script src="/console/console.js">', f'<script src="/console/{page}.js">']


def test_an_unreadable_audit_log_is_a_clear_error(bundle, certs, tmp_path):
    server = Server(bundle, certs, tmp_path, console=True)
    try:
        (tmp_path / "audit").rename(tmp_path / "audit-moved")  # the writer keeps its open files
        status, body = http(f"{server.admin_url}/decisions/any-id")
        assert status == 503, body
        answer = json.loads(body)
        assert answer["code"] == "audit_unreadable" and "no such audit folder" in answer["error"]
        dom = Browser(tmp_path).dom(f"{server.admin_url}/console/decisions?id=any-id")
        assert "the audit log cannot be read" in element(dom, "lookup-error")[1]
    finally:
        server.stop()


def test_the_console_and_reload_need_the_secret_when_one_is_configured(bundle, certs, tmp_path):
    token, password = "console-test-token", "s3cret"
    auth = {"token_sha256": hashlib.sha256(token.encode()).hexdigest(), "basic_user": "ops",
            "basic_password_sha256": hashlib.sha256(password.encode()).hexdigest()}
    server = Server(bundle, certs, tmp_path, console=True, admin_auth=auth)

    def get(path, authorization=None, method="GET"):
        request = urllib.request.Request(server.admin_url + path, method=method,
                                         headers={"Authorization": authorization} if authorization else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers
    try:
        for path, method in [("/console", "GET"), ("/stats", "GET"), ("/decisions/x", "GET"), ("/model/card", "GET"),
                             ("/reload", "POST"), ("/score", "POST")]:
            status, headers = get(path, method=method)
            assert status == 401, path
            assert any(v.startswith("Bearer realm=") for v in headers.get_all("WWW-Authenticate")), path
            assert get(path, "Bearer wrong-token", method)[0] == 401
        assert get("/console", f"Bearer {token}")[0] == 200
        import base64
        assert get("/stats", "Basic " + base64.b64encode(f"ops:{password}".encode()).decode())[0] == 200
        assert get("/stats", "Basic " + base64.b64encode(b"ops:wrong").decode())[0] == 401
        for open_path in ["/health", "/ready", "/metrics", "/model"]:
            assert get(open_path)[0] == 200, open_path
    finally:
        server.stop()


def test_a_console_beyond_loopback_without_a_secret_is_refused_at_startup(bundle, certs, tmp_path):
    p = subprocess.run([str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--bundle", str(bundle),
                        "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
                        "--listen", f"127.0.0.1:{free_port()}", "--admin", f"0.0.0.0:{free_port()}",
                        "--audit-dir", str(tmp_path / "audit"), "--console"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "beyond loopback" in p.stderr and "admin_auth" in p.stderr


def test_a_page_on_another_origin_cannot_post_to_the_admin_port(console, browser, tmp_path):
    """Cross-site request forgery in a real browser: a page served from another port of
    127.0.0.1 (another origin) sends POST /reload and POST /score to the admin port with
    fetch(no-cors), which needs no preflight. The server answers 403 forbidden_origin to both
    (Sec-Fetch-Site and Origin name the other page) and so scores and reloads nothing."""
    before = metric_sum(console.metrics(), "loanscore_admin_errors_total", status="403")
    (tmp_path / "forge.html").write_text(
        "<!doctype html><title>forge</title><script>"
        f"fetch('{console.admin_url}/reload', {{method: 'POST', mode: 'no-cors'}});"
        f"fetch('{console.admin_url}/score', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}},"
        " body: JSON.stringify({Seniority: 1})});"
        "</script>")
    page_port = free_port()
    page_server = subprocess.Popen([sys.executable, "-m", "http.server", str(page_port), "--bind", "127.0.0.1",
                                    "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", page_port), timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "the forging page's http.server did not start"
                time.sleep(0.1)
        browser.dom(f"http://127.0.0.1:{page_port}/forge.html")
    finally:
        page_server.terminate()
        page_server.wait(timeout=10)
    after = metric_sum(console.metrics(), "loanscore_admin_errors_total", status="403")
    assert after - before == 2, f"403 answers: {before} before, {after} after the forging page ran"
