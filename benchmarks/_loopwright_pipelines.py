"""Loopwright's side of the pipelines benchmark, run by the project venv's Python (see ``pipelines.py``).

The five steps of ``_pipelines_shared.py`` become ``lw.step``s wired by an ``lw.pipeline``, run in this
process (the inline executor, the default) on a fresh embedded workspace (SQLite and local files, default
settings). Every timed call includes reading the pipeline's output (``run.output``), which Prefect's flow
call returns. What is timed, interleaved in one process:

* ``default_five``: a run on new data (a new seed): every step misses the cache, runs, and is recorded
  (a child run, its inputs and outputs as artifacts, its cache key);
* ``default_hit``: the same run again: every step hits the cache;
* ``nocache_five``: ``lw.run_pipeline(..., cache=False)``: every step runs, with no cache lookup;
* ``*_one``: the 1-step pipeline (``make`` alone), so the per-run cost can be told from the per-step one.

The ``profile`` task runs uncached 5-step runs under cProfile, for the lead's "where does the time go".
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _pipelines_shared as shared
import loopwright as lw

# The user's view: the plain functions wrapped as steps, and a pipeline body that wires them.
make = lw.step(shared.make)
transform = lw.step(shared.transform)
aggregate = lw.step(shared.aggregate)
fit = lw.step(shared.fit)
score = lw.step(shared.score)


@lw.pipeline
def five(n: int, seed: int) -> Any:
    """The benchmark's 5-step pipeline."""
    frame = transform(make(n, seed))
    return score(fit(aggregate(frame)), frame)


@lw.pipeline
def one(n: int, seed: int) -> Any:
    """``make`` alone: the per-run cost."""
    return make(n, seed)


def _version() -> str:
    return str(lw.__version__)


def _open_workspace(folder: Path) -> Any:
    return lw.connect(lw.Settings(workspace=folder))


def _statuses(result: Any) -> list[str]:
    return [str(execution.cache_status) for execution in result.steps]


def pipelines(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Time the direct calls and the pipelines at each size of ``config["sizes"]`` (a list of
    ``{"rows": int, "repeats": int}``; see the module's docstring)."""
    client = _open_workspace(workdir / "workspace")
    try:
        started = time.perf_counter()
        five(100, 1).output  # noqa: B018  (the output is read in every timed call)
        first_run_s = time.perf_counter() - started
        _common.progress(f"loopwright: the first pipeline run in a new workspace took {first_run_s:,.2f} s")
        sizes = {}
        for size in config["sizes"]:
            rows, repeats = int(size["rows"]), int(size["repeats"])
            sizes[str(rows)] = _time_size(rows, repeats)
    finally:
        client.close()
    return {"first_run_s": first_run_s, "sizes": sizes}


def _time_size(rows: int, repeats: int) -> dict[str, Any]:
    def default(pipeline: Any) -> Any:
        return lambda seed: pipeline(rows, seed).output

    def nocache(pipeline: Any) -> Any:
        return lambda seed: lw.run_pipeline(pipeline, {"n": rows, "seed": seed}, cache=False).output

    timed = [
        shared.Timed("direct", lambda seed: shared.run_direct(rows, seed)),
        shared.Timed("direct_one", lambda seed: shared.make(rows, seed)),
        shared.Timed("default_five", default(five)),
        shared.Timed("default_one", default(one)),
        shared.Timed("default_hit", default(five), reuse="default_five"),
        shared.Timed("nocache_five", nocache(five)),
        shared.Timed("nocache_one", nocache(one)),
    ]
    found = shared.time_rounds(timed, repeats, "loopwright", rows)

    # Untimed checks: the results match the direct call, and a re-run hits on every step.
    seed = 7 + rows
    miss = five(rows, seed)
    hit = five(rows, seed)
    expected = shared.run_direct(rows, seed)
    for label, result in (("miss", miss), ("hit", hit)):
        if result.output != expected:
            raise RuntimeError(f"Loopwright's {label} run returned {result.output!r}; direct: {expected!r}.")
    checks = {"miss": _statuses(miss), "hit": _statuses(hit)}
    if checks["hit"] != ["hit"] * 5:
        raise RuntimeError(f"Loopwright's re-run did not hit on every step: {checks['hit']}")
    return {"rows": rows, "repeats": repeats, "timings": found, "checks": checks}


def profile(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """cProfile of ``runs`` uncached 5-step runs (after one warm-up run), and of ``runs`` cached re-runs."""
    rows, runs = int(config["rows"]), int(config["runs"])
    client = _open_workspace(workdir / "workspace")
    found: dict[str, Any] = {}
    try:
        five(rows, 1).output  # noqa: B018  (warm-up: imports, tables, first queries)
        five(rows, 1).output  # noqa: B018
        for label, seeds in (("miss", range(100, 100 + runs)), ("hit", [100] * runs)):
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for seed in seeds:
                five(rows, seed).output  # noqa: B018
            profiler.disable()
            elapsed = time.perf_counter() - started
            found[label] = _summary(profiler, elapsed, runs)
            _common.progress(
                f"loopwright profile, {label}: {elapsed / runs * 1000:,.1f} ms a run under cProfile"
            )
    finally:
        client.close()
    return found


def _summary(profiler: cProfile.Profile, elapsed: float, runs: int) -> dict[str, Any]:
    """The listing (cumulative and own time) and the own time per package, per run."""
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(35)
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package(filename)] = by_package.get(_package(filename), 0.0) + tottime
    top = sorted(by_package.items(), key=lambda item: -item[1])[:15]
    return {
        "runs": runs,
        "ms_per_run": elapsed / runs * 1000,
        "own_ms_per_run_by_package": {name: seconds / runs * 1000 for name, seconds in top},
        "listing": stream.getvalue(),
    }


def _package(filename: str) -> str:
    """``loopwright.pipelines.runner``, ``sqlalchemy``, ``pyarrow``...: where a function's own time goes."""
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        parts = path.split("/site-packages/", 1)[1].split("/")
        return parts[0].removesuffix(".py")
    if "/src/loopwright/" in path:
        parts = path.split("/src/", 1)[1].removesuffix(".py").split("/")
        return ".".join(parts[:3])
    if path.startswith(("~", "<")):
        return "builtins"
    if "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/", 1)[-1].removesuffix(".py")
    return path.rsplit("/", 1)[-1]


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "loopwright",
            _version,
            {"pipelines": pipelines, "profile": profile},
            description="Loopwright's side of benchmarks/pipelines.py",
        )
    )
