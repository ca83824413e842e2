"""reference.json: the drift reference bins (BUNDLE.md, "reference.json (optional)").

The binning rules on hand-made values first (fast, no CLI), then the file of a bundle trained
by `loanscore-train train`, checked against the raw training rows and loaded by LoanScore."""
from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from loanscore_train import reference_bins as rb
from loanscore_train.features import ToolError, compute_slots
from loanscore_train.recipe import RecipeConfig
from loanscore_train.train import holdout_split, labels, load_schema, read_raw

from conftest import DATA, run_loanscore

NAN = float("nan")


def total(entry: dict) -> float:
    """Σ shares + missing of one entry."""
    return math.fsum(entry["shares"]) + entry["missing"]


def test_number_shares_sum_to_one_and_edges_increase() -> None:
    """A realistic numeric field: 9 strictly increasing finite deciles, shares in [0, 1]
    summing to 1."""
    rng = np.random.default_rng(7)
    values = np.round(rng.lognormal(8, 1, 5000), 1)
    values[rng.random(5000) < 0.05] = np.nan
    e = rb.number_entry("Income", "input", values)
    assert e["type"] == "number" and e["source"] == "input"
    assert len(e["edges"]) == 9 and all(a < b for a, b in zip(e["edges"], e["edges"][1:]))
    assert all(math.isfinite(x) for x in e["edges"])
    assert len(e["shares"]) == len(e["edges"]) + 1
    assert all(0 <= s <= 1 for s in e["shares"] + [e["missing"]])
    assert abs(total(e) - 1) <= 1e-9
    assert e["missing"] == np.isnan(values).sum() / values.size
    present = values[~np.isnan(values)]
    assert e["edges"] == list(np.quantile(present, rb.QUANTILES))
    assert rb.QUANTILES.tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def test_bin_convention_a_value_equal_to_an_edge_goes_to_the_lower_bin() -> None:
    """Bin = number of edges strictly below the value; NaN goes to the missing bin, last."""
    edges = [1.0, 2.0, 4.0]
    values = np.array([-5.0, 1.0, 1.5, 2.0, 2.0000001, 4.0, 4.5, NAN])
    assert rb.number_bins(edges, values).tolist() == [0, 0, 1, 1, 2, 2, 3, 4]
    assert rb.number_bins([], np.array([3.0, NAN])).tolist() == [0, 1]


def test_edges_are_deduplicated_deciles_and_values_on_edges_fall_low() -> None:
    """Edges are numpy's linear deciles, repeated ones once; -0.0 is written 0.0."""
    # 1..10: linear deciles 1.9, 2.8, …, 9.1 — no value lies on an edge.
    e = rb.number_entry("x", "input", np.arange(1.0, 11.0))
    assert e["edges"] == pytest.approx([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1], abs=1e-12)
    assert e["shares"] == [0.1] * 10 and e["missing"] == 0.0
    # Mostly zeros: the repeated edge 0.0 appears once, and every 0 is in (-inf, 0].
    values = np.array([0.0] * 8 + [5.0, 10.0, NAN, NAN])
    e = rb.number_entry("y", "derived", values)
    assert e["edges"] == sorted(set(np.quantile(values[:10], rb.QUANTILES).tolist()))
    assert e["edges"][0] == 0.0 and len(e["edges"]) == 3          # 0.0, 1.0, 5.5
    assert e["shares"][0] == 8 / 12 and e["missing"] == 2 / 12
    assert abs(total(e) - 1) <= 1e-9
    # -0.0 is written as 0.0 (edges and the range)
    e = rb.number_entry("z", "input", np.array([-0.0, -0.0, 1.0]))
    assert all(math.copysign(1, x) == 1 for x in e["edges"] + [e["min"], e["max"]])


def test_one_distinct_value() -> None:
    """A constant field: one edge, every value in the bin (-inf, edge]."""
    e = rb.number_entry("flat", "input", np.array([3.0, 3.0, 3.0, NAN]))
    assert e["edges"] == [3.0] and e["shares"] == [0.75, 0.0] and e["missing"] == 0.25
    assert (e["min"], e["max"]) == (3.0, 3.0)


