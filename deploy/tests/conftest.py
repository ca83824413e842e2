"""Fixtures of the deploy/ tests: the real tools (promtool, amtool, prometheus), a trained
bundle, certificates and a live loanscored with its admin port, started the way
Protocol/tests does.

Binaries: LOANSCORED_BIN (default .build/debug/loanscored), LOANSCORE_BIN (default
.build/debug/loanscore), relative to the repository root; missing binaries fail the tests.
LOANSCORE_DEPLOY_BUNDLE: a bundle folder to use instead of training one (about 40 s).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "Protocol"))

# Executable -> the Debian package that ships it (scripts/install-system-packages.sh test installs both).
PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "amtool": "prometheus-alertmanager",
            "prometheus-alertmanager": "prometheus-alertmanager"}


def tool(name):
    """The path of a system tool; fails (never skips) naming the Debian package when missing."""
    path = shutil.which(name)
    if not path:
        package = PACKAGES[name]
        pytest.fail(f"{name} is not installed: it is in the Debian package `{package}` "
                    f"(apt-get install -y {package}, or scripts/install-system-packages.sh test as root)")
    return path


def run_tool(args, **kw):
    p = subprocess.run([tool(args[0]), *args[1:]], capture_output=True, text=True, cwd=REPO, **kw)
    return p.returncode, p.stdout + p.stderr


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


def http(url, data=None, timeout=30):
    """(status, body text) of a GET, or of a POST when data is given; HTTP errors are answers."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """A bundle trained on the credit data (it has Income, an exposure field and, once the
    training tool writes it, reference.json); or LOANSCORE_DEPLOY_BUNDLE."""
    if os.environ.get("LOANSCORE_DEPLOY_BUNDLE"):
        return Path(os.environ["LOANSCORE_DEPLOY_BUNDLE"]).resolve()
    loanscore = binary("LOANSCORE_BIN", ".build/debug/loanscore")
    out = tmp_path_factory.mktemp("bundle") / "credit"
    # --trials 1: XGBoost's defaults (the tuning is not what these tests are about).
    # OMP_WAIT_POLICY=PASSIVE: XGBoost's OpenMP threads otherwise spin against the other core.
    p = subprocess.run([sys.executable, "-m", "loanscore_train.cli", "train",
                        "--data", str(REPO / "Data/credit_data.csv"),
                        "--schema", str(REPO / "Data/credit_data.schema.json"),
                        "--output", str(out), "--trials", "1", "--force"],
                       capture_output=True, text=True,
                       env={**os.environ, "LOANSCORE_BIN": str(loanscore), "OMP_WAIT_POLICY": "PASSIVE"})
    if p.returncode != 0:
        pytest.fail("training the test bundle failed:\n" + p.stderr[-4000:])
    return out


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([str(REPO / "scripts/make-certs.sh"), str(d)], check=True, capture_output=True)
    return d


class Server:
    """loanscored on loopback with its admin port; `config` entries override the defaults."""

    def __init__(self, bundle, certs, workdir, **config):
        self.port, self.admin_port, self.certs, self.log = free_port(), free_port(), certs, []
        settings = {
            "bundle": str(bundle), "certificate": str(certs / "server.pem"), "private_key": str(certs / "server.key"),
            "client_ca": str(certs / "ca.pem"), "listen": f"127.0.0.1:{self.port}",
            "admin": f"127.0.0.1:{self.admin_port}", "audit_dir": str(workdir / "audit"), "workers": 2,
        }
        # On a loaded test machine (two cores shared with compilers) a debug build's queue can
        # pass the production 50 ms delay limit, and `loanscore score --server` does not retry
        # BUSY: a generous limit keeps the tests about monitoring, not about overload.
        settings["limits"] = {"max_queue_delay_ms": 10000, **config.pop("limits", {})}
        settings.update(config)
        (workdir / "loanscored.json").write_text(json.dumps(settings))
        self.proc = subprocess.Popen(
            [str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--config", str(workdir / "loanscored.json"),
             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"loanscored exited with {self.proc.returncode}:\n" + "".join(self.log))
            try:
                if http(f"{self.admin_url}/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail("loanscored was not ready within 30 s:\n" + "".join(self.log))

    def _pump(self):
        for line in self.proc.stderr:
            self.log.append(line)

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def connect(self):
        """A reference-client connection (Protocol/reference_client.py), mutual TLS."""
        import reference_client as rc
        return rc.LoanScoreConnection("127.0.0.1", self.port, str(self.certs / "ca.pem"),
                                      str(self.certs / "client.pem"), str(self.certs / "client.key"))

    def metrics(self):
        status, text = http(f"{self.admin_url}/metrics", timeout=120)
        assert status == 200, text
        return text

    def score(self, csv_path, out_path):
        """Scores a CSV through `loanscore score --server` (mutual TLS); returns the JSON summary."""
        p = subprocess.run(
            [str(binary("LOANSCORE_BIN", ".build/debug/loanscore")), "score", "--server", f"127.0.0.1:{self.port}",
             "--ca", str(self.certs / "ca.pem"), "--cert", str(self.certs / "client.pem"),
             "--key", str(self.certs / "client.key"), "--input", str(csv_path), "--output", str(out_path),
             "--ignore-column", "Status", "--json"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_supports(flag):
    """Whether this loanscored has a command-line flag (e.g. --drift-window)."""
    p = subprocess.run([str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--help"], capture_output=True, text=True)
    return re.search(rf"(^|\s){re.escape(flag)}\b", p.stdout + p.stderr) is not None
