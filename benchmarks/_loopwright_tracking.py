"""Loopwright's side of the tracking benchmark, run by the project venv's Python (see ``tracking.py``).

Every store is a fresh embedded workspace (``lw.connect(lw.Settings(workspace=folder))``: SQLite and local
files) with the default settings. ``log_metric`` buffers in memory; a timing counts as durable only once
``run.flush()`` has returned, i.e. once every point is committed to the database.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import _common

EXPERIMENT = "bench"
ORDER_BY = "metrics.accuracy desc"


def _version() -> str:
    import loopwright

    return str(loopwright.__version__)


def _open_workspace(folder: Path) -> Any:
    """Make a new embedded workspace in ``folder`` the default one; returns its client."""
    import loopwright as lw

    return lw.connect(lw.Settings(workspace=folder))


def _check_stored(run_id: str, key: str, expected: int) -> None:
    """Fail unless the store holds ``expected`` points of metric ``key`` (read back, not timed)."""
    import loopwright as lw

    stored = len(lw.metric_history(run_id, key))
    if stored != expected:
        raise RuntimeError(f"Loopwright stored {stored} of {expected} points of {key!r} in run {run_id}.")


def _time_per_call_loop(log: Callable[..., None], run: Any, calls: int) -> tuple[float, float]:
    """``calls`` log calls then a flush; returns (seconds until the last call returned, until durable)."""
    gc.collect()
    start = time.perf_counter()
    for step in range(calls):
        log("loss", 1.0 / (step + 1), step=step)
    logged = time.perf_counter()
    run.flush()
    return logged - start, time.perf_counter() - start


def log_metric_per_call(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``run.log_metric(key, value, step=i)`` ``calls`` times, then ``run.flush()``; and the same through
    the module-level helper ``lw.log_metric`` (the counterpart of ``mlflow.log_metric``)."""
    import loopwright as lw

    calls = int(config["calls"])
    names = ("points_per_s", "call_us", "helper_points_per_s", "helper_call_us")
    found: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(int(config["repeats"])):
        client = _open_workspace(workdir / f"per-call-{repeat}")
        try:
            with lw.start_run(experiment=EXPERIMENT, name=f"per-call-{repeat}") as run:
                logged, durable = _time_per_call_loop(run.log_metric, run, calls)
            found["points_per_s"].append(calls / durable)
            found["call_us"].append(logged / calls * 1e6)
            _check_stored(run.id, "loss", calls)
            with lw.start_run(experiment=EXPERIMENT, name=f"helper-{repeat}") as run:
                logged, durable = _time_per_call_loop(lw.log_metric, run, calls)
            found["helper_points_per_s"].append(calls / durable)
            found["helper_call_us"].append(logged / calls * 1e6)
            _check_stored(run.id, "loss", calls)
        finally:
            client.close()
        _common.progress(
            f"loopwright log_metric, repeat {repeat + 1}: {found['points_per_s'][-1]:,.0f} points/s durable, "
            f"{found['call_us'][-1]:.2f} µs/call (lw.log_metric: {found['helper_call_us'][-1]:.2f} µs/call)"
        )
    return {"calls": calls, **{name: _common.summarize(values) for name, values in found.items()}}


def log_batch(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``run.log_metrics({...batch_size keys...}, step=i)`` for ``batches`` steps, then ``run.flush()``."""
    import loopwright as lw

    batches, size = int(config["batches"]), int(config["batch_size"])
    rates = []
    for repeat in range(int(config["repeats"])):
        client = _open_workspace(workdir / f"batch-{repeat}")
        try:
            payloads = [{f"m{key:04d}": step + key / size for key in range(size)} for step in range(batches)]
            with lw.start_run(experiment=EXPERIMENT, name=f"batch-{repeat}") as run:
                gc.collect()
                start = time.perf_counter()
                for step, payload in enumerate(payloads):
                    run.log_metrics(payload, step=step)
                run.flush()
                elapsed = time.perf_counter() - start
            _check_stored(run.id, "m0000", batches)
        finally:
            client.close()
        rates.append(batches * size / elapsed)
        _common.progress(f"loopwright log_metrics, repeat {repeat + 1}: {rates[-1]:,.0f} points/s")
    return {"batches": batches, "batch_size": size, "points_per_s": _common.summarize(rates)}


def search(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Seed ``runs`` runs (not timed), then time a top-10 query and a filtered query, ``repeats`` times."""
    import loopwright as lw

    count = int(config["runs"])
    client = _open_workspace(workdir / "search")
    try:
        specs = _common.run_specs(count)
        reporter = _common.Progress("loopwright seeding", count)
        start = time.perf_counter()
        for index, spec in enumerate(specs):
            with lw.start_run(experiment="bench-search", name=spec.name, params=spec.params) as run:
                run.log_metrics(spec.metrics, step=0)
            reporter.update(index + 1)
        seed_s = time.perf_counter() - start
        _common.progress(
            f"loopwright seeded {count:,} runs in {seed_s:,.1f} s ({count / seed_s:,.0f} runs/s)"
        )

        def top10() -> Any:
            return lw.search_runs("bench-search", order_by=[ORDER_BY], max_results=10)

        def filtered() -> Any:
            return lw.search_runs(
                "bench-search", filter=_common.FILTER, order_by=[ORDER_BY], max_results=count
            )

        results = _common.time_queries("loopwright", top10, filtered, _run_names, int(config["repeats"]))
    finally:
        client.close()
    return {"runs": count, "seed_s": seed_s, **results}


def _run_names(frame: Any) -> list[str]:
    """The run names of a ``lw.search_runs`` DataFrame, in order."""
    return [str(name) for name in frame["name"]]


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "loopwright",
            _version,
            {"per-call": log_metric_per_call, "batch": log_batch, "search": search},
        )
    )
