"""Loopwright's side of the data benchmark, run by the project venv's Python (see ``data.py``).

Every measurement uses a fresh embedded workspace (``lw.connect(lw.Settings(workspace=folder))``: SQLite
and local files, default settings). A 1,000-row warm-up in a workspace of its own loads the lazily imported
modules (pyarrow.parquet, DuckDB, YAML) first, so the timings are of the work, not of imports; the warm-up
time is reported apart. Peak memory is the process's resident set during each call (``_data_memory``).

Tasks:

* ``frame``: ``lw.log_dataset`` of a pandas DataFrame (version + profile), ``lw.infer_schema``, then
  ``lw.check_dataset`` with that schema (schema checks), a drifted later batch logged as version 2 and
  checked against version 1 (value skew alone, and schema + value skew), and a schema check from a new
  client (which first verifies the stored file's sha256, as every new process does);
* ``path``: ``lw.log_dataset`` of a Parquet file, streamed (also used for the 10M-row file);
* ``phases``: the same calls once each under cProfile, summarised by phase.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import _common
from _data_memory import PeakMemory, process_peak_mb, rss_mb

DATASET = "bench"


def _version() -> str:
    import loopwright

    return str(loopwright.__version__)


def _connect(folder: Path) -> Any:
    import loopwright as lw

    return lw.connect(lw.Settings(workspace=folder))


def _timed(call: Callable[[], Any]) -> tuple[Any, float, PeakMemory]:
    """``call()`` after a garbage collection; its result, wall seconds and peak memory."""
    gc.collect()
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - start
    return result, elapsed, memory


def _read_frame(path: str) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    before = rss_mb()
    start = time.perf_counter()
    frame = pd.read_parquet(path)
    facts = {
        "read_s": round(time.perf_counter() - start, 3),
        "rows": len(frame),
        "columns": frame.shape[1],
        "pandas_mb": round(float(frame.memory_usage(deep=True).sum()) / 2**20, 1),
        "rss_added_mb": round(rss_mb() - before, 1),
    }
    return frame, facts


def _warm_up(workdir: Path, frame: Any) -> float:
    """Log, infer and check a 1,000-row slice in a throw-away workspace (pays for the lazy imports)."""
    import loopwright as lw

    client = _connect(workdir / "warm-up")
    try:
        start = time.perf_counter()
        lw.log_dataset(DATASET, frame.head(1_000))
        lw.check_dataset(DATASET, schema=lw.infer_schema(DATASET))
        return time.perf_counter() - start
    finally:
        client.close()


def _memory_series(values: list[PeakMemory]) -> dict[str, Any]:
    return {
        "peak_mb": _common.summarize([memory.peak_mb for memory in values]),
        "added_mb": _common.summarize([memory.added_mb for memory in values]),
        "method": values[0].method if values else None,
    }


def log_frame(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Version + profile a DataFrame, then the checks; ``repeats`` fresh workspaces."""
    import loopwright as lw

    frame, facts = _read_frame(str(config["data"]))
    current, _ = _read_frame(str(config["current"]))
    warm_up_s = _warm_up(workdir, frame)
    _common.progress(
        f"loopwright: {facts['rows']:,} rows read in {facts['read_s']:.2f} s "
        f"({facts['pandas_mb']:,.0f} MiB in pandas); warm-up {warm_up_s:.2f} s"
    )
    names = ("log", "infer", "check_schema", "log_current", "check_skew", "check_schema_skew", "check_cold")
    seconds: dict[str, list[float]] = {name: [] for name in names}
    memory: dict[str, list[PeakMemory]] = {name: [] for name in names}
    outcome: dict[str, Any] = {}
    for repeat in range(int(config["repeats"])):
        folder = workdir / f"frame-{repeat}"
        client = _connect(folder)
        try:
            steps: dict[str, Callable[[], Any]] = {
                "log": lambda: lw.log_dataset(DATASET, frame),
                "infer": lambda: lw.infer_schema(DATASET),
            }
            results: dict[str, Any] = {}
            for name, call in steps.items():
                results[name], elapsed, peak = _timed(call)
                seconds[name].append(elapsed)
                memory[name].append(peak)
            schema = results["infer"]
            more: dict[str, Callable[[], Any]] = {
                "check_schema": lambda schema=schema: lw.check_dataset(DATASET, 1, schema=schema),
                "log_current": lambda: lw.log_dataset(DATASET, current),
                "check_skew": lambda: lw.check_dataset(DATASET, 2, reference=1),
                "check_schema_skew": lambda schema=schema: lw.check_dataset(
                    DATASET, 2, schema=schema, reference=1
                ),
            }
            for name, call in more.items():
                results[name], elapsed, peak = _timed(call)
                seconds[name].append(elapsed)
                memory[name].append(peak)
        finally:
            client.close()
        # A new client, as in a new process: the first read of a version verifies its file's sha256.
        client = _connect(folder)
        try:
            results["check_cold"], elapsed, peak = _timed(
                lambda schema=schema: lw.check_dataset(DATASET, 1, schema=schema)
            )
            seconds["check_cold"].append(elapsed)
            memory["check_cold"].append(peak)
        finally:
            client.close()
        if repeat == 0:
            outcome = _outcome(results, folder)
        _common.progress(
            f"loopwright frame, repeat {repeat + 1}: log {seconds['log'][-1]:.2f} s "
            f"(peak RSS +{memory['log'][-1].added_mb:,.0f} MiB), schema check "
            f"{seconds['check_schema'][-1]:.3f} s, schema + skew on drifted batch "
            f"{seconds['check_schema_skew'][-1]:.3f} s, cold schema check {seconds['check_cold'][-1]:.3f} s"
        )
    return {
        "data": facts,
        "warm_up_s": warm_up_s,
        "seconds": {name: _common.summarize(values) for name, values in seconds.items()},
        "memory": {name: _memory_series(values) for name, values in memory.items()},
        "process_peak_mb": round(process_peak_mb(), 1),
        **outcome,
    }


