"""The shipped monitoring files checked by the real tools: promtool (rules, rule unit tests,
Prometheus configuration, every dashboard query), amtool (Alertmanager configuration and its
routing), the dashboard's JSON, and every metric name against the documented table."""
import json
import re

import pytest
import yaml

import metricnames as mn
from conftest import REPO, run_tool

SEVERITIES = {"warning", "critical"}


def test_promtool_check_rules():
    rc, out = run_tool(["promtool", "check", "rules", str(mn.RULES)])
    assert rc == 0, out
    assert f"SUCCESS: {len(mn.rules())} rules found" in out, out


def test_promtool_unit_tests_of_the_alerts_pass():
    rc, out = run_tool(["promtool", "test", "rules", str(mn.RULE_TESTS)])
    assert rc == 0, out
    assert "SUCCESS" in out and "FAILED" not in out, out


def test_every_alert_is_unit_tested_firing_and_not_firing():
    tests = mn.load_yaml(mn.RULE_TESTS)
    assert tests["rule_files"] == ["loanscore-rules.yml"]
    firing, quiet = set(), set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
            for alert in check.get("exp_alerts") or []:
                # Annotations are compared by promtool only when given: give them always.
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook"}, check
    alerts = set(mn.alert_names())
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing"
    assert firing | quiet <= alerts, "tests of alerts that do not exist"


def test_every_alert_has_severity_signal_and_annotations():
    names = mn.alert_names()
    assert len(names) == len(set(names)), "duplicate alert names"
    for _, rule in mn.rules():
        if "alert" not in rule:
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
            continue
        assert rule["alert"].startswith("LoanScore"), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["labels"]["signal"], rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) >= {"summary", "description", "runbook"}, rule["alert"]
        assert "$value" in annotations["description"] or "$value" in annotations["summary"], \
            f"{rule['alert']}: the notification should carry the value"


def test_required_alerts_are_there():
    """Issue 14 part 6's list, by the alert that answers each item."""
    by_expr = {r["alert"]: r for _, r in mn.rules() if "alert" in r}
    drift = [r for r in by_expr.values() if "loanscore_drift_psi" in r["expr"]]
    assert {(r["labels"]["severity"], r["for"]) for r in drift} == {("warning", "15m"), ("critical", "15m")}
    assert any(">= 0.1" in r["expr"] for r in drift) and any(">= 0.25" in r["expr"] for r in drift)
    for needle in ["approval_rate_shift", "error_ratio", "request_duration_seconds:p99", "busy_ratio",
                   "loanscore_audit_commit_failures_total", "loanscore_audit_available",
                   "audit_commit_duration_seconds:p99", 'outcome="refused"', "applications_scored",
                   "loanscore_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400", 'up{job="loanscore"} == 0']:
        assert any(needle in r["expr"] for r in by_expr.values()), needle


def test_prometheus_example_configuration_is_valid():
    rc, out = run_tool(["promtool", "check", "config", str(mn.DEPLOY / "prometheus/prometheus.yml")])
    assert rc == 0, out
    assert "SUCCESS: 1 rule files found" in out, out


def test_alertmanager_configuration_is_valid():
    rc, out = run_tool(["amtool", "check-config", str(mn.DEPLOY / "alertmanager/alertmanager.yml")])
    assert rc == 0, out
    assert "SUCCESS" in out, out


@pytest.mark.parametrize("labels, receivers", [
    (["alertname=LoanScoreDriftSignificant", "severity=critical", "signal=drift"], "pager,team-chat"),
    (["alertname=LoanScoreAuditUnavailable", "severity=critical", "signal=audit"], "pager,team-chat"),
    (["alertname=LoanScoreDriftModerate", "severity=warning", "signal=drift"], "model-owners"),
    (["alertname=LoanScoreApprovalRateShift", "severity=warning", "signal=approval"], "model-owners"),
    (["alertname=LoanScoreLatencyP99High", "severity=warning", "signal=latency"], "team-chat"),
])
def test_alertmanager_routes_critical_and_warning_differently(labels, receivers):
    rc, out = run_tool(["amtool", "config", "routes", "test",
                        "--config.file", str(mn.DEPLOY / "alertmanager/alertmanager.yml"), *labels])
    assert rc == 0, out
    assert out.splitlines()[0].strip() == receivers, out


