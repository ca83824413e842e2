"""Protected attributes: detection by name and values, and which schema fields reach the model.

A protected field (`"protected": true` in the schema) is never a model feature unless the
schema says `"feature": true` explicitly or training is given `--allow-protected FIELD`;
a derived feature may not use one either. Training keeps protected fields for the fairness
analysis (fairness.py).
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from .features import ToolError

# Word tokens of a column name (lower-cased) that suggest a protected attribute, with the
# attribute they suggest. Multi-word names are matched as consecutive tokens.
NAME_WORDS: dict[str, str] = {
    "race": "race", "racial": "race", "ethnicity": "ethnicity", "ethnic": "ethnicity",
    "afam": "race", "black": "race", "hispanic": "ethnicity", "latino": "ethnicity",
    "white": "race", "asian": "race",
    "sex": "sex", "gender": "sex",
    "marital": "marital status", "married": "marital status", "single": "marital status",
    "age": "age", "dob": "age", "birth": "age", "birthdate": "age", "birthday": "age",
    "religion": "religion", "religious": "religion",
    "nationality": "national origin", "citizenship": "national origin",
}
NAME_PHRASES: dict[tuple[str, ...], str] = {
    ("national", "origin"): "national origin",
    ("date", "of", "birth"): "age",
    ("year", "of", "birth"): "age",
}
# Category values that suggest a protected attribute.
SEX_VALUES = {"male", "female"}
MARITAL_VALUES = {"married", "divorced", "widowed", "widow", "unmarried"}
MARITAL_WEAK_VALUES = {"single", "separated"}
RACE_VALUES = {"white", "black", "asian", "hispanic", "latino", "caucasian", "african"}
AGE_WORDS = {"age", "dob", "birth", "birthdate", "birthday"}

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def name_tokens(name: str) -> list[str]:
    """Word tokens of a name: split at non-letters and camelCase, lower-cased.

    `age_in_years` -> age, in, years; `MaritalStatus` -> marital, status; `Page` -> page.
    """
    out: list[str] = []
    for chunk in re.split(r"[^A-Za-z]+", name):
        out.extend(t.lower() for t in _CAMEL.findall(chunk))
    return out


def value_tokens(values: Iterable[str]) -> set[str]:
    """All word tokens of the given values (lower-cased)."""
    toks: set[str] = set()
    for v in values:
        toks.update(t.lower() for t in re.findall(r"[A-Za-z]+", v))
    return toks


def protected_reason(name: str, values: Sequence[str] = ()) -> str | None:
    """Why a column looks like a protected attribute, or None.

    `values` are the column's distinct text values (category levels); numbers are not looked at.
    """
    toks = name_tokens(name)
    for phrase, attr in NAME_PHRASES.items():
        n = len(phrase)
        if any(tuple(toks[i:i + n]) == phrase for i in range(len(toks) - n + 1)):
            return f"the name suggests {attr} (words {' '.join(phrase)!r})"
    for t in toks:
        if t in NAME_WORDS:
            return f"the name suggests {NAME_WORDS[t]} (word {t!r})"
    vt = value_tokens(values)
    if vt & SEX_VALUES:
        return f"its values suggest sex ({', '.join(sorted(vt & SEX_VALUES))})"
    if vt & MARITAL_VALUES or len(vt & MARITAL_WEAK_VALUES) >= 2:
        found = sorted(vt & (MARITAL_VALUES | MARITAL_WEAK_VALUES))
        return f"its values suggest marital status ({', '.join(found)})"
    if len(vt & RACE_VALUES) >= 2:
        return f"its values suggest race or ethnicity ({', '.join(sorted(vt & RACE_VALUES))})"
    return None


def is_age_like(field: dict) -> bool:
    """A numeric field whose name suggests age (grouped in Regulation B's age bands)."""
    if field.get("type") not in ("number", "integer"):
        return False
    reason = protected_reason(field["name"])
    return reason is not None and "suggests age" in reason


def protected_fields(schema: dict) -> list[dict]:
    """The schema's fields marked `"protected": true`, in schema order."""
    return [f for f in schema.get("fields", []) if f.get("protected") is True]


def is_feature(field: dict, allow_protected: Iterable[str] = ()) -> bool:
    """Whether a field becomes a model-ready column.

    A protected field is a feature only with an explicit `"feature": true` or when allowed
    by `--allow-protected`; any other field unless `"feature": false`.
    """
    if field.get("protected") is True:
        return field.get("feature") is True or field["name"] in set(allow_protected)
    return field.get("feature", True) is not False


def derived_inputs(schema: dict) -> dict[str, set[str]]:
    """For each derived feature, the input fields it is computed from (chains followed)."""
    field_names = {f["name"] for f in schema.get("fields", [])}
    out: dict[str, set[str]] = {}
    for d in schema.get("derived", []):
        acc: set[str] = set()
        for i in d.get("inputs", []):
            acc |= out.get(i, {i} if i in field_names else set())
        out[d["name"]] = acc
    return out


def check_allowed(schema: dict, allow_protected: Iterable[str]) -> None:
    """Refuses (exit 2) an --allow-protected name that is not a protected field of the schema,
    then a derived feature on a protected field that is not allowed (`check_protected_derived`)."""
    allow = list(allow_protected)
    prot = {f["name"] for f in protected_fields(schema)}
    for name in allow:
        if name not in prot:
            raise ToolError(f"--allow-protected {name}: the schema has no protected field "
                            f"{name!r} (protected: {', '.join(sorted(prot)) or 'none'})", code=2)
    check_protected_derived(schema, allow)


def check_protected_derived(schema: dict, allow_protected: Iterable[str] = ()) -> None:
    """Refuses (exit 2) a derived feature computed from a protected field that is not allowed."""
    allowed = set(allow_protected)
    prot = {f["name"] for f in protected_fields(schema)
            if f.get("feature") is not True and f["name"] not in allowed}
    bad = [(d, sorted(ins & prot)) for d, ins in derived_inputs(schema).items() if ins & prot]
    if bad:
        lines = [f"derived feature {d!r} uses protected field{'s' if len(p) > 1 else ''} "
                 f"{', '.join(p)}" for d, p in bad]
        raise ToolError("; ".join(lines) + ". A protected field may not reach the model: remove "
                        "the derived feature from the schema, or pass --allow-protected FIELD "
                        "if the law lets this model use the field (see Training/GOVERNANCE.md)",
                        code=2)


def model_fields(schema: dict, allow_protected: Iterable[str] = ()) -> list[dict]:
    """The fields that reach the model: features, and inputs of derived features."""
    used = set().union(*derived_inputs(schema).values()) if schema.get("derived") else set()
    return [f for f in schema.get("fields", [])
            if is_feature(f, allow_protected) or f["name"] in used]


def with_allowed(schema: dict, allow_protected: Iterable[str]) -> dict:
    """A copy of `schema` in which each allowed protected field says `"feature": true`, so
    LoanScore's pipeline (which leaves protected fields out unless a field says so) uses it.
    The bundle carries this copy; without allowed fields the schema is returned unchanged."""
    allowed = set(allow_protected)
    if not allowed:
        return schema
    fields = [({**f, "feature": True} if f.get("name") in allowed and f.get("protected") else f)
              for f in schema.get("fields", [])]
    return {**schema, "fields": fields}
