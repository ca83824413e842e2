"""Hostile inputs: each must give a clear error (exit 2 usage, 3 invalid data) before any
fitting, or a bundle that says what happened — never a traceback. Fast: no training."""
import argparse
import json

import numpy as np
import pytest

from loanscore_train import cli, cutoffs, evaluate, model_card
from loanscore_train.features import ToolError
from loanscore_train.evaluate import read_evaluation

METRIC = {"mean": 0.8, "std": 0.01}


def _evaluation() -> dict:
    """The shape `loanscore-train evaluate --json` prints."""
    scores = {k: dict(METRIC) for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ks",
                                        "fit_seconds")}
    return {"ensemble": scores, "members": [{"name": "xgboost", **scores}], "folds": 5,
            "repeats": 2, "seconds": 12.5}


@pytest.mark.parametrize("seed", ["-1", "4294967296", "1e3"])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_seed_outside_the_libraries_range_is_a_usage_error(command, seed, tmp_path, capsys):
    argv = [command, "--data", "x.csv", "--schema", "x.json", "--seed", seed]
    if command == "train":
        argv += ["--output", str(tmp_path / "b")]
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_a_valid_evaluation_file_is_read(tmp_path):
    p = tmp_path / "eval.json"
    p.write_text(json.dumps(_evaluation()))
    assert read_evaluation(p)["folds"] == 5


@pytest.mark.parametrize("text, says", [
    ('{"ensemble": {"roc_auc": {"mean": NaN, "std": 0}}, "members": [], "folds": 5}', "NaN"),
    ('{"ensemble": {"roc_auc": {"mean": Infinity, "std": 0}}, "members": [], "folds": 5}',
     "Infinity"),
    ('{"ensemble": {"roc_auc": {"mean": "high", "std": 0}}, "members": [], "folds": 5}',
     "ensemble.roc_auc.mean"),
    ('{"ensemble": {"roc_auc": {"mean": 0.8, "std": 0}}, "members": ["a"], "folds": 5}',
     "members[0]"),
    ('{"ensemble": {"roc_auc": 0.8}, "members": [], "folds": 5}', "ensemble.roc_auc"),
    ('{"ensemble": {"brier": {"mean": 0.1, "std": 0}}, "members": [], "folds": 5}', "roc_auc"),
    ('{"ensemble": {"roc_auc": {"mean": 0.8, "std": 0}}, "members": [], "folds": "5"}', "folds"),
    ('[1, 2]', "ensemble, members and folds"),
    ('\xff', "cannot read"),
])
def test_a_malformed_evaluation_file_is_invalid_data_before_fitting(tmp_path, text, says):
    p = tmp_path / "eval.json"
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(ToolError) as e:
        read_evaluation(p)
    assert e.value.code == 3 and "--evaluation" in str(e.value) and says in str(e.value)


def test_a_huge_evaluation_file_is_refused_without_reading_it(tmp_path):
    p = tmp_path / "eval.json"
    p.write_text(" " * (2 << 20) + json.dumps(_evaluation()))
    with pytest.raises(ToolError, match="larger than") as e:
        read_evaluation(p)
    assert e.value.code == 3


def _schema_with_exposure() -> dict:
    return {"fields": [{"name": "amount", "type": "number", "nullable": True, "exposure": True}]}


@pytest.mark.parametrize("values, says", [
    (["0", "0", "", "0"], "no positive value"),
    (["0", "0", "0"], "no positive value"),
])
def test_an_exposure_without_a_usable_amount_is_invalid_data(values, says):
    with pytest.raises(ToolError, match=says) as e:
        cutoffs.exposure_values(_schema_with_exposure(), ["amount"], [[v] for v in values], None)
    assert e.value.code == 3 and "amount" in str(e.value)


def test_a_margin_that_overflows_the_profit_is_a_usage_error():
    pd = np.linspace(0.05, 0.6, 50)
    y = (np.arange(50) % 3 == 0).astype(float)
    with pytest.raises(ToolError, match="--margin") as e:
        cutoffs.choose_cutoffs(pd, y, np.full(50, 1e6), margin=1e308)
    assert e.value.code == 2


def test_a_huge_margin_stops_training_before_fitting():
    with pytest.raises(ToolError, match="--margin") as e:
        cutoffs.check_profit_finite(np.full(50, 1e6), lgd=0.45, margin=1e308)
    assert e.value.code == 2
    cutoffs.check_profit_finite(np.full(50, 1e6), lgd=0.45, margin=0.1)


def test_the_model_card_renders_when_the_cutoff_approves_nobody():
    pd = np.linspace(0.3, 0.9, 40)
    y = np.ones(40)                   # every approval loses: the best cut-off approves nobody
    y[-1] = 0
    c = cutoffs.choose_cutoffs(pd, y)
    assert c.approve_below <= pd.min()
    assert any("approves no applicant" in n for n in c.notes)
    card = model_card.render(model_name="m", schema={"fields": []}, data_rows=40,
                             default_rate=0.975, leaderboard=None, cutoffs=c, risk_levels=None,
                             fairness=None)
    assert "none approved" in card


