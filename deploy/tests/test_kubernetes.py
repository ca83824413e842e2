"""deploy/kubernetes: every manifest parses and validates against the Kubernetes API's own
schemas (kubernetes-validate, strict: an unknown or misspelt field fails), the pieces point at
each other (selectors, ports, Secret keys, the ConfigMap's paths and the volumes that hold
them), the probes use the admin port's real paths, the grace period covers the drain, and the
ConfigMap's loanscored.json starts a real loanscored (its paths moved to a temporary folder).
"""
import json
import signal
import subprocess
import time
from pathlib import PurePosixPath

import pytest
import yaml

from conftest import REPO, binary, free_port, http

K8S = REPO / "deploy" / "kubernetes"
NAMESPACE = "loanscore"
CLUSTER_SCOPED = {"Namespace"}
# The oldest Kubernetes these manifests are for (the preStop sleep action is on by default
# from 1.30), and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", None)
# loanscore-stream's command line, as issue 17 specifies it.
STREAM_FLAGS = {"--brokers", "--group", "--input-topic", "--output-topic", "--dead-letter-topic", "--server",
                "--ca", "--cert", "--key", "--batch", "--linger-ms", "--metrics"}


def manifests():
    """(file name, document) of every non-empty YAML document under deploy/kubernetes."""
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path.name, doc))
    return found


def one(kind, name=None):
    docs = [d for _, d in manifests() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(docs) == 1, f"expected one {kind} {name or ''}, found {len(docs)}"
    return docs[0]


def container(pod_spec, name):
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def strict_json(text):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dupes = {k for k in keys if keys.count(k) > 1}
        assert not dupes, f"duplicate keys {dupes}"
        return dict(pairs)
    return json.loads(text, object_pairs_hook=no_duplicates)


def server_config():
    return strict_json(one("ConfigMap", "loanscored-config")["data"]["loanscored.json"])


def statefulset():
    return one("StatefulSet", "loanscored")


def pod_spec():
    return statefulset()["spec"]["template"]["spec"]


def mount_for(c, path):
    """The volume mount of container `c` that holds `path` (the deepest one)."""
    best = None
    for m in c.get("volumeMounts", []):
        if PurePosixPath(path).is_relative_to(m["mountPath"]):
            if best is None or len(m["mountPath"]) > len(best["mountPath"]):
                best = m
    assert best is not None, f"{path} is on no volume of container {c['name']} (its root filesystem is read-only)"
    return best


def secret_key_for(spec, c, path):
    """(Secret name, key) that the file `path` comes from in container `c`."""
    m = mount_for(c, path)
    volume = next(v for v in spec["volumes"] if v["name"] == m["name"])
    assert "secret" in volume, f"{path} is not from a Secret (volume {m['name']})"
    return volume["secret"]["secretName"], str(PurePosixPath(path).relative_to(m["mountPath"]))


# ------------------------------------------------------------------ syntax and schema

def test_every_document_parses_and_names_itself():
    docs = manifests()
    kinds = {d["kind"] for _, d in docs}
    assert {"StatefulSet", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret",
            "Deployment", "Namespace"} <= kinds
    for name, d in docs:
        assert d.get("apiVersion") and d.get("kind"), name
        if d["kind"] == "Kustomization":
            continue
        assert d.get("metadata", {}).get("name"), f"{name}: {d['kind']} without metadata.name"
        if d["kind"] not in CLUSTER_SCOPED:
            assert d["metadata"].get("namespace") == NAMESPACE, f"{name}: {d['kind']} {d['metadata']['name']}"


def test_every_document_validates_against_the_kubernetes_schemas():
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: it is in Training's test extra "
                    "(pip install -e 'Training[test]', or make venv)")
    failures = []
    for name, d in manifests():
        if d["kind"] == "Kustomization":
            continue
        for version in KUBERNETES_VERSIONS:
            version = version or kubernetes_validate.latest_version()
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except Exception as e:  # ValidationError, or a schema that version lacks
                failures.append(f"{name}: {d['kind']} {d['metadata']['name']} (Kubernetes {version}): {str(e)[:400]}")
    assert not failures, "\n".join(failures)


def test_kustomization_lists_every_manifest_but_the_secret_templates():
    kustomization = one("Kustomization")
    assert kustomization["namespace"] == NAMESPACE
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "loanscore-tls.yaml"}
    assert set(kustomization["resources"]) == files
    assert "loanscore-tls.yaml" not in kustomization["resources"], "applying it would overwrite real keys"


# ------------------------------------------------------------------ the appliance

