"""Prefect's side of the pipelines benchmark, run by the Prefect venv's Python (see ``pipelines.py``).

The five steps of ``_pipelines_shared.py`` become ``prefect.task``s called from a ``prefect.flow``, run
locally the way ``python my_flow.py`` runs them: no server started by hand, Prefect's ephemeral API (a
temporary server on loopback, SQLite under a fresh ``PREFECT_HOME`` inside the work folder). Three
configurations, timed interleaved in one process:

* ``default``: Prefect out of the box: each task's default cache policy (inputs, source and run id: keys
  are computed, nothing is reused across runs), flow-run heartbeats, INFO logs to the console and the API;
* ``lean``: the fastest local setup we found: ``cache_policy=NO_CACHE``, heartbeats off
  (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY=None``: joining the heartbeat thread costs up to 1 s a flow run
  in Prefect 3.9), WARNING logs and none sent to the API;
* ``cached``: ``lean`` with ``cache_policy=INPUTS + TASK_SOURCE`` on every task (results persisted under
  ``PREFECT_HOME``): a run on new data (all misses) and a re-run of the same inputs (all hits).

Each configuration has a 5-step flow (the benchmark's pipeline) and a 1-step flow (``make`` alone), so the
driver can separate the per-run cost from the per-step one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import _common
import _pipelines_shared as steps

CONFIGURATIONS = ("default", "lean", "cached")


def _prepare_environment(home: Path) -> None:
    """Prefect's settings for this process, set before ``import prefect`` reads them."""
    for key in [key for key in os.environ if key.startswith("PREFECT_")]:
        del os.environ[key]
    os.environ.update(
        {
            "PREFECT_HOME": str(home),
            # No telemetry: nothing leaves the machine.
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            # The ephemeral server migrates a new SQLite database on its first start: ~20 s on a busy
            # 2-core machine, which is past the default 20 s startup timeout.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        }
    )


def _version() -> str:
    import prefect

    return str(prefect.__version__)


@contextlib.contextmanager
def _lean() -> Iterator[None]:
    """The ``lean`` settings for the duration of a call."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_LOGGING_TO_API_ENABLED,
        temporary_settings,
    )

    # Logging was configured at import; the logger's level is what filters records now.
    logger = logging.getLogger("prefect")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with temporary_settings(
            updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_LOGGING_TO_API_ENABLED: False}
        ):
            yield
    finally:
        logger.setLevel(level)


def _flows(configuration: str) -> tuple[Any, Any]:
    """The 5-step and the 1-step flow of ``configuration``."""
    from prefect import flow, task
    from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

    options: dict[str, Any] = {}
    if configuration == "lean":
        options["cache_policy"] = NO_CACHE
    elif configuration == "cached":
        options["cache_policy"] = INPUTS + TASK_SOURCE
    make, transform, aggregate, fit, score = (
        task(function, **options)
        for function in (steps.make, steps.transform, steps.aggregate, steps.fit, steps.score)
    )

    def five(n: int, seed: int) -> float:
        frame = transform(make(n, seed))
        return float(score(fit(aggregate(frame)), frame))

    def one(n: int, seed: int) -> Any:
        return make(n, seed)

    return (
        flow(name=f"bench-five-{configuration}")(five),
        flow(name=f"bench-one-{configuration}")(one),
    )


def _task_states(flow_run_id: Any, expected: int) -> list[str]:
    """The state names of the task runs of a flow run (recorded from events: polled for a few seconds)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            names = sorted(str(run.state.name) if run.state else "?" for run in runs)
            if (len(names) >= expected and "Running" not in names) or time.monotonic() > deadline:
                return names
            time.sleep(0.5)


def _check(five: Any, configuration: str, rows: int, seed: int) -> dict[str, Any]:
    """One untimed run: the flow's result against the direct call, and its tasks' final states."""
    context = _lean() if configuration != "default" else contextlib.nullcontext()
    with context:
        state = five(n=rows, seed=seed, return_state=True)
    value = state.result()
    expected = steps.run_direct(rows, seed)
    if value != expected:
        raise RuntimeError(
            f"Prefect's {configuration} flow returned {value!r}; the direct call {expected!r}."
        )
    return {"task_states": _task_states(state.state_details.flow_run_id, 5)}


def pipelines(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Time the direct calls and each configuration's flows at each size of ``config["sizes"]`` (a list
    of ``{"rows": int, "repeats": int}``; see the module's docstring)."""
    started = time.perf_counter()
    import prefect  # noqa: F401  (timed: what a script pays before its first flow)

    import_s = time.perf_counter() - started
    flows = {configuration: _flows(configuration) for configuration in CONFIGURATIONS}
    # The first flow run starts the ephemeral server (and migrates its database): timed apart.
    started = time.perf_counter()
    flows["lean"][0](n=100, seed=1)
    first_run_s = time.perf_counter() - started
    _common.progress(f"prefect: the first flow run (starts the ephemeral server) took {first_run_s:,.1f} s")
    sizes = {}
    for size in config["sizes"]:
        rows, repeats = int(size["rows"]), int(size["repeats"])
        sizes[str(rows)] = _time_size(flows, rows, repeats)
    return {"import_s": import_s, "first_run_s": first_run_s, "sizes": sizes}


def _time_size(flows: Mapping[str, tuple[Any, Any]], rows: int, repeats: int) -> dict[str, Any]:
    def call(flow: Any, configuration: str) -> Callable[[int], object]:
        if configuration == "default":
            return lambda seed: flow(n=rows, seed=seed)

        def lean_call(seed: int) -> object:
            with _lean():
                return flow(n=rows, seed=seed)

        return lean_call

    timed = [steps.Timed("direct", lambda seed: steps.run_direct(rows, seed))]
    timed.append(steps.Timed("direct_one", lambda seed: steps.make(rows, seed)))
    for configuration, (five, one) in flows.items():
        timed.append(steps.Timed(f"{configuration}_five", call(five, configuration)))
        timed.append(steps.Timed(f"{configuration}_one", call(one, configuration)))
        if configuration == "cached":
            timed.append(steps.Timed("cached_hit", call(five, configuration), reuse="cached_five"))
    found = steps.time_rounds(timed, repeats, "prefect", rows)

    seed = 7 + rows
    checks = {
        configuration: _check(five, configuration, rows, seed) for configuration, (five, _) in flows.items()
    }
    checks["cached_hit"] = _check(flows["cached"][0], "cached", rows, seed)
    if checks["cached_hit"]["task_states"] != ["Cached"] * 5:
        raise RuntimeError(f"Prefect's cached re-run did not hit on every task: {checks['cached_hit']}")
    return {"rows": rows, "repeats": repeats, "timings": found, "checks": checks}


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=Path.cwd()))
    _prepare_environment(home)
    return _common.child_main(
        "prefect", _version, {"pipelines": pipelines}, description="Prefect's side of benchmarks/pipelines.py"
    )


if __name__ == "__main__":
    sys.exit(main())
