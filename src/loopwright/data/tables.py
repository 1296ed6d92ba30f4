"""Turning what users hand us into a stream of Arrow record batches with canonical column types.

Inputs: a pandas or polars DataFrame, an Arrow table / record batch / reader, or a path to a CSV or
Parquet file or a folder of them. Everything is read as a stream, so a file larger than memory never has to
fit in it. Column types are normalised so that the same logical data always has the same identity,
whatever produced it:

==========================================  ===========================
input type                                  canonical type
==========================================  ===========================
bool                                        ``bool``
any signed / unsigned integer               ``int64``
half / single / double float, decimal       ``float64``
string, large string, string view, category ``string``
timestamp (any unit, with or without zone)  ``timestamp[us]`` (zone kept)
date                                        ``date32``
all-null column                             ``string`` (every value missing)
==========================================  ===========================

Anything else (lists, structs, binary, durations, …) is refused with an error naming the column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwright.errors import DataInputError, NotFoundError

__all__ = [
    "BATCH_ROWS",
    "CanonicalStream",
    "ContentHasher",
    "DataInputError",
    "canonical_type",
    "open_stream",
    "type_name",
]

BATCH_ROWS = 65_536
"""Rows per record batch when Loopwright slices data itself."""

_DATA_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv", ".tsv": "csv"}


@dataclass(frozen=True, slots=True)
class CanonicalStream:
    """A canonical schema and the batches that follow it; ``source`` says where they come from."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    source: str


def type_name(data_type: pa.DataType) -> str:
    """The name a canonical type goes by in schemas and profiles (``int64``, ``timestamp[us, tz=UTC]``)."""
    return "float64" if pa.types.is_float64(data_type) else str(data_type)


def canonical_type(data_type: pa.DataType, column: str, source: str) -> pa.DataType:
    """The canonical type for ``data_type`` (see the module docstring), or a :class:`DataInputError`."""
    if pa.types.is_dictionary(data_type):
        return canonical_type(data_type.value_type, column, source)
    if pa.types.is_boolean(data_type):
        return pa.bool_()
    if pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return pa.float64()
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    ):
        return pa.string()
    if pa.types.is_null(data_type):
        return pa.string()
    if pa.types.is_timestamp(data_type):
        return pa.timestamp("us", tz=data_type.tz)
    if pa.types.is_date(data_type):
        return pa.date32()
    raise DataInputError(
        f"Column {column!r} of {source} has type {data_type}, which Loopwright cannot version. Supported: "
        "booleans, integers, floats, decimals, text, categories, timestamps and dates. Convert the column "
        "(e.g. serialise nested values to JSON text) or drop it.",
        column=column,
        type=str(data_type),
        source=source,
    )


