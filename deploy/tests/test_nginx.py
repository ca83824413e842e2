"""deploy/nginx: the committed stream configuration passes the real nginx's check, and a
fleet of two loanscored behind it (deploy/nginx/fleet.py) scores end to end.

The tests run their own nginx (own pid file, logs and loopback port: the configuration is
rendered by fleet.render), so a system nginx that Debian's package may have started on port
80 neither disturbs them nor is touched. A missing nginx, or a missing stream module, fails
the tests (never skips), naming the Debian package.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, binary, free_port

sys.path.insert(0, str(REPO / "deploy" / "nginx"))
import fleet  # noqa: E402

CONFIG = REPO / "deploy" / "nginx" / "loanscore-stream.conf"
FLEET = REPO / "deploy" / "nginx" / "fleet.py"
CLIENT_SUBJECT = "/O=LoanScore/CN=loanscore-test-client"  # scripts/make-certs.sh's client certificate


def nginx():
    """nginx's path (Debian installs it in /usr/sbin, which a user's PATH may lack); fails
    naming the packages when it or its stream module is missing."""
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if not path:
        pytest.fail("nginx is not installed: it is in the Debian packages `nginx` and `libnginx-mod-stream` "
                    "(apt-get install -y nginx libnginx-mod-stream, or scripts/install-system-packages.sh test as root)")
    try:
        fleet.render(CONFIG.read_text(), "127.0.0.1:1", ["127.0.0.1:2"], "/tmp", fleet.stream_module(path))
    except fleet.FleetError as e:
        pytest.fail(str(e))
    return path


def directives(text):
    """(name, arguments) of every directive, comments left out."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"([a-z_]+)\s+(.*?);$", line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def seconds(value):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[m.group(2)]


def stop_fleet(proc, described):
    """SIGTERM to fleet.py (it stops the instances, then nginx); then, whatever happened,
    no process of the fleet is left behind (fleet.py starts each in a session of its own)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if described:
        for pid in [i["pid"] for i in described["instances"]] + [described["nginx_pid"]]:
            # Only a process of this fleet (its command line names the fleet's folder), never
            # another that reused the number.
            try:
                if described["workdir"] in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
    return code


# ------------------------------------------------------------------ the committed file

def test_committed_configuration_passes_nginx_t(tmp_path):
    """`nginx -t` with the real nginx on the committed file, rendered for loopback with free ports."""
    path = nginx()
    backends = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    # As root, the committed `user` line (Debian's www-data) is checked too: nginx -t resolves
    # the user. Otherwise it is left out, as nginx ignores it when not started as root.
    keep_user = os.geteuid() == 0
    text = fleet.render(CONFIG.read_text(), f"127.0.0.1:{free_port()}", backends, tmp_path, fleet.stream_module(path),
                        keep_user=keep_user)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    p = subprocess.run([path, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "test is successful" in p.stderr

    # The rendering changes addresses and paths only: every other directive is the committed one.
    changed = {"listen", "server", "pid", "error_log", "access_log", "user", "load_module"}
    committed = [d for d in directives(CONFIG.read_text()) if d[0] not in changed]
    rendered = [d for d in directives(text) if d[0] not in changed]
    assert committed == rendered
    assert [a.split()[0] for n, a in directives(text) if n == "server"] == backends


def test_committed_configuration_choices():
    """TLS passed through (no TLS directive: the handshake ends at loanscored), least_conn,
    passive health checks, and an idle timeout above loanscored's own."""
    found = directives(CONFIG.read_text())
    names = [n for n, _ in found]
    assert not [n for n in names if n.startswith("ssl_") or n.startswith("proxy_ssl")], "TLS must pass through"
    assert "least_conn" in CONFIG.read_text()
    servers = [a for n, a in found if n == "server"]
    assert len(servers) >= 2
    for s in servers:
        assert re.search(r"\bmax_fails=\d+", s) and re.search(r"\bfail_timeout=\d+s", s), s
    settings = dict(found)
    idle = json.loads((REPO / "Systemd" / "loanscored.json").read_text())["timeouts"]["idle"]
    assert seconds(settings["proxy_timeout"]) > idle
    assert seconds(settings["proxy_connect_timeout"]) <= 5
    assert settings["proxy_next_upstream"] == "on"
    # Its own pid file: never Debian's /run/nginx.pid (the system nginx's).
    assert settings["pid"] != "/run/nginx.pid"


