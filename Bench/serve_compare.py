#!/usr/bin/env python3
"""End to end, in one run on this machine (issue 4, item 5):

  1. the in-process rate (`loanscore bench`, 2 threads, batch 256), with reasons and without;
  2. `loanscored` (release build) over TLS on loopback with fresh certificates
     (scripts/make-certs.sh), driven by `loanscore-load`: closed loop at batch 256; closed loop
     at single applications (the maximum rate); open loop at single applications at half that
     rate (latency without coordinated omission); then again with `--reason-codes none` (PDs and
     decisions only: the work the HTTP endpoints below do), closed loop;
  3. a minimal FastAPI + uvicorn JSON endpoint (Bench/fastapi_server.py) serving the same
     ensemble, driven by wrk (closed loop; Debian's `wrk`) or, without wrk, a Python loop:
     single applications and batches of 256; batches of 256 again with two uvicorn workers
     (the faster of the two is the one compared);
  4. `mlflow models serve` when MLflow is installed in --mlflow-venv (it is heavy: see the
     report for whether it was).

Writes Bench/results/<date>-serve.md with every figure and the ratios, and prints it. Every
load is bounded in time and targets 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from compare import git_commit, log, machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} did not open in {seconds}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(bin_dir: Path, port: int, certs: Path, input_csv: Path, duration: float, **opts) -> dict:
    cmd = [str(bin_dir / "loanscore-load"), "--server", f"127.0.0.1:{port}", "--ca", str(certs / "ca.pem"),
           "--input", str(input_csv), "--duration", str(duration), "--warmup", "2", "--json"]
    for k, v in opts.items():
        cmd += [f"--{k}", str(v)]
    log(" ".join(cmd[1:]))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"loanscore-load failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to a server started in a session of its own (uvicorn and gunicorn workers are its
    children), SIGKILL to the group if it is still there 15 s later."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def median_of(runs: int, measure) -> dict:
    """Runs `measure()` `runs` times and returns the run with the median applications/s, with
    every run's rate under "runs" (this machine is shared: one run can be 15 % off another)."""
    results = sorted((measure() for _ in range(max(1, runs))), key=lambda r: r["applications_per_s"])
    chosen = dict(results[(len(results) - 1) // 2])  # the lower middle when even
    chosen["runs"] = [r["applications_per_s"] for r in results]
    return chosen


# ---- HTTP load (FastAPI / MLflow) -----------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("JSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"p999_us\\": %d, \\"max_us\\": %d}}\\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def http_load(url: str, body: bytes, per_request: int, connections: int, duration: float, tmp: Path) -> dict:
    """Closed loop; returns applications/s, requests/s and latency percentiles (ms)."""
    wrk = shutil.which("wrk")
    if wrk:
        bpath = tmp / f"body-{per_request}.json"
        bpath.write_bytes(body)
        lua = tmp / f"post-{per_request}.lua"
        lua.write_text(WRK_LUA.format(body=bpath))
        subprocess.run([wrk, "-t1", f"-c{connections}", "-d2s", "-s", str(lua), url], capture_output=True,
                       timeout=30)  # warm-up
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s",
                              "-s", str(lua), url], capture_output=True, text=True, timeout=duration + 60).stdout
        line = next(l for l in out.splitlines() if l.startswith("JSON "))
        r = json.loads(line[5:])
        rps = r["requests"] / (r["duration_us"] / 1e6)
        return {"tool": "wrk -t1 -c%d" % connections, "requests_per_s": rps, "applications_per_s": rps * per_request,
                "latency_ms": {k: r[f"{k}_us"] / 1000 for k in ("p50", "p90", "p99", "p999", "max")},
                "errors": r["errors"]}
    # fallback: Python threads, keep-alive connections
    import http.client
    import threading
    from urllib.parse import urlparse
    u = urlparse(url)
    lat, stop_at, lock = [], [0.0], threading.Lock()

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        mine = []
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            c.request("POST", u.path, body, {"Content-Type": "application/json"})
            c.getresponse().read()
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
    stop_at[0] = time.perf_counter() + duration
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(connections)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    el = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"tool": f"python http.client x{connections}", "requests_per_s": len(a) / el,
            "applications_per_s": len(a) * per_request / el,
            "latency_ms": {k: float(np.percentile(a, q)) for k, q in
                           (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9), ("max", 100))}, "errors": 0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", default=str(ROOT / "Data" / "credit_data.csv"))
    p.add_argument("--bin-dir", default=str(ROOT / ".build" / "release"))
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--pipeline", type=int, default=8)
    p.add_argument("--http-connections", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of each batch-256 comparison load (LoanScore and HTTP); the median is reported")
    p.add_argument("--mlflow-venv", default=str(HERE / ".venv-mlflow"),
                   help="a venv with mlflow, xgboost-cpu and scikit-learn (Bench/README.md)")
    p.add_argument("--mlflow-note", default="", help="why MLflow is absent, for the report")
    p.add_argument("--output", default=str(HERE / "results"))
    args = p.parse_args()
    bin_dir = Path(args.bin_dir)
    bundle = Path(args.bundle).resolve()
    holdout = bundle / "validation" / "holdout.csv"
    started = dt.datetime.now(dt.timezone.utc)
    m0 = machine()
    tmp = Path(tempfile.mkdtemp(prefix="loanscore-serve-"))
    R: dict = {"notes": []}

    # 1. in-process
    for key, extra in (("inprocess", []), ("inprocess_pd", ["--no-reasons"])):
        log(f"in-process rate (loanscore bench {' '.join(extra)}, batch 256, 2 threads)")
        out = subprocess.run([str(bin_dir / "loanscore"), "bench", "--bundle", str(bundle), "--input", str(holdout),
                              "--rows", "100000", "--batch", "256", "--threads", "2", "--json", *extra],
                             capture_output=True, text=True, check=True)
        R[key] = json.loads(out.stdout)

    # 2. loanscored
    certs = tmp / "certs"
    subprocess.run([str(ROOT / "scripts" / "make-certs.sh"), str(certs)], check=True, capture_output=True)
    def loanscored(*extra: str) -> tuple[subprocess.Popen, int]:
        """Starts loanscored and waits for its port; stops it again if the port never opens."""
        port, admin = free_port(), free_port()
        audit = tmp / f"audit{'-'.join(extra)}"
        with open(tmp / "loanscored.log", "a") as server_log:  # the child keeps its own descriptor
            server = subprocess.Popen([str(bin_dir / "loanscored"), "--bundle", str(bundle), "--listen",
                                       f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}", "--cert",
                                       str(certs / "server.pem"), "--key", str(certs / "server.key"), "--audit-dir",
                                       str(audit), "--log-level", "warning", *extra],
                                      stdout=subprocess.DEVNULL, stderr=server_log)
        try:
            wait_port(port, server)
        except BaseException:
            stop(server)
            raise
        return server, port

    c, pl = args.connections, args.pipeline
    server, port = loanscored()
    try:
        R["ls_batch256"] = load(bin_dir, port, certs, holdout, args.duration, connections=c, pipeline=pl, batch=256)
        # the same number of requests in flight as the HTTP servers get (--http-connections)
        R["ls_batch256_eq"] = median_of(args.repeat, lambda: load(bin_dir, port, certs, holdout, args.duration, connections=1,
                                                                 pipeline=args.http_connections, batch=256))
        R["ls_single_max"] = load(bin_dir, port, certs, holdout, args.duration, connections=c, pipeline=pl, batch=1)
        half = max(1, int(R["ls_single_max"]["requests_per_s"] / 2))
        R["ls_single_open"] = load(bin_dir, port, certs, holdout, args.duration, connections=c, batch=1, rate=half)
        R["ls_single_open"]["rate"] = half
    finally:
        stop(server)
    server, port = loanscored("--reason-codes", "none")
    try:
        R["ls_pd_batch256"] = load(bin_dir, port, certs, holdout, args.duration, connections=c, pipeline=pl, batch=256)
        R["ls_pd_batch256_eq"] = median_of(args.repeat, lambda: load(bin_dir, port, certs, holdout, args.duration,
                                                                    connections=1, pipeline=args.http_connections, batch=256))
        R["ls_pd_single_max"] = load(bin_dir, port, certs, holdout, args.duration, connections=c, pipeline=pl, batch=1)
    finally:
        stop(server)

    # 3. FastAPI
    from loanscore_train import features as lf
    _, H = lf.compute_features(bundle / "schema.json", holdout, binary=str(bin_dir / "loanscore"))
    rows = [[None if np.isnan(v) else float(v) for v in r] for r in H]

    def http_run(url: str, body: bytes, n: int, conns: int) -> dict:
        """One load run; batches (the comparisons at a threshold) the median of --repeat."""
        if n == 1:
            return http_load(url, body, n, conns, args.duration, tmp)
        return median_of(args.repeat, lambda: http_load(url, body, n, conns, args.duration, tmp))

    def fastapi_server(log_name: str, *extra: str) -> tuple[subprocess.Popen, str]:
        """Starts fastapi_server.py in a session of its own; returns it and its URL."""
        fport = free_port()
        with open(tmp / log_name, "w") as server_log:  # the child keeps its own descriptor
            proc = subprocess.Popen([sys.executable, str(HERE / "fastapi_server.py"), "--bundle", str(bundle),
                                     "--data", args.data, "--loanscore-bin", str(bin_dir / "loanscore"),
                                     "--port", str(fport), *extra], stdout=subprocess.DEVNULL, stderr=server_log,
                                    start_new_session=True)
        try:
            wait_port(fport, proc)
        except BaseException:
            stop_group(proc)
            raise
        return proc, f"http://127.0.0.1:{fport}/score"

    fastapi, url = fastapi_server("fastapi.log")
    try:
        for key, n, conns in (("fa_single", 1, args.http_connections), ("fa_single_1conn", 1, 1),
                              ("fa_batch256", 256, args.http_connections)):
            log(f"FastAPI {key}")
            R[key] = http_run(url, json.dumps({"rows": rows[:n]}).encode(), n, conns)
    finally:
        stop_group(fastapi)
    R["fastapi_parity"] = next((l.strip() for l in (tmp / "fastapi.log").read_text().splitlines() if "parity" in l), "")
    # The same endpoint with one uvicorn worker process per core, as a deployment on this machine
    # would run it (the single worker already runs requests on a thread pool).
    fastapi, url = fastapi_server("fastapi2.log", "--workers", "2")
    try:
        time.sleep(30)  # the port opens before both workers have refitted the model
        log("FastAPI, 2 workers, fa2_batch256")
        R["fa2_batch256"] = http_run(url, json.dumps({"rows": rows[:256]}).encode(), 256, args.http_connections)
    finally:
        stop_group(fastapi)

    # 4. MLflow
    R["mlflow"] = None
    mlflow_py = Path(args.mlflow_venv) / "bin" / "python"
    mlflow_bin = Path(args.mlflow_venv) / "bin" / "mlflow"
    if not mlflow_bin.exists():
        R["notes"].append(f"MLflow: not run — no MLflow at {mlflow_bin}. " + args.mlflow_note)
    else:
        model_dir = tmp / "mlflow-model"
        # mlflow starts `uvicorn` by name: the venv's bin must be on PATH
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE",
               "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        built = subprocess.run([str(mlflow_py), str(HERE / "mlflow_model.py"), "--bundle", str(bundle),
                                "--out", str(model_dir), "--data", args.data,
                                "--loanscore-bin", str(bin_dir / "loanscore")],
                               capture_output=True, text=True, env=env)
        if built.returncode != 0:
            R["notes"].append("MLflow: model could not be saved: " + built.stderr.strip()[-300:])
        else:
            mport = free_port()
            with open(tmp / "mlflow.log", "w") as server_log:  # the child keeps its own descriptor
                ml = subprocess.Popen([str(mlflow_bin), "models", "serve", "-m", str(model_dir), "--env-manager",
                                       "local", "-h", "127.0.0.1", "-p", str(mport)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=server_log, start_new_session=True)
            try:
                wait_port(mport, ml, 180)
                time.sleep(2)
                url = f"http://127.0.0.1:{mport}/invocations"
                for key, n in (("ml_single", 1), ("ml_batch256", 256)):
                    log(f"MLflow {key}")
                    R[key] = http_run(url, json.dumps({"inputs": rows[:n]}).encode(), n, args.http_connections)
                R["mlflow"] = True
            except Exception as e:  # noqa: BLE001
                R["notes"].append(f"MLflow: serving failed: {e}; " + (tmp / "mlflow.log").read_text()[-300:])
            finally:
                stop_group(ml)

    text = report(args, R, m0, machine(), started)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{started.strftime('%Y-%m-%d')}-serve.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    log(f"wrote {path}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(args, R, m0, m1, started) -> str:
    L = [f"# LoanScore end to end vs a FastAPI endpoint — {started.strftime('%Y-%m-%d %H:%M UTC')}", ""]
    L.append(f"* Machine: {m0['cpu']}, {m0['cores']} cores. **Shared with other engineers' work**: load average "
             f"{m0['load'][0]:.2f} at the start, {m1['load'][0]:.2f} at the end. Server and load generator share "
             "the same 2 cores.")
    L.append(f"* LoanScore commit {git_commit()}; `loanscored` release build over TLS (fresh EC P-256 certificates "
             f"from scripts/make-certs.sh) on 127.0.0.1, audit log on; `loanscore-load` with {args.connections} "
             f"connections, {args.pipeline} in flight per connection (closed loop), {args.duration:g} s after 2 s warm-up.")
    L.append("* FastAPI: Bench/fastapi_server.py (uvicorn, one worker; XGBoost Booster from the bundle's JSON, "
             "forest and logistic regression retrained with the Training package — same seed and rows — weighted "
             "mean and isotonic calibration). It receives model-ready rows and does no validation, features, "
             "reasons, audit or TLS. " + R.get("fastapi_parity", ""))
    L.append("")
    ip, ipd = R["inprocess"], R["inprocess_pd"]
    L.append(f"In-process (`loanscore bench`, batch 256, 2 threads): with reasons **{ip['applications_per_s']:,.0f} "
             f"applications/s**; PDs only (`--no-reasons`) **{ipd['applications_per_s']:,.0f} applications/s**.")
    L.append("")
    L.append("| server | load | applications/s | requests/s | p50 ms | p99 ms | p99.9 ms | errors |")
    L.append("|---|---|---:|---:|---:|---:|---:|---|")

    def row(name, how, r):
        lat = r["latency_ms"]
        if "runs" in r:
            how += f" — median of {len(r['runs'])}: " + ", ".join(f"{x:,.0f}" for x in r["runs"])
        L.append(f"| {name} | {how} | {r['applications_per_s']:,.0f} | {r['requests_per_s']:,.0f} | "
                 f"{lat['p50']:.3f} | {lat['p99']:.3f} | {lat.get('p999', float('nan')):.3f} | {r.get('errors') or 0} |")
    row("loanscored", "closed loop, batch 256", R["ls_batch256"])
    row("loanscored", f"closed loop, batch 256, {args.http_connections} in flight (as the HTTP runs)", R["ls_batch256_eq"])
    row("loanscored", "closed loop, single applications (max rate)", R["ls_single_max"])
    row("loanscored", f"open loop, single applications at {R['ls_single_open']['rate']:,}/s (half max)", R["ls_single_open"])
    row("loanscored, reason codes none", "closed loop, batch 256", R["ls_pd_batch256"])
    row("loanscored, reason codes none", f"closed loop, batch 256, {args.http_connections} in flight", R["ls_pd_batch256_eq"])
    row("loanscored, reason codes none", "closed loop, single applications (max rate)", R["ls_pd_single_max"])
    row("FastAPI", f"closed loop ({R['fa_batch256']['tool']}), batch 256", R["fa_batch256"])
    row("FastAPI, 2 workers", f"closed loop ({R['fa2_batch256']['tool']}), batch 256", R["fa2_batch256"])
    row("FastAPI", f"closed loop ({R['fa_single']['tool']}), single applications", R["fa_single"])
    row("FastAPI", f"closed loop ({R['fa_single_1conn']['tool']}), single applications", R["fa_single_1conn"])
    if R.get("mlflow"):
        row("mlflow models serve", f"closed loop ({R['ml_batch256']['tool']}), batch 256", R["ml_batch256"])
        row("mlflow models serve", f"closed loop ({R['ml_single']['tool']}), single applications", R["ml_single"])
    L.append("")
    L.extend(f"* {n}" for n in R["notes"])
    L.append("")
    L.append("Closed-loop latency is mostly queueing: p50 ≈ requests in flight × batch ÷ rate. The batch-256 "
             "comparisons with FastAPI and MLflow use the loanscored run with as many requests in flight as "
             "wrk's connections, each side the median of --repeat runs; single applications compare loanscored's max-rate run (16 in flight) with wrk's "
             "4 connections.")
    L.append("")
    L.append("## Ratios and targets (issue 4, item 5)")
    L.append("")
    b = R["ls_batch256"]["applications_per_s"] / ip["applications_per_s"]
    L.append(f"- [{'x' if b >= 0.5 else ' '}] batch 256 over TLS >= 50 % of the in-process rate: "
             f"**{'PASS' if b >= 0.5 else 'FAIL'}** — {b * 100:.0f} %")
    b = R["ls_pd_batch256"]["applications_per_s"] / ipd["applications_per_s"]
    L.append(f"- [{'x' if b >= 0.5 else ' '}] the same, PDs only (reason codes none against `--no-reasons`): "
             f"**{'PASS' if b >= 0.5 else 'FAIL'}** — {b * 100:.0f} %")
    p99 = R["ls_single_open"]["latency_ms"]["p99"]
    L.append(f"- [{'x' if p99 <= 1 else ' '}] single applications, open loop at half the max rate, p99 <= 1 ms: "
             f"**{'PASS' if p99 <= 1 else 'FAIL'}** — {p99:.3f} ms")
    like = "PDs only, the same work as the HTTP endpoint"
    # At batch 256 the faster FastAPI deployment (one or two workers) is the one to beat.
    fa256 = max(R["fa_batch256"], R["fa2_batch256"], key=lambda r: r["applications_per_s"])
    for label, ls, fa in (("batch 256, with reasons", R["ls_batch256_eq"], fa256),
                          (f"batch 256, {like}", R["ls_pd_batch256_eq"], fa256),
                          ("single applications, with reasons", R["ls_single_max"], R["fa_single"]),
                          (f"single applications, {like}", R["ls_pd_single_max"], R["fa_single"])):
        ratio = ls["applications_per_s"] / fa["applications_per_s"]
        better = ls["latency_ms"]["p99"] <= fa["latency_ms"]["p99"]
        ok = ratio >= 20 and better
        L.append(f"- [{'x' if ok else ' '}] {label}: >= 20 × FastAPI's throughput at equal or better p99: "
                 f"**{'PASS' if ok else 'FAIL'}** — {ratio:.1f} × ({ls['applications_per_s']:,.0f} vs "
                 f"{fa['applications_per_s']:,.0f} applications/s); p99 {ls['latency_ms']['p99']:.3f} vs "
                 f"{fa['latency_ms']['p99']:.3f} ms")
    if R.get("mlflow"):
        for label, ls, ml in (("batch 256, with reasons", R["ls_batch256_eq"], R["ml_batch256"]),
                              (f"batch 256, {like}", R["ls_pd_batch256_eq"], R["ml_batch256"]),
                              ("single applications, with reasons", R["ls_single_max"], R["ml_single"]),
                              (f"single applications, {like}", R["ls_pd_single_max"], R["ml_single"])):
            ratio = ls["applications_per_s"] / ml["applications_per_s"]
            ok = ratio >= 20 and ls["latency_ms"]["p99"] <= ml["latency_ms"]["p99"]
            L.append(f"- [{'x' if ok else ' '}] {label}: >= 20 × MLflow's throughput at equal or better p99: "
                     f"**{'PASS' if ok else 'FAIL'}** — {ratio:.1f} × ({ls['applications_per_s']:,.0f} vs "
                     f"{ml['applications_per_s']:,.0f} applications/s); p99 {ls['latency_ms']['p99']:.3f} vs "
                     f"{ml['latency_ms']['p99']:.3f} ms")
    else:
        L.append("- [ ] >= 20 × MLflow's scoring server: **NOT MEASURED** — see the MLflow note above")
    L.append("")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
