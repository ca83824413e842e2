"""loanscored and `loanscore score --server` as an unprivileged user, the way the systemd unit
runs the server (User=loanscore, no capabilities). Every other test runs as whoever runs the
suite, root in CI; a socket option that needs a capability (SO_DEBUG, set by mistake for
TCP_NODELAY at the socket level) then passes unnoticed while a packaged install refuses every
connection. As root the test drops to uid/gid 65534 (nobody) with setpriv (util-linux); as
another user it runs as that user.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, binary, free_port, http

NOBODY = 65534


def unprivileged_prefix():
    """The command prefix that runs a program without root, or [] when the suite is not root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.fail("setpriv is not installed: it is in the Debian package `util-linux`")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def test_serves_and_scores_without_privileges(bundle, certs):
    """Copies the binaries, the bundle and the certificates where an unprivileged user can read
    them, starts loanscored as that user, and scores 200 applications through it, the client
    unprivileged too: every row scored, and the server's admin port reports ready."""
    prefix = unprivileged_prefix()
    root = Path(tempfile.mkdtemp(prefix="loanscore-unprivileged-"))
    server = None
    try:
        for name, env in (("loanscored", "LOANSCORED_BIN"), ("loanscore", "LOANSCORE_BIN")):
            shutil.copy2(binary(env, f".build/debug/{name}"), root / name)
        shutil.copytree(bundle, root / "bundle")
        shutil.copytree(certs, root / "certs")
        with open(REPO / "Data/credit_data.csv") as source:
            (root / "applications.csv").write_text("".join(line for _, line in zip(range(201), source)))
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or path.name in ("loanscored", "loanscore") else 0o644)
        writable = root / "state"
        writable.mkdir()
        if prefix:
            os.chown(writable, NOBODY, NOBODY)

        port, admin = free_port(), free_port()
        server = subprocess.Popen(
            [*prefix, str(root / "loanscored"), "--bundle", str(root / "bundle"), "--listen", f"127.0.0.1:{port}",
             "--admin", f"127.0.0.1:{admin}", "--cert", str(root / "certs/server.pem"),
             "--key", str(root / "certs/server.key"), "--client-ca", str(root / "certs/ca.pem"),
             "--audit-dir", str(writable / "audit"), "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"loanscored as uid {NOBODY if prefix else os.geteuid()} exited with {server.returncode}:\n"
                            + server.stderr.read())
            try:
                if http(f"http://127.0.0.1:{admin}/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "loanscored was not ready within 60 s"
            time.sleep(0.2)

        p = subprocess.run(
            [*prefix, str(root / "loanscore"), "score", "--server", f"127.0.0.1:{port}",
             "--ca", str(root / "certs/ca.pem"), "--cert", str(root / "certs/client.pem"),
             "--key", str(root / "certs/client.key"), "--input", str(root / "applications.csv"),
             "--output", str(writable / "decisions.csv"), "--ignore-column", "Status", "--json"],
            capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["rows_scored"] == 200, p.stdout
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(root, ignore_errors=True)