def test_fleet_help():
    p = subprocess.run([sys.executable, str(FLEET), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--instances" in p.stdout and "--bundle" in p.stdout, p.stdout + p.stderr


def test_fleet_refuses_a_missing_bundle(tmp_path, certs):
    p = subprocess.run([sys.executable, str(FLEET), "--bundle", str(tmp_path / "none"), "--certs", str(certs),
                        "--nginx", nginx(), "--loanscored", str(binary("LOANSCORED_BIN", ".build/debug/loanscored"))],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "not a model bundle" in p.stderr, p.stderr


# ------------------------------------------------------------------ live: two instances behind nginx

def write_applications(path, prefix, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", *rows[0]])
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow({"id": f"{prefix}-{i}", **r})


def start_fleet_process(instances, bundle, certs, tmp_path, queue_delay_ms=10000):
    """fleet.py with `instances` loanscored behind nginx and `--json`; returns (process, its
    description). `queue_delay_ms`: the instances' max_queue_delay_ms (generous by default: a
    debug build on two shared cores; the tests are about routing and failover, not overload;
    None keeps loanscored's own)."""
    args = [sys.executable, str(FLEET), "--instances", str(instances), "--bundle", str(bundle), "--certs", str(certs),
            "--workdir", str(tmp_path / "fleet"), "--nginx", nginx(),
            "--loanscored", str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--json"]
    if queue_delay_ms is not None:
        server_config = tmp_path / "server.json"
        server_config.write_text(json.dumps({"limits": {"max_queue_delay_ms": queue_delay_ms}}))
        args += ["--server-config", str(server_config)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        pytest.fail(f"fleet.py exited with {proc.wait()}:\n{proc.stderr.read()}")
    return proc, json.loads(line)


def exported_audits(loanscore, described, tmp_path, verify=False):
    """Each instance's audit records (`loanscore audit export`, one list per instance), each
    log first checked with `loanscore audit verify` when `verify`."""
    exported = []
    for instance in described["instances"]:
        if verify:
            p = subprocess.run([str(loanscore), "audit", "verify", "--dir", instance["audit_dir"]],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stdout + p.stderr
        export = tmp_path / f"audit-{instance['index']}.jsonl"
        p = subprocess.run([str(loanscore), "audit", "export", "--dir", instance["audit_dir"], "--output", str(export)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        exported.append([json.loads(x) for x in export.read_text().splitlines()])
    return exported


def audited_ids(loanscore, described, tmp_path):
    """Every application id in the instances' audit logs, with how many times each was
    audited, and the number of records per instance."""
    audited, per_instance = {}, []
    for records in exported_audits(loanscore, described, tmp_path):
        per_instance.append(len(records))
        for r in records:
            audited[r["application_id"]] = audited.get(r["application_id"], 0) + 1
    return audited, per_instance


def test_two_instances_behind_nginx(bundle, certs, tmp_path):
    """fleet.py with 2 instances; two clients score through nginx at once with mutual TLS, one
    dialling 127.0.0.1 and one localhost (both names are in the server certificate, which the
    client checks through the proxy); then SIGTERM: both instances drain, the fleet exits 0,
    and the two audit logs together hold every decision exactly once, as the client received
    it, recorded under the client certificate's subject (TLS ended at loanscored, not nginx)."""
    loanscore = binary("LOANSCORE_BIN", ".build/debug/loanscore")
    # The generous queue-delay limit keeps this test about routing (`loanscore score` does not retry BUSY).
    proc, described = start_fleet_process(2, bundle, certs, tmp_path)
    try:
        assert len(described["instances"]) == 2
        port = described["nginx"].rsplit(":", 1)[1]

        with open(REPO / "Data" / "credit_data.csv", newline="") as f:
            rows = list(csv.DictReader(f))[:1200]
        clients = []
        for name, host, part in (("a", "127.0.0.1", rows[:600]), ("b", "localhost", rows[600:])):
            write_applications(tmp_path / f"{name}.csv", name, part)
            clients.append(subprocess.Popen(
                [str(loanscore), "score", "--server", f"{host}:{port}", "--ca", str(certs / "ca.pem"),
                 "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"),
                 "--input", str(tmp_path / f"{name}.csv"), "--output", str(tmp_path / f"{name}.out.csv"),
                 "--ignore-column", "Status", "--batch", "50", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for c in clients:
            out, err = c.communicate(timeout=300)
            assert c.returncode == 0, err
            assert json.loads(out)["rows_scored"] == 600
    finally:
        code = stop_fleet(proc, described)
    stderr = proc.stderr.read()
    assert code == 0, stderr
    assert "stopped" in stderr

    received = {}
    for name in ("a", "b"):
        with open(tmp_path / f"{name}.out.csv", newline="") as f:
            for r in csv.DictReader(f):
                received[r["id"]] = r
    assert len(received) == 1200

    # nginx spread the connections over both instances (least_conn).
    upstreams = set(re.findall(r"upstream=(\S+)", Path(described["nginx_access_log"]).read_text()))
    assert upstreams == {i["listen"] for i in described["instances"]}

    audited = {}
    per_instance = []
    for records in exported_audits(loanscore, described, tmp_path, verify=True):
        per_instance.append(len(records))
        for r in records:
            assert r["application_id"] not in audited, f"{r['application_id']} audited twice"
            audited[r["application_id"]] = r
    assert all(n > 0 for n in per_instance), f"decisions per instance: {per_instance}"
    assert set(audited) == set(received)
    for app_id, r in audited.items():
        assert r["client"] == CLIENT_SUBJECT
        assert r["decision"] == received[app_id]["decision"]
        assert r["model_version"] == received[app_id]["model_version"]
        assert abs(r["pd"] - float(received[app_id]["pd"])) < 1e-9


def test_every_instance_down_is_a_clear_client_error(bundle, certs, tmp_path):
    """nginx with both instances killed (SIGKILL): the client fails with exit 4 (the server could
    not be reached), not a hang, and nginx logs that no upstream was live."""
    proc, described = start_fleet_process(2, bundle, certs, tmp_path, queue_delay_ms=None)
    try:
        for instance in described["instances"]:
            subprocess.run(["kill", "-KILL", str(instance["pid"])], check=True)
        time.sleep(1)
        with open(REPO / "Data" / "credit_data.csv", newline="") as f:
            rows = list(csv.DictReader(f))[:10]
        write_applications(tmp_path / "apps.csv", "x", rows)
        started = time.time()
        p = subprocess.run(
            [str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), "score", "--server", described["nginx"],
             "--ca", str(certs / "ca.pem"), "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"),
             "--input", str(tmp_path / "apps.csv"), "--output", str(tmp_path / "out.csv"), "--ignore-column", "Status"],
            capture_output=True, text=True, timeout=120)
        elapsed = time.time() - started
        assert p.returncode == 4, (p.returncode, p.stderr)
        assert "load balancer (nginx) with no live upstream" in p.stderr, p.stderr
        assert not (tmp_path / "out.csv").exists()
        assert "no live upstreams" in Path(described["nginx_error_log"]).read_text() \
            or "Connection refused" in Path(described["nginx_error_log"]).read_text()
        print(f"client error after {elapsed:.1f} s: {p.stderr.strip()}")
    finally:
        stop_fleet(proc, described)
    # The fleet reported the killed instances while it ran.
    assert "was killed by SIGKILL" in proc.stderr.read()


# ------------------------------------------------------------------ failover: three instances, one killed

@pytest.mark.parametrize("route", ["nginx", "direct"])
def test_one_of_three_instances_killed_mid_run(route, bundle, certs, tmp_path):
    """Three instances; loanscore-load (closed loop, --retries) through nginx, or given the
    three instances directly (the SDK's own failover); one instance SIGKILLed mid-run. No
    request fails at the client, and every application the client got an answer for is in
    the audit logs (as many times as it was answered, at least: a retried request whose
    first answer was lost may be audited twice, at least once). Prints the failover time: the
    longest wait between two answers, which the kill causes."""
    loanscore = binary("LOANSCORE_BIN", ".build/debug/loanscore")
    load = binary("LOANSCORE_LOAD_BIN", ".build/debug/loanscore-load")
    proc, described = start_fleet_process(3, bundle, certs, tmp_path)
    try:
        with open(REPO / "Data" / "credit_data.csv", newline="") as f:
            rows = list(csv.DictReader(f))[:2000]
        write_applications(tmp_path / "apps.csv", "f", rows)
        servers = [described["nginx"]] if route == "nginx" else [i["listen"] for i in described["instances"]]
        answered = tmp_path / "answered.txt"
        client = subprocess.Popen(
            [str(load), *[a for s in servers for a in ("--server", s)], "--ca", str(certs / "ca.pem"),
             "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"), "--input", str(tmp_path / "apps.csv"),
             "--connections", "3", "--pipeline", "2", "--batch", "10", "--warmup", "0", "--duration", "10",
             "--retries", "5", "--timeout", "30", "--answered-ids", str(answered), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        assert client.poll() is None, client.communicate()
        victim = described["instances"][1]
        os.kill(victim["pid"], signal.SIGKILL)
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, (client.returncode, out, err)
    finally:
        code = stop_fleet(proc, described)
    assert code == 0, proc.stderr.read()
    report = json.loads(out)
    assert report["errors"] == {}, report
    # A connection did drop (the SDK logs the server it marks down) and the client recovered.
    assert "endpoint down" in err, f"no connection dropped: the kill was not felt by the client\n{err}"
    got = [line for line in answered.read_text().splitlines() if line]
    assert got, "the client got no answer"
    counts = {}
    for app_id in got:
        counts[app_id] = counts.get(app_id, 0) + 1
    audited, per_instance = audited_ids(loanscore, described, tmp_path)
    assert per_instance[1] > 0, f"the killed instance scored nothing before the kill: {per_instance}"
    missing = {a: n for a, n in counts.items() if audited.get(a, 0) < n}
    assert not missing, f"{len(missing)} answered application(s) not (or not as often) in the audit logs: {list(missing.items())[:5]}"
    extra = sum(audited.values()) - len(got)
    print(f"\n{route}: {len(got)} applications answered, 0 failed; audit records per instance {per_instance} "
          f"({extra} more than answered: retried after a lost answer, or answered after the client gave up); "
          f"failover time (longest wait between two answers): {report['longest_gap_ms']:.0f} ms; "
          f"{report['applications_per_s']:.0f} applications/s over the run\n"
          + "".join(line for line in err.splitlines(True) if "endpoint" in line)[:1500])
