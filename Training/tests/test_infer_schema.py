"""infer-schema drafts schemas that LoanScore accepts and that train without edits."""
import json

import pytest

from loanscore_train.cli import main
from loanscore_train.features import compute_features
from loanscore_train.schema_infer import infer_field

from conftest import DATA, require_loanscore

TARGETS = {"credit_data": ("Status", "BAD"), "german_credit": ("creditability", "bad")}


def test_infer_field_rules():
    f = infer_field("n", ["1", " 2.0", "", "30"])
    assert f["type"] == "integer" and f["nullable"] is True
    assert f["range"] == {"min": 0, "max": 300}
    f = infer_field("x", ["-1.5", "2.25"])
    assert f["type"] == "number" and f["nullable"] is False and f["range"]["min"] == -1.5
    f = infer_field("b", ["Yes", "no", " YES"])
    assert f["type"] == "boolean" and f["true_labels"] == ["yes"] and f["false_labels"] == ["no"]
    f = infer_field("c", ["b", " a", "B", "c", "nan"])
    assert f["type"] == "category" and f["levels"] == ["b", "a", "c", "nan"]
    assert f["reason"] == "c raised the risk"


@pytest.mark.parametrize("name", list(TARGETS))
def test_inferred_schema_is_accepted_by_loanscore(name, tmp_path):
    require_loanscore()
    target, positive = TARGETS[name]
    out = tmp_path / "schema.json"
    assert main(["infer-schema", "--data", str(DATA / f"{name}.csv"), "--target", target,
                 "--positive", positive, "--output", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert schema["format"] == "loanscore-schema/1"
    assert schema["target"] == {"column": target, "positive": "bad", "negative": "good"}
    assert target not in [f["name"] for f in schema["fields"]]
    names, X = compute_features(out, DATA / f"{name}.csv")
    n_rows = sum(1 for _ in open(DATA / f"{name}.csv", encoding="utf-8")) - 1
    assert X.shape == (n_rows, len(names))


def test_infer_schema_rejects_unknown_positive(tmp_path, capsys):
    code = main(["infer-schema", "--data", str(DATA / "german_credit.csv"), "--target",
                 "creditability", "--positive", "default", "--output", str(tmp_path / "s.json")])
    assert code == 3
    assert "default" in capsys.readouterr().err
