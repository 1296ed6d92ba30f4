"""Helpers shared by the tracking benchmark's driver (``tracking.py``) and its two measurement scripts.

Standard library only: this module is imported by the Loopwright venv's Python *and* by the MLflow venv's
Python. It fixes the protocol between them:

* the driver starts ``<python> benchmarks/_<tool>_tracking.py <task> --workdir DIR --config JSON`` with
  ``DIR`` as the working directory;
* the script writes progress lines starting with :data:`PROGRESS_PREFIX` to stderr (everything else on
  stderr, such as Alembic's migration logs, is kept only for error reports);
* the script writes exactly one JSON object to stdout at the end. Anything the measured library prints to
  stdout is redirected to stderr, so it cannot corrupt the result.

Both sides seed their stores from :func:`run_specs`, so they hold identical data and the driver can check
that they return the same top-10 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import random
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FILTER",
    "MODELS",
    "PROGRESS_PREFIX",
    "Progress",
    "RunSpec",
    "Task",
    "child_main",
    "progress",
    "run_specs",
    "summarize",
    "time_queries",
]

PROGRESS_PREFIX = "[bench] "
"""Stderr lines with this prefix are shown to the user by the driver; the rest is kept for errors."""

MODELS = ("lr", "rf", "gbm", "svm")
"""Values of the ``model`` parameter of the seeded runs (a quarter of the runs each)."""

FILTER = "metrics.accuracy > 0.9 and params.model = 'lr'"
"""The filtered search: about 5% of the seeded runs match (accuracy is uniform on [0.5, 1))."""

SEED = 20_240_601

Task = Callable[[Path, Mapping[str, Any]], dict[str, Any]]
"""A measurement: ``(work folder, configuration) -> JSON-able results``."""


@dataclass(frozen=True)
class RunSpec:
    """One run to seed: its name, parameters and final metric values."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]


def run_specs(count: int, seed: int = SEED) -> list[RunSpec]:
    """``count`` reproducible runs; the same arguments give the same runs in every interpreter."""
    rng = random.Random(seed)
    specs = []
    for index in range(count):
        accuracy = rng.uniform(0.5, 1.0)
        specs.append(
            RunSpec(
                name=f"run-{index:06d}",
                params={"model": MODELS[index % len(MODELS)], "C": str(round(rng.uniform(0.01, 10.0), 4))},
                metrics={
                    "accuracy": accuracy,
                    "loss": 1.0 - accuracy + rng.uniform(0.0, 0.05),
                    "f1": accuracy - rng.uniform(0.0, 0.05),
                },
            )
        )
    return specs


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median, minimum, maximum and every value of repeated measurements."""
    if not values:
        raise ValueError("summarize() needs at least one value.")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": list(values),
    }


def progress(message: str) -> None:
    """Tell the user (through the driver) what the measurement is doing."""
    print(PROGRESS_PREFIX + message, file=sys.stderr, flush=True)


class Progress:
    """Reports a long loop's progress at most every ``every_s`` seconds, with the rate so far."""

    def __init__(self, label: str, total: int, every_s: float = 15.0) -> None:
        self.label = label
        self.total = total
        self.every_s = every_s
        self.start = time.perf_counter()
        self._last = self.start

    def update(self, done: int) -> None:
        """Report ``done`` items if the last report is old enough."""
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            rate = done / (now - self.start)
            left = (self.total - done) / rate if rate > 0 else math.inf
            progress(f"{self.label}: {done:,}/{self.total:,} ({rate:,.0f}/s, ~{left:,.0f} s left)")


def time_queries(
    tool: str,
    top10: Callable[[], Any],
    filtered: Callable[[], Any],
    names: Callable[[Any], list[str]],
    repeats: int,
) -> dict[str, Any]:
    """Time the top-10 and the filtered query, alternating, ``repeats`` times after one warm-up round.

    The warm-up round is reported apart (``*_first_s``): it pays for lazy imports and cold caches.
    ``names`` turns a query's DataFrame into its run names, which the driver compares across tools.
    """
    queries = {"top10": top10, "filtered": filtered}
    timings: dict[str, list[float]] = {label: [] for label in queries}
    first: dict[str, float] = {}
    frames: dict[str, Any] = {}
    for repeat in range(repeats + 1):
        latest = {}
        for label, query in queries.items():
            gc.collect()
            start = time.perf_counter()
            frames[label] = query()
            latest[label] = time.perf_counter() - start
            if repeat == 0:
                first[label] = latest[label]
            else:
                timings[label].append(latest[label])
        progress(
            f"{tool} search, {'warm-up' if repeat == 0 else f'repeat {repeat}'}: "
            f"top-10 {latest['top10'] * 1000:,.1f} ms, filtered {latest['filtered'] * 1000:,.1f} ms "
            f"({len(frames['filtered']):,} rows)"
        )
    return {
        "top10_s": summarize(timings["top10"]),
        "top10_first_s": first["top10"],
        "top10_names": names(frames["top10"]),
        "filtered_s": summarize(timings["filtered"]),
        "filtered_first_s": first["filtered"],
        "filtered_rows": len(frames["filtered"]),
        "filtered_names": sorted(names(frames["filtered"])),
    }


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[Any]:
    """Send everything printed to stdout to stderr; yields the real stdout for the final JSON."""
    real = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield real
    finally:
        sys.stdout = real


def child_main(
    tool: str, version: Callable[[], str], tasks: Mapping[str, Task], description: str | None = None
) -> int:
    """Entry point of a measurement script: run one task and write its result as JSON on stdout.

    ``description`` is the script's ``--help`` text (default: the tracking benchmark's)."""
    parser = argparse.ArgumentParser(description=description or f"{tool}'s side of benchmarks/tracking.py")
    parser.add_argument("task", choices=sorted(tasks))
    parser.add_argument("--workdir", type=Path, required=True, help="an empty folder to work in")
    parser.add_argument("--config", default="{}", help="the task's settings as a JSON object")
    args = parser.parse_args()
    config = json.loads(args.config)
    with _stdout_to_stderr() as stdout:
        try:
            results = tasks[args.task](args.workdir, config)
        except Exception:
            traceback.print_exc()
            return 1
        document = {
            "tool": tool,
            "version": version(),
            "python": sys.version.split()[0],
            "task": args.task,
            "results": results,
        }
        stdout.write(json.dumps(document) + "\n")
        stdout.flush()
    return 0
