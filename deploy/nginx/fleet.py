#!/usr/bin/env python3
"""A fleet of loanscored behind nginx on loopback, for a trial.

Starts N loanscored instances (each with its own audit folder, scoring port and admin port,
all serving the same bundle with the same certificates), then nginx with the committed
configuration (deploy/nginx/loanscore-stream.conf) rendered for loopback: its upstream lists
the N instances, it listens on 127.0.0.1, and its pid file and logs are in the trial's
folder. Prints the addresses, then waits. Ctrl-C or SIGTERM stops the instances first
(each drains and fsyncs its audit log), then nginx, and exits 0 when every instance
stopped cleanly.

An instance that dies while the fleet runs (say, `kill -9` for a failover trial) is
reported and left dead; nginx routes around it.

Python standard library only. Example:

    scripts/make-certs.sh certs
    deploy/nginx/fleet.py --instances 3 --bundle bundles/credit --certs certs
    .build/release/loanscore score --server 127.0.0.1:PORT --ca certs/ca.pem \\
        --cert certs/client.pem --key certs/client.key --input applications.csv --output decisions.csv
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONFIG = HERE / "loanscore-stream.conf"
SERVING_LINE = re.compile(r"serving \S+ \S+ on (\S+):(\d+) \(TLS.*?\), admin on port (\d+)")


class FleetError(Exception):
    """A problem that stops the trial, with a message for the user."""


# ------------------------------------------------------------------ rendering nginx's configuration

def stream_module(nginx):
    """How this nginx gets its stream module: ('static', None), ('dynamic', modules folder),
    or FleetError naming the package to install."""
    p = subprocess.run([nginx, "-V"], capture_output=True, text=True)
    text = p.stdout + p.stderr
    if "--with-stream=dynamic" in text:
        m = re.search(r"--modules-path=(\S+)", text)
        return "dynamic", Path(m.group(1) if m else "/usr/lib/nginx/modules")
    if re.search(r"--with-stream(\s|$)", text):
        return "static", None
    raise FleetError(f"{nginx} was built without the stream module (nginx -V shows no --with-stream)")


def render(text, listen, backends, prefix, module=("dynamic", None), keep_user=False):
    """The committed configuration `text` for a trial: `listen` (HOST:PORT) instead of its
    listen address, one upstream `server` line per backend (HOST:PORT, keeping the committed
    line's parameters), pid file and logs under `prefix`, no `user` line (the trial runs as
    whoever starts it). The load_module line is kept (pointing into the modules folder nginx
    was built with) for a dynamic stream module and dropped for a built-in one. Everything else
    is the committed file, line for line. keep_user keeps the `user` line (for a check run as
    root)."""
    prefix = Path(prefix)
    lines, out, in_upstream, servers_done = text.splitlines(), [], False, False
    for line in lines:
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("load_module ") and "ngx_stream_module" in stripped:
            kind, folder = module
            if kind == "static":
                continue
            path = Path(stripped.split()[1].rstrip(";"))
            if folder is not None and not path.is_file():
                path = folder / "ngx_stream_module.so"
            if not path.is_file():
                raise FleetError(f"nginx's stream module is missing ({path}): on Debian it is the package "
                                 "libnginx-mod-stream (apt-get install -y libnginx-mod-stream)")
            out.append(f"{indent}load_module {path};")
        elif stripped.startswith("user ") and not keep_user:
            continue
        elif stripped.startswith("pid "):
            out.append(f"{indent}pid {prefix / 'nginx.pid'};")
        elif stripped.startswith("error_log "):
            level = stripped.rstrip(";").split()[2:]
            out.append(f"{indent}error_log {prefix / 'error.log'}{''.join(' ' + w for w in level)};")
        elif stripped.startswith("access_log "):
            rest = stripped.rstrip(";").split()[2:]
            out.append(f"{indent}access_log {prefix / 'access.log'}{''.join(' ' + w for w in rest)};")
        elif stripped.startswith("upstream "):
            in_upstream = True
            out.append(line)
        elif in_upstream and stripped.startswith("server "):
            if not servers_done:
                params = stripped.rstrip(";").split()[2:]
                for backend in backends:
                    out.append(f"{indent}server {backend}{''.join(' ' + w for w in params)};")
                servers_done = True
        elif in_upstream and stripped == "}":
            in_upstream = False
            out.append(line)
        elif stripped.startswith("listen "):
            params = stripped.rstrip(";").split()[2:]
            out.append(f"{indent}listen {listen}{''.join(' ' + w for w in params)};")
        else:
            out.append(line)
    if not servers_done:
        raise FleetError("the nginx configuration has no upstream block with server lines")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ the processes

def default_binary(name, env):
    if os.environ.get(env):
        return os.environ[env]
    for build in ("release", "debug"):
        path = REPO / ".build" / build / name
        if path.is_file():
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise FleetError(f"{name} not found: build it (swift build -c release), put it on PATH, or set {env}")


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_status(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


class Instance:
    """One loanscored on loopback, ports chosen by the kernel (port 0) and read from its log."""

    def __init__(self, index, binary, settings, folder):
        self.index, self.folder = index, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "loanscored.json"
        self.config_path.write_text(json.dumps(settings, indent=2) + "\n")
        self.log_path = folder / "loanscored.log"
        self.port = self.admin_port = None
        self.reported = False
        self.log = open(self.log_path, "w")
        # A session of its own: Ctrl-C in the terminal reaches only this script, which then
        # stops the fleet in order (instances drain first, nginx last).
        self.proc = subprocess.Popen([binary, "--config", str(self.config_path), "--log-format", "text"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_serving(self, deadline):
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise FleetError(f"instance {self.index} exited with {self.proc.returncode} at start:\n"
                                 + self.log_path.read_text()[-3000:])
            if self.port is None:
                m = SERVING_LINE.search(self.log_path.read_text())
                if m:
                    self.port, self.admin_port = int(m.group(2)), int(m.group(3))
            if self.port is not None:
                try:
                    if http_status(f"http://127.0.0.1:{self.admin_port}/ready") == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise FleetError(f"instance {self.index} was not ready in time; its log: {self.log_path}")


def ended(code):
    """How a process ended, in words: `exited with 0`, `was killed by SIGKILL`."""
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"


def start_fleet(args):
    loanscored = args.loanscored or default_binary("loanscored", "LOANSCORED_BIN")
    nginx = args.nginx or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).is_file():
        raise FleetError("nginx is not installed: on Debian, apt-get install -y nginx libnginx-mod-stream")
    module = stream_module(nginx)
    certs = Path(args.certs).resolve() if args.certs else None
    cert = Path(args.cert or certs / "server.pem").resolve()
    key = Path(args.key or certs / "server.key").resolve()
    client_ca = args.client_ca or (str(certs / "ca.pem") if certs and not args.no_client_ca else None)
    for path in [cert, key] + ([Path(client_ca)] if client_ca else []):
        if not Path(path).is_file():
            raise FleetError(f"{path}: no such file (make certificates with scripts/make-certs.sh DIR)")
    bundle = Path(args.bundle).resolve()
    if not (bundle / "manifest.json").is_file():
        raise FleetError(f"{bundle}: not a model bundle (no manifest.json)")
    extra = json.loads(Path(args.server_config).read_text()) if args.server_config else {}

    try:  # which build runs, said up front: a stale .build/release is otherwise easy to miss
        version = subprocess.run([loanscored, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FleetError(f"{loanscored}: cannot run it ({e}); build it (swift build) or give --loanscored")

    workdir = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="loanscore-fleet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(workdir, str(Path(loanscored).resolve()), version)
    try:
        for i in range(1, args.instances + 1):
            folder = workdir / f"instance-{i}"
            settings = {
                "bundle": str(bundle), "certificate": str(cert), "private_key": str(key),
                "listen": "127.0.0.1:0", "admin": "127.0.0.1:0", "audit_dir": str(folder / "audit"),
                "workers": args.workers,
                # Behind nginx every connection comes from nginx's address (README in deploy/).
                "limits": {"max_connections_per_address": 4096},
            }
            if client_ca:
                settings["client_ca"] = str(Path(client_ca).resolve())
            for k, v in extra.items():
                settings[k] = {**settings[k], **v} if isinstance(v, dict) and isinstance(settings.get(k), dict) else v
            fleet.instances.append(Instance(i, loanscored, settings, folder))
        deadline = time.time() + args.start_timeout
        for instance in fleet.instances:
            instance.wait_serving(deadline)

        prefix = workdir / "nginx"
        prefix.mkdir(exist_ok=True)
        port = args.port or free_port("127.0.0.1")
        text = render(Path(args.nginx_config).read_text(), f"127.0.0.1:{port}",
                      [f"127.0.0.1:{i.port}" for i in fleet.instances], prefix, module)
        conf = prefix / "nginx.conf"
        conf.write_text(text)
        check = subprocess.run([nginx, "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise FleetError(f"nginx -t refused {conf}:\n{check.stdout}{check.stderr}")
        fleet.nginx = subprocess.Popen([nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
                                        "-g", "daemon off;"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        deadline = time.time() + 10
        while True:
            if fleet.nginx.poll() is not None:
                raise FleetError(f"nginx exited with {fleet.nginx.returncode}; its log: {prefix / 'error.log'}:\n"
                                 + (prefix / "error.log").read_text()[-3000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise FleetError(f"nginx did not listen on 127.0.0.1:{port}; its log: {prefix / 'error.log'}")
                time.sleep(0.1)
        fleet.address = f"127.0.0.1:{port}"
        fleet.conf = conf
        return fleet
    except BaseException:
        fleet.stop()
        raise


class Fleet:
    def __init__(self, workdir, loanscored, version):
        self.loanscored, self.version = loanscored, version
        self.workdir, self.instances, self.nginx, self.address, self.conf = workdir, [], None, None, None

    def describe(self):
        return {
            "nginx": self.address, "nginx_config": str(self.conf),
            "nginx_access_log": str(self.workdir / "nginx" / "access.log"),
            "nginx_error_log": str(self.workdir / "nginx" / "error.log"),
            "nginx_pid": self.nginx.pid if self.nginx else None,
            "instances": [{"index": i.index, "listen": f"127.0.0.1:{i.port}", "admin": f"127.0.0.1:{i.admin_port}",
                           "audit_dir": str(i.folder / "audit"), "log": str(i.log_path), "pid": i.proc.pid}
                          for i in self.instances],
            "workdir": str(self.workdir),
            "loanscored": self.loanscored, "version": self.version,
        }

    def watch(self):
        """Reports instances (and nginx) that exit while the fleet runs."""
        for i in self.instances:
            if not i.reported and i.proc.poll() is not None:
                i.reported = True
                print(f"instance {i.index} (127.0.0.1:{i.port}) {ended(i.proc.returncode)}; "
                      f"nginx routes around it. Its log: {i.log_path}", file=sys.stderr, flush=True)
        if self.nginx is not None and self.nginx.poll() is not None:
            raise FleetError(f"nginx {ended(self.nginx.returncode)} while the fleet ran; its log: {self.workdir / 'nginx' / 'error.log'}")

    def stop(self, drain_timeout=30):
        """Instances first (SIGTERM: GOODBYE, finish in-flight work, fsync the audit log), then
        nginx (SIGQUIT: graceful; its connections to the stopped instances are closed by then).
        Returns True when every instance that was still running exited 0."""
        clean = True
        running = [i for i in self.instances if i.proc.poll() is None]
        for i in running:
            i.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + drain_timeout
        for i in running:
            try:
                code = i.proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                print(f"instance {i.index} did not stop within {drain_timeout} s; killing it", file=sys.stderr)
                i.proc.kill()
                code = i.proc.wait()
            if code != 0:
                clean = False
                print(f"instance {i.index} exited with {code}; its log: {i.log_path}", file=sys.stderr)
        for i in self.instances:
            i.log.close()
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(15)
            except subprocess.TimeoutExpired:
                self.nginx.terminate()
                try:
                    self.nginx.wait(5)
                except subprocess.TimeoutExpired:
                    self.nginx.kill()
                    self.nginx.wait()
        return clean


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="fleet.py", description=__doc__.split("\n\n")[0] + ".",
        epilog="Certificates: --certs DIR (as scripts/make-certs.sh writes it: server.pem, server.key, and ca.pem "
               "as the client CA), or --cert/--key/--client-ca. The server certificate must name the address "
               "clients dial (nginx's, 127.0.0.1 here; make-certs.sh includes 127.0.0.1 and localhost). "
               "With --json, one JSON object with every address, audit folder, log and pid is printed on standard "
               "output once the fleet is ready. Exit codes: 0 stopped cleanly, 1 an instance did not stop cleanly when "
               "the fleet was stopped (one that died earlier is reported as it dies), 2 usage, 3 the fleet could not "
               "start, 4 nginx died while the fleet ran.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=3, help="how many loanscored (default 3)")
    parser.add_argument("--bundle", required=True, help="the model bundle folder every instance serves")
    parser.add_argument("--certs", help="a folder from scripts/make-certs.sh (server.pem, server.key, ca.pem)")
    parser.add_argument("--cert", help="the server certificate (PEM); default CERTS/server.pem")
    parser.add_argument("--key", help="its private key (PEM); default CERTS/server.key")
    parser.add_argument("--client-ca", help="require client certificates signed by this CA; default CERTS/ca.pem")
    parser.add_argument("--no-client-ca", action="store_true", help="no mutual TLS")
    parser.add_argument("--port", type=int, default=0, help="nginx's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--workers", type=int, default=1, help="worker threads per instance (default 1)")
    parser.add_argument("--server-config", help="a JSON file of loanscored settings merged into every "
                                                "instance's configuration (objects merged one level deep)")
    parser.add_argument("--workdir", help="the trial's folder (default: a new temporary folder, kept afterwards)")
    parser.add_argument("--loanscored", help="the loanscored binary (default: $LOANSCORED_BIN, .build/release, "
                                             ".build/debug, PATH)")
    parser.add_argument("--nginx", help="the nginx binary (default: nginx on PATH)")
    parser.add_argument("--nginx-config", default=str(CONFIG), help="the configuration to render (default: %(default)s)")
    parser.add_argument("--start-timeout", type=float, default=60, help="seconds for the instances to be ready")
    parser.add_argument("--json", action="store_true", help="print the addresses as one JSON object")
    args = parser.parse_args(argv)
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    if not args.certs and not (args.cert and args.key):
        parser.error("give --certs DIR, or --cert and --key")

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        fleet = start_fleet(args)
    except FleetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(fleet.describe()), flush=True)
    else:
        d = fleet.describe()
        print(f"loanscored: {d['loanscored']} ({d['version']})")
        print(f"nginx: {d['nginx']} (configuration {d['nginx_config']}, access log {d['nginx_access_log']})")
        for i in d["instances"]:
            print(f"instance {i['index']}: {i['listen']}  admin http://{i['admin']}  audit {i['audit_dir']}  log {i['log']}")
        print("Ctrl-C (or SIGTERM) stops everything.", flush=True)
    try:
        while not stopping.wait(0.5):
            fleet.watch()
    except FleetError as e:
        print(f"error: {e}", file=sys.stderr)
        fleet.stop()
        return 4
    print("stopping: instances drain first, then nginx", file=sys.stderr, flush=True)
    clean = fleet.stop()
    print("stopped" + ("" if clean else " (an instance did not stop cleanly)"), file=sys.stderr, flush=True)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
