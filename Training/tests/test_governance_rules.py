"""Leakage, fairness, cut-offs and risk levels: the rules on small synthetic data."""
import argparse

import numpy as np
import pytest

from loanscore_train import cutoffs, fairness, governance, leakage
from loanscore_train.features import ToolError


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    income = rng.lognormal(7, 0.5, n)
    age = rng.integers(18, 80, n)
    pd_true = 1 / (1 + np.exp(-(-1.0 - 0.0008 * (income - 1100))))
    y = (rng.random(n) < pd_true).astype(int)
    header = ["Income", "Age", "Sex", "Outcome_code", "Status"]
    rows = [[f"{income[i]:.1f}", str(age[i]), ["male", "female"][i % 2],
             "" if y[i] else f"{rng.integers(1, 9)}", "bad" if y[i] else "good"] for i in range(n)]
    schema = {"target": {"column": "Status", "positive": "bad", "negative": "good"},
              "fields": [{"name": "Income", "type": "number"},
                         {"name": "Age", "type": "integer", "protected": True},
                         {"name": "Sex", "type": "category", "levels": ["male", "female"],
                          "protected": True},
                         {"name": "Outcome_code", "type": "integer", "nullable": True}],
              "derived": []}
    return schema, header, rows, y, pd_true


def test_leakage_names_the_field_and_allow_lets_it_through():
    schema, header, rows, y, _ = _data()
    with pytest.raises(ToolError) as e:
        leakage.check_leakage(schema, header, rows, y)
    assert e.value.code == 3
    msg = str(e.value)
    assert "'Outcome_code'" in msg and "--allow-leakage Outcome_code" in msg and "Income" not in msg
    leakage.check_leakage(schema, header, rows, y, allow={"Outcome_code"})


def test_leakage_post_origination_and_identifiers():
    schema, header, rows, y, _ = _data()
    schema["fields"][0]["post_origination"] = True
    found = leakage.find_leakage(schema, header, rows, y, allow={"Outcome_code"})
    assert [f.field for f in found] == ["Income"] and "post_origination" in found[0].reason
    # a unique identifier is not predictive out of fold
    ids = np.array([f"id{i}" for i in range(len(y))])
    codes = np.unique(ids, return_inverse=True)[1]
    assert leakage.out_of_fold_rate_auc(codes, y.astype(float)) < 0.6


def test_fairness_groups_ratios_and_gate():
    schema, header, rows, y, p = _data()
    p = p.copy()
    p[np.arange(len(p)) % 2 == 1] += 0.3          # females' PD pushed up: fewer approved
    t = fairness.fairness_table(schema, header, rows, y, p, approve_below=0.4)
    by = {(g.field, g.group): g for g in t.groups}
    assert set(by) == {("Age", "under 25"), ("Age", "25-61"), ("Age", "62 and over"),
                       ("Sex", "male"), ("Sex", "female")}
    assert by[("Sex", "male")].adverse_impact_ratio == 1.0
    assert by[("Sex", "female")].flagged and by[("Sex", "female")].adverse_impact_ratio < 0.8
    assert not t.passed
    d = t.as_dict()
    assert d["threshold"] == 0.8 and d["passed"] is False
    assert set(d["groups"][0]) == {"field", "group", "applicants", "default_rate",
                                   "approval_rate", "roc_auc", "adverse_impact_ratio", "flagged"}
    with pytest.raises(ToolError) as e:
        fairness.fairness_gate(t)
    assert e.value.code == 3 and "Sex = female" in str(e.value)


def test_fairness_quartiles_one_class_auc_and_small_groups():
    rows_g = fairness.quartile_groups(np.array([1.0, 2, 3, 4, 5, 6, 7, 8, np.nan]))
    assert rows_g[0].startswith("Q1") and rows_g[-2].startswith("Q4") and rows_g[-1] == "missing"
    g = fairness.group_rows("f", ["a"] * 40 + ["b"] * 40 + ["c"] * 5,
                            np.r_[np.zeros(40), np.r_[np.ones(20), np.zeros(20)], np.zeros(5)],
                            np.r_[np.full(40, 0.1), np.linspace(0.05, 0.9, 40), np.full(5, 0.9)],
                            approve_below=0.2)
    by = {r.group: r for r in g}
    assert by["a"].roc_auc is None                  # one class
    assert by["c"].approval_rate == 0 and not by["c"].flagged   # too few to judge
    assert by["b"].flagged


def test_sex_derived_from_german_levels():
    f = {"name": "personal_status_and_sex", "type": "category",
         "levels": ["male : divorced/separated", "female : divorced/separated/married",
                    "male : single", "male : married/widowed"]}
    m = fairness.sex_from_levels(f)
    assert m["male : single"] == "male" and m["female : divorced/separated/married"] == "female"
    assert fairness.sex_from_levels({"type": "category", "levels": ["married", "single"]}) is None


