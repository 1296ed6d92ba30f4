"""Evidently's side of the data benchmark, run by ``benchmarks/.venvs/evidently``'s Python (see ``data.py``).

Evidently >= 0.7 API: ``Dataset.from_pandas(frame, data_definition=DataDefinition(...))`` then
``Report([DataSummaryPreset()]).run(current_data=dataset)``, with the 20 numeric and 5 text columns typed
explicitly (no inference). Timed: ``from_pandas``, ``run`` (which computes every metric of the preset) and
``snapshot.dict()`` (the results as plain data), on a DataFrame read from the same Parquet file before
timing. A 1,000-row warm-up run pays for imports and first-use set-up; it is reported apart.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
from _data_memory import PeakMemory, process_peak_mb, rss_mb


def _version() -> str:
    import evidently

    return str(evidently.__version__)


def summary(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``DataSummaryPreset`` on the whole table, ``repeats`` times in this process."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    before = rss_mb()
    start = time.perf_counter()
    frame = pd.read_parquet(str(config["data"]))
    read_s = time.perf_counter() - start
    facts = {
        "read_s": round(read_s, 3),
        "rows": len(frame),
        "pandas": pd.__version__,
        "pandas_mb": round(float(frame.memory_usage(deep=True).sum()) / 2**20, 1),
        "rss_added_mb": round(rss_mb() - before, 1),
    }
    definition = DataDefinition(
        numerical_columns=list(config["numeric"]), categorical_columns=list(config["categorical"])
    )

    def profile(data: Any) -> tuple[dict[str, float], Any]:
        started = time.perf_counter()
        dataset = Dataset.from_pandas(data, data_definition=definition)
        converted = time.perf_counter()
        snapshot = Report([DataSummaryPreset()]).run(current_data=dataset)
        ran = time.perf_counter()
        result = snapshot.dict()
        done = time.perf_counter()
        times = {
            "from_pandas": converted - started,
            "run": ran - converted,
            "dict": done - ran,
            "total": ran - started,
        }
        return times, result

    start = time.perf_counter()
    profile(frame.head(1_000))
    warm_up_s = time.perf_counter() - start
    _common.progress(
        f"evidently {facts['rows']:,} rows read in {read_s:.2f} s ({facts['pandas_mb']:,.0f} MiB in pandas "
        f"{pd.__version__}); warm-up {warm_up_s:.2f} s"
    )
    seconds: dict[str, list[float]] = {"from_pandas": [], "run": [], "dict": [], "total": []}
    memory: list[PeakMemory] = []
    metrics = 0
    for repeat in range(int(config["repeats"])):
        gc.collect()
        with PeakMemory() as peak:
            times, result = profile(frame)
        memory.append(peak)
        for key, value in times.items():
            seconds[key].append(value)
        metrics = len(result.get("metrics", []))
        del result
        _common.progress(
            f"evidently DataSummaryPreset, repeat {repeat + 1}: {times['total']:.2f} s "
            f"(from_pandas {times['from_pandas']:.2f} s, run {times['run']:.2f} s; dict() "
            f"{times['dict']:.2f} s more), peak RSS {peak.peak_mb:,.0f} MiB (+{peak.added_mb:,.0f} MiB)"
        )
    return {
        "data": facts,
        "warm_up_s": warm_up_s,
        "metrics": metrics,
        "seconds": {key: _common.summarize(values) for key, values in seconds.items()},
        "memory": {
            "peak_mb": _common.summarize([item.peak_mb for item in memory]),
            "added_mb": _common.summarize([item.added_mb for item in memory]),
            "method": memory[0].method if memory else None,
        },
        "process_peak_mb": round(process_peak_mb(), 1),
    }


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "evidently", _version, {"summary": summary}, description="Evidently's side of benchmarks/data.py"
        )
    )