def test_all_missing_number() -> None:
    """No value at all: no edges, one empty bin, everything missing, min/max null."""
    e = rb.number_entry("Assets", "input", np.array([NAN, NAN, NAN]))
    assert e == {"name": "Assets", "source": "input", "type": "number", "edges": [],
                 "shares": [0.0], "missing": 1.0, "min": None, "max": None}
    assert '"min": null, "max": null' in json.dumps(e)


def test_min_and_max_are_the_non_missing_extremes() -> None:
    """min/max ignore missing values."""
    e = rb.number_entry("Seniority", "input", np.array([4.0, NAN, 0.0, 48.0, 7.5]))
    assert (e["min"], e["max"]) == (0.0, 48.0)
    assert e["missing"] == 0.2


def test_category_levels_in_schema_order_with_an_absent_level() -> None:
    """Levels in schema order, 0.0 for a level training never saw; a slot that is no level
    index is refused."""
    e = rb.category_entry("Home", ["rent", "owner", "other"], np.array([1.0, 1.0, 0.0, NAN]))
    assert e == {"name": "Home", "source": "input", "type": "category",
                 "levels": ["rent", "owner", "other"], "shares": [0.25, 0.5, 0.0],
                 "missing": 0.25}
    with pytest.raises(ToolError, match="level indices"):
        rb.category_entry("Home", ["rent", "owner"], np.array([0.0, 2.0]))
    with pytest.raises(ToolError, match="level indices"):
        rb.category_entry("Home", ["rent", "owner"], np.array([0.5]))


def test_boolean_false_then_true() -> None:
    """Boolean shares are [false, true]."""
    e = rb.boolean_entry("Records", np.array([1.0, 0.0, 0.0, 0.0, NAN]))
    assert e == {"name": "Records", "source": "input", "type": "boolean",
                 "shares": [0.6, 0.2], "missing": 0.2}


def test_levels_outside_ascii_are_written_as_text(tmp_path: Path) -> None:
    """Level texts are written as UTF-8, not \\u escapes, and read back unchanged."""
    ref = {"format": rb.FORMAT, "rows": 1, "pd_rows": 1, "approval_rate": 1.0,
           "fields": [rb.category_entry("Wohnung", ["Miete", "Eigentum ≥ 1 Jahr"],
                                        np.array([1.0]))]}
    rb.write_reference(tmp_path / "r.json", ref)
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert "Eigentum ≥ 1 Jahr" in text and json.loads(text) == ref


def test_an_infinite_slot_is_refused() -> None:
    """An infinite slot (which the pipeline never writes) is an error, not an edge."""
    with pytest.raises(ToolError, match="not finite"):
        rb.number_entry("x", "derived", np.array([1.0, np.inf]))
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(ToolError, match="finite"):
        rb.number_entry("x", "derived", np.array([-1.7e308] * 5 + [1.7e308] * 5))


SCHEMA = {
    "fields": [
        {"name": "Seniority", "type": "integer"},
        {"name": "Home", "type": "category", "levels": ["rent", "owner", "parents"]},
        {"name": "Age", "type": "integer", "protected": True},            # not a feature
        {"name": "Records", "type": "boolean"},
        {"name": "Income", "type": "number"},
    ],
    "derived": [{"name": "debt_to_income", "kind": "ratio", "inputs": ["Seniority", "Income"]},
                {"name": "term_years", "kind": "years_from_months", "inputs": ["Seniority"]}],
}


def small_reference() -> dict:
    """build_reference over five hand-made training rows and four holdout PDs."""
    names = rb.expected_slot_names(SCHEMA)
    slots = np.array([
        # Seniority Home Age Records Income d2i  term
        [1.0, 0.0, 30.0, 1.0, 100.0, 0.01, 1 / 12],
        [2.0, 1.0, NAN, 0.0, NAN, NAN, 2 / 12],
        [3.0, 1.0, 40.0, 0.0, 300.0, 0.01, 3 / 12],
        [4.0, NAN, 50.0, 0.0, 400.0, 0.01, 4 / 12],
        [5.0, 0.0, 60.0, 1.0, 500.0, 0.01, 5 / 12],
    ])
    return rb.build_reference(SCHEMA, names, slots, np.array([0.02, 0.1, 0.3, 0.2]), 0.2)


