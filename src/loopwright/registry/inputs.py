"""What users hand a model, turned into what models take: a pandas DataFrame or a numpy array.

``predict`` accepts pandas and polars DataFrames, numpy arrays, torch tensors, lists of records or rows,
dicts of columns and single records. Signatures (:mod:`loopwright.registry.signature`) use these to
convert before they check; models without a signature get :func:`as_model_input`'s light conversion.
Polars and torch are recognised by their classes' modules, so neither is imported to ask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopwright.errors import SignatureError

__all__ = ["as_array", "as_frame", "as_model_input", "is_polars", "is_torch", "shape_text"]

_SUPPORTED = (
    "The input must be a pandas or polars DataFrame, a numpy array, a list of records, a list of rows or "
    "a dict of columns"
)


def shape_text(shape: Sequence[int]) -> str:
    """``(-1, 4)``; one axis as ``(4,)``, as Python prints a tuple."""
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def is_polars(data: Any) -> bool:
    """Whether ``data`` is a polars DataFrame (asked without importing polars)."""
    return type(data).__module__.startswith("polars") and hasattr(data, "to_pandas")


def is_torch(data: Any) -> bool:
    """Whether ``data`` is a torch tensor (asked without importing torch)."""
    return type(data).__module__.startswith("torch") and hasattr(data, "detach")


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (list, tuple, np.ndarray, pd.Series, Mapping))


def as_frame(data: Any, names: Sequence[str] | None) -> pd.DataFrame:
    """A pandas DataFrame from what users pass (or :class:`SignatureError`); ``names`` labels positional
    rows (a 2-D numpy array, lists of values), which are refused without it."""
    if isinstance(data, pd.DataFrame):
        return data
    if is_polars(data):
        frame: pd.DataFrame = data.to_pandas()
        return frame
    if isinstance(data, Mapping):
        if all(_is_scalar(value) for value in data.values()):
            return pd.DataFrame([dict(data)])  # one record
        return pd.DataFrame(dict(data))
    if isinstance(data, (list, tuple)) and data and all(isinstance(row, Mapping) for row in data):
        return pd.DataFrame.from_records(list(data))
    if names is not None and isinstance(data, (np.ndarray, list, tuple)):
        width = len(names)
        if isinstance(data, np.ndarray):
            if data.ndim != 2 or data.shape[1] != width:
                raise SignatureError(
                    f"A numpy array given to a model with named columns must be 2-D with {width} columns, "
                    f"in the signature's order. Got shape {shape_text(data.shape)} instead.",
                    column=None,
                    expected=f"(-1, {width})",
                    received=shape_text(data.shape),
                )
            return pd.DataFrame(data, columns=list(names), copy=False)
        try:
            return pd.DataFrame(list(data), columns=list(names))
        except (TypeError, ValueError) as error:
            raise SignatureError(
                f"Rows given to a model with named columns must each hold {width} values, in the "
                f"signature's order ({error}).",
                column=None,
                expected=f"{width} values per row",
                received=type(data).__name__,
            ) from error
    raise SignatureError(
        f"{_SUPPORTED}. Got {type(data).__name__} instead.",
        column=None,
        expected="a table",
        received=type(data).__name__,
    )


def as_array(data: Any) -> np.ndarray[Any, Any]:
    """A numpy array from what users pass (or :class:`SignatureError`)."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, pd.DataFrame) or is_polars(data):
        return np.asarray(data.to_numpy())
    if is_torch(data):
        return np.asarray(data.detach().cpu().numpy())
    if isinstance(data, (list, tuple)):
        try:
            return np.asarray(data)
        except ValueError as error:  # ragged rows
            raise SignatureError(
                f"The rows given to the model have different lengths ({error}).",
                column=None,
                expected="rows of one length",
                received="ragged rows",
            ) from error
    raise SignatureError(
        f"{_SUPPORTED}. Got {type(data).__name__} instead.",
        column=None,
        expected="an array",
        received=type(data).__name__,
    )


def as_model_input(data: Any) -> Any:
    """What a model *without* a signature gets: polars frames, records and dicts of columns become pandas
    DataFrames, torch tensors numpy arrays; anything else is passed on untouched."""
    if type(data) is pd.DataFrame or type(data) is np.ndarray:
        return data
    if is_polars(data) or isinstance(data, Mapping):
        return as_frame(data, None)
    if isinstance(data, (list, tuple)) and data and all(isinstance(row, Mapping) for row in data):
        return as_frame(data, None)
    if is_torch(data):
        return as_array(data)
    return data