def _evaluate_args(tmp_path, positives: int, folds: int) -> argparse.Namespace:
    schema = {"format": "loanscore-schema/1", "target": {"column": "y", "positive": "bad",
                                                         "negative": "good"},
              "fields": [{"name": "x", "type": "number", "nullable": False}]}
    (tmp_path / "s.json").write_text(json.dumps(schema))
    rows = [f"{i},{'bad' if i < positives else 'good'}" for i in range(30)]
    (tmp_path / "d.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    return argparse.Namespace(data=str(tmp_path / "d.csv"), schema=str(tmp_path / "s.json"),
                              folds=folds, repeats=1, seed=1, json=False, allow_protected=[],
                              trials=1, resample="none")


def test_more_folds_than_minority_rows_is_a_usage_error_naming_the_limit(tmp_path):
    with pytest.raises(ToolError, match="--folds 5 or fewer") as e:
        evaluate.run(_evaluate_args(tmp_path, positives=5, folds=10))
    assert e.value.code == 2


def test_one_minority_row_cannot_be_evaluated(tmp_path):
    with pytest.raises(ToolError, match="at least 2") as e:
        evaluate.run(_evaluate_args(tmp_path, positives=1, folds=2))
    assert e.value.code == 3


def test_the_model_card_keeps_hostile_names_and_levels_inert():
    from loanscore_train.fairness import FairnessTable, Group
    level = "male | <img src=x onerror=alert(1)> [x](javascript:alert(1))\nnext"
    field = "<b>sex`</b>"
    fairness = FairnessTable(0.2, [Group(field, level, 40, 0.2, 0.5, None, 1.0, False),
                                   Group(field, "other", 40, 0.2, 0.5, None, 1.0, False)],
                             notes=[f"levels of {field}: {level!r}"])
    schema = {"name": "m", "target": {"column": "y", "positive": "bad"},
              "fields": [{"name": field, "type": "category", "protected": True}]}
    card = model_card.render(model_name="<script>x</script>", schema=schema, data_rows=80,
                             default_rate=0.2, leaderboard=None, cutoffs=None, risk_levels=None,
                             fairness=fairness)
    assert "``<b>sex`</b>``" in card                        # the name as one code span
    outside_code = card.replace("``<b>sex`</b>``", "")
    assert "<img" not in card and "<script" not in card and "<b>" not in outside_code
    assert "[x](javascript" not in card and "\\[x\\](javascript" in card
    row = next(line for line in card.splitlines() if "onerror" in line)
    assert row.replace("\\|", "").count("|") == 8          # still 7 cells


@pytest.mark.parametrize("positives", [1, 2, 3])
def test_too_few_minority_rows_for_holdout_and_inner_folds_is_invalid_data(positives):
    from loanscore_train.train import holdout_split
    y = np.r_[np.ones(positives), np.zeros(150)].astype(np.int64)
    with pytest.raises(ToolError, match="smaller class") as e:
        holdout_split("d.csv", y, 42, 3)
    assert e.value.code == 3


def test_five_minority_rows_are_enough_to_train():
    from loanscore_train.train import holdout_split
    y = np.r_[np.ones(5), np.zeros(150)].astype(np.int64)
    i_tr, i_ho = holdout_split("d.csv", y, 42, 3)
    assert y[i_tr].sum() >= 3 and y[i_ho].sum() >= 1


def test_evaluate_refuses_outer_training_parts_too_small_for_the_inner_folds(tmp_path):
    with pytest.raises(ToolError, match="inner folds") as e:
        evaluate.run(_evaluate_args(tmp_path, positives=3, folds=2))
    assert e.value.code == 3


def test_a_protected_field_with_no_values_is_reported_as_not_assessed():
    from loanscore_train.fairness import fairness_table
    schema = {"fields": [{"name": "age", "type": "integer", "nullable": True, "protected": True}]}
    y = np.r_[np.ones(20), np.zeros(80)]
    table = fairness_table(schema, ["age"], [[""]] * 100, y, np.linspace(0.01, 0.9, 100), 0.3)
    assert table.passed and table.unassessed == ["age"]
    assert any("not assessed" in n and "100 missing" in n for n in table.notes)


def test_a_repeated_allow_protected_counts_once(monkeypatch, tmp_path):
    import loanscore_train.train as train_mod
    seen = {}
    monkeypatch.setattr(train_mod, "run", lambda args: seen.setdefault("args", args) and 0)
    cli.main(["train", "--data", "d.csv", "--schema", "s.json", "--output", str(tmp_path / "b"),
              "--allow-protected", "age", "--allow-protected", "age",
              "--allow-leakage", "x", "--allow-leakage", "x"])
    assert seen["args"].allow_protected == ["age"] and seen["args"].allow_leakage == ["x"]


