"""Monotone constraints declared in the schema (`"monotone": "increasing" | "decreasing"` on a
number, integer or boolean field), mapped onto the feature columns."""
from __future__ import annotations

from .features import ToolError

DIRECTIONS = {"increasing": 1, "decreasing": -1}
MONOTONE_TYPES = ("number", "integer", "boolean")


def declared(schema: dict) -> dict[str, int]:
    """Field name -> +1 (PD may only rise with the field) or -1 (only fall).

    Raises ToolError (exit 2) for an unknown direction, a field type that has no order, or a
    monotone field that feeds a derived feature (its direction through the derived feature
    cannot be guaranteed)."""
    out: dict[str, int] = {}
    for f in schema.get("fields", []):
        if "monotone" not in f:
            continue
        name, value = f.get("name"), f["monotone"]
        if value not in DIRECTIONS:
            raise ToolError(f"schema field {name!r}: monotone must be \"increasing\" or "
                            f"\"decreasing\", not {value!r}", code=2)
        if f.get("type") not in MONOTONE_TYPES:
            raise ToolError(f"schema field {name!r}: monotone applies to number, integer or "
                            f"boolean fields, not {f.get('type')!r}", code=2)
        out[name] = DIRECTIONS[value]
    for d in schema.get("derived", []):
        for inp in d.get("inputs", []):
            if inp in out:
                raise ToolError(f"schema field {inp!r} is monotone but feeds the derived feature "
                                f"{d.get('name')!r}: the direction through a derived feature "
                                f"cannot be guaranteed (drop one of the two)", code=2)
    return out


def constraints(schema: dict, feature_names: list[str]) -> list[int] | None:
    """One entry per feature column (+1, -1 or 0), or None when no column is constrained.

    A field that is a feature has the column of its own name; a monotone field kept out of
    the matrix (`"feature": false`) constrains nothing."""
    fields = declared(schema)
    vector = [fields.get(name, 0) for name in feature_names]
    return vector if any(vector) else None
