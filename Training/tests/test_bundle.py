"""End to end: the bundle written from german_credit.csv (structure, hashes, predictions)."""
import csv
import hashlib
import json
import re

import numpy as np
import xgboost as xgb

from loanscore_train.features import compute_features

from conftest import DATA, require_loanscore, run_loanscore
from reference import forest_predict, logistic_predict


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_german_bundle_structure_and_hashes(trained):
    bundle, result = trained("german_credit")
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["format_version"] == 1
    assert m["schema"] == "schema.json"
    assert (bundle / "schema.json").read_bytes() == (DATA / "german_credit.schema.json").read_bytes()
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert on_disk == set(m["files"]) | {"manifest.json"}
    for rel, digest in m["files"].items():
        assert sha(bundle / rel) == digest, rel
    lin = m["lineage"]
    assert lin["training_data"] == {"file": "german_credit.csv",
                                    "sha256": sha(DATA / "german_credit.csv"), "rows": 1000}
    assert lin["seed"] == 42 and lin["holdout_fraction"] == 0.2
    assert [(x["name"], x["kind"], x["file"]) for x in m["members"]] == [
        ("xgboost", "xgboost", "members/xgboost.json"),
        ("forest", "random_forest", "members/forest.json"),
        ("logistic", "logistic_regression", "members/logistic.json")]
    weights = [x["weight"] for x in m["members"]]
    assert min(weights) >= 0 and abs(sum(weights) - 1) <= 1e-9
    assert m["combination"] == "weighted_mean"
    cal = m["calibration"]
    assert cal["kind"] in ("isotonic", "identity")
    if cal["kind"] == "isotonic":
        assert np.all(np.diff(cal["x"]) > 0) and np.all(np.diff(cal["y"]) >= 0)
    # The policy comes from the lender's economics (defaults LGD 0.45, margin 0.10, exposure
    # credit_amount): decline at twice the break-even PD; risk levels end at 1.
    pol, cut = m["policy"], m["cutoffs"]
    assert cut["lgd"] == 0.45 and cut["margin"] == 0.1 and cut["exposure_field"] == "credit_amount"
    assert cut["break_even_pd"] == 0.1 / (0.1 + 0.45)
    assert (pol["approve_below"], pol["decline_at"]) == (cut["approve_below"], cut["decline_at"])
    assert 0 < pol["approve_below"] <= pol["decline_at"] == round(2 * cut["break_even_pd"], 4)
    uppers = [r["upper"] for r in pol["risk_levels"]]
    assert uppers[-1] == 1.0 and all(a < b for a, b in zip(uppers, uppers[1:]))
    groups = {(g["field"], g["group"]) for g in m["fairness"]["groups"]}
    assert ("age_in_years", "under 25") in groups and m["fairness"]["threshold"] == 0.8
    assert {"report.html", "model_card.md"} <= set(m["files"])
    report = (bundle / "report.html").read_text()
    # self-contained: no scripts, nothing fetched (SVG namespace URIs are names, not requests)
    assert "<script" not in report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", report)
    schema = json.loads((DATA / "german_credit.schema.json").read_text())
    assert list(m["reason_codes"]) == [f["name"] for f in schema["fields"]]
    assert m["reason_codes"]["duration_in_month"] == {"code": "R02", "text": "Loan duration too long"}
    assert m["metrics"] == {k: v for k, v in result.items()
                            if k not in ("bundle", "fairness", "cutoffs")}
    assert result["bundle"] == str(bundle)
    # protected fields are kept for the fairness analysis, never as features
    assert not any(n.startswith(("age_in_years", "personal_status_and_sex")) for n in m["features"])

    # features: exactly what `loanscore features` produces for this schema
    names, _ = compute_features(DATA / "german_credit.schema.json", DATA / "german_credit.csv")
    assert m["features"] == names

    # the holdout: 20% of the raw rows, verbatim, with the header
    raw = list(csv.reader(open(DATA / "german_credit.csv", newline="", encoding="utf-8")))
    hold = list(csv.reader(open(bundle / "validation/holdout.csv", newline="", encoding="utf-8")))
    assert hold[0] == raw[0] and len(hold) - 1 == 200
    raw_rows = {tuple(r) for r in raw[1:]}
    assert all(tuple(r) in raw_rows for r in hold[1:])

    # predictions.csv agrees with the members' files, and the ensemble with weights/calibration
    with open(bundle / "validation/predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["row", "pd_xgboost", "pd_forest", "pd_logistic", "pd_ensemble", "pd"]
    assert [int(r["row"]) for r in rows] == list(range(1, 201))
    P = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "row"}
    ens = sum(w * P[f"pd_{x['name']}"] for w, x in zip(weights, m["members"]))
    assert np.max(np.abs(ens - P["pd_ensemble"])) <= 1e-12
    if cal["kind"] == "isotonic":
        assert np.array_equal(np.interp(P["pd_ensemble"], cal["x"], cal["y"]), P["pd"])
    _, Xh = compute_features(bundle / "schema.json", bundle / "validation/holdout.csv")
    forest = json.loads((bundle / "members/forest.json").read_text())
    logistic = json.loads((bundle / "members/logistic.json").read_text())
    assert forest["n_features"] == logistic["n_features"] == len(m["features"])
    assert np.max(np.abs(forest_predict(forest, Xh) - P["pd_forest"])) <= 1e-12
    assert np.max(np.abs(logistic_predict(logistic, Xh) - P["pd_logistic"])) <= 1e-12
    booster = xgb.Booster(model_file=str(bundle / "members/xgboost.json"))
    assert booster.num_features() == len(m["features"])
    # the reloaded file predicts exactly what predictions.csv holds
    got = booster.inplace_predict(Xh, missing=np.nan).astype(np.float64)
    assert np.array_equal(got, P["pd_xgboost"])

    # LoanScore itself accepts the bundle (hashes, schema, features, members) and verifies it
    run_loanscore("bundle", "verify", bundle)


def test_cli_reports_bad_labels(tmp_path):
    require_loanscore()
    lines = (DATA / "german_credit.csv").read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",maybe"
    lines[7] = lines[7].rsplit(",", 1)[0] + ", BAD "             # trimmed and case-folded: fine
    data = tmp_path / "g.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from loanscore_train.cli import main
    import contextlib, io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", "--data", str(data), "--schema", str(DATA / "german_credit.schema.json"),
                     "--output", str(tmp_path / "b")])
    assert code == 3
    assert "row 5" in err.getvalue() and "maybe" in err.getvalue()
    assert "row 7" not in err.getvalue()
    assert not (tmp_path / "b").exists()


def test_cli_passes_on_loanscore_errors(tmp_path):
    require_loanscore()
    lines = (DATA / "german_credit.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[1] = "forty"                                          # duration_in_month
    lines[3] = ",".join(cells)
    data = tmp_path / "g.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from loanscore_train.cli import main
    import contextlib, io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", "--data", str(data), "--schema", str(DATA / "german_credit.schema.json"),
                     "--output", str(tmp_path / "b")])
    assert code == 3, err.getvalue()
    assert "loanscore features" in err.getvalue() and "duration_in_month" in err.getvalue()
    assert not (tmp_path / "b").exists()
