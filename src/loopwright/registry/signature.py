"""Signatures: what a model takes as input, inferred from an example and enforced at predict.

A signature has one of two shapes:

* **columns** (inferred from a pandas or polars DataFrame, a list of records or a dict of columns): named
  columns, each with a type;
* **tensor** (inferred from a numpy array, a list of rows or a torch tensor): one unnamed input with a
  type and a shape, ``-1`` standing for "any size" (always the first axis, the rows).

Types are ``bool``, ``int8`` … ``int64``, ``uint8`` … ``uint64``, ``float16`` … ``float64``,
``string``, ``datetime``, ``object`` (anything), or the pandas name of a rarer type (matched exactly).

:meth:`Signature.validate` enforces it, and returns what the model gets (a pandas DataFrame for columns, a
numpy array for a tensor):

==============================  =========================================================================
received                        outcome
==============================  =========================================================================
the expected type               used as it is: no copy
a safe widening                 converted: ``int32`` → ``int64``, an integer → a float numpy casts it
                                to safely (``int64`` → ``float64``, exact up to 2**53), ``float32`` →
                                ``float64``; text as ``object`` or ``category`` for a ``string`` column
``bool`` for a number, or the   refused: a boolean in a numeric column is almost always the wrong column,
reverse                         and models would silently read it as 0 / 1
a narrowing or another kind     refused (``float64`` → ``float32``, ``float`` → ``int``, text ↔ number)
Python numbers (JSON, records)  converted to the signature's width within their kind: their ``int64`` /
                                ``float64`` is numpy's default, not the caller's choice (integers are
                                range-checked first; a float is never made an integer)
a missing column                refused, naming every missing column and its type
an extra column                 dropped (the input is reduced to the signature's columns, in its order)
a tensor of another shape       refused, naming the expected and received shape
==============================  =========================================================================

Refusals raise :class:`~loopwright.errors.SignatureError`, naming the column, the expected and the received
type. The check is O(columns): one comparison of each column's dtype with a precomputed one, no look at
the values, so a batch whose types already match is passed on without a copy.

>>> import pandas as pd
>>> signature = infer_signature(pd.DataFrame({"age": [31], "income": [52_000.0]}))
>>> [(column.name, column.type) for column in signature.inputs]
[('age', 'int64'), ('income', 'float64')]
>>> signature.validate(pd.DataFrame({"income": [1.0], "age": [40], "note": ["x"]})).columns.tolist()
['age', 'income']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInputError, SignatureError
from loopwright.registry.inputs import as_array, as_frame, is_polars, is_torch, shape_text

__all__ = ["ColumnSpec", "Signature", "infer_signature", "type_of"]

NUMERIC_TYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    | {"float16", "float32", "float64"}
)
_TEXT_KINDS = frozenset("OUS")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One input (or output) of a model: a named column, or an unnamed tensor with a ``shape``."""

    name: str | None
    type: str
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form: ``{"name": ..., "type": ...}`` plus ``"shape"`` for a tensor."""
        document: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.shape is not None:
            document["shape"] = list(self.shape)
        return document

    @classmethod
    def from_dict(cls, document: Any, where: str) -> ColumnSpec:
        """Read :meth:`to_dict`'s form; ``where`` names the entry in errors (``inputs[2]``)."""
        if not isinstance(document, Mapping):
            raise InvalidInputError(
                f"The signature's {where} must be a mapping with 'name' and 'type'. Got {document!r} instead."
            )
        name, kind, shape = document.get("name"), document.get("type"), document.get("shape")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"The signature's {where}.name must be text. Got {name!r} instead.")
        if not isinstance(kind, str) or not kind:
            raise InvalidInputError(
                f"The signature's {where}.type must be a type name. Got {kind!r} instead."
            )
        if shape is not None and not (
            isinstance(shape, list)
            and all(isinstance(size, int) and not isinstance(size, bool) and size >= -1 for size in shape)
        ):
            raise InvalidInputError(
                f"The signature's {where}.shape must be a list of sizes (-1 for any). Got {shape!r} instead."
            )
        return cls(name, kind, tuple(shape) if shape is not None else None)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What :meth:`Signature.validate` precomputes once, so that each call is a few comparisons."""

    names: tuple[str, ...]
    names_list: list[str]
    index: Any  # pandas Index of ``names``, of the default dtype that user frames' columns have too
    exact: tuple[Any, ...]  # per column, the dtype that needs no look at all
    tensor_dtype: Any
    fixed_axes: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Signature:
    """The inputs a model takes (and, for information, the outputs it returns).

    Build it with :func:`infer_signature`, or by hand::

        Signature([ColumnSpec("age", "int64"), ColumnSpec("plan", "string")])
        Signature([ColumnSpec(None, "float32", (-1, 4))])  # a tensor of 4 features per row
    """

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] | None = None
    _plan: _Plan = field(init=False, repr=False, compare=False)

    def __init__(self, inputs: Sequence[ColumnSpec], outputs: Sequence[ColumnSpec] | None = None) -> None:
        inputs = tuple(inputs)
        if not inputs:
            raise InvalidInputError("A signature needs at least one input. Got none.")
        tensors = [spec for spec in inputs if spec.shape is not None]
        if tensors and len(inputs) != 1:
            raise InvalidInputError(
                f"A signature has either named columns or one tensor. Got {len(inputs)} inputs with "
                f"{len(tensors)} tensors."
            )
        names = [spec.name for spec in inputs]
        if not tensors and not all(isinstance(name, str) and name for name in names):
            raise InvalidInputError(f"Every column of a signature needs a name. Got {names!r}.")
        duplicates = sorted({name for name in names if name is not None and names.count(name) > 1})
        if duplicates:
            raise InvalidInputError(f"A signature's column names must be unique. Got {duplicates} twice.")
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", tuple(outputs) if outputs is not None else None)
        object.__setattr__(self, "_plan", self._compile())

    def _compile(self) -> _Plan:
        if self.is_tensor:
            spec = self.inputs[0]
            assert spec.shape is not None
            fixed = tuple((axis, size) for axis, size in enumerate(spec.shape) if size != -1)
            return _Plan((), [], None, (), _exact_dtype(spec.type), fixed)
        names = tuple(str(spec.name) for spec in self.inputs)
        exact = tuple(_exact_dtype(spec.type) for spec in self.inputs)
        return _Plan(names, list(names), pd.Index(names), exact, None, ())

    # --- description ---------------------------------------------------------------------------------

    @property
    def is_tensor(self) -> bool:
        """Whether the model takes one unnamed tensor (else: named columns)."""
        return self.inputs[0].shape is not None

    @property
    def columns(self) -> list[str]:
        """The names of the input columns, in order (empty for a tensor)."""
        return list(self._plan.names)

    def to_dict(self) -> dict[str, Any]:
        """The form stored in a model's manifest."""
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs] if self.outputs is not None else None,
        }

    @classmethod
    def from_dict(cls, document: Any) -> Signature:
        """Read :meth:`to_dict`'s form; a malformed one raises :class:`InvalidInputError` naming the entry."""
        if not isinstance(document, Mapping) or not isinstance(document.get("inputs"), list):
            raise InvalidInputError(
                f"A signature must be a mapping with a list of 'inputs'. Got {document!r}."
            )
        outputs = document.get("outputs")
        if outputs is not None and not isinstance(outputs, list):
            raise InvalidInputError(f"The signature's outputs must be a list. Got {outputs!r} instead.")
        return cls(
            [ColumnSpec.from_dict(item, f"inputs[{i}]") for i, item in enumerate(document["inputs"])],
            [ColumnSpec.from_dict(item, f"outputs[{i}]") for i, item in enumerate(outputs)]
            if outputs is not None
            else None,
        )

    # --- enforcement ---------------------------------------------------------------------------------

    def validate(self, data: Any) -> Any:
        """``data`` as the model expects it: a pandas DataFrame of the signature's columns in order, or a
        numpy array of the tensor's type. Accepts pandas / polars DataFrames, numpy arrays, lists of
        records or rows, and dicts of columns (or one record). Raises :class:`SignatureError`.

        >>> signature.validate([{"age": 31, "income": 52_000.0}])  # doctest: +SKIP
        """
        plan = self._plan
        if plan.tensor_dtype is not None:
            return self._validate_tensor(data)
        names = plan.names_list
        typed = type(data) is pd.DataFrame
        frame = data if typed else as_frame(data, plan.names)
        typed = typed or isinstance(data, (pd.DataFrame, np.ndarray)) or is_polars(data)
        columns = frame.columns
        # Index.equals is fast between indexes of one dtype (~5 µs) and slow across (str vs object: ~100).
        same = columns.equals(plan.index) if columns.dtype == plan.index.dtype else columns.tolist() == names
        if not same:
            frame = self._select(frame)
        conversions: dict[str, Any] | None = None
        for position, (received, exact) in enumerate(zip(_dtypes(frame), plan.exact, strict=True)):
            if received is exact or received == exact:
                continue
            target = _resolve(self.inputs[position], received, loose=not typed)
            if target is not None:
                conversions = conversions or {}
                conversions[plan.names[position]] = target
        if conversions:
            frame = _convert(frame, conversions, loose=not typed)
        return frame

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        present = set(frame.columns)
        missing = [spec for spec in self.inputs if spec.name not in present]
        if missing:
            listed = ", ".join(f"{spec.name!r} ({spec.type})" for spec in missing)
            got = [repr(name) for name in frame.columns]
            got_text = ", ".join(got[:10]) + (f", … ({len(got)} in all)" if len(got) > 10 else "")
            raise SignatureError(
                f"The input is missing the column{'s' if len(missing) > 1 else ''} {listed} required by the "
                f"model's signature. Got the columns {got_text or '(none)'} instead.",
                column=missing[0].name,
                missing=[spec.name for spec in missing],
                expected=missing[0].type,
                received="missing",
            )
        # Extra columns are dropped and the order fixed: models fitted on a frame check both.
        return frame[list(self._plan.names)]

    def _validate_tensor(self, data: Any) -> np.ndarray[Any, Any]:
        spec, plan = self.inputs[0], self._plan
        typed = type(data) is np.ndarray
        array = data if typed else as_array(data)
        typed = typed or not isinstance(data, (list, tuple))
        assert spec.shape is not None
        if array.ndim != len(spec.shape) or any(array.shape[axis] != size for axis, size in plan.fixed_axes):
            expected = shape_text(spec.shape)
            raise SignatureError(
                f"The input tensor must have shape {expected} (-1: any size). Got shape "
                f"{shape_text(array.shape)} instead.",
                column=None,
                expected=expected,
                received=shape_text(array.shape),
            )
        if array.dtype is plan.tensor_dtype or array.dtype == plan.tensor_dtype:
            return array
        target = _resolve(spec, array.dtype, loose=not typed)
        if target is None:
            return array
        if not typed:
            _check_range(array, target, spec.name)
        return array.astype(target)


