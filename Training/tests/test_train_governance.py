"""`loanscore-train train` end to end with the governance options: the fairness gate,
--allow-protected, and the errors that must stop training before any fitting (exit 2 or 3,
naming the field or flag)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

from conftest import DATA, TEST_TRIALS, require_loanscore, run_loanscore


def train(tmp_path: Path, *extra, data: Path = DATA / "german_credit.csv",
          schema: Path = DATA / "german_credit.schema.json") -> subprocess.CompletedProcess:
    require_loanscore()
    return subprocess.run([sys.executable, "-m", "loanscore_train.cli", "train", "--data", str(data),
                           "--schema", str(schema), "--output", str(tmp_path / "bundle"),
                           "--trials", str(TEST_TRIALS), *extra],
                          capture_output=True, text=True)


def test_the_fairness_gate_stops_training_naming_the_group(tmp_path):
    # german_credit: applicants under 25 are approved at well under 4/5 of the 25-61 rate.
    proc = train(tmp_path, "--fairness-gate")
    assert proc.returncode == 3, proc.stderr
    assert "age_in_years" in proc.stderr and "under 25" in proc.stderr
    assert not (tmp_path / "bundle").exists(), "no bundle is written when the gate fails"


def test_allow_protected_makes_the_field_a_feature_and_reports_its_effect(tmp_path):
    proc = train(tmp_path, "--allow-protected", "age_in_years", "--json")
    assert proc.returncode == 0, proc.stderr
    bundle = tmp_path / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert "age_in_years" in manifest["features"]
    schema = json.loads((bundle / "schema.json").read_text())
    age = next(f for f in schema["fields"] if f["name"] == "age_in_years")
    assert age["protected"] is True and age["feature"] is True
    # the bundle scores what it was trained on, through LoanScore's own engine
    run_loanscore("bundle", "verify", bundle)
    report = (bundle / "report.html").read_text()
    assert "Regulation B" in report and "62 and over" in report


def test_bad_economics_and_exposure_are_usage_errors_before_any_work(tmp_path):
    proc = train(tmp_path, "--lgd", "1.5")
    assert proc.returncode == 2 and "--lgd" in proc.stderr
    proc = train(tmp_path, "--exposure-field", "purpose")
    assert proc.returncode == 2 and "purpose" in proc.stderr, proc.stderr
    proc = train(tmp_path, "--approve-below", "0.4", "--decline-at", "0.2")
    assert proc.returncode == 2 and "--approve-below" in proc.stderr
    assert not (tmp_path / "bundle").exists()


def test_a_field_that_leaks_the_label_stops_training_naming_it(tmp_path):
    rows = list(csv.reader(open(DATA / "german_credit.csv", newline="", encoding="utf-8")))
    target = rows[0].index("creditability")
    rows[0].append("collections_flag")
    for r in rows[1:]:
        r.append("yes" if r[target].strip().casefold() == "bad" else "no")
    data = tmp_path / "leaky.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    schema = json.loads((DATA / "german_credit.schema.json").read_text())
    schema["fields"].append({"name": "collections_flag", "type": "boolean", "true_labels": ["yes"],
                             "false_labels": ["no"], "nullable": False})
    schema_path = tmp_path / "leaky.schema.json"
    schema_path.write_text(json.dumps(schema))
    proc = train(tmp_path, data=data, schema=schema_path)
    assert proc.returncode == 3 and "collections_flag" in proc.stderr, proc.stderr
    assert "--allow-leakage" in proc.stderr


def test_the_report_shows_what_smote_did(tmp_path):
    proc = train(tmp_path, "--resample", "smote")
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "bundle" / "report.html").read_text()
    assert "<h3>Resampling</h3>" in report
    assert "with --resample smote (this bundle)" in report and "without resampling" in report
