"""Where step functions run: in this process, or in a pool of processes.

The runner (in the calling process) decides what runs, checks the cache and records everything; an
executor only runs a :class:`StepTask` — load the inputs, call the function with the step's run active,
check and store the outputs — and hands back a :class:`StepResult`. Executors sit behind one small
interface (:class:`Executor`) so others (Ray) can be added without touching the runner.
"""

from __future__ import annotations

import abc
import concurrent.futures
import multiprocessing
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright._context import using_client
from loopwright.pipelines.materializers import load_output, save_output
from loopwright.pipelines.step import Step, check_output
from loopwright.settings import Settings
from loopwright.store.pipelines import OutputRef

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = [
    "DataInput",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "StepResult",
    "StepTask",
    "make_executor",
]


@dataclass(frozen=True, slots=True)
class DataInput:
    """A dataset version given to a step, converted by the parameter's annotation when loaded."""

    name: str
    version: int


@dataclass(frozen=True, slots=True)
class OutputInput:
    """The stored output of an earlier step."""

    ref: OutputRef
    wants_loaded_model: bool = False


@dataclass
class StepTask:
    """Everything needed to run one step execution, picklable for process workers."""

    step: Step[..., Any]
    call_name: str
    run_id: str
    experiment: str
    arguments: dict[str, Any]
    """Parameter → a plain value, a :class:`DataInput` or an :class:`OutputInput` (also inside lists)."""
    settings: Settings
    memory: dict[str, Any] = field(default_factory=dict)
    """Values already in this process, by output digest (the inline executor skips reloading them)."""


@dataclass
class StepResult:
    """What one execution produced: stored outputs (and the values themselves when run in-process)."""

    outputs: list[OutputRef] = field(default_factory=list)
    values: list[Any] | None = None
    error: str | None = None
    exception: BaseException | None = None


class Executor(abc.ABC):
    """Runs step tasks; ``submit`` returns a future of a :class:`StepResult` (errors are in the result)."""

    name: str = "executor"

    @abc.abstractmethod
    def submit(self, task: StepTask) -> concurrent.futures.Future[StepResult]: ...

    def close(self) -> None:  # noqa: B027 - executors without resources need no cleanup
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineExecutor(Executor):
    """Runs each step in the calling thread, one at a time (a debugger stops inside steps)."""

    name = "inline"

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, task: StepTask) -> concurrent.futures.Future[StepResult]:
        future: concurrent.futures.Future[StepResult] = concurrent.futures.Future()
        future.set_result(execute(task, self._client, keep_values=True))
        return future


class ProcessExecutor(Executor):
    """Runs independent steps in parallel in a pool of worker processes (``max_workers``, default the
    number of CPUs). Steps must be importable (defined at module level) when the start method is not
    ``fork``; each worker opens the workspace once and reuses it."""

    name = "process"

    def __init__(self, max_workers: int | None = None, start_method: str | None = None) -> None:
        context = multiprocessing.get_context(start_method or _default_start_method())
        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=max_workers, mp_context=context)

    def submit(self, task: StepTask) -> concurrent.futures.Future[StepResult]:
        return self._pool.submit(_execute_in_worker, task)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(name: str, client: Client, max_workers: int | None = None) -> Executor:
    """The executor called ``name`` (``inline`` or ``process``)."""
    if name == "process":
        return ProcessExecutor(max_workers)
    return InlineExecutor(client)


def execute(task: StepTask, client: Client, *, keep_values: bool) -> StepResult:
    """Run one step execution with its run active, and store its outputs."""
    try:
        arguments = {
            name: _load(value, task, client, task.step.hints.get(name))
            for name, value in task.arguments.items()
        }
        scratch = Path(client.settings.workspace).expanduser().absolute() / "tmp"
        with using_client(client), client.tracker.attached(task.run_id, task.call_name, task.experiment):
            value = task.step.function(**arguments)
        outputs = check_output(task.step, value)
        refs = [
            save_output(item, _output_name(len(outputs), position), client.artifacts, scratch)
            for position, item in enumerate(outputs)
        ]
        return StepResult(outputs=refs, values=outputs if keep_values else None)
    except Exception as error:
        text = "".join(traceback.format_exception(error))
        return StepResult(error=text, exception=error if keep_values else None)


def _output_name(count: int, position: int) -> str:
    return "output" if count == 1 else f"output.{position}"


def _load(value: Any, task: StepTask, client: Client, annotation: Any) -> Any:
    if isinstance(value, OutputInput):
        if value.ref.digest in task.memory and not value.wants_loaded_model:
            return task.memory[value.ref.digest]
        cache = Path(client.settings.workspace).expanduser().absolute() / "cache"
        return load_output(value.ref, client.artifacts, cache, want_loaded_model=value.wants_loaded_model)
    if isinstance(value, DataInput):
        version = client.datasets.get(value.name, value.version, include_failed=True)
        return _convert_dataset(version, annotation)
    if isinstance(value, list):
        return [_load(item, task, client, None) for item in value]
    if isinstance(value, tuple):
        return tuple(_load(item, task, client, None) for item in value)
    if isinstance(value, dict):
        return {key: _load(item, task, client, None) for key, item in value.items()}
    return value


def _convert_dataset(version: Any, annotation: Any) -> Any:
    """A dataset version as the step's parameter annotation asks: pandas, polars, Arrow, or the version."""
    module = getattr(annotation, "__module__", "").split(".")[0]
    kind = getattr(annotation, "__name__", "")
    if module == "pandas" and kind == "DataFrame":
        return version.to_pandas()
    if module == "polars" and kind == "DataFrame":
        return version.to_polars()
    if module == "pyarrow" and kind == "Table":
        return version.to_arrow()
    return version


# --- process workers -------------------------------------------------------------------------------------

_worker_clients: dict[str, Client] = {}


def _execute_in_worker(task: StepTask) -> StepResult:
    from loopwright._context import open_client

    key = task.settings.model_dump_json()
    client = _worker_clients.get(key)
    if client is None:
        client = _worker_clients[key] = open_client(task.settings)
    return execute(task, client, keep_values=False)


def _default_start_method() -> str:
    # fork starts fastest and lets steps defined in a notebook or __main__ run; elsewhere, spawn.
    return "fork" if "fork" in multiprocessing.get_all_start_methods() and os.name == "posix" else "spawn"