def test_regulation_b_effect_by_age_band():
    f = {"name": "age", "type": "integer"}
    cells = ["20", "30", "70", "65"]
    e = fairness.protected_effect(f, cells, [0, 1, 0, 0], [0.1, 0.3, 0.05, 0.07], 0.2,
                                  pd_without=[0.1, 0.3, 0.1, 0.1])
    assert [x.group for x in e] == ["under 25", "25-61", "62 and over"]
    assert "not disadvantaged" in fairness.regulation_b_check(e)
    e[-1].mean_pd = 0.5
    assert "DISADVANTAGED" in fairness.regulation_b_check(e)


def test_cutoffs_maximise_realised_profit():
    rng = np.random.default_rng(3)
    pd = np.round(rng.beta(1.5, 5, 4000), 3)
    y = (rng.random(4000) < pd).astype(float)
    c = cutoffs.choose_cutoffs(pd, y)
    assert c.break_even_pd == pytest.approx(0.1 / 0.55)
    assert c.approve_below <= c.decline_at == round(2 * 0.1 / 0.55, 4)
    best = max(np.sum(np.where(y[pd < t] == 1, -0.45, 0.1)) for t in np.unique(pd))
    assert c.max_profit == pytest.approx(max(best, 0.0))
    chosen = [r for r in c.table if r.pd_cutoff == c.approve_below]
    assert len(chosen) == 1 and chosen[0].profit == pytest.approx(c.max_profit)
    assert 15 <= len(c.table) <= 25
    assert [r.pd_cutoff for r in c.table] == sorted(r.pd_cutoff for r in c.table)
    r = chosen[0]
    a = pd < c.approve_below
    assert r.approval_rate == pytest.approx(a.mean()) and r.bad_rate == pytest.approx(y[a].mean())
    assert r.expected_loss == pytest.approx(np.sum(pd[a] * 0.45))
    # the PD just below the cut-off is approved, the one at it is not
    assert pd[pd < c.approve_below].max() < c.approve_below <= pd[pd >= c.approve_below].min()


def test_cutoffs_target_rate_exposure_and_errors():
    rng = np.random.default_rng(4)
    pd = rng.uniform(0, 0.6, 2000)
    y = (rng.random(2000) < pd).astype(float)
    c = cutoffs.choose_cutoffs(pd, y, target_approval_rate=0.9)
    assert np.mean(pd < c.approve_below) == pytest.approx(0.9, abs=0.002)
    assert any("above the break-even" in n for n in c.notes)
    assert c.decline_at == c.approve_below            # no review band left
    with pytest.raises(ToolError) as e:
        cutoffs.choose_cutoffs(pd, y, lgd=1.5)
    assert e.value.code == 2 and "--lgd" in str(e.value)
    schema = {"fields": [{"name": "Amount", "type": "number", "exposure": True},
                         {"name": "Home", "type": "category", "levels": ["a"]}]}
    x, name, notes = cutoffs.exposure_values(schema, ["Amount", "Home"], [["10", "a"], ["", "a"],
                                                                          ["30", "a"]], None)
    assert name == "Amount" and list(x) == [10, 20, 30] and notes
    with pytest.raises(ToolError) as e:
        cutoffs.exposure_values(schema, ["Amount", "Home"], [["1", "a"]], "Home")
    assert e.value.code == 2 and "'Home'" in str(e.value) and "not a number" in str(e.value)
    assert cutoffs.exposure_values({"fields": []}, [], [[]], None)[1] is None


def test_risk_levels_increase_strictly_and_merge():
    rng = np.random.default_rng(5)
    pd = rng.uniform(0, 1, 3000)
    y = (rng.random(3000) < pd).astype(float)
    rl = cutoffs.fit_risk_levels(pd, y)
    assert [lv.name for lv in rl.levels] == ["very_low", "low", "medium", "high", "very_high"]
    assert rl.increasing and rl.levels[-1].upper == 1.0
    uppers = [lv.upper for lv in rl.levels]
    assert uppers == sorted(set(uppers))
    # a flat model: levels merge until the rates increase
    y2 = (rng.random(3000) < 0.3).astype(float)
    rl2 = cutoffs.fit_risk_levels(pd, y2)
    assert rl2.increasing and len(rl2.levels) < 5 and rl2.merged
    assert sum(lv.applicants for lv in rl2.levels) == 3000


def test_options_validate_lgd_and_friends(capsys):
    p = argparse.ArgumentParser(prog="t")
    governance.add_governance_options(p)
    a = p.parse_args(["--allow-protected", "Age", "--allow-protected", "Sex", "--fairness-gate"])
    assert a.lgd == 0.45 and a.margin == 0.10 and a.allow_protected == ["Age", "Sex"]
    assert a.fairness_gate and a.exposure_field is None and a.target_approval_rate is None
    for bad in (["--lgd", "1.5"], ["--lgd", "0"], ["--margin", "-1"],
                ["--target-approval-rate", "0"]):
        with pytest.raises(SystemExit) as e:
            p.parse_args(bad)
        assert e.value.code == 2
        assert bad[0] in capsys.readouterr().err
