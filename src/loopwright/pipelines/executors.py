"""Where step functions run: in this process, or in a pool of processes.

The runner (in the calling process) decides what runs, checks the cache and records everything; an
executor only runs a :class:`StepTask` — load the inputs, call the function with the step's run active,
check and store the outputs — and hands back a :class:`StepResult`. Executors sit behind one small
interface (:class:`Executor`) so others (Ray) can be added without touching the runner.
"""

from __future__ import annotations

import abc
import ast
import concurrent.futures
import functools
import multiprocessing
import sys
import traceback
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright._context import using_client
from loopwright.errors import PipelineDefinitionError
from loopwright.pipelines.materializers import load_output, save_output
from loopwright.pipelines.step import Step, _import_step, check_output
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
    "check_importable",
    "make_executor",
    "start_method_for",
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


_PRELOADED_LIBRARIES = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "polars")


class ProcessExecutor(Executor):
    """Runs independent steps in parallel in a pool of worker processes (``max_workers``, default the
    number of CPUs). Workers import the steps by module and name (see :func:`start_method_for`); each
    worker opens the workspace once and reuses it."""

    name = "process"

    def __init__(self, max_workers: int | None = None, start_method: str | None = None) -> None:
        method = start_method or start_method_for(())
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # Imported once by the fork server (when it starts) instead of by every worker of every run. Only
            # libraries: a user's module imported there would stay the version of that moment in every
            # later worker, while each worker should import the steps' code as it is now.
            libraries = [name for name in _PRELOADED_LIBRARIES if name in sys.modules]
            context.set_forkserver_preload(
                ["loopwright.client", "loopwright.pipelines.executors", *libraries]
            )
        self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=max_workers, mp_context=context)

    def submit(self, task: StepTask) -> concurrent.futures.Future[StepResult]:
        return self._pool.submit(_execute_in_worker, task)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(
    name: str, client: Client, max_workers: int | None = None, *, modules: Collection[str] = ()
) -> Executor:
    """The executor called ``name`` (``inline`` or ``process``) for steps defined in ``modules``."""
    if name == "process":
        return ProcessExecutor(max_workers, start_method_for(modules))
    return InlineExecutor(client)


def start_method_for(modules: Collection[str]) -> str:
    """How worker processes start for steps defined in ``modules``.

    A child made by ``fork`` copies this process without its other threads, but with the locks they held:
    polars' runtime, Arrow's and OpenMP's thread pools, once used here, can leave a forked worker hanging
    forever. So workers start from ``forkserver`` (a fresh, single-threaded process; ``spawn`` where there
    is none) and import the steps' modules, as Python 3.14 does by default. Two cases need ``fork``: steps
    defined in ``__main__`` (a notebook, or the script being run) exist only in this process, and a script
    run as ``python train.py`` without an ``if __name__ == "__main__":`` block would run again, pipeline
    and all, in every fresh worker.
    """
    available = multiprocessing.get_all_start_methods()
    if "fork" in available and ("__main__" in modules or _main_script_runs_again()):
        return "fork"
    return "forkserver" if "forkserver" in available else "spawn"


@functools.cache
def _main_script_runs_again() -> bool:
    """Whether ``__main__`` is a script run by path whose top level has no ``__name__`` guard (a fresh
    worker process runs a script's top level again, as ``__mp_main__``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main.__spec__, "name", None) is not None:
        return False  # a notebook or a REPL, or `python -m module` (whose __main__ workers skip)
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return True
    return not any(isinstance(node, ast.If) and _is_main_guard(node.test) for node in tree.body)


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, *test.comparators]
    names = [side.id for side in sides if isinstance(side, ast.Name)]
    texts = [side.value for side in sides if isinstance(side, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def check_importable(steps: Iterable[Step[..., Any]], where: str) -> None:
    """Refuse, before a run is recorded, steps a worker process cannot find by module and name (defined
    inside a function, or replaced at module level by something else)."""
    for step_object in steps:
        function = step_object.function
        if function.__module__ == "__main__":
            continue  # reached through fork (see start_method_for)
        try:
            found = _import_step(function.__module__, function.__qualname__)
        except (ImportError, PipelineDefinitionError):
            found = None
        if found is not step_object:
            raise PipelineDefinitionError(
                f"Step {step_object.name!r} ({function.__module__}.{function.__qualname__}) cannot run in a "
                f"process worker of {where}: workers import steps by module and name, and this one is not a "
                "step at the top level of its module. Define it at the top level of a module, or run the "
                "pipeline with executor='inline'.",
                step=step_object.name,
            )


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
