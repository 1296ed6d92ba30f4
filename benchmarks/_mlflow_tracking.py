"""MLflow's side of the tracking benchmark, run by the MLflow venv's Python (see ``tracking.py``).

Every store is SQLite in a fresh folder: ``sqlite:///<folder>/mlflow.db`` with the experiment's artifact
root beside it. Logging uses MLflow's defaults (synchronous: a call returns once its point is committed).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common

EXPERIMENT = "bench"
ORDER_BY = "metrics.accuracy DESC"


def _version() -> str:
    import mlflow

    return str(mlflow.__version__)


def _open_store(folder: Path, experiment: str = EXPERIMENT) -> tuple[Any, str]:
    """Point MLflow at a new SQLite store in ``folder``; returns ``(client, experiment id)``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(experiment, artifact_location=(folder / "artifacts").as_uri())
    return client, str(experiment_id)


def log_metric_per_call(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``mlflow.log_metric(key, value, step=i)`` ``calls`` times in one run; each call is durable."""
    import mlflow

    calls = int(config["calls"])
    rates, micros = [], []
    for repeat in range(int(config["repeats"])):
        client, experiment_id = _open_store(workdir / f"per-call-{repeat}")
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"per-call-{repeat}") as run:
            gc.collect()
            start = time.perf_counter()
            for step in range(calls):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            elapsed = time.perf_counter() - start
        stored = len(client.get_metric_history(run.info.run_id, "loss"))
        if stored != calls:
            raise RuntimeError(f"MLflow stored {stored} of {calls} points.")
        rates.append(calls / elapsed)
        micros.append(elapsed / calls * 1e6)
        _common.progress(f"mlflow log_metric, repeat {repeat + 1}: {rates[-1]:,.0f} points/s")
    return {
        "calls": calls,
        "points_per_s": _common.summarize(rates),
        "call_us": _common.summarize(micros),
    }


def log_batch(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``MlflowClient.log_batch`` of ``batch_size`` metrics (one step, distinct keys), ``batches`` times."""
    from mlflow.entities import Metric

    batches, size = int(config["batches"]), int(config["batch_size"])
    rates = []
    for repeat in range(int(config["repeats"])):
        client, experiment_id = _open_store(workdir / f"batch-{repeat}")
        run_id = client.create_run(experiment_id, run_name=f"batch-{repeat}").info.run_id
        now = int(time.time() * 1000)
        payloads = [
            [
                Metric(key=f"m{key:04d}", value=step + key / size, timestamp=now, step=step)
                for key in range(size)
            ]
            for step in range(batches)
        ]
        gc.collect()
        start = time.perf_counter()
        for payload in payloads:
            client.log_batch(run_id, metrics=payload)
        elapsed = time.perf_counter() - start
        client.set_terminated(run_id)
        stored = len(client.get_metric_history(run_id, "m0000"))
        if stored != batches:
            raise RuntimeError(f"MLflow stored {stored} of {batches} steps of m0000.")
        rates.append(batches * size / elapsed)
        _common.progress(f"mlflow log_batch, repeat {repeat + 1}: {rates[-1]:,.0f} points/s")
    return {"batches": batches, "batch_size": size, "points_per_s": _common.summarize(rates)}


def search(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Seed ``runs`` runs (not timed), then time a top-10 query and a filtered query, ``repeats`` times."""
    import mlflow
    from mlflow.entities import Metric, Param

    count = int(config["runs"])
    client, experiment_id = _open_store(workdir / "search", "bench-search")
    specs = _common.run_specs(count)
    reporter = _common.Progress("mlflow seeding", count)
    start = time.perf_counter()
    for index, spec in enumerate(specs):
        run_id = client.create_run(experiment_id, run_name=spec.name).info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[
                Metric(key=key, value=value, timestamp=now, step=0) for key, value in spec.metrics.items()
            ],
            params=[Param(key=key, value=value) for key, value in spec.params.items()],
        )
        client.set_terminated(run_id)
        reporter.update(index + 1)
    seed_s = time.perf_counter() - start
    _common.progress(f"mlflow seeded {count:,} runs in {seed_s:,.1f} s ({count / seed_s:,.0f} runs/s)")

    def top10() -> Any:
        return mlflow.search_runs(experiment_ids=[experiment_id], order_by=[ORDER_BY], max_results=10)

    def filtered() -> Any:
        return mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=_common.FILTER,
            order_by=[ORDER_BY],
            max_results=count,
        )

    results = _common.time_queries("mlflow", top10, filtered, _run_names, int(config["repeats"]))
    return {"runs": count, "seed_s": seed_s, **results}


def _run_names(frame: Any) -> list[str]:
    """The run names of a ``mlflow.search_runs`` DataFrame, in order."""
    return [str(name) for name in frame["tags.mlflow.runName"]]


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "mlflow",
            _version,
            {"per-call": log_metric_per_call, "batch": log_batch, "search": search},
        )
    )
