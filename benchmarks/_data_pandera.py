"""pandera's side of the data benchmark, run by the project venv's Python (see ``data.py``).

The schema is built from the YAML of the schema Loopwright inferred (passed in by the driver), column for
column: the dtype (``int64``, ``float64``, ``str``), ``nullable``, ``Check.in_range(min, max)`` for numbers,
``Check.isin(categories)`` for text with a category list, and ``strict=True`` (no extra columns), as a
``pandera.pandas.DataFrameSchema``. Timed: ``schema.validate(frame, lazy=True)`` on the same DataFrame
Loopwright versioned (it passes) and on the drifted later batch (it fails, and pandera collects every
failure case), after a 1,000-row warm-up.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
from _data_memory import PeakMemory, process_peak_mb

DTYPES = {"int64": "int64", "float64": "float64", "string": str, "bool": bool}


def _version() -> str:
    import pandera

    return str(pandera.__version__)


def build_schema(schema_yaml: str) -> Any:
    """The ``pandera.pandas.DataFrameSchema`` equivalent to a Loopwright schema (its YAML text)."""
    import pandera.pandas as pa
    import yaml

    body = yaml.safe_load(schema_yaml)
    columns = {}
    for name, spec in body["columns"].items():
        checks = []
        if spec.get("min") is not None or spec.get("max") is not None:
            checks.append(pa.Check.in_range(spec.get("min"), spec.get("max")))
        if spec.get("categories") is not None:
            checks.append(pa.Check.isin(spec["categories"]))
        columns[name] = pa.Column(DTYPES[spec["type"]], checks=checks, nullable=spec.get("nullable", True))
    return pa.DataFrameSchema(columns, strict=not body.get("allow_extra_columns", False), name="bench")


def validate(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the clean and the drifted DataFrame ``repeats`` times each (lazy: every error collected)."""
    import pandas as pd
    import pandera.errors

    schema = build_schema(str(config["schema_yaml"]))
    frames = {
        "clean": pd.read_parquet(str(config["data"])),
        "drifted": pd.read_parquet(str(config["current"])),
    }
    column_checks = sum(len(column.checks) for column in schema.columns.values())

    def run(frame: Any) -> dict[str, Any]:
        try:
            schema.validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as error:
            cases = error.failure_cases
            pairs = sorted(
                {f"{check}:{column}" for column, check in zip(cases["column"], cases["check"], strict=True)}
            )
            return {"passed": False, "failure_cases": len(cases), "failed": pairs}
        return {"passed": True, "failure_cases": 0, "failed": []}

    start = time.perf_counter()
    run(frames["clean"].head(1_000))
    warm_up_s = time.perf_counter() - start
    seconds: dict[str, list[float]] = {name: [] for name in frames}
    memory: dict[str, list[PeakMemory]] = {name: [] for name in frames}
    outcome: dict[str, Any] = {}
    for repeat in range(int(config["repeats"])):
        for name, frame in frames.items():
            gc.collect()
            with PeakMemory() as peak:
                start = time.perf_counter()
                outcome[name] = run(frame)
                elapsed = time.perf_counter() - start
            seconds[name].append(elapsed)
            memory[name].append(peak)
        _common.progress(
            f"pandera validate, repeat {repeat + 1}: clean {seconds['clean'][-1]:.2f} s, drifted "
            f"{seconds['drifted'][-1]:.2f} s ({outcome['drifted']['failure_cases']:,} failure cases)"
        )
    return {
        "rows": len(frames["clean"]),
        "columns": len(schema.columns),
        "column_checks": column_checks,
        "warm_up_s": warm_up_s,
        "seconds": {name: _common.summarize(values) for name, values in seconds.items()},
        "memory": {
            name: {
                "peak_mb": _common.summarize([item.peak_mb for item in values]),
                "added_mb": _common.summarize([item.added_mb for item in values]),
            }
            for name, values in memory.items()
        },
        "outcome": outcome,
        "process_peak_mb": round(process_peak_mb(), 1),
    }


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "pandera", _version, {"validate": validate}, description="pandera's side of benchmarks/data.py"
        )
    )