def _canonical_schema(schema: pa.Schema, source: str) -> pa.Schema:
    names = list(schema.names)
    for position, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise DataInputError(
                f"Column {position} of {source} has no usable name (got {name!r}); every column needs a "
                "non-empty text name.",
                column=str(name),
                source=source,
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataInputError(
            f"{_capital(source)} has duplicate column names: {', '.join(map(repr, duplicates))}. Rename them "
            "first.",
            source=source,
        )
    return pa.schema(
        [pa.field(field.name, canonical_type(field.type, field.name, source)) for field in schema]
    )


def _cast_batch(batch: pa.RecordBatch, schema: pa.Schema, source: str) -> pa.RecordBatch:
    if batch.schema.names != schema.names:
        raise DataInputError(
            f"{source} changes its columns part-way: expected {schema.names}, got {batch.schema.names}.",
            source=source,
        )
    columns = []
    for field, column in zip(schema, batch.columns, strict=True):
        if column.type == field.type:
            columns.append(column)
            continue
        try:
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            if pa.types.is_decimal(column.type):
                column = pc.cast(column, pa.float64(), safe=False)
            columns.append(pc.cast(column, field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise DataInputError(
                f"Column {field.name!r} of {source} cannot be stored as {field.type}: {error}",
                column=field.name,
                source=source,
            ) from error
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# --- inputs ----------------------------------------------------------------------------------------------


def open_stream(data: Any, *, name: str) -> CanonicalStream:
    """Open ``data`` as a canonical stream. ``name`` (the dataset's) is used in error messages."""
    if isinstance(data, str | Path):
        return _from_path(Path(data))
    module, kind = type(data).__module__.split(".", 1)[0], type(data).__name__
    if module == "pandas" and kind == "DataFrame":  # a Series or Index falls through to the error below
        return _from_table(_pandas_to_arrow(data, name), f"the DataFrame logged as {name!r}")
    if module == "polars" and kind in {"DataFrame", "LazyFrame"}:
        if kind == "LazyFrame":
            data = data.collect()
        return _from_table(data.to_arrow(), f"the polars DataFrame logged as {name!r}")
    if isinstance(data, pa.Table):
        return _from_table(data, f"the Arrow table logged as {name!r}")
    if isinstance(data, pa.RecordBatch):
        return _from_table(pa.Table.from_batches([data]), f"the Arrow batch logged as {name!r}")
    if isinstance(data, pa.RecordBatchReader):
        source = f"the Arrow stream logged as {name!r}"
        schema = _canonical_schema(data.schema, source)
        return CanonicalStream(schema, (_cast_batch(batch, schema, source) for batch in data), source)
    raise DataInputError(
        f"Dataset {name!r}: cannot read data of type {type(data).__module__}.{type(data).__name__}. Pass a "
        "pandas or polars DataFrame, a pyarrow Table, or the path of a CSV / Parquet file or folder.",
        type=type(data).__name__,
    )


def _pandas_to_arrow(frame: Any, name: str) -> pa.Table:
    # Column by column, so a column of mixed types is reported by name rather than as a bare Arrow error.
    arrays = []
    names = []
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            kinds = sorted({type(value).__name__ for value in series.dropna().head(10_000)})
            if len(kinds) > 1:
                raise DataInputError(
                    f"Column {column!r} of the DataFrame logged as {name!r} mixes types ({', '.join(kinds)}) "
                    f"and cannot be stored as one column: {error}. Convert it to one type first, e.g. "
                    f"df[{column!r}].astype(str).",
                    column=str(column),
                ) from error
            raise DataInputError(
                f"Column {column!r} of the DataFrame logged as {name!r} holds {series.dtype} values "
                f"({', '.join(kinds) or 'no values'}), which Loopwright cannot version: {error}. Supported: "
                "booleans, integers, floats, decimals, text, categories, timestamps and dates.",
                column=str(column),
            ) from error
        names.append(column if isinstance(column, str) else str(column) if column is not None else "")
    return pa.Table.from_arrays(arrays, names=names)


def _from_table(table: pa.Table, source: str) -> CanonicalStream:
    schema = _canonical_schema(table.schema, source)
    batches = (_cast_batch(batch, schema, source) for batch in table.to_batches(max_chunksize=BATCH_ROWS))
    return CanonicalStream(schema, batches, source)


def _suffix(path: Path) -> str | None:
    lowered = path.name.lower()
    for suffix, kind in sorted(_DATA_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if lowered.endswith(suffix):
            return kind
    return None


def _from_path(path: Path) -> CanonicalStream:
    if not path.exists():
        raise NotFoundError(f"The data path {str(path)!r} does not exist.", kind="file", key=str(path))
    if path.is_dir():
        files = sorted(item for item in path.rglob("*") if item.is_file() and _suffix(item) is not None)
        if not files:
            raise DataInputError(
                f"The folder {str(path)!r} holds no .parquet, .pq, .csv, .csv.gz or .tsv file.",
                path=str(path),
            )
        kinds = {_suffix(item) for item in files}
        if len(kinds) > 1:
            raise DataInputError(
                f"The folder {str(path)!r} mixes CSV and Parquet files; log them as separate datasets.",
                path=str(path),
            )
    else:
        if _suffix(path) is None:
            raise DataInputError(
                f"Cannot tell the format of {str(path)!r}: expected a .parquet, .pq, .csv, .csv.gz or .tsv "
                "file.",
                path=str(path),
            )
        files = [path]
    streams = [_open_file(item) for item in files]
    first = streams[0]
    for other in streams[1:]:
        if other.schema != first.schema:
            raise DataInputError(
                f"{_capital(other.source)} has columns {_describe(other.schema)} but {first.source} has "
                f"{_describe(first.schema)}; every file of a dataset needs the same columns and types.",
                path=str(path),
            )
    source = first.source if len(streams) == 1 else f"the {len(streams)} files under {str(path)!r}"

    def chained() -> Iterator[pa.RecordBatch]:
        for stream in streams:
            yield from stream.batches

    return CanonicalStream(first.schema, chained(), source)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


def _open_file(path: Path) -> CanonicalStream:
    source = f"file {str(path)!r}"
    if path.stat().st_size == 0:
        raise DataInputError(f"The {source} is empty (0 bytes).", path=str(path))
    kind = _suffix(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            schema = _canonical_schema(parquet.schema_arrow, source)
            # One row group at a time: iterating the whole file at once reads ahead across row groups and
            # held ~9x more memory on a 10M-row file.
            raw = (
                batch
                for index in range(parquet.num_row_groups)
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[index])
            )
        else:
            import pyarrow.csv as pacsv

            delimiter = "\t" if path.name.lower().endswith(".tsv") else ","
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=16 << 20),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
            )
            schema = _canonical_schema(reader.schema, source)
            raw = iter(reader)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataInputError(f"The {source} cannot be read: {error}", path=str(path)) from error
    return CanonicalStream(schema, _guarded(raw, schema, source), source)


def _guarded(raw: Iterator[pa.RecordBatch], schema: pa.Schema, source: str) -> Iterator[pa.RecordBatch]:
    try:
        for batch in raw:
            yield _cast_batch(batch, schema, source)
    except OSError as error:  # a damaged file: e.g. corrupt compressed pages behind a valid footer
        raise DataInputError(
            f"The {source} is damaged and cannot be read: {str(error).rstrip('.')}.", source=source
        ) from error
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        # e.g. a CSV column inferred as int64 from its first block that holds 'n/a' further down
        raise DataInputError(
            f"The {source} cannot be read past its first rows: {error}. A column probably mixes types; "
            "clean it or convert the file to Parquet with explicit types.",
            source=source,
        ) from error


# --- identity --------------------------------------------------------------------------------------------


class ContentHasher:
    """The logical identity of a table: sha256 over the canonical schema and, per column, the validity
    of each value, the values (nulls as zero / empty), and for text the length of each value.

    Every part is a plain concatenation over rows, so the hash does not depend on how the rows are split
    into batches, files or row groups; it does depend on row order.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self._hashers = [
            (hashlib.sha256(), hashlib.sha256(), hashlib.sha256() if pa.types.is_string(field.type) else None)
            for field in schema
        ]

    def update(self, batch: pa.RecordBatch) -> None:
        """Add a canonical batch."""
        self.rows += batch.num_rows
        for (validity, values, lengths), column in zip(self._hashers, batch.columns, strict=True):
            if column.null_count:
                validity.update(column.is_valid().to_numpy(zero_copy_only=False).tobytes())
                column = pc.fill_null(column, "" if lengths is not None else _zero(column.type))
            else:
                validity.update(np.ones(len(column), dtype=np.bool_).tobytes())
            if lengths is not None:
                offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
                    column.offset : column.offset + len(column) + 1
                ]
                lengths.update(np.diff(offsets).tobytes())
                data = column.buffers()[2]
                values.update(memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b"")
            elif pa.types.is_boolean(column.type):
                values.update(column.to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
            elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
                values.update(
                    column.view(pa.int64() if pa.types.is_timestamp(column.type) else pa.int32())
                    .to_numpy()
                    .tobytes()
                )
            else:
                values.update(column.to_numpy(zero_copy_only=False).tobytes())

    def hexdigest(self) -> str:
        """The identity of everything added so far."""
        total = hashlib.sha256()
        header = {
            "rows": self.rows,
            "columns": [[field.name, type_name(field.type)] for field in self.schema],
        }
        total.update(json.dumps(header, sort_keys=True).encode())
        for parts in self._hashers:
            for part in parts:
                if part is not None:
                    total.update(part.digest())
        return total.hexdigest()


def _zero(data_type: pa.DataType) -> Any:
    if pa.types.is_boolean(data_type):
        return False
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return (
            pa.scalar(0, type=pa.int64()).cast(data_type)
            if pa.types.is_timestamp(data_type)
            else pa.scalar(0, type=pa.int32()).cast(data_type)
        )
    return 0