@pytest.mark.parametrize("schema, says", [
    ([], "not a JSON object"),
    ({"target": {"positive": "bad"}, "fields": "x"}, "not a list"),
    ({"target": {"positive": "bad"}, "fields": ["age"]}, "fields[0]"),
    ({"target": {"positive": "bad"}, "fields": [{"name": "age", "protected": "true"}]},
     '"protected" must be true or false'),
    ({"target": {"positive": "bad"}, "fields": [{"name": "x", "post_origination": 1}]},
     '"post_origination"'),
])
def test_a_malformed_schema_is_invalid_data_naming_the_key(tmp_path, schema, says):
    from loanscore_train.train import load_schema
    p = tmp_path / "s.json"
    p.write_text(json.dumps(schema))
    with pytest.raises(ToolError) as e:
        load_schema(p)
    assert e.value.code == 3 and says in str(e.value)


@pytest.mark.parametrize("header, says", [("a,,status", "column 2"), ("a,a,status", "'a' appears twice")])
def test_infer_schema_refuses_a_header_pandas_would_rename(tmp_path, header, says):
    from loanscore_train.schema_infer import infer_schema
    p = tmp_path / "d.csv"
    p.write_text(header + "\n1,2,bad\n3,4,good\n")
    with pytest.raises(ToolError, match=says) as e:
        infer_schema(p, "status", "bad")
    assert e.value.code == 3


@pytest.mark.parametrize("content, says", [
    (b"a,status\n\xff\xfe,bad\n1,good\n", "not UTF-8"),
    (b"a,status\n\"" + b"x" * 200_000 + b"\",bad\n", "not a readable CSV"),
    (None, "cannot read it"),
])
def test_an_unreadable_data_file_is_invalid_data_naming_it(tmp_path, content, says):
    from loanscore_train.train import load_schema, read_raw
    p = tmp_path / "d.csv"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ToolError, match=says) as e:
        read_raw(p)
    assert e.value.code == 3 and "--data" in str(e.value)
    s = tmp_path / "s.json"
    s.write_bytes(b"{\"target\": \"\xff\"}")
    with pytest.raises(ToolError, match="cannot read the schema"):
        load_schema(s)


def test_a_protected_exposure_field_is_a_usage_error():
    schema = {"fields": [{"name": "age", "type": "integer", "protected": True}]}
    with pytest.raises(ToolError, match="protected") as e:
        cutoffs.exposure_values(schema, ["age"], [["30"], ["40"]], "age")
    assert e.value.code == 2


@pytest.mark.parametrize("name", ["a\nb", "", "  ", "tab\there"])
def test_a_model_name_with_control_characters_is_a_usage_error(tmp_path, name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--data", "d.csv", "--schema", "s.json",
                  "--output", str(tmp_path / "b"), "--name", name])
    assert e.value.code == 2 and "--name" in capsys.readouterr().err


def test_a_feature_beyond_float32_is_invalid_data_naming_it():
    from loanscore_train.features import check_finite
    X = np.array([[1.0, 2.0], [3.0, 1e300]])
    with pytest.raises(ToolError, match="row 2: feature 'amount'") as e:
        check_finite(["x", "amount"], X)
    assert e.value.code == 3
    check_finite(["x"], np.array([[np.nan], [3.0e38]]))     # missing values and float32 range pass


def test_a_level_named_missing_is_still_flagged():
    from loanscore_train.fairness import fairness_table
    schema = {"fields": [{"name": "race", "type": "category", "protected": True,
                          "levels": ["a", "missing"], "nullable": True}]}
    cells = [["a"]] * 50 + [["missing"]] * 50
    pd = np.r_[np.full(50, 0.1), np.full(50, 0.5)]           # level 'missing' is never approved
    y = np.r_[np.zeros(45), np.ones(5), np.zeros(40), np.ones(10)]
    table = fairness_table(schema, ["race"], cells, y, pd, 0.3)
    flagged = [g.group for g in table.groups if g.flagged]
    assert flagged == ["missing (level)"] and not table.passed


def test_deeply_nested_json_is_invalid_data_not_a_recursion_error(tmp_path):
    from loanscore_train.train import load_schema
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    for read, says in ((read_evaluation, "--evaluation"), (load_schema, "cannot read the schema")):
        with pytest.raises(ToolError, match=says) as e:
            read(p)
        assert e.value.code == 3


@pytest.mark.parametrize("content, says", [
    (b"a,status\n\xff\xfe,bad\n1,good\n", "not UTF-8"),
    (b'a,status\n"unterminated,bad\n', "not a readable CSV"),
    (b"", "empty file"),
    (None, "cannot read it"),
])
def test_infer_schema_reports_an_unreadable_csv_as_invalid_data(tmp_path, content, says):
    from loanscore_train.schema_infer import infer_schema
    p = tmp_path / "d.csv"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ToolError, match=says) as e:
        infer_schema(p, "status", "bad")
    assert e.value.code == 3 and "--data" in str(e.value)
