"""Protected attributes: infer-schema marks them (with reasons on stderr), shipped schemas mark theirs."""
import json

import pytest

from loanscore_train.features import ToolError
from loanscore_train.protected import (check_protected_derived, is_feature, model_fields,
                                       name_tokens, protected_reason)
from loanscore_train.schema_infer import infer_field, protected_notes, run

from conftest import DATA


@pytest.mark.parametrize("name", ["Age", "age_in_years", "AGE", "ApplicantAge", "Marital",
                                  "MaritalStatus", "married", "single", "personal_status_and_sex",
                                  "gender", "race", "afam", "black", "hispanic", "ethnicity",
                                  "religion", "national_origin", "nationality", "DateOfBirth",
                                  "dob", "citizenship"])
def test_names_that_suggest_a_protected_attribute(name):
    assert protected_reason(name) is not None, name


@pytest.mark.parametrize("name", ["Page", "message", "mortgage", "usage", "Income", "Amount",
                                  "Seniority", "agent_id", "Home", "foreign_worker", "races_won"])
def test_names_that_do_not(name):
    assert protected_reason(name) is None, (name, name_tokens(name))


def test_values_that_suggest_a_protected_attribute():
    assert "sex" in protected_reason("ps", ["male : single", "female : divorced"])
    assert "marital" in protected_reason("status", ["married", "single", "divorced"])
    assert "race" in protected_reason("grp", ["white", "black", "other"])
    assert protected_reason("colour", ["black", "silver"]) is None
    assert protected_reason("home", ["rent", "owner"]) is None


def test_infer_field_marks_protected_and_notes_say_why(tmp_path, capsys):
    assert infer_field("Age", ["30", "40"])["protected"] is True
    assert "protected" not in infer_field("Page", ["1", "2"])
    assert infer_field("status", ["male", "female"])["protected"] is True
    csv = tmp_path / "d.csv"
    csv.write_text("y,Age,Page,sexe,amount\nbad,30,1,male,100\ngood,40,2,female,200\n")
    out = tmp_path / "s.json"

    class A:
        data, target, positive, output = str(csv), "y", "bad", str(out)
    assert run(A) == 0
    schema = json.loads(out.read_text())
    marked = [f["name"] for f in schema["fields"] if f.get("protected")]
    assert marked == ["Age", "sexe"]
    err = capsys.readouterr().err
    assert "Age: marked \"protected\": true because the name suggests age" in err
    assert "sexe: marked \"protected\": true because its values suggest sex" in err
    assert len(protected_notes(schema)) == 2


def test_shipped_schemas_mark_their_protected_fields():
    for name, expected in {"credit_data": ["Age", "Marital"],
                           "german_credit": ["personal_status_and_sex", "age_in_years"]}.items():
        schema = json.loads((DATA / f"{name}.schema.json").read_text())
        assert [f["name"] for f in schema["fields"] if f.get("protected")] == expected


def test_protected_fields_are_not_features_and_derived_use_is_refused():
    schema = {"fields": [{"name": "Age", "type": "integer", "protected": True},
                         {"name": "Income", "type": "number"},
                         {"name": "Debt", "type": "number"}],
              "derived": [{"name": "d", "kind": "ratio", "inputs": ["Debt", "Income"]},
                          {"name": "a", "kind": "ratio", "inputs": ["Income", "Age"]},
                          {"name": "b", "kind": "ratio", "inputs": ["a", "Debt"]}]}
    assert not is_feature(schema["fields"][0])
    assert is_feature(schema["fields"][0], {"Age"})
    assert is_feature({**schema["fields"][0], "feature": True})
    with pytest.raises(ToolError) as e:
        check_protected_derived(schema)
    assert e.value.code == 2
    assert "'a' uses protected field Age" in str(e.value) and "'b'" in str(e.value)
    check_protected_derived(schema, {"Age"})
    assert [f["name"] for f in model_fields(schema)] == ["Age", "Income", "Debt"]  # via derived
    schema["derived"] = schema["derived"][:1]
    assert [f["name"] for f in model_fields(schema)] == ["Income", "Debt"]