def test_alertmanager_inhibits_warning_by_critical_of_the_same_signal_and_field():
    config = mn.load_yaml(mn.DEPLOY / "alertmanager/alertmanager.yml")
    rule = config["inhibit_rules"][0]
    assert rule["source_matchers"] == ['severity="critical"'] and rule["target_matchers"] == ['severity="warning"']
    assert {"signal", "field", "model_version"} <= set(rule["equal"])
    assert config["route"]["group_by"] == ["alertname", "model_version"]
    # Every signal with a critical alert has a warning one that it inhibits, or stands alone.
    signals = {r["labels"]["signal"] for _, r in mn.rules() if "alert" in r}
    assert {"drift", "tls", "audit"} <= signals


def test_dashboard_is_grafana_json_with_its_variables_and_panels():
    d = json.loads(mn.DASHBOARD.read_text())  # valid JSON
    assert 36 <= d["schemaVersion"] <= 41 and d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert "model_version" in variables["model_version"]["query"]["query"]
    all_panels = list(mn.panels(d["panels"]))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in all_panels:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
    exprs = " ".join(mn.dashboard_exprs())
    # Issue 14 part 6: throughput, latency percentiles, errors by code, decisions mix and approval
    # rate, PD distribution, drift per field, exposure and expected loss, audit commits, memory
    # and connections.
    for needle in ["loanscore_applications_total", "histogram_quantile(0.99, sum by (le) (rate(loanscore_request_duration_seconds_bucket",
                   "sum by (code) (rate(loanscore_errors_total", "loanscore_decisions_total", "loanscore_approval_rate",
                   "loanscore_pd_bucket", "max by (model_version, field) (loanscore_drift_psi", "loanscore_approved_exposure_total",
                   "loanscore_approved_expected_loss_total", "loanscore_audit_commit_duration_seconds_count",
                   "process_resident_memory_bytes", "loanscore_connections", "process_open_fds"]:
        assert needle in exprs, needle
    assert 'model_version=~"$model_version"' in exprs


def test_every_dashboard_query_parses(tmp_path):
    """promtool has no query parser of its own: each query, with the dashboard variables
    replaced by values, becomes a recording rule that `promtool check rules` parses."""
    values = {"$__rate_interval": "5m", "$model_version": ".*", "$instance": ".*", "$job": "loanscore"}
    exprs = mn.dashboard_exprs()
    record = []
    for i, e in enumerate(exprs):
        for k, v in values.items():
            e = e.replace(k, v)
        assert "$" not in e, e
        record.append({"record": f"dashboard:query_{i}:check", "expr": e})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": record}]}))
    rc, out = run_tool(["promtool", "check", "rules", str(path)])
    assert rc == 0, out


def test_every_metric_name_is_documented():
    """Every name the rules and the dashboard select is a documented metric (deploy/METRICS.md,
    falling back to issue 14's contract while that file does not exist), a recording rule of
    the rules file, or one Prometheus makes itself (up)."""
    documented, source = mn.documented_metrics()
    recording = mn.recording_names()
    unknown = {}
    for name, where in mn.used_names().items():
        if name in mn.PROMETHEUS_SERIES or name in recording:
            continue
        if ":" in name:
            unknown[name] = ["a recording rule name the rules file does not define"] + where
        elif mn.family(name, documented) not in documented:
            unknown[name] = where
    assert not unknown, f"not in {source}:\n" + json.dumps(unknown, indent=1)


def test_metrics_table_format(tmp_path):
    """The format deploy/METRICS.md is read in: rows of a markdown table, the name in
    backticks first (labels may follow in braces), the type in any cell."""
    path = tmp_path / "METRICS.md"
    path.write_text("# Metrics\n\n| name | type | labels | help |\n|---|---|---|---|\n"
                    "| `loanscore_pd{model_version}` | histogram | `model_version` | PD of scored applications |\n"
                    "| `loanscore_drift_psi` | `gauge` | `field`, `model_version` | PSI |\n"
                    "| `process_cpu_seconds_total` | counter | | CPU |\n\nText | not a row\n")
    table, source = mn.documented_metrics(path)
    assert source == "METRICS.md"
    assert table == {"loanscore_pd": "histogram", "loanscore_drift_psi": "gauge", "process_cpu_seconds_total": "counter"}
    assert mn.family("loanscore_pd_bucket", table) == "loanscore_pd"
    assert mn.family("loanscore_drift_psi_count", table) == "loanscore_drift_psi_count"
    with pytest.raises(FileNotFoundError, match="documented table"):
        mn.documented_metrics(tmp_path / "absent.md")


def test_readme_explains_every_alert():
    readme = (mn.DEPLOY / "README.md").read_text()
    for name in mn.alert_names():
        assert f"`{name}`" in readme, name
