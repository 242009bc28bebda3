"""Validated data models: one check per field, one clear error naming the field and the source.

A :class:`Schema` lists :class:`Field` s. Each field states its shape with named dimensions
(``("K", 2)``), its dtype kind, its unit and whether NaN is allowed. ``Schema.validate(obj,
source)`` checks a sample or a prediction (a mapping) field by field; named dimensions must agree
across fields (``keypoints (K, 2)`` and ``visibility (K,)`` share ``K``) and with the sizes the
caller fixes (``dims={"N": 12}``). The first problem raises :class:`SchemaError`:

    pose2d sample from clip.mp4#12: field 'visibility' has shape (16,), expected (K,) with K=17

In the spirit of ``movement``'s validators: written once per task, applied to every dataset's
samples, every method's predictions and every baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kpbench.errors import KpbenchError

#: dtype kinds: "f" float, "i" integer (signed or unsigned), "u8" uint8 image, "b" bool,
#: "str", "int" and "float" (Python scalars), "callable", "mapping", "any".
KINDS = ("f", "i", "u8", "b", "str", "int", "float", "callable", "mapping", "sequence", "any")


class SchemaError(KpbenchError):
    """A sample, prediction or evaluation input does not match its task's data model."""


@dataclass(frozen=True)
class Field:
    """One field of a data model.

    Attributes:
        name: the key in the sample or prediction mapping.
        kind: dtype kind, one of :data:`KINDS`.
        shape: array shape; ints are fixed sizes, strings named dimensions shared across
            fields (``("T", "K", 2)``), ``None`` for a scalar or a non-array field.
        unit: unit of the values (``"px"``, ``"mm"``, ``""`` for none); shown in the docs.
        doc: one line: what the field means.
        nan: True where NaN means "not labelled" and is allowed.
        optional: the field may be missing or None.
        range: inclusive ``(low, high)`` the finite values must lie in, or None.
    """

    name: str
    kind: str
    shape: tuple | None = None
    unit: str = ""
    doc: str = ""
    nan: bool = False
    optional: bool = False
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind {self.kind!r} is not one of {KINDS}")

    def describe(self) -> str:
        """``keypoints (K, 2) f px, NaN = unlabelled: doc`` (for ``kpbench list tasks`` and docs)."""
        shape = "" if self.shape is None else " " + str(tuple(self.shape)).replace("'", "")
        unit = f" {self.unit}" if self.unit else ""
        extra = (", NaN allowed" if self.nan else "") + (", optional" if self.optional else "")
        return f"{self.name}{shape} {self.kind}{unit}{extra}: {self.doc}"


@dataclass(frozen=True)
class Schema:
    """A data model: a named list of fields.

    Attributes:
        name: e.g. ``"pose2d sample"`` or ``"pose2d prediction"`` (used in error lines).
        fields: the fields, in documentation order.
    """

    name: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def describe(self) -> list[str]:
        return [f.describe() for f in self.fields]

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def validate(
        self, obj: Any, source: str = "", dims: Mapping[str, int] | None = None
    ) -> dict[str, int]:
        """Check ``obj`` field by field; return the named dimensions it fixed.

        Args:
            obj: a mapping (a sample, a prediction).
            source: where it came from (``"method bkind"``, ``"clip.mp4#12"``), for the error.
            dims: sizes some named dimensions must have (``{"N": 40}``).

        Raises:
            SchemaError: one line naming the schema, the source, the field and the problem.
        """
        where = f"{self.name}{f' from {source}' if source else ''}"
        if not isinstance(obj, Mapping):
            raise SchemaError(f"{where}: expected a mapping of fields, got {type(obj).__name__}")
        bound = dict(dims or {})
        for f in self.fields:
            problem = _check(f, obj.get(f.name), f.name in obj, bound)
            if problem:
                raise SchemaError(f"{where}: field {f.name!r} {problem}")
        return bound


def _check(f: Field, value: Any, present: bool, bound: dict[str, int]) -> str | None:
    if value is None:
        return None if f.optional else ("is missing" if not present else "is None")
    scalar = {"str": str, "int": (int, np.integer), "float": (int, float, np.number)}
    if f.kind in scalar:
        ok = isinstance(value, scalar[f.kind]) and not isinstance(value, bool)
        return None if ok else f"must be {f.kind}, got {type(value).__name__}"
    if f.kind == "callable":
        return None if callable(value) else f"must be callable, got {type(value).__name__}"
    if f.kind == "mapping":
        return (
            None if isinstance(value, Mapping) else f"must be a mapping, got {type(value).__name__}"
        )
    if f.kind == "sequence":
        return (
            None if hasattr(value, "__len__") else f"must be a sequence, got {type(value).__name__}"
        )
    if f.kind == "any":
        return None
    arr = value if isinstance(value, np.ndarray) else None
    if arr is None:
        return f"must be a numpy array, got {type(value).__name__}"
    kind_ok = {
        "f": arr.dtype.kind == "f",
        "i": arr.dtype.kind in "iu",
        "u8": arr.dtype == np.uint8,
        "b": arr.dtype.kind == "b",
    }[f.kind]
    if not kind_ok:
        want = {"f": "float", "i": "integer", "u8": "uint8", "b": "bool"}[f.kind]
        return f"has dtype {arr.dtype}, expected {want}"
    if f.shape is not None:
        problem = _shape(f.shape, arr.shape, bound)
        if problem:
            return problem
    if f.kind == "f":
        if np.isinf(arr).any():
            return "contains inf"
        if not f.nan and np.isnan(arr).any():
            return f"contains NaN ({int(np.isnan(arr).sum())} values); NaN is not allowed here"
    if f.range is not None and arr.size:
        finite = arr[np.isfinite(arr)] if f.kind == "f" else arr
        lo, hi = f.range
        if finite.size and (finite.min() < lo or finite.max() > hi):
            return f"has values in [{finite.min():.4g}, {finite.max():.4g}], expected [{lo}, {hi}]"
    return None


def _shape(expected: tuple, actual: tuple, bound: dict[str, int]) -> str | None:
    def show() -> str:
        names = [d for d in expected if isinstance(d, str)]
        known = ", ".join(f"{d}={bound[d]}" for d in dict.fromkeys(names) if d in bound)
        text = "(" + ", ".join(map(str, expected)) + ("," if len(expected) == 1 else "") + ")"
        return f"has shape {tuple(actual)}, expected {text}" + (f" with {known}" if known else "")

    if len(expected) != len(actual):
        return show()
    new: dict[str, int] = {}
    for want, got in zip(expected, actual):
        if isinstance(want, int):
            if want != got:
                return show()
        elif want in bound and bound[want] != got:
            return show()
        elif want in new and new[want] != got:
            return show()
        else:
            new[want] = got
    bound.update(new)
    return None