# --- types -------------------------------------------------------------------------------------------------


def type_of(dtype: Any) -> str:
    """The signature type name of a numpy or pandas dtype (``object`` columns are refined by values at
    inference, not here)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return type_of(dtype.categories.dtype)
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        numpy_dtype = getattr(dtype, "numpy_dtype", None)  # nullable Int64, Float64, boolean
        if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "biuf":
            return numpy_dtype.name
        return str(dtype)
    dtype = np.dtype(dtype)
    if dtype.kind in "biuf":
        return str(dtype.name)
    if dtype.kind == "M":
        return "datetime"
    if dtype.kind in "US":
        return "string"
    if dtype.kind == "O":
        return "object"
    return str(dtype)


_SENTINEL_DTYPE = object()  # never equal to a received dtype: the column takes the resolving path


def _exact_dtype(kind: str) -> Any:
    if kind in NUMERIC_TYPES:
        return np.dtype(kind)
    if kind == "string":
        return pd.Series(["a"]).dtype  # the default text dtype: object before pandas 3, str since
    return _SENTINEL_DTYPE


def _resolve(spec: ColumnSpec, received: Any, *, loose: bool = False) -> Any | None:
    """``None``: use the column as it is; a numpy dtype: convert to it; else :class:`SignatureError`.

    ``loose``: the values came from Python objects (records, lists, JSON), whose ``int64`` / ``float64``
    is numpy's default rather than the caller's choice, so a narrower type of the same kind is accepted
    too (``float64`` → ``float32``; integers after a range check)."""
    expected, got = spec.type, type_of(received)
    if expected in ("object", got):
        return None
    if expected in NUMERIC_TYPES and got in NUMERIC_TYPES:
        source, target = np.dtype(got), np.dtype(expected)
        if "bool" not in (expected, got) and (
            np.can_cast(source, target, "safe") or (loose and _same_kind(source, target))
        ):
            return target
    elif expected == "string" and (got == "object" or getattr(received, "kind", "") in _TEXT_KINDS):
        return None  # values are not inspected: that would be per-row work on every call
    what = f"The column {spec.name!r}" if spec.name is not None else "The input tensor"
    widening = " (or a type that widens to it safely)" if expected in NUMERIC_TYPES else ""
    raise SignatureError(
        f"{what} must be {expected}{widening}. Got {got} instead.",
        column=spec.name,
        expected=expected,
        received=got,
    )


def _same_kind(source: np.dtype[Any], target: np.dtype[Any]) -> bool:
    return (source.kind == "f" and target.kind == "f") or (source.kind in "iu" and target.kind in "iu")


def _check_range(values: Any, target: np.dtype[Any], column: str | None) -> None:
    """Refuse integers that a narrower integer type cannot hold (numpy's cast would wrap them round)."""
    if target.kind not in "iu" or len(values) == 0:
        return
    limits = np.iinfo(target)
    low, high = values.min(), values.max()
    if low < limits.min or high > limits.max:
        what = f"The column {column!r}" if column is not None else "The input tensor"
        raise SignatureError(
            f"{what} must hold {target.name} values (from {limits.min} to {limits.max}). Got values from "
            f"{low} to {high} instead.",
            column=column,
            expected=target.name,
            received=f"{low}..{high}",
        )


def _convert(frame: pd.DataFrame, conversions: dict[str, Any], *, loose: bool = False) -> pd.DataFrame:
    if loose:
        for column, target in conversions.items():
            _check_range(frame[column], target, column)
    try:
        return frame.astype(conversions)
    except (TypeError, ValueError) as error:  # e.g. a nullable Int32 column holding <NA> for an int64
        column = next(iter(conversions))
        raise SignatureError(
            f"The columns {', '.join(map(repr, conversions))} could not be converted to the signature's "
            f"types ({error}).",
            column=column,
            expected=str(conversions[column]),
            received=str(frame[column].dtype),
        ) from error


def _dtypes(frame: Any) -> Any:
    """Each column's dtype, in order. ``frame.dtypes`` builds a Series (tens of microseconds); the block
    manager's list is ~30 times cheaper and this runs on every one-row predict."""
    try:
        return frame._mgr.get_dtypes()
    except AttributeError:  # a pandas without that internal: the public, slower way
        return frame.dtypes.to_numpy()


# --- inference ------------------------------------------------------------------------------------------


def _column_type(series: pd.Series[Any]) -> str:
    kind = type_of(series.dtype)
    if kind == "object":
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        return "string" if inferred in ("string", "empty") else "object"
    return kind


def _specs(example: Any, what: str) -> tuple[ColumnSpec, ...]:
    if isinstance(example, pd.Series):
        return (
            ColumnSpec(None if example.name is None else str(example.name), _column_type(example), (-1,)),
        )
    if isinstance(example, (np.ndarray, pd.DataFrame)) or is_polars(example) or is_torch(example):
        pass
    elif isinstance(example, (list, tuple)) and not (example and isinstance(example[0], Mapping)):
        example = as_array(example)
    if isinstance(example, np.ndarray) or is_torch(example):
        array = as_array(example)
        if array.ndim == 0:
            raise InvalidInputError(f"The {what} must have at least one axis (rows). Got a scalar array.")
        return (ColumnSpec(None, type_of(array.dtype), (-1, *array.shape[1:])),)
    try:
        frame = as_frame(example, None)
    except SignatureError as error:
        raise InvalidInputError(
            f"The {what} must be a pandas or polars DataFrame, a numpy array, a list of records, a list of "
            f"rows or a dict of columns. Got {type(example).__name__} instead."
        ) from error
    specs = []
    for position, name in enumerate(frame.columns):
        if not isinstance(name, str) or not name:
            raise InvalidInputError(
                f"Column {position} of the {what} has no text name (got {name!r}); name every column, or "
                "pass a numpy array for inputs by position."
            )
        specs.append(ColumnSpec(name, _column_type(frame[name])))
    if not specs:
        raise InvalidInputError(f"The {what} has no columns.")
    return tuple(specs)


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """The signature of a model from an example of its input (and, optionally, of its output).

    >>> import numpy as np
    >>> infer_signature(np.zeros((2, 4), dtype="float32")).inputs
    (ColumnSpec(name=None, type='float32', shape=(-1, 4)),)
    """
    outputs = _specs(output_example, "output example") if output_example is not None else None
    return Signature(_specs(input_example, "input example"), outputs)
