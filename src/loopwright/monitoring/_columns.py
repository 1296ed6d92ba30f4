"""Reading one column at a time (or row-aligned batches) from what users hand to drift detection.

Inputs: a pandas or polars DataFrame, a pyarrow Table or RecordBatch, a mapping of column names to arrays
(numpy arrays, lists, pandas Series, Arrow arrays), or the path of a Parquet file (read one column at a
time, so a large reference never has to fit in memory at once). Drift needs each column as plain numpy:
finite ``float64`` values for a numeric column, labels and counts for a categorical one. Missing values
(null, ``None``, ``NaN``) and ``±inf`` are counted apart and left out of the tests, as Evidently does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from loopwright.errors import DataInputError

__all__ = [
    "BATCH_ROWS",
    "Kind",
    "Source",
    "category_counts",
    "infer_kind",
    "numeric_array",
    "numeric_values",
    "open_source",
    "to_labels",
]

Kind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
LabelArray = npt.NDArray[np.str_]

BATCH_ROWS = 65_536
"""Rows per batch where rows must stay aligned across columns (the multivariate method)."""


class Source:
    """Columns of one input, read on demand. ``role`` ("reference", "current") names it in errors."""

    def __init__(self, names: Sequence[str], rows: int, role: str) -> None:
        self.names = list(names)
        self.rows = rows
        self.role = role

    def column(self, name: str) -> Any:
        """The whole column ``name``: a numpy array, pandas Series or Arrow array."""
        raise NotImplementedError

    def batches(self, names: Sequence[str], size: int = BATCH_ROWS) -> Iterator[dict[str, Any]]:
        """Row-aligned slices of the columns ``names``, at most ``size`` rows each."""
        for start in range(0, self.rows, size):
            yield {name: _slice(self.column(name), start, start + size) for name in names}


class _Arrow(Source):
    def __init__(self, table: pa.Table, role: str) -> None:
        super().__init__(table.column_names, table.num_rows, role)
        self._table = table

    def column(self, name: str) -> Any:
        return self._table.column(name)


class _Frame(Source):
    """A pandas DataFrame, or a mapping of equally long columns."""

    def __init__(self, columns: Mapping[str, Any], rows: int, role: str) -> None:
        super().__init__([str(name) for name in columns], rows, role)
        self._columns = {str(name): values for name, values in columns.items()}

    def column(self, name: str) -> Any:
        return self._columns[name]


class _Parquet(Source):
    def __init__(self, path: Path, role: str) -> None:
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(path) as found:
                names, rows = found.schema_arrow.names, found.metadata.num_rows
        except (OSError, pa.ArrowInvalid) as error:
            raise DataInputError(
                f"The {role} data {str(path)!r} could not be read as Parquet: {error}", path=str(path)
            ) from error
        super().__init__(names, rows, role)
        self._path = path

    def column(self, name: str) -> Any:
        import pyarrow.parquet as pq

        # A reader per call: columns are read from several threads, and a ParquetFile is not shared safely.
        return pq.read_table(self._path, columns=[name]).column(0)

    def batches(self, names: Sequence[str], size: int = BATCH_ROWS) -> Iterator[dict[str, Any]]:
        import pyarrow.parquet as pq

        with pq.ParquetFile(self._path, pre_buffer=False) as reader:  # pre-buffering keeps row groups read
            for batch in reader.iter_batches(batch_size=size, columns=list(names)):
                yield {name: batch.column(name) for name in names}


def open_source(data: Any, role: str) -> Source:
    """A :class:`Source` over ``data``; anything unreadable raises a :class:`DataInputError`."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return _Arrow(data, role)
    if isinstance(data, str | os.PathLike):
        return _Parquet(Path(data), role)
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(data, "columns") and hasattr(data, "iloc"):
        names = [str(name) for name in data.columns]
        if len(set(names)) != len(names):
            raise DataInputError(f"The {role} data has duplicate column names: {names}.", role=role)
        return _Frame({str(name): data[name] for name in data.columns}, len(data), role)
    if module == "polars" and hasattr(data, "to_arrow"):
        return _Arrow(data.to_arrow(), role)
    if isinstance(data, Mapping):
        lengths = {str(name): _length(values, str(name), role) for name, values in data.items()}
        if len(set(lengths.values())) > 1:
            raise DataInputError(
                f"The columns of the {role} data must all have the same length. Got lengths {lengths} "
                "instead.",
                role=role,
            )
        return _Frame(data, next(iter(lengths.values()), 0), role)
    raise DataInputError(
        f"Drift detection reads a pandas or polars DataFrame, an Arrow table, a mapping of column names to "
        f"arrays or the path of a Parquet file. Got {type(data).__name__} as the {role} data instead.",
        role=role,
    )


def _length(values: Any, name: str, role: str) -> int:
    try:
        return len(values)
    except TypeError:
        raise DataInputError(
            f"The column {name!r} of the {role} data must be an array or a list. Got "
            f"{type(values).__name__} instead.",
            column=name,
            role=role,
        ) from None


