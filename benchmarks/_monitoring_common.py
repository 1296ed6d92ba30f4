"""What every side of the monitoring benchmark shares (``monitoring.py`` starts each in its own venv).

Standard library only at import time (pandas and pyarrow are imported inside the functions that need
them, and every venv has both). Each side loads the reference and current Parquet files *before* timing,
warms up on the first 1,000 rows (imports, first-use set-up: reported apart), then times ``repeats`` runs
of the full drift computation from the loaded data, each under :class:`PeakMemory`, recording wall-clock
and CPU seconds (``time.process_time``: every thread of the process). On a shared machine the CPU time
is the steadier measure: a process that waits for a core accrues wall-clock time but no CPU time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from typing import Any

import _common
from _data_memory import PeakMemory, rss_mb

__all__ = ["WARM_UP_ROWS", "load", "measure", "verdict", "warm_up"]

WARM_UP_ROWS = 1_000


def load(config: Mapping[str, Any], form: str = "pandas") -> tuple[Any, Any, dict[str, Any]]:
    """``(reference, current, facts)``: the two files as pandas DataFrames or Arrow tables (``form``)."""
    before = rss_mb()
    start = time.perf_counter()
    if form == "arrow":
        import pyarrow.parquet as pq

        reference = pq.read_table(str(config["reference"]))
        current = pq.read_table(str(config["current"]))
        size = reference.nbytes + current.nbytes
    else:
        import pandas as pd

        reference = pd.read_parquet(str(config["reference"]))
        current = pd.read_parquet(str(config["current"]))
        size = int(reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum())
    facts = {
        "form": form,
        "read_s": round(time.perf_counter() - start, 3),
        "rows": len(reference),
        "data_mb": round(size / 2**20, 1),
        "rss_added_mb": round(rss_mb() - before, 1),
    }
    return reference, current, facts


def measure(
    tool: str, label: str, run: Callable[[], dict[str, float]], repeats: int
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Time ``run`` (which returns its phases in seconds) ``repeats`` times, each in a fresh peak-memory
    window. Returns the summaries (seconds per phase, peak and added RSS) and the raw phase timings."""
    phases: list[dict[str, float]] = []
    memory: list[PeakMemory] = []
    for repeat in range(repeats):
        gc.collect()
        with PeakMemory() as peak:
            started, cpu = time.perf_counter(), time.process_time()
            timings = run()
            timings["total"] = time.perf_counter() - started
            timings["cpu"] = time.process_time() - cpu
        phases.append(timings)
        memory.append(peak)
        detail = "".join(
            f", {key} {value:.2f} s" for key, value in timings.items() if key not in ("total", "cpu")
        )
        _common.progress(
            f"{tool} {label}, repeat {repeat + 1}/{repeats}: {timings['total']:.2f} s (CPU "
            f"{timings['cpu']:.2f} s{detail}), peak RSS {peak.peak_mb:,.0f} MiB (+{peak.added_mb:,.0f})"
        )
    keys = phases[0].keys()
    summary = {
        "seconds": {key: _common.summarize([item[key] for item in phases]) for key in keys},
        "memory": {
            "peak_mb": _common.summarize([item.peak_mb for item in memory]),
            "added_mb": _common.summarize([item.added_mb for item in memory]),
            "before_mb": round(memory[0].before_mb, 1),
            "method": memory[0].method,
        },
    }
    return summary, phases


def verdict(score: float, threshold: float, p_value: bool) -> bool:
    """Drift: a p-value below the threshold, or a distance at or above it (Evidently's and Loopwright's
    rule)."""
    return score < threshold if p_value else score >= threshold


def warm_up(tool: str, run: Callable[[], Any]) -> float:
    """Run once on the warm-up rows; returns the seconds (imports and first-use costs)."""
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    _common.progress(f"{tool} warm-up on {WARM_UP_ROWS:,} rows: {seconds:.2f} s")
    return seconds