def test_order_schema_fields_then_derived_then_pd() -> None:
    """Every schema field (a protected one too), then the derived features, then `pd`."""
    ref = small_reference()
    assert ref["format"] == "loanscore-reference/1"
    assert [(e["name"], e["source"], e["type"]) for e in ref["fields"]] == [
        ("Seniority", "input", "number"), ("Home", "input", "category"),
        ("Age", "input", "number"), ("Records", "input", "boolean"),
        ("Income", "input", "number"), ("debt_to_income", "derived", "number"),
        ("term_years", "derived", "number"), ("pd", "pd", "number")]
    for e in ref["fields"]:
        assert abs(total(e) - 1) <= 1e-9, e["name"]
        assert all(0 <= s <= 1 for s in e["shares"] + [e["missing"]])
        if e["type"] == "number":
            assert all(a < b for a, b in zip(e["edges"], e["edges"][1:]))
    home = ref["fields"][1]
    assert home["levels"] == ["rent", "owner", "parents"]
    assert home["shares"] == [0.4, 0.4, 0.0] and home["missing"] == 0.2
    d2i = ref["fields"][5]
    assert d2i["edges"] == [0.01] and d2i["shares"] == [0.8, 0.0] and d2i["missing"] == 0.2


def test_pd_reference_comes_from_the_holdout_pds() -> None:
    """The PD entry bins the holdout PDs; approval_rate uses PD < approve_below."""
    ref = small_reference()
    assert ref["rows"] == 5 and ref["pd_rows"] == 4
    assert ref["approval_rate"] == 0.5            # 0.02 and 0.1 are below 0.2; 0.2 is not
    pd_entry = ref["fields"][-1]
    assert pd_entry == rb.number_entry("pd", "pd", np.array([0.02, 0.1, 0.3, 0.2]))
    assert (pd_entry["min"], pd_entry["max"]) == (0.02, 0.3) and pd_entry["missing"] == 0.0


def test_slot_columns_must_be_the_schema_fields_then_derived() -> None:
    """Slot columns in another order are refused rather than mislabelled."""
    names = rb.expected_slot_names(SCHEMA)
    with pytest.raises(ToolError, match="expected every schema field"):
        rb.build_reference(SCHEMA, names[::-1], np.zeros((1, len(names))), np.array([0.1]), 0.2)


def test_the_file_is_json_with_round_trip_numbers(tmp_path: Path) -> None:
    """The file parses back to the same object, numbers unrounded; NaN is refused."""
    ref = small_reference()
    rb.write_reference(tmp_path / "reference.json", ref)
    text = (tmp_path / "reference.json").read_text(encoding="utf-8")
    assert json.loads(text) == ref
    assert repr(1 / 12) in text                      # shortest round-trip form, not rounded
    bad = {**ref, "approval_rate": NAN}
    with pytest.raises(ValueError):
        rb.dumps(bad)


def test_a_cli_without_slots_is_named(tmp_path: Path) -> None:
    """A `loanscore` without `features --slots` is named in the error, with what to do."""
    fake = tmp_path / "loanscore"
    fake.write_text("#!/bin/sh\necho \"Error: Unknown option '--slots'\" >&2\nexit 64\n",
                    encoding="utf-8")
    fake.chmod(0o755)
    with pytest.raises(ToolError, match=r"has no `features --slots`"):
        compute_slots(DATA / "credit_data.schema.json", DATA / "credit_data.csv", None, str(fake))


def training_part(name: str) -> tuple[dict, list[str], list[list[str]], np.ndarray, np.ndarray]:
    """The data set as train.py splits it with the default seed: (schema, header, rows,
    training-part indices, holdout indices)."""
    data, schema_path = DATA / f"{name}.csv", DATA / f"{name}.schema.json"
    schema = load_schema(schema_path)
    header, rows, _ = read_raw(data)
    y = labels(data, header, rows, schema["target"])
    i_tr, i_ho = holdout_split(data, y, 42, RecipeConfig().inner_folds)
    return schema, header, rows, i_tr, i_ho