def _outcome(results: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """What the calls returned (checked by the driver): the schema, the versions, the check verdicts."""
    version = results["log"]
    stored = sum(item.stat().st_size for item in (folder / "artifacts").rglob("*") if item.is_file())
    verdicts = {}
    for name in ("check_schema", "check_skew", "check_schema_skew", "check_cold"):
        report = results[name]
        failures = report.failures
        verdicts[name] = {
            "status": report.status,
            "results": len(report.results),
            "failures": len(failures),
            "failed": sorted({f"{item.name}:{item.column}" for item in failures}),
        }
    return {
        "schema_yaml": results["infer"].to_yaml(),
        "version": {
            "rows": version.num_rows,
            "columns": version.num_columns,
            "content_hash": version.content_hash,
            "current_is_version": results["log_current"].version,
            "stored_bytes": stored,
        },
        "verdicts": verdicts,
    }


def log_path(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Version + profile a Parquet file (streamed from disk); ``repeats`` fresh workspaces."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import loopwright as lw

    path = Path(config["data"])
    warm = workdir / "warm-up.parquet"
    first = next(pq.ParquetFile(path).iter_batches(batch_size=1_000))  # not a whole row group
    pq.write_table(pa.Table.from_batches([first]), warm)
    del first
    client = _connect(workdir / "warm-up")
    try:
        start = time.perf_counter()
        lw.log_dataset(DATASET, warm)
        warm_up_s = time.perf_counter() - start
    finally:
        client.close()
    baseline = rss_mb()
    seconds: list[float] = []
    memory: list[PeakMemory] = []
    stored = 0
    rows = 0
    for repeat in range(int(config["repeats"])):
        folder = workdir / f"path-{repeat}"
        client = _connect(folder)
        try:
            version, elapsed, peak = _timed(lambda: lw.log_dataset(DATASET, path))
        finally:
            client.close()
        seconds.append(elapsed)
        memory.append(peak)
        rows = version.num_rows
        stored = sum(item.stat().st_size for item in (folder / "artifacts").rglob("*") if item.is_file())
        _common.progress(
            f"loopwright {config.get('label', 'path')}, repeat {repeat + 1}: {rows:,} rows in "
            f"{elapsed:.2f} s, peak RSS {peak.peak_mb:,.0f} MiB (+{peak.added_mb:,.0f} MiB)"
        )
    return {
        "rows": rows,
        "arrow_pool_max_mb": round(pa.default_memory_pool().max_memory() / 2**20, 1),
        "file_bytes": path.stat().st_size,
        "stored_bytes": stored,
        "warm_up_s": warm_up_s,
        "baseline_mb": round(baseline, 1),
        "seconds": _common.summarize(seconds),
        "memory": _memory_series(memory),
        "process_peak_mb": round(process_peak_mb(), 1),
    }


# --- where the time goes ---------------------------------------------------------------------------------

LOG_PHASES: list[tuple[str, str, str]] = [
    # (label, path suffix of the function's file, function name); cumulative time of each
    ("log_dataset, in all", "loopwright/data/versions.py", "log"),
    ("  pandas -> Arrow (column by column)", "loopwright/data/tables.py", "_pandas_to_arrow"),
    ("  read source Parquet + cast (generator)", "loopwright/data/tables.py", "_guarded"),
    ("  canonical Parquet write + hash + sample", "loopwright/data/versions.py", "_write_canonical"),
    ("    content hash (ContentHasher.update)", "loopwright/data/tables.py", "update"),
    ("    row sample (RowSample.update)", "loopwright/data/profile.py", "update"),
    ("    Parquet write_table (zstd)", "pyarrow/parquet/core.py", "write_table"),
    ("    Parquet writer close", "pyarrow/parquet/core.py", "close"),
    ("  DuckDB profile (compute_profile)", "loopwright/data/profile.py", "compute_profile"),
    ("    summary statistics query (1 scan)", "", "=stats"),
    ("    histograms query (1 scan)", "loopwright/data/profile.py", "_histograms"),
    ("    top categories (1 scan per text column)", "loopwright/data/profile.py", "_top_categories"),
    ("    percentiles of the row sample (numpy)", "loopwright/data/profile.py", "_percentiles"),
    ("  artifact store put_file (sha256 + rename)", "loopwright/store/artifacts.py", "put_file"),
    ("    sha256 of the Parquet file", "loopwright/store/artifacts.py", "sha256_file"),
    ("  catalog: record artifact", "loopwright/store/metadata.py", "record_artifact"),
    ("  catalog: create version", "loopwright/store/datasets.py", "create_version"),
]
CHECK_PHASES: list[tuple[str, str, str]] = [
    ("check_dataset, in all", "loopwright/data/versions.py", "check"),
    ("  verify stored file (sha256, once per process)", "loopwright/store/artifacts.py", "verified_path"),
    ("  schema checks (DuckDB counts + examples)", "loopwright/data/checks.py", "schema_checks"),
    ("  value skew (from the profiles)", "loopwright/data/checks.py", "value_skew_checks"),
    ("  catalog: record check results", "loopwright/store/datasets.py", "record_checks"),
]


def _matches(key: tuple[str, int, str], suffix: str, function: str) -> bool:
    file, _line, name = key
    return name == function and file.replace("\\", "/").endswith(suffix)


def _phases(profiler: cProfile.Profile, wanted: list[tuple[str, str, str]], top: int = 30) -> dict[str, Any]:
    """Cumulative seconds of each wanted function, and the top functions as text."""
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    found: list[dict[str, Any]] = []
    for label, suffix, function in wanted:
        if function == "=stats":  # filled in below, once the parts are known
            found.append({"phase": label, "seconds": None, "calls": 1})
            continue
        cumulative = 0.0
        calls = 0
        for key, (_primitive, total_calls, _own, cum, _callers) in table.items():
            if _matches(key, suffix, function):
                cumulative += cum
                calls += total_calls
        if calls:
            seconds[function] = cumulative
            found.append({"phase": label, "seconds": round(cumulative, 4), "calls": calls})
    # compute_profile less its parts: the one-scan summary statistics query
    parts = ("_histograms", "_top_categories", "_percentiles")
    if "compute_profile" not in seconds:
        found = [item for item in found if item["seconds"] is not None]
    for item in found:
        if item["seconds"] is None:
            rest = seconds["compute_profile"] - sum(seconds.get(part, 0.0) for part in parts)
            item["seconds"] = round(rest, 4)
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("cumulative").print_stats(top)
    return {"phases": found, "listing": listing.getvalue()}


def _profiled(call: Callable[[], Any], wanted: list[tuple[str, str, str]]) -> dict[str, Any]:
    gc.collect()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        call()
    finally:
        profiler.disable()
    return {"wall_s": time.perf_counter() - start, **_phases(profiler, wanted)}


def phases(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """cProfile of one log from the frame, one from the file, and the checks (after the warm-up)."""
    import loopwright as lw

    data = Path(config["data"])
    results: dict[str, Any] = {}
    frame, _ = _read_frame(str(data))
    _warm_up(workdir, frame)
    client = _connect(workdir / "profile-frame")
    try:
        results["log from DataFrame"] = _profiled(lambda: lw.log_dataset(DATASET, frame), LOG_PHASES)
        schema = lw.infer_schema(DATASET)
        results["schema check"] = _profiled(lambda: lw.check_dataset(DATASET, 1, schema=schema), CHECK_PHASES)
    finally:
        client.close()
    frame = None  # the file is logged next without the DataFrame in memory
    gc.collect()
    client = _connect(workdir / "profile-frame")
    try:
        results["schema check, new client"] = _profiled(
            lambda: lw.check_dataset(DATASET, 1, schema=schema), CHECK_PHASES
        )
    finally:
        client.close()
    client = _connect(workdir / "profile-path")
    try:
        results["log from Parquet path"] = _profiled(lambda: lw.log_dataset(DATASET, data), LOG_PHASES)
    finally:
        client.close()
    for label, found in results.items():
        _common.progress(f"loopwright profiled {label}: {found['wall_s']:.2f} s under cProfile")
    return results


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "loopwright",
            _version,
            {"frame": log_frame, "path": log_path, "phases": phases},
            description="Loopwright's side of benchmarks/data.py",
        )
    )