def _slice(values: Any, start: int, stop: int) -> Any:
    if hasattr(values, "iloc"):
        return values.iloc[start:stop]
    return values[start:stop]


# --- column types ----------------------------------------------------------------------------------------


def _arrow(values: Any, name: str, role: str) -> pa.Array | pa.ChunkedArray:
    """``values`` as Arrow (pandas ``None``/``NaN`` become nulls)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
        raise DataInputError(
            f"The column {name!r} of the {role} data mixes types or holds values that are neither numbers "
            f"nor text ({error}).",
            column=name,
            role=role,
        ) from None


def _kind_of_arrow(data_type: pa.DataType) -> Kind | None:
    if pa.types.is_dictionary(data_type):  # a pandas Categorical: categories, whatever their type
        return "categorical"
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "numeric"
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_null(data_type)
    ):
        return "categorical"
    return None


def infer_kind(values: Any, name: str, role: str) -> Kind:
    """``numeric`` for integers, floats and decimals; ``categorical`` for text, booleans and categories."""
    dtype = getattr(values, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind in ("i", "u", "f") and not isinstance(values, pa.Array | pa.ChunkedArray):
        return "numeric"
    if kind == "b":
        return "categorical"
    arrow = _arrow(values, name, role)
    found = _kind_of_arrow(arrow.type)
    if found is None:
        raise DataInputError(
            f"The column {name!r} of the {role} data has type {arrow.type}; drift is measured on numeric and "
            "categorical (text, boolean) columns. Leave it out with columns=[...].",
            column=name,
            role=role,
            type=str(arrow.type),
        )
    return found


def numeric_array(values: Any, name: str, role: str) -> FloatArray:
    """Every row of a numeric column as float64, missing values as NaN (infinities are kept)."""
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind in ("i", "u", "f") and not isinstance(values, pa.Array | pa.ChunkedArray):
        if hasattr(values, "to_numpy"):  # pandas, including its nullable Int64 / Float64
            return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
        return np.asarray(values, dtype=np.float64)
    arrow = _arrow(values, name, role)
    if pa.types.is_dictionary(arrow.type):
        arrow = arrow.cast(arrow.type.value_type)
    if _kind_of_arrow(arrow.type) != "numeric" and not pa.types.is_null(arrow.type):
        raise DataInputError(
            f"The column {name!r} is numeric in the reference but holds {arrow.type} values in the {role} "
            "data.",
            column=name,
            role=role,
            type=str(arrow.type),
        )
    # Nulls become NaN; integers beyond 2**53 round, which no drift statistic can notice.
    floats = pc.cast(arrow, pa.float64(), safe=False)
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def numeric_values(values: Any, name: str, role: str) -> tuple[FloatArray, int]:
    """``(finite values as float64, how many were missing)``; the values keep their order."""
    array = numeric_array(values, name, role)
    finite = np.isfinite(array)
    if finite.all():
        return array, 0
    kept = array[finite]
    return kept, int(array.size - kept.size)


def to_labels(values: Any, name: str, role: str) -> pa.Array | pa.ChunkedArray:
    """The column as Arrow strings: text as it is, booleans as ``true``/``false``, whole numbers without
    a decimal point (so ``3`` and ``3.0`` are one category whatever the column's dtype)."""
    arrow = _arrow(values, name, role)
    if pa.types.is_dictionary(arrow.type):
        arrow = arrow.cast(arrow.type.value_type)
    if pa.types.is_floating(arrow.type) or pa.types.is_decimal(arrow.type):
        floats = pc.cast(arrow, pa.float64(), safe=False)
        finite = pc.is_finite(floats)
        whole = pc.and_(finite, pc.equal(pc.floor(floats), floats))
        if pc.all(pc.or_kleene(whole, pc.invert(finite))).as_py() is not False:
            arrow = pc.if_else(finite, pc.cast(floats, pa.int64(), safe=False), None)
        else:
            arrow = pc.if_else(finite, floats, None)
    if not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        try:
            arrow = pc.cast(arrow, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise DataInputError(
                f"The column {name!r} of the {role} data has type {arrow.type}, which cannot be read as "
                "categories.",
                column=name,
                role=role,
            ) from error
    return arrow


def category_counts(values: Any, name: str, role: str) -> tuple[LabelArray, IntArray, int]:
    """``(labels sorted, count of each, how many were missing)``."""
    labels = to_labels(values, name, role)
    missing = labels.null_count
    counted = pc.value_counts(labels.drop_null())
    if isinstance(counted, pa.ChunkedArray):
        counted = counted.combine_chunks()
    found = np.array(counted.field("values").to_pylist(), dtype=np.str_)
    counts = np.asarray(counted.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(found, kind="stable")
    return found[order], counts[order], int(missing)
