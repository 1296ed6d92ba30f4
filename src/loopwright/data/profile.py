"""Profiles: per-column statistics of a dataset version, computed by DuckDB over its Parquet file.

DuckDB streams the file, so memory stays bounded however large the data is. A profile is a small JSON
document stored with the version and reused later (value-skew checks, monitoring) without reading the data
again. Per column it holds:

* every column: ``type``, ``kind`` (numeric / categorical / temporal), ``count`` (non-missing), ``missing``,
  ``distinct`` (approximate: HyperLogLog);
* numeric: ``min``, ``max``, ``mean``, ``std``, ``nan`` (NaN values, left out of the other statistics),
  ``percentiles`` (0, 1, …, 100; from a uniform sample of about 100,000 rows, exact below that) and a
  20-bin equal-width ``histogram`` (exact counts);
* categorical (text, booleans): ``top``, the 20 most frequent values with their counts (exact), and
  ``categories_complete`` when those are all the values there are;
* temporal: ``min`` and ``max`` as ISO-8601 text.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwright.data.tables import type_name

__all__ = [
    "HISTOGRAM_BINS",
    "PERCENTILES",
    "SAMPLE_ROWS",
    "TOP_CATEGORIES",
    "RowSample",
    "column_kind",
    "compute_profile",
    "decode_profile",
    "encode_profile",
    "quote",
    "scan",
]

HISTOGRAM_BINS = 20
TOP_CATEGORIES = 20
PERCENTILES = [index / 100 for index in range(101)]
SAMPLE_ROWS = 100_000


class RowSample:
    """A uniform, deterministic sample of the numeric columns, kept while the data streams past.

    Row ``i`` is in the sample when a 64-bit mix of ``i`` falls under a threshold that halves whenever
    the sample passes twice :data:`SAMPLE_ROWS`, so the sample stays between one and two times that size
    whatever the length of the data, and the same data always gives the same sample.
    """

    def __init__(self, schema: pa.Schema, target: int = SAMPLE_ROWS) -> None:
        self._names = [field.name for field in schema if column_kind(field.type) == "numeric"]
        self._target = target
        self._threshold = np.uint64(2**64 - 1)
        self._rows = 0
        self._keys: list[np.ndarray] = []
        self._values: dict[str, list[np.ndarray]] = {name: [] for name in self._names}
        self._size = 0
        self.bounds: dict[str, tuple[float, float]] = {}
        """Exact (min, max) of each numeric column, NaN and missing values left out."""
        self.moments: dict[str, tuple[int, float, float]] = {}

    def update(self, batch: pa.RecordBatch) -> None:
        """Offer the next batch of rows."""
        for name in self._names:
            bounds = pc.min_max(batch.column(name))  # ignores missing values and NaN
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is None or math.isnan(low):
                continue
            previous = self.bounds.get(name)
            self.bounds[name] = (
                (low, high) if previous is None else (min(previous[0], low), max(previous[1], high))
            )
            self._moments(name, batch.column(name))
        count = batch.num_rows
        indices = np.arange(self._rows, self._rows + count, dtype=np.uint64)
        self._rows += count
        if not self._names:
            return
        keys = _mix(indices)
        mask = keys <= self._threshold
        if not mask.any():
            return
        self._keys.append(keys[mask])
        for name in self._names:
            column = batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            self._values[name].append(column[mask])
        self._size += int(mask.sum())
        while self._size > 2 * self._target:
            self._threshold = np.uint64(int(self._threshold) // 2)
            keys_all = np.concatenate(self._keys)
            keep = keys_all <= self._threshold
            self._keys = [keys_all[keep]]
            for name in self._names:
                self._values[name] = [np.concatenate(self._values[name])[keep]]
            self._size = int(keep.sum())

    def _moments(self, name: str, column: pa.Array) -> None:
        # Chan et al.'s pairwise update of count, mean and sum of squared deviations: exact to rounding,
        # and the same for the same data on every run (a parallel SQL aggregate is not).
        values = column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        values = values[~np.isnan(values)]
        count = len(values)
        if not count:
            return
        with np.errstate(
            invalid="ignore", over="ignore"
        ):  # infinities make the mean infinite, as they should
            mean = float(values.mean())
            squares = float(((values - mean) ** 2).sum())
            total, average, deviations = self.moments.get(name, (0, 0.0, 0.0))
            merged = total + count
            delta = mean - average
            self.moments[name] = (
                merged,
                average + delta * count / merged,
                deviations + squares + delta * delta * total * count / merged,
            )

    def mean_std(self, name: str) -> tuple[float | None, float | None]:
        """The mean and sample standard deviation of a numeric column (NaN left out)."""
        count, mean, deviations = self.moments.get(name, (0, 0.0, 0.0))
        if not count:
            return None, None
        if count == 1:
            return mean, None
        return mean, math.sqrt(deviations / (count - 1)) if math.isfinite(deviations) else math.nan

    def column(self, name: str) -> np.ndarray:
        """The sampled values of a numeric column (NaN for missing)."""
        parts = self._values.get(name) or []
        return np.concatenate(parts) if parts else np.empty(0)


def _mix(values: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser: a cheap, well-spread 64-bit hash of the row index (uint64 arithmetic wraps).
    mixed = values + np.uint64(0x9E3779B97F4A7C15)
    mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return mixed ^ (mixed >> np.uint64(31))


def quote(identifier: str) -> str:
    """A column name as a DuckDB identifier (double quotes doubled), never spliced in as SQL."""
    return '"' + identifier.replace('"', '""') + '"'


def scan(names: Sequence[str]) -> tuple[str, dict[str, str]]:
    """``read_parquet(?)`` with its columns renamed ``c0``, ``c1``, … by position, and each name's alias.

    DuckDB matches identifiers case-insensitively (it reads a column ``a`` next to ``A`` as ``a_1``), so
    a column is never addressed by its name."""
    aliases = {name: f"c{position}" for position, name in enumerate(names)}
    return f"read_parquet(?) AS data({', '.join(aliases.values())})", aliases


def column_kind(data_type: pa.DataType) -> str:
    """``numeric``, ``categorical`` or ``temporal`` for a canonical type."""
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return "numeric"
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return "temporal"
    return "categorical"


def _connect() -> Any:
    import duckdb

    connection = duckdb.connect()
    # DuckDB's buffer pool counts in the process's memory: keep it small (profiles and checks are scans
    # and small aggregates), and let large group-bys spill to disk instead of growing.
    connection.execute("SET memory_limit = '512MB'")
    connection.execute("SET temp_directory = ?", [str(Path(tempfile.gettempdir()) / "loopwright-duckdb")])
    connection.execute("SET preserve_insertion_order = false")
    # Temporal min / max come back in the session's zone, which defaults to the machine's: fix it.
    connection.execute("SET TimeZone = 'UTC'")
    # Without a NaN count in the file, recent DuckDB trusts the Parquet min / max statistics to rule NaN
    # out, folding isnan() to false and skipping NaN rows in filters. Older DuckDB has no such setting.
    with contextlib.suppress(duckdb.CatalogException):
        connection.execute("SET parquet_can_have_nan = true")
    return connection


def compute_profile(path: Path, schema: pa.Schema, num_rows: int, sample: RowSample) -> dict[str, Any]:
    """The profile of the canonical Parquet file at ``path`` (see the module docstring); ``sample`` is
    the :class:`RowSample` taken while the file was written."""
    connection = _connect()
    try:
        return _profile(connection, str(path), schema, num_rows, sample)
    finally:
        connection.close()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _profile(
    connection: Any, path: str, schema: pa.Schema, num_rows: int, sample: RowSample
) -> dict[str, Any]:
    columns: dict[str, dict[str, Any]] = {}
    expressions: list[str] = []
    layout: list[tuple[str, str, list[str]]] = []
    source, aliases = scan(schema.names)
    for field in schema:
        name, kind = field.name, column_kind(field.type)
        column = aliases[name]
        floating = pa.types.is_floating(field.type)
        value = f"(CASE WHEN NOT isnan({column}) THEN {column} END)" if floating else column
        parts = [f"count({column})", f"approx_count_distinct({column})"]
        keys = ["count", "distinct"]
        if kind == "numeric":
            parts += [
                f"count(*) FILTER (WHERE isnan({column}))" if floating else "0",
                f"min({value})",
                f"max({value})",
            ]
            keys += ["nan", "min", "max"]
        elif kind == "temporal":
            parts += [f"min({column})", f"max({column})"]
            keys += ["min", "max"]
        expressions += parts
        layout.append((name, kind, keys))
        columns[name] = {"type": type_name(field.type), "kind": kind}
    # Histograms need the range first; the write pass measured it, so one scan computes everything.
    spans = {
        name: (low, high)
        for name, (low, high) in sample.bounds.items()
        if math.isfinite(low) and math.isfinite(high)
    }
    histograms: list[str] = []
    parameters: list[float] = []
    for name, (low, high) in spans.items():
        column = aliases[name]
        histograms.append(
            f"histogram(least(greatest(floor(({column} - ?) / ?), 0), {HISTOGRAM_BINS - 1})::INTEGER) "
            f"FILTER (WHERE {column} IS NOT NULL AND isfinite({column}::DOUBLE))"
        )
        parameters += [low, _width(low, high)]
    row = connection.execute(
        f"SELECT {', '.join(expressions + histograms)} FROM {source}", [*parameters, path]
    ).fetchone()
    _store_histograms(columns, spans, row[len(expressions) :])
    position = 0
    for name, kind, keys in layout:
        stats = columns[name]
        for key in keys:
            stats[key] = row[position]
            position += 1
        stats["count"] = int(stats["count"])
        stats["missing"] = num_rows - stats["count"]
        stats["distinct"] = int(stats["distinct"])
        if kind == "numeric":
            stats["nan"] = int(stats["nan"])
            stats["count"] -= stats["nan"]
            stats["mean"], stats["std"] = sample.mean_std(name)
            for key in ("min", "max", "mean", "std"):
                stats[key] = _number(stats[key])
            stats["percentiles"] = _percentiles(sample.column(name), stats["min"], stats["max"])
        elif kind == "temporal":
            stats["min"] = None if stats["min"] is None else stats["min"].isoformat()
            stats["max"] = None if stats["max"] is None else stats["max"].isoformat()
    _top_categories(connection, path, columns)
    return {"rows": num_rows, "columns": columns}


def _percentiles(values: np.ndarray, low: float | None, high: float | None) -> list[float]:
    values = values[~np.isnan(values)]
    if not len(values) or low is None or high is None:
        return []
    with np.errstate(invalid="ignore"):  # interpolating next to an infinity computes inf - inf
        result = np.quantile(values, PERCENTILES)
    undefined = np.isnan(result)
    if undefined.any():  # the interpolation's limit: the infinite neighbour, or the finite one at t = 0
        lower = np.quantile(values, PERCENTILES, method="lower")
        higher = np.quantile(values, PERCENTILES, method="higher")
        result[undefined] = np.where(np.isposinf(higher), higher, lower)[undefined]
    result[0], result[-1] = low, high  # the extremes are known exactly
    return [float(value) for value in np.maximum.accumulate(result)]


def _width(low: float, high: float) -> float:
    return (high - low) / HISTOGRAM_BINS or 1.0


def _store_histograms(
    columns: dict[str, dict[str, Any]], spans: dict[str, tuple[float, float]], counts: Sequence[Any]
) -> None:
    for (name, (low, high)), found in zip(spans.items(), counts, strict=True):
        width = _width(low, high)
        bins = [0] * HISTOGRAM_BINS
        for index, count in (found or {}).items():
            bins[int(index)] = int(count)
        columns[name]["histogram"] = {
            "edges": [low + width * index for index in range(HISTOGRAM_BINS + 1)],
            "counts": bins,
        }


def _top_categories(connection: Any, path: str, columns: dict[str, dict[str, Any]]) -> None:
    source, aliases = scan(list(columns))
    for name, stats in columns.items():
        if stats["kind"] != "categorical":
            continue
        column = aliases[name]
        rows = connection.execute(
            f"SELECT {column}, count(*) AS n FROM {source} WHERE {column} IS NOT NULL "
            f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT {TOP_CATEGORIES + 1}",
            [path],
        ).fetchall()
        stats["top"] = [[_category(value), int(count)] for value, count in rows[:TOP_CATEGORIES]]
        stats["categories_complete"] = len(rows) <= TOP_CATEGORIES
        if stats["categories_complete"]:
            stats["distinct"] = len(rows)  # exact when every value is listed


def _category(value: Any) -> Any:
    return value if isinstance(value, str | bool) else str(value)


_NUMBER_KEYS = ("min", "max", "mean", "std")
_SPECIAL = {"inf": math.inf, "-inf": -math.inf}


def _encode_number(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode_number(value: Any) -> Any:
    return _SPECIAL.get(value, value) if isinstance(value, str) else value


def _map_numbers(profile: dict[str, Any], convert: Any) -> dict[str, Any]:
    columns = {}
    for name, stats in profile["columns"].items():
        if stats.get("kind") != "numeric":
            columns[name] = stats
            continue
        copy = dict(stats)
        for key in _NUMBER_KEYS:
            if key in copy:
                copy[key] = convert(copy[key])
        if "percentiles" in copy:
            copy["percentiles"] = [convert(value) for value in copy["percentiles"]]
        if "histogram" in copy:
            copy["histogram"] = {
                **copy["histogram"],
                "edges": [convert(value) for value in copy["histogram"]["edges"]],
            }
        columns[name] = copy
    return {**profile, "columns": columns}


def encode_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile as strict JSON: infinite numbers become the texts ``"inf"`` / ``"-inf"`` (JSON has no
    Infinity, and PostgreSQL's JSON type refuses it)."""
    return _map_numbers(profile, _encode_number)


def decode_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`encode_profile`."""
    return _map_numbers(profile, _decode_number)
