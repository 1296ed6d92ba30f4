"""Batch scoring: a model version over a dataset version (or a file), in chunks, recorded as a new version.

The input streams in chunks of ``chunk_rows`` rows; each chunk is predicted and appended to a Parquet
file as it goes, so memory holds a chunk or two whatever the size of the data. The output (the input's
columns, or those asked for, then ``prediction`` and optionally one ``probability_<class>`` column per
class) is then logged as a dataset version by a run of kind ``batch`` whose inputs are the dataset
version and the model version: the lineage graph answers "which model scored this, on what data".

>>> result = batch_predict(client, "fraud@production", "transactions:7", chunk_rows=50_000)  # doctest: +SKIP
>>> result.output.name, result.output.version, result.rows                                 # doctest: +SKIP
('fraud-predictions', 1, 1000000)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from loopwright.errors import InvalidInputError, NotFoundError, PredictionError

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.data.versions import DatasetVersion
    from loopwright.registry.format import LoadedModel
    from loopwright.registry.version import ModelVersion

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchProgress", "BatchResult", "batch_predict"]

DEFAULT_CHUNK_ROWS = 65_536
"""Rows predicted at a time when no ``chunk_rows`` is given."""

BatchProgress = Callable[[int, "int | None"], None]
"""Called after each chunk with the rows scored so far and the total (``None`` when unknown, e.g. CSV)."""

PREDICTION = "prediction"
_PROBABILITY = "probability_"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch scoring produced: the output dataset version and the run that recorded it."""

    output: DatasetVersion
    run_id: str
    model: str
    version: int
    rows: int
    chunks: int
    seconds: float

    def __repr__(self) -> str:
        return (
            f"<BatchResult {self.rows:,} rows by {self.model}/{self.version} → "
            f"{self.output.name}:{self.output.version} ({self.seconds:.1f}s)>"
        )


