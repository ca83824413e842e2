"""The MLflow registry: `train --register`, `registry promote|history|list|pull`.

Runs the same scenario against the embedded default (`sqlite:///mlruns.db` in the current
directory) and against a real `mlflow server` (SQLite backend, local artifact store) started
here on loopback. Needs the `mlflow` package (fails, never skips, without it) and LoanScore's
CLI (conftest.require_loanscore). Bundles are trained once, small (german_credit, 1 trial).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import DATA, require_loanscore

MODEL = "german"


def require_mlflow() -> None:
    try:
        import mlflow  # noqa: F401
    except ImportError as e:
        pytest.fail(f"these tests need the `mlflow` package ({e}): pip install -e 'Training[test]'",
                    pytrace=False)


def _env(**extra) -> dict:
    """This environment without MLflow settings, importing this checkout's loanscore_train
    from any working directory."""
    import loanscore_train
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    src = str(Path(loanscore_train.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def cli(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`loanscore-train ARGS` as a user runs it (a new process), in `cwd`."""
    return subprocess.run([sys.executable, "-m", "loanscore_train.cli", *map(str, args)],
                          cwd=cwd, env=env or _env(), capture_output=True, text=True)


def in_process(capsys, *args) -> tuple[int, str, str]:
    """`loanscore-train ARGS` in this process (mlflow stays imported: fast); (code, out, err)."""
    from loanscore_train import cli as tool
    code = tool.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _schema_variant(tmp: Path, name: str, features=None) -> Path:
    """german_credit's schema with its protected fields made ordinary ones (so no fairness
    table can flag a group) and, with `features`, only those fields as model features (the
    others `"feature": false`, no derived features): the data file stays the same, so every
    variant has the same holdout rows with every column."""
    schema = json.loads((DATA / "german_credit.schema.json").read_text())
    for f in schema["fields"]:
        f["protected"] = False
        if features is not None and f["name"] not in features:
            f["feature"] = False
    if features is not None:
        schema["derived"] = []
    path = tmp / f"{name}.schema.json"
    path.write_text(json.dumps(schema, indent=2))
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Three bundles trained side by side (one trial each):
    good — german_credit, protected fields made ordinary (passes every check), trained with
           `--register german` into the embedded default registry of `embedded_dir`;
    weak — three weak fields only (holdout ROC AUC far below good's, same holdout rows);
    flagged — the full schema (its fairness table flags age under 25)."""
    require_mlflow()
    require_loanscore()
    tmp = tmp_path_factory.mktemp("registry")
    embedded = tmp / "embedded"
    embedded.mkdir()
    good_schema = _schema_variant(tmp, "good")
    weak_schema = _schema_variant(tmp, "weak", ("present_residence_since", "telephone", "job"))
    data = DATA / "german_credit.csv"
    jobs = {
        "good": (good_schema, ["--register", MODEL], embedded),
        "weak": (weak_schema, [], tmp),
        "flagged": (DATA / "german_credit.schema.json", [], tmp),
    }

    def train(name):
        schema, extra, cwd = jobs[name]
        out = tmp / name
        proc = cli("train", "--data", data, "--schema", schema, "--output", out, "--trials", "1",
                   "--json", *extra, cwd=cwd)
        assert proc.returncode == 0, f"training {name} failed:\n{proc.stderr}"
        return name, (out, json.loads(proc.stdout))

    with ThreadPoolExecutor(3) as pool:
        done = dict(pool.map(train, jobs))
    return {"tmp": tmp, "embedded": embedded, **done}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on loopback: SQLite backend, artifacts proxied to a local folder."""
    require_mlflow()
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    exe = Path(sys.executable).with_name("mlflow")
    command = [str(exe) if exe.exists() else "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
               "--artifacts-destination", str(tmp / "artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = open(tmp / "server.log", "wb")
    # No job runner: four huey consumers of ~240 MB each that these tests never use.
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            env=_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("mlflow server did not start:\n"
                        + (tmp / "server.log").read_text(errors="replace")[-3000:], pytrace=False)
        time.sleep(0.2)
    yield {"url": url, "artifacts": tmp / "artifacts"}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _copy(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest)
    return dest


def _break_parity(bundle: Path) -> Path:
    """A copy whose validation/predictions.csv disagrees with its members, re-hashed so that
    only `loanscore bundle verify`'s parity check can find it."""
    from loanscore_train.bundle import sha256_file
    preds = bundle / "validation" / "predictions.csv"
    lines = preds.read_text().splitlines()
    cells = lines[1].split(",")
    cells[-1] = repr(min(0.999, float(cells[-1]) + 0.2))
    lines[1] = ",".join(cells)
    preds.write_text("\n".join(lines) + "\n")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["validation/predictions.csv"] = sha256_file(preds)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return bundle


def _register(uri: str, bundle: Path) -> str:
    """Logs `bundle` as a run and registers it as the next version of MODEL (what `train
    --register` does after training)."""
    from loanscore_train import registry, registry_log
    reg = registry.connect(uri, create=True)
    _, version = registry_log.log_bundle(reg, bundle, experiment="loanscore",
                                         params={"test": "1"}, register=MODEL)
    return version


def _artifact_file(root: Path, run_id: str, rel: str) -> Path:
    """The stored copy of bundle file `rel` of run `run_id` under an artifact root."""
    found = [p for p in root.rglob(rel) if run_id in p.as_posix() and "/bundle/" in p.as_posix()]
    assert len(found) == 1, f"artifact {rel} of run {run_id} not found under {root}: {found}"
    return found[0]


def scenario(capsys, bundles, uri_args: list[str], artifacts: Path, cwd: Path) -> None:
    """The whole life of MODEL in one registry: versions, refused and accepted promotions,
    the trail, pulls. `uri_args` is [] for the embedded default (run from `cwd`)."""
    uri = uri_args[1] if uri_args else f"sqlite:///{cwd / 'mlruns.db'}"
    tmp = bundles["tmp"] / ("server" if uri_args else "embedded-copies")
    tmp.mkdir()
    good = bundles["good"][0]
    if uri_args:                                   # the embedded registry got v1 from train
        assert _register(uri, good) == "1"
    assert _register(uri, bundles["weak"][0]) == "2"
    assert _register(uri, bundles["flagged"][0]) == "3"
    assert _register(uri, _break_parity(_copy(good, tmp / "parity"))) == "4"
    assert _register(uri, good) == "5"

    def run(*args):
        return in_process(capsys, "registry", *args, *uri_args)

    # First champion: nothing to compare with.
    code, out, err = run("promote", MODEL, "--version", "1", "--alias", "champion",
                         "--approved-by", "ann", "--note", "first model")
    assert code == 0, err
    assert "version 1 of german is now champion" in out and "no current champion" in out
    # Refusals name their check, exit 3, move nothing.
    refusals = [("2", "champion", "holdout AUC"), ("3", "champion", "fairness gate"),
                ("4", "challenger", "bundle verify")]
    errors = {}
    for version, alias, check in refusals:
        code, out, errors[check] = run("promote", MODEL, "--version", version, "--alias", alias,
                                       "--approved-by", "bob")
        assert code == 3, f"v{version}: {errors[check]}"
        assert f"check '{check}' failed" in errors[check], errors[check]
        assert "Traceback" not in errors[check] and len(errors[check].splitlines()) == 1
    assert "below the champion's" in errors["holdout AUC"] and "--max-auc-drop 0.01" in \
        errors["holdout AUC"]
    assert "age_in_years = under 25" in errors["fairness gate"]
    code, out, _ = run("list", MODEL, "--json")
    listed = {v["version"]: v for v in json.loads(out)["versions"]}
    assert listed["1"]["aliases"] == ["champion"] and not listed["4"]["aliases"]
    # The weak model may be a challenger (no AUC check there), then the good copy champion.
    code, out, err = run("promote", MODEL, "--version", "2", "--alias", "challenger",
                         "--approved-by", "bob", "--note", "shadow it")
    assert code == 0, err
    code, out, err = run("promote", MODEL, "--version", "5", "--alias", "champion",
                         "--approved-by", "carol", "--note", "retrained", "--json")
    assert code == 0, err
    promoted = json.loads(out)
    assert promoted["previous"] == "1"
    assert any(c.startswith("holdout AUC") for c in promoted["checks"])
    assert any(c.startswith("bundle verify: passed") for c in promoted["checks"])
    code, out, err = run("promote", MODEL, "--version", "5", "--alias", "champion",
                         "--approved-by", "carol")
    assert code == 0 and "nothing changed" in out
    # The trail.
    code, out, err = run("history", MODEL, "--json")
    trail = json.loads(out)
    events = [(e["version"], e["alias"], e["approved_by"]) for e in trail["promotions"]]
    assert events == [("1", "champion", "ann"), ("2", "challenger", "bob"),
                      ("5", "champion", "carol")], events
    v5 = [e for e in trail["promotions"] if e["version"] == "5"][0]
    assert v5["previous"] == "1" and v5["note"] == "retrained" and v5["approved_at"].endswith("Z")
    versions = {v["version"]: v for v in trail["versions"]}
    assert versions["1"]["archived"].startswith("replaced as champion by version 5")
    assert versions["5"]["aliases"] == ["champion"] and versions["2"]["aliases"] == ["challenger"]
    code, text, _ = run("history", MODEL)
    assert code == 0 and "approved (UTC)" in text and "carol" in text and "retrained" in text
    sys.stderr.write(text + "\n")
    # Pull: download, hashes, links; idempotent; a damaged download leaves the link.
    deploy = tmp / "deploy"
    code, out, err = run("pull", f"{MODEL}@challenger", "--into", deploy)
    assert code == 0, err
    assert os.readlink(deploy / "challenger") == "german-2"
    code, out, err = run("pull", f"{MODEL}@champion", "--into", deploy, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["downloaded"] and first["relinked"]
    assert os.readlink(deploy / "current") == "german-5"
    manifest = json.loads((deploy / "current" / "manifest.json").read_text())
    assert manifest["files"] and (deploy / "german-5" / "report.html").is_file()
    code, out, err = run("pull", f"{MODEL}@champion", "--into", deploy, "--json")
    again = json.loads(out)
    assert code == 0 and not again["downloaded"] and not again["relinked"]
    # v1 back as champion by hand (AUC identical), pulled; then damage v5's stored copy.
    code, out, err = run("promote", MODEL, "--version", "1", "--alias", "champion",
                         "--approved-by", "dan")
    assert code == 0, err
    code, out, err = run("pull", f"{MODEL}@champion", "--into", deploy)
    assert code == 0 and os.readlink(deploy / "current") == "german-1", err
    shutil.rmtree(deploy / "german-5")
    from loanscore_train import registry
    v5_run = registry.connect(uri).model_version(MODEL, "5").run_id
    stored = _artifact_file(artifacts, v5_run, "schema.json")
    original = stored.read_bytes()
    stored.write_bytes(original + b" ")
    code, out, err = run("promote", MODEL, "--version", "5", "--alias", "champion",
                         "--approved-by", "eve")
    assert code == 3 and "check 'hashes' failed" in err and "schema.json" in err, err
    # The alias moves without the checks only through MLflow itself: simulate an operator who
    # pointed it by hand, then a pull that must refuse the damaged copy.
    registry.connect(uri).set_alias(MODEL, "champion", "5")
    code, out, err = run("pull", f"{MODEL}@champion", "--into", deploy)
    assert code == 3 and "check 'hashes' failed" in err and "left as it was" in err, err
    assert os.readlink(deploy / "current") == "german-1"
    assert not (deploy / "german-5").exists()
    assert sorted(p.name for p in deploy.iterdir()) == ["challenger", "current", "german-1",
                                                        "german-2"]
    stored.write_bytes(original)
    code, out, err = run("pull", f"{MODEL}@champion", "--into", deploy)
    assert code == 0 and os.readlink(deploy / "current") == "german-5", err
    verify = subprocess.run([require_loanscore(), "bundle", "verify", str(deploy / "current")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    # Every approval stays in the trail, a version promoted twice included.
    code, out, err = run("history", MODEL, "--json")
    events = [(e["version"], e["alias"], e["approved_by"]) for e in json.loads(out)["promotions"]]
    assert events == [("1", "champion", "ann"), ("2", "challenger", "bob"),
                      ("5", "champion", "carol"), ("1", "champion", "dan")], events
    checks = json.loads(out)["promotions"][-1]["checks"]
    assert isinstance(checks, list) and checks[0].startswith("hashes: ")


def test_embedded_registry(capsys, bundles, monkeypatch):
    """The default: `train --register` with no URI wrote ./mlruns.db; registry commands run
    from that folder with no --mlflow-uri find it; artifacts are beside it."""
    cwd = bundles["embedded"]
    monkeypatch.chdir(cwd)
    for key in [k for k in os.environ if k.startswith("MLFLOW_TRACKING")]:
        monkeypatch.delenv(key)
    result = bundles["good"][1]
    assert result["mlflow"]["version"] == "1" and result["mlflow"]["model"] == MODEL
    assert (cwd / "mlruns.db").is_file() and (cwd / "mlartifacts").is_dir()
    _check_logged_run(f"sqlite:///{cwd / 'mlruns.db'}", result["mlflow"]["run_id"],
                      bundles["good"][0])
    scenario(capsys, bundles, [], cwd / "mlartifacts", cwd)


def test_tracking_server(capsys, bundles, mlflow_server, tmp_path):
    scenario(capsys, bundles, ["--mlflow-uri", mlflow_server["url"]],
             mlflow_server["artifacts"], tmp_path)


def _check_logged_run(uri: str, run_id: str, bundle: Path) -> None:
    """The run `train --register` logged: parameters, leaderboard metrics, lineage tags,
    report.html and the whole bundle as artifacts."""
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    manifest = json.loads((bundle / "manifest.json").read_text())
    lineage = manifest["lineage"]
    assert run.data.params["trials"] == "1" and run.data.params["seed"] == "42"
    assert abs(run.data.metrics["ensemble.holdout.roc_auc"]
               - manifest["metrics"]["ensemble"]["holdout"]["roc_auc"]) < 1e-12
    assert "members.xgboost.cv_roc_auc" in run.data.metrics
    assert run.data.tags["training_data.sha256"] == lineage["training_data"]["sha256"]
    assert run.data.tags["code_commit"] == lineage["code_commit"]
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "bundle"} <= top
    stored = {a.path for a in client.list_artifacts(run_id, "bundle")}
    assert "bundle/manifest.json" in stored and "bundle/members" in stored


def test_errors(capsys, bundles, monkeypatch, tmp_path):
    """Each error: one line, no traceback, the documented exit status."""
    cwd = bundles["embedded"]
    monkeypatch.chdir(cwd)
    cases = [
        (("registry", "promote", "nosuch", "--version", "1", "--alias", "champion",
          "--approved-by", "x"), 2, "has no model 'nosuch'"),
        (("registry", "promote", MODEL, "--version", "99", "--alias", "champion",
          "--approved-by", "x"), 2, "has no version 99"),
        (("registry", "pull", f"{MODEL}@staging", "--into", tmp_path / "d"), 2,
         "no version of 'german' holds the alias 'staging'"),
        (("registry", "pull", f"{MODEL}@production", "--into", tmp_path / "d"), 2,
         "alias 'production' does not exist"),
        (("registry", "pull", MODEL, "--into", tmp_path / "d"), 2, "is not MODEL@ALIAS"),
        (("registry", "list", MODEL, "--mlflow-uri", f"sqlite:///{tmp_path / 'none.db'}"), 4,
         "no registry at"),
        (("registry", "history", MODEL, "--mlflow-uri", f"http://127.0.0.1:{_free_port()}"), 4,
         "could not be reached: Connection refused"),
    ]
    for args, status, text in cases:
        code, out, err = in_process(capsys, *args)
        assert code == status and text in err, (args, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    # argparse's own refusals (exit 2): an alias that does not exist, a bad version, a bad drop.
    for bad in (["--alias", "production"], ["--alias", "champion", "--version", "x"],
                ["--alias", "champion", "--max-auc-drop", "2"]):
        proc = cli("registry", "promote", MODEL, "--version", "1", "--approved-by", "x", *bad,
                   cwd=cwd)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    # train refuses an unreachable registry before any fitting, writing no bundle.
    proc = cli("train", "--data", DATA / "german_credit.csv", "--schema",
               DATA / "german_credit.schema.json", "--output", tmp_path / "never",
               "--register", MODEL, "--mlflow-uri", f"http://127.0.0.1:{_free_port()}", cwd=cwd)
    assert proc.returncode == 4 and "could not be reached" in proc.stderr, proc.stderr
    assert "computing features" not in proc.stderr and not (tmp_path / "never").exists()
    # --reload against an admin port nobody listens on: exit 4 after the pull itself.
    from loanscore_train import registry
    registry.connect(f"sqlite:///{cwd / 'mlruns.db'}").set_alias(MODEL, "staging", "1")
    code, out, err = in_process(capsys, "registry", "pull", f"{MODEL}@staging", "--into",
                                tmp_path / "r", "--reload", f"http://127.0.0.1:{_free_port()}")
    assert code == 4 and "cannot reach loanscored" in err, err
    assert os.readlink(tmp_path / "r" / "staging") == "german-1"


@pytest.mark.parametrize("command", ["promote", "history", "list", "pull"])
def test_every_registry_option_is_explained(command):
    from loanscore_train.cli import parser
    registry_parser = parser()._subparsers._group_actions[0].choices["registry"]  # noqa: SLF001
    sub = registry_parser._subparsers._group_actions[0].choices[command]           # noqa: SLF001
    for action in sub._actions:                                                     # noqa: SLF001
        assert action.help, f"registry {command} {action.option_strings} has no help text"
    text = sub.format_help()
    assert "--mlflow-uri" in text and "MLFLOW_TRACKING_URI" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    if command == "promote":
        assert "(default: 0.01)" in text and "champion" in text


def test_train_without_mlflow_options_does_not_import_mlflow(tmp_path):
    """Without --mlflow-uri/--experiment/--register the command line never loads mlflow."""
    code = ("import sys; from loanscore_train import cli, train;"
            "train.run = lambda a: print('mlflow' in sys.modules, a.experiment) or 0;"
            f"sys.exit(cli.main(['train', '--data', 'x.csv', '--schema', 's.json', '--output', "
            f"{str(tmp_path / 'b')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False None"


def _loanscored(bundle: Path, tmp: Path, admin_port: int) -> subprocess.Popen:
    """A real loanscored serving `bundle` (a link) with its admin port on loopback; returns once
    it reports serving (its own log line, read as it comes; at most 60 s)."""
    from loanscore_train.features import REPO_ROOT
    exe = Path(os.environ.get("LOANSCORED_BIN") or REPO_ROOT / ".build" / "debug" / "loanscored")
    if not exe.is_file():
        pytest.fail(f"this test needs loanscored: {exe} is missing; run `swift build` or set "
                    "LOANSCORED_BIN", pytrace=False)
    certs = tmp / "certs"
    subprocess.run([str(REPO_ROOT / "scripts" / "make-certs.sh"), str(certs)], check=True,
                   capture_output=True)
    port = _free_port()
    proc = subprocess.Popen(
        [str(exe), "--bundle", str(bundle), "--listen", f"127.0.0.1:{port}",
         "--cert", str(certs / "server.pem"), "--key", str(certs / "server.key"),
         "--admin", f"127.0.0.1:{admin_port}", "--audit-dir", str(tmp / "audit"),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, ready = [], threading.Event()

    def pump():                                    # reads loanscored's log until it exits
        for line in proc.stderr:
            seen.append(line)
            if f"127.0.0.1:{port}" in line and "serving" in line:
                ready.set()
    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        pytest.fail("loanscored did not report serving:\n" + "".join(seen[-30:]), pytrace=False)
    return proc


def test_pull_reload_on_live_loanscored(capsys, bundles, monkeypatch, tmp_path):
    """`pull --reload` against a real loanscored serving DIR/current: the new version serves."""
    from loanscore_train import registry
    cwd = bundles["embedded"]
    monkeypatch.chdir(cwd)
    reg = registry.connect(f"sqlite:///{cwd / 'mlruns.db'}")
    if len(reg.versions(MODEL)) < 2:                       # run alone: add the weak bundle
        _register(reg.uri, bundles["weak"][0])
    weak_version = str(reg.versions(MODEL)[1].version)
    reg.set_alias(MODEL, "staging", "1")             # aliases set directly: this is about pull
    deploy = tmp_path / "deploy"
    code, out, err = in_process(capsys, "registry", "pull", f"{MODEL}@staging", "--into", deploy)
    assert code == 0, err
    admin = _free_port()
    server = _loanscored(deploy / "staging", tmp_path, admin)
    try:
        reg.set_alias(MODEL, "staging", weak_version)
        code, out, err = in_process(capsys, "registry", "pull", f"{MODEL}@staging", "--into",
                                    deploy, "--reload", f"http://127.0.0.1:{admin}", "--json")
        assert code == 0, err
        answer = json.loads(out)["reload"]
        weak = json.loads((bundles["weak"][0] / "manifest.json").read_text())["model"]["version"]
        assert answer["status"] == 200 and "outcome: reloaded" in answer["answer"], answer
        assert f"version: {weak}" in answer["answer"], answer
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/model", timeout=10) as r:
            assert weak in r.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_waivers_approval_digest_and_early_refusals(capsys, bundles, tmp_path, monkeypatch):
    """A fairness finding waived on the approver's authority is recorded as such; a bundle
    edited in the artifact store after its approval is refused by pull; a foreign database,
    a malformed --reload address and a model name MLflow rejects are refused before anything
    changes."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert _register(uri, bundles["flagged"][0]) == "1"

    def run(*args):
        return in_process(capsys, "registry", *args, "--mlflow-uri", uri)

    promote = ("promote", MODEL, "--version", "1", "--alias", "champion", "--approved-by", "ann")
    code, _, err = run(*promote)
    assert code == 3 and "check 'fairness gate' failed" in err, err
    code, _, err = run(*promote, "--waive", "fairness-gate")
    assert code == 2 and "--waive and --waiver-reason go together" in err, err
    proc = cli("registry", "promote", MODEL, "--version", "1", "--alias", "champion",
               "--approved-by", "ann", "--waive", "hashes", "--waiver-reason", "x",
               "--mlflow-uri", uri, cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'hashes'" in proc.stderr, proc.stderr
    code, out, err = run(*promote, "--waive", "fairness-gate", "--waiver-reason",
                         "credit committee 2026-12-03 item 4: age under 25 accepted", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["waived"] == ["fairness gate"] and len(done["manifest_sha256"]) == 64
    assert any(c.startswith("fairness gate: WAIVED by ann (credit committee") for c in done["checks"])
    code, out, _ = run("history", MODEL, "--json")
    approval = json.loads(out)["promotions"][-1]
    assert approval["waived"] == ["fairness gate"] and approval["waiver_reason"].startswith("credit committee")
    assert approval["manifest_sha256"] == done["manifest_sha256"]
    code, text, _ = run("history", MODEL)
    assert "fairness gate WAIVED" in text, text

    # Edit the approved bundle's cut-off in the artifact store (its own hashes stay right:
    # the manifest is not among its files): pull refuses it.
    from loanscore_train import registry
    run_id = registry.connect(uri).model_version(MODEL, "1").run_id
    stored = _artifact_file(tmp_path / "mlartifacts", run_id, "manifest.json")
    original = stored.read_text()
    manifest = json.loads(original)
    manifest["policy"]["approve_below"] = 0.95
    stored.write_text(json.dumps(manifest, indent=2) + "\n")
    code, _, err = run("pull", f"{MODEL}@champion", "--into", tmp_path / "deploy")
    assert code == 3 and "is not the one approved as champion by ann" in err, err
    assert not (tmp_path / "deploy" / "current").is_symlink()
    stored.write_text(original)
    code, _, err = run("pull", f"{MODEL}@champion", "--into", tmp_path / "deploy")
    assert code == 0 and os.readlink(tmp_path / "deploy" / "current") == "german-1", err

    # A malformed --reload address: exit 2 before anything is downloaded or relinked.
    for bad in ("notaurl", "http://[::1", "http://127.0.0.1"):
        proc = cli("registry", "pull", f"{MODEL}@champion", "--into", tmp_path / "r",
                   "--reload", bad, "--mlflow-uri", uri, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert not (tmp_path / "r").exists()

    # Another SQLite database is not made into a registry.
    import sqlite3
    other = tmp_path / "accounts.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    before = other.read_bytes()
    code, _, err = in_process(capsys, "registry", "list", MODEL, "--mlflow-uri", f"sqlite:///{other}")
    assert code == 4 and "is not an MLflow registry" in err, err
    assert other.read_bytes() == before

    # A model name MLflow would refuse only after training and logging: exit 2 at once.
    proc = cli("train", "--data", DATA / "german_credit.csv", "--schema",
               DATA / "german_credit.schema.json", "--output", tmp_path / "never",
               "--register", "a/b", "--mlflow-uri", uri, cwd=tmp_path)
    assert proc.returncode == 2 and "may not contain '/'" in proc.stderr, proc.stderr
    assert not (tmp_path / "never").exists()