def raw_slot(field: dict, cell: str) -> float:
    """An independent reading of one raw cell as its slot value (for the test data sets)."""
    text = cell.strip(" \t")
    if text == "" or text in field.get("sentinels", []):
        return NAN
    if field["type"] == "category":
        folded = [lv.casefold() for lv in field["levels"]]
        return float(folded.index(text.casefold())) if text.casefold() in folded else NAN
    if field["type"] == "boolean":
        return 1.0 if text.casefold() in [t.casefold() for t in field["true_labels"]] else 0.0
    return float(text)


def test_trained_bundle_reference_round_trip(trained) -> None:
    """A trained bundle's reference.json: hashed, named by the manifest, the bins of the raw
    training part's rows (read independently here) and of predictions.csv's PDs; LoanScore
    loads the bundle."""
    bundle, _ = trained("german_credit")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reference"] == "reference.json"
    raw = (bundle / "reference.json").read_bytes()
    assert manifest["files"]["reference.json"] == hashlib.sha256(raw).hexdigest()
    ref = json.loads(raw)

    schema, header, rows, i_tr, i_ho = training_part("german_credit")
    assert (ref["rows"], ref["pd_rows"]) == (len(i_tr), len(i_ho))
    names = [f["name"] for f in schema["fields"]] + [d["name"] for d in schema["derived"]]
    assert [e["name"] for e in ref["fields"]] == names + ["pd"]
    for e in ref["fields"]:
        assert abs(total(e) - 1) <= 1e-9, e["name"]

    # Input fields: the same bins from the raw training rows, read independently here.
    by_name = {e["name"]: e for e in ref["fields"]}
    for field in schema["fields"]:
        column = np.array([raw_slot(field, rows[i][header.index(field["name"])]) for i in i_tr])
        e = by_name[field["name"]]
        if field["type"] == "category":
            assert e["levels"] == field["levels"]
            want = rb.category_entry(field["name"], field["levels"], column)
        elif field["type"] == "boolean":
            want = rb.boolean_entry(field["name"], column)
        else:
            want = rb.number_entry(field["name"], "input", column)
            assert (e["min"], e["max"]) == (np.nanmin(column), np.nanmax(column))
        assert e == want, field["name"]

    # Derived features: the CLI's slots of exactly the training part's rows.
    slot_names, slots = compute_slots(DATA / "german_credit.schema.json",
                                      DATA / "german_credit.csv", len(rows))
    for k, d in enumerate(schema["derived"]):
        j = slot_names.index(d["name"])
        assert by_name[d["name"]] == rb.number_entry(d["name"], "derived", slots[i_tr, j])

    # The PD: the calibrated PD of predictions.csv (the holdout), and the approval rate.
    with open(bundle / "validation/predictions.csv", newline="", encoding="utf-8") as f:
        pd_holdout = np.array([float(r["pd"]) for r in csv.DictReader(f)])
    assert ref["fields"][-1] == rb.number_entry("pd", "pd", pd_holdout)
    approve_below = manifest["policy"]["approve_below"]
    assert ref["approval_rate"] == float(np.mean(pd_holdout < approve_below))

    # LoanScore loads the bundle with the file in it.
    run_loanscore("bundle", "inspect", bundle)
    run_loanscore("bundle", "verify", bundle)


@pytest.mark.parametrize("schema", [
    {"fields": [{"name": "pd", "type": "number"}]},
    {"fields": [{"name": "x", "type": "number"}], "derived": [{"name": "pd", "kind": "sum", "inputs": ["x", "x"]}]},
])
def test_a_field_named_pd_is_refused_before_fitting(schema):
    """reference.json keeps `pd` for the PD's own entry, and LoanScore refuses a bundle where
    a field shares it: training refuses the schema first, not after a minute of fitting."""
    with pytest.raises(ToolError, match="named 'pd'") as e:
        rb.check_names(schema)
    assert e.value.code == 3
    rb.check_names({"fields": [{"name": "pd_input", "type": "number"}]})
