"""Governance end to end without the recipe: synthetic out-of-fold PDs on the shipped data sets
(tests/governance_data.py), then analyse + write_documents + manifest_additions."""
import argparse
import json
import re

import numpy as np
import pytest

from loanscore_train import governance
from loanscore_train.features import ToolError

from governance_data import oof_data


def _args(*argv):
    p = argparse.ArgumentParser()
    governance.add_governance_options(p)
    return p.parse_args(list(argv))


@pytest.fixture(scope="module")
def german():
    return oof_data("german_credit")


def test_german_credit_end_to_end(german, tmp_path):
    schema, header, rows, y, pd_oof, i_tr, pd_ho, i_ho = german
    args = _args()
    governance.check_before_fit(schema, header, rows, y, args)
    # A derived feature on a protected field is refused unless the field is allowed.
    aged = {**schema, "derived": [*schema["derived"], {"name": "amount_per_year_of_age",
            "kind": "ratio", "inputs": ["credit_amount", "age_in_years"]}]}
    with pytest.raises(ToolError) as e:
        governance.check_before_fit(aged, header, rows, y, args)
    assert e.value.code == 2 and "amount_per_year_of_age" in str(e.value)
    governance.check_before_fit(aged, header, rows, y, _args("--allow-protected", "age_in_years"))

    gov = governance.analyse(schema, header, rows, y, pd_oof, i_tr, args, pd_holdout=pd_ho,
                             holdout_index=i_ho)
    add = governance.manifest_additions(gov)
    json.dumps(add, allow_nan=False)
    f, c = add["fairness"], add["cutoffs"]
    assert f["threshold"] == 0.8 and isinstance(f["passed"], bool)
    groups = {(g["field"], g["group"]) for g in f["groups"]}
    assert ("age_in_years", "62 and over") in groups and ("sex (from personal_status_and_sex)",
                                                          "female") in groups
    assert sum(g["applicants"] for g in f["groups"] if g["field"] == "age_in_years") == len(i_tr)
    assert c["lgd"] == 0.45 and c["margin"] == 0.1 and c["exposure_field"] == "credit_amount"
    assert c["break_even_pd"] == pytest.approx(0.1 / 0.55)
    assert 0 < c["approve_below"] <= c["decline_at"] <= 1 and 15 <= len(c["table"]) <= 25
    assert set(c["table"][0]) == {"pd_cutoff", "approval_rate", "bad_rate", "expected_loss", "profit"}
    pol = governance.policy(gov)
    assert pol["approve_below"] == c["approve_below"] and pol["risk_levels"][-1]["upper"] == 1.0
    assert gov.risk_levels.increasing

    files = governance.write_documents(
        tmp_path, gov, {"ensemble": {"roc_auc": {"mean": 0.79, "std": 0.02}}, "members": []},
        {"training_data": {"file": "german_credit.csv", "sha256": "0" * 64, "rows": 1000}},
        model_name="german_credit", feature_importance={"duration_in_month": 0.03},
        monotonicity=[{"field": "duration_in_month", "direction": "increasing", "violations": 0}])
    assert files == ["report.html", "model_card.md"]
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 5                      # roc+ks, calibration, gains, pd, importance
    assert not re.search(r"<script|https?://(?!www\.w3\.org)", html)   # self-contained
    for words in ("Cut-offs", "Risk levels", "Fairness", "Data quality", "Lineage",
                  "62 and over", "four-fifths", "0.7900 ± 0.0200"):
        assert words in html, words
    card = (tmp_path / "model_card.md").read_text()
    for words in ("## Intended use", "## Data", "## Performance", "## Limitations", "## Fairness",
                  "## Approvals still needed", "age_in_years"):
        assert words in card, words


def test_gate_target_rate_and_allowed_age(german, tmp_path):
    schema, header, rows, y, pd_oof, i_tr, pd_ho, i_ho = german
    with pytest.raises(ToolError) as e:
        governance.analyse(schema, header, rows, y, pd_oof, i_tr, _args("--fairness-gate"))
    assert e.value.code == 3 and "age_in_years = under 25" in str(e.value)
    args = _args("--target-approval-rate", "0.7", "--allow-protected", "age_in_years",
                 "--lgd", "0.6", "--margin", "0.2")
    gov = governance.analyse(schema, header, rows, y, pd_oof, i_tr, args,
                             pd_oof_without={"age_in_years": np.clip(pd_oof * 1.01, 0, 1)})
    c = governance.manifest_additions(gov)["cutoffs"]
    assert c["target_approval_rate"] == 0.7 and c["lgd"] == 0.6
    assert abs(np.mean(pd_oof < c["approve_below"]) - 0.7) < 0.05
    assert [e.group for e in gov.protected_effects][:3] == ["under 25", "25-61", "62 and over"]
    assert gov.regulation_b and "not disadvantaged" in gov.regulation_b[0]
    governance.write_documents(tmp_path, gov, None, None, model_name="g")
    assert "Regulation B" in (tmp_path / "report.html").read_text()


def test_hand_cutoffs_and_exposure(german):
    schema, header, rows, y, pd_oof, i_tr, *_ = german
    args = _args("--exposure-field", "credit_amount")
    args.approve_below, args.decline_at = 0.2, 0.5
    gov = governance.analyse(schema, header, rows, y, pd_oof, i_tr, args)
    c = governance.manifest_additions(gov)["cutoffs"]
    assert c["exposure_field"] == "credit_amount"
    assert (c["approve_below"], c["decline_at"]) == (0.2, 0.5)
    assert any(r["pd_cutoff"] == 0.2 for r in c["table"])
    with pytest.raises(ToolError) as e:
        governance.check_before_fit(schema, header, rows, y, _args("--exposure-field", "purpose",
                                                                    "--allow-protected",
                                                                    "age_in_years"))
    assert e.value.code == 2 and "'purpose'" in str(e.value)
    with pytest.raises(ToolError) as e:
        governance.check_before_fit(schema, header, rows, y, _args("--allow-protected", "job"))
    assert e.value.code == 2 and "--allow-protected job" in str(e.value)
