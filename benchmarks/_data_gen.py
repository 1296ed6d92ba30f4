"""Synthetic tables for ``benchmarks/data.py``: 20 numeric and 5 text columns, seeded, written as Parquet.

Run by the project venv's Python (numpy and pyarrow). The table is generated in chunks of
:data:`CHUNK_ROWS` rows, each from its own seeded generator, and written chunk by chunk, so a 10M-row file
costs the generator one chunk of memory, and the first ``n`` rows are the same whatever the total length.

Columns (``reference`` variant):

* ``num_00``-``num_07``: normal, various means and spreads; ``num_00``-``num_03`` have 1-2% missing values;
* ``amount_00``-``amount_05``: lognormal "amounts" rounded to cents; ``amount_00``-``amount_01`` have ~1%
  missing values;
* ``count_00``-``count_05``: Poisson counts (int64, never missing);
* ``cat_00``-``cat_04``: text with 5, 10, 20, 35 and 50 levels, Zipf-like frequencies; ``cat_00`` and
  ``cat_03`` have ~2% missing values.

The ``current`` variant (a later batch, for value-skew and failing schema checks) draws from other seeds,
shifts ``num_00``-``num_02`` by 0.15 standard deviations, scales ``amount_00`` by 1.1 and ``count_00``'s
mean by 1.1, reverses the level frequencies of ``cat_00`` and ``cat_01``, and puts an unseen level in
0.05% of ``cat_02``: 7 of 25 columns drift, and the drifted ones break the inferred ranges and categories.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "CATEGORICAL",
    "CHUNK_ROWS",
    "GENERATOR_VERSION",
    "NUMERIC",
    "chunks",
    "ensure_parquet",
    "table",
]

SEED = 20_260_101
CHUNK_ROWS = 500_000
GENERATOR_VERSION = 1
"""Bump when the generated data changes, so cached files are rewritten."""

NORMAL = [f"num_{index:02d}" for index in range(8)]
AMOUNT = [f"amount_{index:02d}" for index in range(6)]
COUNT = [f"count_{index:02d}" for index in range(6)]
NUMERIC = [*NORMAL, *AMOUNT, *COUNT]
LEVELS = {"cat_00": 5, "cat_01": 10, "cat_02": 20, "cat_03": 35, "cat_04": 50}
CATEGORICAL = list(LEVELS)
MISSING = {"num_00": 0.01, "num_01": 0.02, "num_02": 0.01, "num_03": 0.02}
MISSING |= {"amount_00": 0.01, "amount_01": 0.01, "cat_00": 0.02, "cat_03": 0.02}
UNSEEN = "zz-unseen"


def _levels(column: str) -> list[str]:
    return [f"{column}_level_{index:02d}" for index in range(LEVELS[column])]


def _chunk(index: int, rows: int, drift: bool) -> pa.Table:
    rng = np.random.default_rng([SEED, index, int(drift)])
    arrays: dict[str, pa.Array] = {}
    for position, name in enumerate(NORMAL):
        mean, std = 10.0 * position - 20.0, 1.0 + position
        values = rng.normal(mean, std, rows)
        if drift and position < 3:
            values += 0.15 * std
        arrays[name] = _with_missing(rng, name, values)
    for position, name in enumerate(AMOUNT):
        values = np.round(rng.lognormal(3.0 + 0.5 * position, 0.8 + 0.1 * position, rows), 2)
        if drift and position == 0:
            values = np.round(values * 1.1, 2)
        arrays[name] = _with_missing(rng, name, values)
    for position, name in enumerate(COUNT):
        mean = 2.0 + 6.0 * position
        if drift and position == 0:
            mean *= 1.1
        arrays[name] = pa.array(rng.poisson(mean, rows).astype(np.int64))
    for name, count in LEVELS.items():
        weights = 1.0 / np.arange(1, count + 1) ** 1.1
        if drift and name in ("cat_00", "cat_01"):
            weights = weights[::-1]
        codes = rng.choice(count, size=rows, p=weights / weights.sum()).astype(np.int32)
        levels = _levels(name)
        if drift and name == "cat_02":
            levels = [*levels, UNSEEN]
            codes[rng.random(rows) < 0.0005] = len(levels) - 1
        mask = rng.random(rows) < MISSING[name] if name in MISSING else None
        dictionary = pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), pa.array(levels))
        arrays[name] = dictionary.cast(pa.string())
    return pa.table(arrays)


def _with_missing(rng: np.random.Generator, name: str, values: np.ndarray) -> pa.Array:
    if name not in MISSING:
        return pa.array(values)
    return pa.array(values, mask=rng.random(len(values)) < MISSING[name])


def chunks(rows: int, *, drift: bool = False) -> Iterator[pa.Table]:
    """The table of ``rows`` rows, as chunks of at most :data:`CHUNK_ROWS` rows."""
    for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
        yield _chunk(index, min(CHUNK_ROWS, rows - start), drift)


def table(rows: int, *, drift: bool = False) -> pa.Table:
    """The whole table in memory (small sizes only)."""
    return pa.concat_tables(chunks(rows, drift=drift))


def ensure_parquet(path: Path, rows: int, *, drift: bool = False) -> dict[str, Any]:
    """Write the table to ``path`` unless a file from the same generator and size is already there.

    Returns facts about the file: rows, bytes, the in-memory Arrow size of the data and the time taken.
    A sidecar ``<path>.json`` records them; the file is reused when the sidecar matches.
    """
    sidecar = path.with_name(path.name + ".json")
    wanted = {"generator": GENERATOR_VERSION, "rows": rows, "drift": drift, "seed": SEED}
    if path.exists() and sidecar.exists():
        try:
            facts: dict[str, Any] = json.loads(sidecar.read_text())
        except json.JSONDecodeError:
            facts = {}
        if (
            all(facts.get(key) == value for key, value in wanted.items())
            and facts.get("bytes") == path.stat().st_size
        ):
            return {**facts, "reused": True}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    arrow_bytes = 0
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in chunks(rows, drift=drift):
            if writer is None:
                writer = pq.ParquetWriter(temporary, chunk.schema)
            writer.write_table(chunk)
            arrow_bytes += chunk.nbytes
    finally:
        if writer is not None:
            writer.close()
    temporary.replace(path)
    facts = {
        **wanted,
        "columns": len(NUMERIC) + len(CATEGORICAL),
        "bytes": path.stat().st_size,
        "arrow_bytes": arrow_bytes,
        "write_s": round(time.perf_counter() - started, 2),
    }
    sidecar.write_text(json.dumps(facts, indent=2) + "\n")
    return {**facts, "reused": False}
