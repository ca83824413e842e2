"""Starts a real loanscored for the client tests (as Protocol/tests/test_reference_client.py does)."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Loanscored:
    """loanscored on 127.0.0.1 with mutual TLS (the `certs` fixture's CA), audit in `work`."""

    def __init__(self, binary: Path, bundle: Path, certs: Path, work: Path,
                 config: dict[str, object] | None = None) -> None:
        self.port, self.certs, self.log = free_port(), certs, list[str]()
        # A queue-delay limit of 60 s instead of 50 ms: the tests check answers, not load
        # shedding, and a busy 2-core CI machine must not answer them BUSY (with 10 s, one run
        # on a machine at load 10 had `loanscore score --server` itself fail on BUSY).
        settings: dict[str, object] = {"limits": {"max_queue_delay_ms": 60000}, **(config or {})}
        (work / "limits.json").write_text(json.dumps(settings))
        self.proc = subprocess.Popen(
            [str(binary), "--bundle", str(bundle), "--listen", f"127.0.0.1:{self.port}",
             "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
             "--client-ca", str(certs / "ca.pem"), "--admin", "off", "--audit-dir", str(work / "audit"),
             "--workers", "2", "--config", str(work / "limits.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                if re.search(rf"serving .* on 127\.0\.0\.1:{self.port}\b", line):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            pytest.fail("loanscored did not report serving within 30 s:\n" + "".join(self.log), pytrace=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def tls_args(self) -> list[str]:
        """The CLI's flags for this server's CA and the client certificate."""
        return ["--ca", str(self.certs / "ca.pem"), "--cert", str(self.certs / "client.pem"),
                "--key", str(self.certs / "client.key")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