def test_the_appliance_is_a_statefulset_with_an_audit_volume_per_pod():
    s = statefulset()
    templates = {t["metadata"]["name"]: t for t in s["spec"]["volumeClaimTemplates"]}
    assert templates["audit"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert s["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    c = container(pod_spec(), "loanscored")
    config = server_config()
    assert mount_for(c, config["audit_dir"])["name"] == "audit"
    assert mount_for(c, config["audit"]["archive_dir"])["name"] == "audit"
    # Its own folder on the volume (an ext4 volume's root holds lost+found).
    assert config["audit_dir"] != mount_for(c, config["audit_dir"])["mountPath"]
    # The headless Service the StatefulSet names.
    headless = one("Service", s["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


def test_probes_point_at_the_admin_ports_real_paths():
    c = container(pod_spec(), "loanscored")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    config = server_config()
    assert ports["admin"] == int(config["admin"].rsplit(":", 1)[1])
    assert ports["scoring"] == int(config["listen"].rsplit(":", 1)[1])
    assert config["admin"].startswith("0.0.0.0:"), "the kubelet probes the pod's address, not its loopback"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    admin_source = (REPO / "Sources" / "LoanScoreServer" / "AdminHandler.swift").read_text()
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = c[probe]["httpGet"]
        assert get["port"] in ("admin", ports["admin"])
        assert f'case (.GET, "{get["path"]}")' in admin_source, f"{probe}: no GET {get['path']} on the admin port"


def test_grace_period_covers_the_pre_stop_pause_and_the_drain():
    spec = pod_spec()
    pre_stop = container(spec, "loanscored")["lifecycle"]["preStop"]
    pause = pre_stop["sleep"]["seconds"]
    drain = server_config()["timeouts"]["drain"]
    # The grace period runs from the start of preStop: the pause, then SIGTERM and the drain,
    # then closing the admin port, the worker pool and the audit log (its final fsync).
    assert spec["terminationGracePeriodSeconds"] >= pause + drain + 5, (spec["terminationGracePeriodSeconds"], pause, drain)
    assert pause >= 5, "endpoints take a few seconds to stop routing to a terminating pod"


def test_configuration_paths_come_from_the_right_volumes_and_secret_keys():
    spec = pod_spec()
    c = container(spec, "loanscored")
    config = server_config()
    assert secret_key_for(spec, c, config["certificate"]) == ("loanscored-tls", "tls.crt")
    assert secret_key_for(spec, c, config["private_key"]) == ("loanscored-tls", "tls.key")
    assert secret_key_for(spec, c, config["client_ca"]) == ("loanscore-client-ca", "ca.crt")
    assert mount_for(c, config["bundle"])["name"] == "bundle"
    args = c["args"]
    config_file = args[args.index("--config") + 1]
    m = mount_for(c, config_file)
    volume = next(v for v in spec["volumes"] if v["name"] == m["name"])
    assert volume["configMap"]["name"] == "loanscored-config"
    assert PurePosixPath(config_file).name in one("ConfigMap", "loanscored-config")["data"]
    # The init container fills the bundle volume the server reads.
    init = next(i for i in spec["initContainers"] if i["name"] == "bundle")
    assert mount_for(init, config["bundle"])["name"] == "bundle"
    assert mount_for(c, config["bundle"]).get("readOnly") is True


def test_secrets_are_templates_with_the_keys_the_pods_read():
    secrets = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "Secret"}
    for name, s in secrets.items():
        values = {**s.get("stringData", {}), **s.get("data", {})}
        for key, value in values.items():
            assert "BEGIN" not in value and value.startswith("REPLACE"), f"Secret {name}/{key} must be a placeholder"
    for _, d in manifests():
        if d["kind"] not in ("StatefulSet", "Deployment"):
            continue
        spec = d["spec"]["template"]["spec"]
        for v in spec.get("volumes", []):
            if "secret" in v:
                assert v["secret"]["secretName"] in secrets, v


def test_every_container_runs_unprivileged_on_a_read_only_root():
    for name, d in manifests():
        if d["kind"] not in ("StatefulSet", "Deployment"):
            continue
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert "memory" in c["resources"]["limits"] and "cpu" in c["resources"]["requests"], (name, c["name"])


def test_services_budget_and_autoscaler_point_at_the_appliance():
    s = statefulset()
    labels = s["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in s["spec"]["selector"]["matchLabels"].items())
    ports = {p["name"] for p in container(pod_spec(), "loanscored")["ports"]}
    for svc in (d for _, d in manifests() if d["kind"] == "Service"):
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), svc["metadata"]["name"]
        for p in svc["spec"]["ports"]:
            assert p["protocol"] == "TCP" and p["targetPort"] in ports, p
    service = one("Service", "loanscored")
    assert service["spec"]["type"] in ("ClusterIP", "LoadBalancer")
    assert [p["port"] for p in service["spec"]["ports"]] == [7443]
    pdb = one("PodDisruptionBudget", "loanscored")
    assert pdb["spec"]["selector"]["matchLabels"] == s["spec"]["selector"]["matchLabels"]
    hpa = one("HorizontalPodAutoscaler", "loanscored")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "loanscored"}
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"] + 1, "a disruption must leave two pods"
    assert hpa["spec"]["minReplicas"] <= s["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    policy = one("NetworkPolicy", "loanscored")
    assert policy["spec"]["podSelector"]["matchLabels"] == s["spec"]["selector"]["matchLabels"]


# ------------------------------------------------------------------ the Kafka bridge

def test_the_bridge_is_a_deployment_scaled_by_partitions():
    d = one("Deployment", "loanscore-stream")
    partitions = int(d["metadata"]["annotations"]["loanscore.example.com/input-topic-partitions"])
    assert 1 <= d["spec"]["replicas"] <= partitions
    spec = d["spec"]["template"]["spec"]
    c = container(spec, "loanscore-stream")
    args = c["args"]
    flags = [a for a in args if a.startswith("--")]
    assert set(flags) <= STREAM_FLAGS, set(flags) - STREAM_FLAGS
    assert {"--brokers", "--group", "--input-topic", "--output-topic", "--dead-letter-topic", "--server", "--ca"} <= set(flags)
    value = {f: args[args.index(f) + 1] for f in flags}
    service, port = value["--server"].rsplit(":", 1)
    assert service == f"loanscored.{NAMESPACE}.svc" and int(port) == 7443
    for flag, key in (("--ca", "ca.crt"), ("--cert", "tls.crt"), ("--key", "tls.key")):
        assert secret_key_for(spec, c, value[flag]) == ("loanscore-stream-tls", key)
    assert int(value["--linger-ms"]) / 1000 < spec["terminationGracePeriodSeconds"]


# ------------------------------------------------------------------ the ConfigMap, live

def known_keys(example, config, where=""):
    """Keys of `config` that Systemd/loanscored.json (every key) does not have."""
    unknown = []
    for key, value in config.items():
        if key not in example:
            unknown.append(where + key)
        elif isinstance(value, dict) and isinstance(example[key], dict) and key != "clients":
            unknown += known_keys(example[key], value, f"{where}{key}.")
    return unknown


def test_config_map_is_a_loanscored_configuration_that_starts(bundle, certs, tmp_path):
    """Every key is one loanscored has (it ignores unknown keys, so a typo would pass
    silently), and a real loanscored starts with it, answers the probes' paths with 200 and
    stops within the drain on SIGTERM. Only the paths and addresses are moved: bundle, TLS
    files, audit folders to the test's, listeners to free loopback ports."""
    config = server_config()
    example = strict_json((REPO / "Systemd" / "loanscored.json").read_text())
    assert not known_keys(example, config), known_keys(example, config)

    port, admin = free_port(), free_port()
    config.update({"bundle": str(bundle), "certificate": str(certs / "server.pem"),
                   "private_key": str(certs / "server.key"), "client_ca": str(certs / "ca.pem"),
                   "listen": f"127.0.0.1:{port}", "admin": f"127.0.0.1:{admin}",
                   "audit_dir": str(tmp_path / "audit" / "log")})
    config["audit"]["archive_dir"] = str(tmp_path / "audit" / "archive")
    (tmp_path / "audit").mkdir()  # the volume's mount point exists; its folders do not
    path = tmp_path / "loanscored.json"
    path.write_text(json.dumps(config))
    log = open(tmp_path / "loanscored.log", "w")
    proc = subprocess.Popen([str(binary("LOANSCORED_BIN", ".build/debug/loanscored")), "--config", str(path)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        c = container(pod_spec(), "loanscored")
        deadline = time.time() + c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
        answered = {}
        while time.time() < deadline and len(answered) < 2:
            assert proc.poll() is None, (tmp_path / "loanscored.log").read_text()
            for probe in ("livenessProbe", "readinessProbe"):
                try:
                    status, _ = http(f"http://127.0.0.1:{admin}{c[probe]['httpGet']['path']}", timeout=2)
                    if status == 200:
                        answered[probe] = status
                except OSError:
                    pass
            time.sleep(0.2)
        assert len(answered) == 2, (answered, (tmp_path / "loanscored.log").read_text())
        # log_format json: one JSON object per line.
        for line in (tmp_path / "loanscored.log").read_text().splitlines():
            json.loads(line)
    finally:
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(config["timeouts"]["drain"] + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "loanscored.log").read_text()
    assert time.time() - started < config["timeouts"]["drain"] + 5
    assert (tmp_path / "audit" / "log").is_dir()