def batch_predict(
    client: Client,
    model: ModelVersion | str,
    data: DatasetVersion | str | Path,
    *,
    output: str | None = None,
    path: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: Sequence[str] | None = None,
    probabilities: bool = False,
    experiment: str | None = None,
    progress: BatchProgress | None = None,
) -> BatchResult:
    """Score ``data`` with ``model`` in chunks and record the output as a version of dataset ``output``
    (default ``<model>-predictions``); with ``path``, also write it there as Parquet.

    ``model`` is a version (``"fraud/3"``, ``"fraud@production"``, a :class:`ModelVersion`); ``data`` a
    dataset version (``"transactions:7"``, ``"transactions"`` for its latest, a :class:`DatasetVersion`)
    or a CSV / Parquet file or folder. ``columns`` picks the input columns copied to the output (default:
    all). ``probabilities`` adds one column per class for models that estimate them.
    """
    chunk_rows = _chunk_rows(chunk_rows)
    version = client.registry.resolve(model)
    source, stream, total = _open_input(client, data, chunk_rows)
    output_name = output if output is not None else f"{version.name}-predictions"
    from loopwright.data.versions import _validate_dataset_name

    _validate_dataset_name(output_name)
    kept = _kept_columns(columns, stream.schema) if columns is not None else list(stream.schema.names)
    loaded = version.load()
    if probabilities and not loaded.has_predict_proba:
        raise InvalidInputError(
            f"probabilities=True needs a model that estimates them; model {version.name!r} version "
            f"{version.version} ({loaded.flavor}) has no predict_proba.",
            model=version.name,
            version=version.version,
        )
    started = time.perf_counter()
    active = client.tracker.active_run()
    with client.tracker.start_run(
        experiment if experiment is not None or active is not None else "batch",
        f"batch-{version.name}-v{version.version}",
        kind="batch",
        params={
            "model": f"{version.name}/{version.version}",
            "input": source if isinstance(source, str) else f"{source.name}:{source.version}",
            "chunk_rows": chunk_rows,
            "output": output_name,
        },
    ) as run:
        run.log_input(version)
        if not isinstance(source, str):
            run.log_input(source)
        cache = client.settings.workspace.expanduser().absolute() / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="batch-", dir=cache))
        try:
            scored = folder / "predictions.parquet"
            rows, chunks = _score(
                loaded, version, stream, scored, kept, chunk_rows, probabilities, total, progress
            )
            if rows == 0:
                raise InvalidInputError(
                    f"There is nothing to score: {_describe(source)} has no rows.", input=_describe(source)
                )
            result = client.datasets.log(
                output_name,
                scored,
                run_id=run.id,
                description=f"Predictions of {version.name}/{version.version} on {_describe(source)}",
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        seconds = time.perf_counter() - started
        run.log_metrics({"rows": rows, "chunks": chunks, "seconds": seconds, "rows_per_s": rows / seconds})
    if path is not None:
        _copy(result.path, Path(path))
    return BatchResult(
        output=result,
        run_id=run.id,
        model=version.name,
        version=version.version,
        rows=rows,
        chunks=chunks,
        seconds=seconds,
    )


# --- input -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stream:
    schema: pa.Schema
    chunks: Iterator[pa.RecordBatch]


def _open_input(
    client: Client, data: Any, chunk_rows: int
) -> tuple[DatasetVersion | str, _Stream, int | None]:
    """The input, its chunks and its row count (``None`` when unknown without reading it all)."""
    from loopwright.data.tables import open_stream
    from loopwright.data.versions import DatasetVersion

    if isinstance(data, str) and not Path(data).exists():
        data = client.datasets.resolve(data)
    if isinstance(data, DatasetVersion):
        import pyarrow.parquet as pq

        schema = pq.read_schema(data.path)
        return data, _Stream(schema, data.iter_batches(batch_size=chunk_rows)), data.num_rows
    if not isinstance(data, str | Path):
        raise InvalidInputError(
            "The data to score must be a dataset version ('transactions:7', a DatasetVersion) or the path of "
            f"a CSV / Parquet file or folder. Got {type(data).__name__} instead.",
            received=type(data).__name__,
        )
    location = Path(data)
    if not location.exists():
        raise NotFoundError(
            f"The data path {str(location)!r} does not exist.", kind="file", key=str(location)
        )
    stream = open_stream(location, name=location.name)
    return (
        str(location),
        _Stream(stream.schema, _rechunk(stream.batches, chunk_rows)),
        _parquet_rows(location),
    )


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly ``chunk_rows`` rows (the last one may be shorter)."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - pending_rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            pending_rows += take
            batch = batch.slice(take)
            if pending_rows == chunk_rows:
                yield _combine(pending)
                pending, pending_rows = [], 0
    if pending_rows:
        yield _combine(pending)


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _parquet_rows(location: Path) -> int | None:
    import pyarrow.parquet as pq

    files = [location] if location.is_file() else sorted(location.rglob("*"))
    if not files or not all(item.suffix.lower() in (".parquet", ".pq") for item in files if item.is_file()):
        return None
    return sum(int(pq.ParquetFile(item).metadata.num_rows) for item in files if item.is_file())


def _kept_columns(columns: Sequence[str], schema: pa.Schema) -> list[str]:
    if isinstance(columns, str) or not all(isinstance(name, str) for name in columns):
        raise InvalidInputError(
            f"The 'columns' to keep must be a list of column names. Got {columns!r} instead.",
            field="columns",
        )
    missing = [name for name in columns if name not in schema.names]
    if missing:
        raise InvalidInputError(
            f"The 'columns' to keep name {', '.join(map(repr, missing))}, which the input does not have. Its "
            f"columns: {', '.join(map(repr, schema.names))}.",
            field="columns",
            missing=missing,
        )
    return list(columns)


def _chunk_rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
        raise InvalidInputError(
            f"The 'chunk_rows' of a batch scoring must be a whole number between 1 and 10,000,000. Got "
            f"{value!r} instead.",
            field="chunk_rows",
        )
    return value


# --- scoring ---------------------------------------------------------------------------------------------


def _score(
    loaded: LoadedModel,
    version: ModelVersion,
    stream: _Stream,
    target: Path,
    kept: list[str],
    chunk_rows: int,
    probabilities: bool,
    total: int | None,
    progress: BatchProgress | None,
) -> tuple[int, int]:
    """Predict every chunk and append it to ``target``; returns (rows, chunks)."""
    import pyarrow.parquet as pq

    classes = _classes(loaded)
    rows = chunks = 0
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:
        for chunk in stream.chunks:
            if not chunk.num_rows:
                continue
            frame = chunk.to_pandas()
            predictions = _predict(loaded, version, frame, probabilities)
            table = _output(chunk.select(kept), predictions, classes, version)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(target, schema, compression="zstd", compression_level=1)
            elif table.schema != schema:
                table = _conform(table, schema, version)
            writer.write_table(table, row_group_size=chunk_rows)
            rows += chunk.num_rows
            chunks += 1
            del frame, predictions, table  # the chunk's memory is released before the next is read
            if progress is not None:
                progress(rows, total)
    finally:
        if writer is not None:
            writer.close()
    return rows, chunks


def _predict(
    loaded: LoadedModel, version: ModelVersion, frame: Any, probabilities: bool
) -> list[tuple[str, Any]]:
    rows = len(frame)
    outputs: list[tuple[str, Any]] = []
    try:
        outputs.append((PREDICTION, _as_array(loaded.predict(frame))))
        if probabilities:
            outputs.append((_PROBABILITY, _as_array(loaded.predict_proba(frame))))
    except (InvalidInputError, PredictionError):
        raise
    except Exception as error:
        raise PredictionError(
            f"Model {version.name!r} version {version.version} failed on a chunk of {rows} rows: "
            f"{type(error).__name__}: {error}",
            model=version.name,
            version=version.version,
        ) from error
    for name, values in outputs:
        if values.ndim == 0 or values.shape[0] != rows:
            raise PredictionError(
                f"Model {version.name!r} version {version.version} returned "
                f"{'a single value' if values.ndim == 0 else values.shape[0]} {name.rstrip('_')} values for "
                f"a chunk of {rows} rows.",
                model=version.name,
                version=version.version,
            )
    return outputs


def _output(
    inputs: pa.RecordBatch, outputs: list[tuple[str, Any]], classes: list[str] | None, version: ModelVersion
) -> pa.Table:
    arrays = list(inputs.columns)
    names = list(inputs.schema.names)
    for name, values in outputs:
        if values.ndim == 1:
            columns = [(name if name == PREDICTION else f"{name}0", values)]
        else:
            flat = values.reshape(values.shape[0], -1)
            labels = (
                classes
                if name == _PROBABILITY and classes is not None and len(classes) == flat.shape[1]
                else [str(index) for index in range(flat.shape[1])]
            )
            prefix = f"{PREDICTION}_" if name == PREDICTION else name
            columns = [(f"{prefix}{label}", flat[:, index]) for index, label in enumerate(labels)]
        for column, column_values in columns:
            if column in names:
                raise InvalidInputError(
                    f"The input already has a column {column!r}, which the output of model {version.name!r} "
                    "needs. Keep fewer input columns with columns=[...].",
                    column=column,
                )
            names.append(column)
            arrays.append(_arrow(column_values))
    return pa.Table.from_arrays(arrays, names=names)


def _conform(table: pa.Table, schema: pa.Schema | None, version: ModelVersion) -> pa.Table:
    assert schema is not None
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
        raise PredictionError(
            f"Model {version.name!r} version {version.version} returned predictions of another type in a "
            f"later chunk ({table.schema} instead of {schema}): {error}",
            model=version.name,
            version=version.version,
        ) from error


def _classes(loaded: LoadedModel) -> list[str] | None:
    classes = getattr(loaded.raw, "classes_", None)
    return None if classes is None else [str(value) for value in list(classes)]


def _as_array(values: Any) -> np.ndarray[Any, Any]:
    to_numpy = getattr(values, "to_numpy", None)
    return np.asarray(to_numpy() if callable(to_numpy) else values)


def _arrow(values: np.ndarray[Any, Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array(values.tolist())


def _describe(source: DatasetVersion | str) -> str:
    return repr(source) if isinstance(source, str) else f"dataset {source.name}:{source.version}"


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (a temporary file renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
