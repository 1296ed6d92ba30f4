"""Data quality of live traffic: missing values, out-of-range numbers, unseen categories, schema violations.

Each input column of a window is compared with the reference:

* ``missing_share``: the share of predictions whose value is missing (null, NaN, or the key absent from
  the request);
* ``out_of_range_share`` (numeric columns): the share of present values below the reference's minimum or
  above its maximum;
* ``unseen_category_share`` (categorical columns): the share of present values the reference never had.

**Schema violations** reuse the data checks (:func:`loopwright.data.checks.schema_checks`): when the
monitor has a data schema (its own, or the reference dataset's saved schema), the window's inputs are
written as a small canonical Parquet file, profiled and checked exactly as a new dataset version would be.
``schema_violations`` counts the failing checks of the window (0 when it is clean), and
``schema_violation_rows`` the rows failing each check (per column, with the check's name and message).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loopwright.monitoring.profile import ReferenceProfile
from loopwright.monitoring.results import Measurement

if TYPE_CHECKING:
    import pyarrow as pa

    from loopwright.data.schema import DataSchema

__all__ = ["missing_mask", "quality", "schema_violations"]


def missing_mask(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where ``values`` (floats, or objects) are missing: None or NaN."""
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values), dtype=bool)
    return np.array(
        [value is None or (isinstance(value, float) and value != value) for value in values], dtype=bool
    )


def quality(
    inputs: Mapping[str, npt.NDArray[Any]], rows: int, columns: Sequence[str], profile: ReferenceProfile
) -> list[Measurement]:
    """Missing, out-of-range and unseen-category shares of ``columns`` over a window's ``rows``
    predictions, against the reference ``profile`` (its minimum and maximum, its categories). Categories
    are compared as the profile keeps them: text, booleans as ``true`` / ``false``, whole numbers without a
    decimal point.

    >>> reference = ReferenceProfile.from_data({"x": np.array([0.0, 5.0])}, multivariate=False)
    >>> quality({"x": np.array([1.0, np.nan, 9.0])}, 3, ["x"], reference)[1]
    Measurement(metric='out_of_range_share', column='x', value=0.5, extra=None)
    """
    from loopwright.monitoring.drift import as_labels

    measurements: list[Measurement] = []
    if rows == 0:
        return measurements
    for column in columns:
        values = inputs.get(column)
        if values is None:  # absent from every request of the window
            measurements.append(Measurement("missing_share", column, 1.0))
            continue
        missing = missing_mask(values)
        measurements.append(Measurement("missing_share", column, float(missing.sum()) / rows))
        if column not in profile:
            continue
        reference = profile[column]
        present = values[~missing]
        share = None
        if reference.kind == "numeric":
            if len(present) and reference.minimum is not None and reference.maximum is not None:
                numbers = present.astype(np.float64)
                outside = (numbers < reference.minimum) | (numbers > reference.maximum)
                share = float(np.count_nonzero(outside)) / len(present)
            measurements.append(Measurement("out_of_range_share", column, share))
        else:
            if len(present):
                labels = as_labels(present).drop_null()
                found = np.asarray(labels.to_numpy(zero_copy_only=False), dtype=np.str_)
                share = float(np.count_nonzero(~np.isin(found, reference.categories))) / len(present)
            measurements.append(Measurement("unseen_category_share", column, share))
    return measurements


def schema_violations(
    records: Sequence[Mapping[str, Any]], schema: DataSchema, scratch: Path | None = None
) -> list[Measurement]:
    """Check the window's input rows (``records``, one mapping per prediction) against ``schema`` with
    the data checks; see the module docstring for what is measured.

    >>> schema_violations([{"amount": -5.0}], schema)  # doctest: +SKIP
    [Measurement(metric='schema_violations', column=None, value=1.0, ...), ...]
    """
    import pyarrow.parquet as pq

    from loopwright.data.checks import schema_checks
    from loopwright.data.profile import RowSample, compute_profile
    from loopwright.data.tables import open_stream, type_name

    if not records:
        return []
    stream = open_stream(_table(records), name="window")
    batches = list(stream.batches)
    folder = Path(tempfile.mkdtemp(prefix="monitor-", dir=scratch))
    try:
        import pyarrow as pa

        table = pa.Table.from_batches(batches, schema=stream.schema)
        path = folder / "window.parquet"
        pq.write_table(table, path)
        sample = RowSample(stream.schema)
        for batch in batches:
            sample.update(batch)
        profile = compute_profile(path, stream.schema, table.num_rows, sample)
        columns = [{"name": item.name, "type": type_name(item.type)} for item in stream.schema]
        results = schema_checks(path, columns, profile, schema)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    failures = [result for result in results if not result.passed]
    measurements = [Measurement("schema_violations", None, float(len(failures)))]
    for result in failures:
        measurements.append(
            Measurement(
                "schema_violation_rows",
                result.column,
                float(result.failed_rows or 0),
                {"check": result.name, "message": result.message},
            )
        )
    return measurements


def _table(records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The records as an Arrow table, column by column: a column of mixed values (a text among numbers)
    becomes text, so the schema check reports its type instead of the window failing to load; nested
    values become JSON text."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    arrays = {}
    for name in names:
        values = [record.get(name) for record in records]
        if any(isinstance(value, dict | list) for value in values):
            values = [None if value is None else json.dumps(value, sort_keys=True) for value in values]
        try:
            arrays[str(name)] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[str(name)] = pa.array(
                [None if value is None else str(value) for value in values], pa.string()
            )
    return pa.table(arrays)
