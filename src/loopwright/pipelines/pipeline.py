"""Pipelines: a plain function whose body calls steps, run as one recorded, versioned unit."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import sys
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from loopwright._names import validate_key
from loopwright.errors import PipelineDefinitionError
from loopwright.pipelines.graph import DataRef, Graph, trace
from loopwright.pipelines.hashing import code_hash, digest_of
from loopwright.pipelines.step import _classes, readable_signature, type_name, user_location

if TYPE_CHECKING:
    from loopwright.pipelines.runner import PipelineRun

__all__ = ["EXECUTORS", "Pipeline", "coerce_params", "load_pipeline", "pipeline"]

EXECUTORS = ("inline", "process")


class Pipeline:
    """A function whose body wires steps together. Build it with :func:`pipeline`; calling it runs it."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        schedule: str | None = None,
        on: Sequence[Any] = (),
        executor: str = "inline",
        max_workers: int | None = None,
    ) -> None:
        location = _definition_location(function)
        if not inspect.isfunction(function):
            raise PipelineDefinitionError(
                f"@lw.pipeline decorates a plain function. Got {function!r} instead.", value=repr(function)
            )
        self.function = function
        self.name = validate_key("pipeline name", name or function.__name__)
        self.description = description if description is not None else inspect.getdoc(function)
        self.signature = inspect.signature(function)
        for parameter in self.signature.parameters.values():
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"Pipeline {self.name!r} ({location}) takes *{parameter.name}: pipeline parameters must "
                    "be named, so runs can record them and the CLI can set them with -p name=value.",
                    pipeline=self.name,
                )
        self.executor = check_executor(executor, max_workers, where=f"pipeline {self.name!r} ({location})")
        self.max_workers = max_workers
        self.schedule = schedule
        self.triggers = list(on)
        if schedule is not None or self.triggers:
            from loopwright.pipelines.triggers import check_pipeline_triggers

            check_pipeline_triggers(self.name, schedule, self.triggers, location)
        self._hints: dict[str, Any] | None = None
        self._code_hash: str | None = None
        self.__doc__ = function.__doc__
        self.__wrapped__ = function

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r} ({self.ref})>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (load_pipeline, (self.ref,))

    @property
    def ref(self) -> str:
        """``module:qualname``: how the CLI, the scheduler and process workers find this pipeline."""
        return f"{self.function.__module__}:{self.function.__qualname__}"

    @property
    def on(self) -> list[Any]:
        """The trigger specs declared with ``on=`` (``schedule=`` is :attr:`schedule`)."""
        return self.triggers

    @property
    def hints(self) -> dict[str, Any]:
        if self._hints is None:
            try:
                self._hints = typing.get_type_hints(self.function)
            except Exception:  # unresolvable forward references: parameters are then not type-checked
                self._hints = {}
        return self._hints

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The pipeline's parameters, by name."""
        return dict(self.signature.parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineRun:
        """Run the pipeline now, in this process (a debugger stops in its steps), and return the run."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise PipelineDefinitionError(
                f"Pipeline {self.name!r} is called at {user_location(sys._getframe(1))} with arguments that "
                f"do not fit {self.function.__qualname__}{readable_signature(self.signature)}: {error}.",
                pipeline=self.name,
            ) from None
        from loopwright.pipelines.runner import run_pipeline

        return run_pipeline(self, dict(bound.arguments))

    def trace(self, params: Mapping[str, Any]) -> Graph:
        """The graph this pipeline's body builds for ``params`` (nothing runs)."""
        return trace(self.name, self.function, params)

    def definition_hash(self, graph: Graph) -> str:
        """The hash of the pipeline's code and graph: which steps (by code) are wired how."""
        if self._code_hash is None:
            self._code_hash = code_hash(self.function)
        parts = [self._code_hash]
        for call in graph.calls:
            wiring = {parameter: _wiring(value) for parameter, value in sorted(call.arguments.items())}
            parts.append(json.dumps([call.name, call.step.code_hash, wiring], sort_keys=True, default=str))
        return digest_of(*parts)


@overload
def pipeline(function: Callable[..., Any], /) -> Pipeline: ...
@overload
def pipeline(
    *,
    name: str | None = None,
    description: str | None = None,
    schedule: str | None = None,
    on: Sequence[Any] = (),
    executor: str = "inline",
    max_workers: int | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    schedule: str | None = None,
    on: Sequence[Any] = (),
    executor: str = "inline",
    max_workers: int | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function that calls steps a pipeline.

    Calling the pipeline runs it now, in this process, and returns a :class:`~loopwright.PipelineRun`.
    ``executor="process"`` runs independent steps in parallel in a process pool (``max_workers``; default
    the number of CPUs). ``schedule`` (a cron expression) and ``on`` (e.g. ``[lw.new_data("orders")]``)
    declare triggers that ``loopwright scheduler`` fires.

    >>> import loopwright as lw
    >>> @lw.step
    ... def load(n: int) -> list:
    ...     return list(range(n))
    >>> @lw.step
    ... def total(values: list) -> int:
    ...     return sum(values)
    >>> @lw.pipeline
    ... def summing(n: int = 10):
    ...     return total(load(n))
    >>> summing.name, summing.parameters["n"].default
    ('summing', 10)
    """

    def decorate(inner: Callable[..., Any]) -> Pipeline:
        return Pipeline(
            inner,
            name=name,
            description=description,
            schedule=schedule,
            on=on,
            executor=executor,
            max_workers=max_workers,
        )

    return decorate if function is None else decorate(function)


def load_pipeline(ref: str) -> Pipeline:
    """The pipeline at ``module:attribute`` (or ``path/to/file.py:attribute``).

    >>> import loopwright as lw
    >>> lw.load_pipeline("no_such_module:train")
    Traceback (most recent call last):
    ...
    loopwright.errors.PipelineDefinitionError: Cannot import module 'no_such_module' of pipeline reference \
'no_such_module:train': No module named 'no_such_module'.
    """
    module_name, separator, attribute = ref.partition(":")
    if not separator or not module_name or not attribute:
        raise PipelineDefinitionError(
            "A pipeline reference is 'module:attribute' (e.g. 'pipelines.fraud:train'). "
            f"Got {ref!r} instead.",
            ref=ref,
        )
    try:
        if module_name.endswith(".py"):
            module = _import_file(Path(module_name))
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise PipelineDefinitionError(
            f"Cannot import module {module_name!r} of pipeline reference {ref!r}: {error}.", ref=ref
        ) from error
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise PipelineDefinitionError(
                f"Module {module_name!r} has no attribute {attribute!r} (pipeline reference {ref!r}).",
                ref=ref,
            )
    if not isinstance(target, Pipeline):
        raise PipelineDefinitionError(
            f"{ref!r} is a {type(target).__name__}, not a pipeline. Decorate the function with @lw.pipeline.",
            ref=ref,
        )
    return target


def _import_file(path: Path) -> Any:
    import importlib.util

    if not path.is_file():
        raise ImportError(f"no file {str(path)!r}")
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        raise ImportError(f"cannot load {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- parameters ----------------------------------------------------------------------------------------


def coerce_params(target: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` checked against the pipeline's parameters, with defaults filled in. Text values (from
    the CLI or a trigger) are parsed by annotation: ``int``, ``float``, ``bool``, dates, paths, JSON lists
    and dicts, datasets (``name`` or ``name@v3``)."""
    known = target.parameters
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise PipelineDefinitionError(
            f"Pipeline {target.name!r} has no parameter {', '.join(map(repr, unknown))}. Its parameters: "
            f"{', '.join(known) or 'none'}.",
            pipeline=target.name,
            parameters=unknown,
        )
    values: dict[str, Any] = {}
    for name, parameter in known.items():
        if name in given:
            values[name] = _coerce(target, name, given[name])
        elif parameter.default is not inspect.Parameter.empty:
            values[name] = parameter.default
        else:
            raise PipelineDefinitionError(
                f"Pipeline {target.name!r} needs a value for its parameter {name!r}"
                f"{_annotation_hint(target, name)}. Pass it as {name}=... or -p {name}=VALUE.",
                pipeline=target.name,
                parameter=name,
            )
    return values


def _coerce(target: Pipeline, name: str, value: Any) -> Any:
    annotation = target.hints.get(name, Any)
    if isinstance(value, str) and annotation is not str:
        value = _parse_text(target, name, value, annotation)
    if isinstance(value, DataRef) or _is_dataset_version(value):
        return value
    classes = _classes(annotation)
    if classes is not None and not isinstance(value, classes):
        raise PipelineDefinitionError(
            f"The parameter {name!r} of pipeline {target.name!r} must be {type_name(annotation)}. "
            f"Got {value!r} ({type(value).__name__}) instead.",
            pipeline=target.name,
            parameter=name,
            expected=type_name(annotation),
            received=type(value).__name__,
        )
    return value


def _parse_text(target: Pipeline, name: str, text: str, annotation: Any) -> Any:
    classes = _classes(annotation) or ()
    try:
        if bool in classes:
            lowered = text.strip().lower()
            if lowered in {"true", "1", "yes", "on"}:
                return True
            if lowered in {"false", "0", "no", "off"}:
                return False
            raise ValueError("not a boolean (true/false)")
        if int in classes and float not in classes:
            return int(text)
        if float in classes:
            return float(text)
        if dt.datetime in classes:
            return dt.datetime.fromisoformat(text)
        if dt.date in classes:
            return dt.date.fromisoformat(text)
        if any(issubclass(cls, Path) for cls in classes):
            return Path(text)
        if list in classes or dict in classes:
            return json.loads(text)
        if any(cls.__name__ == "DatasetVersion" for cls in classes) or annotation is DataRef:
            dataset, _, version = text.partition("@v")
            return DataRef(dataset, int(version) if version else None)
    except ValueError as error:
        raise PipelineDefinitionError(
            f"The parameter {name!r} of pipeline {target.name!r} must be {type_name(annotation)}. "
            f"Got {text!r} instead ({error}).",
            pipeline=target.name,
            parameter=name,
            expected=type_name(annotation),
            received=text,
        ) from None
    return text


def _annotation_hint(target: Pipeline, name: str) -> str:
    annotation = target.hints.get(name)
    return "" if annotation is None else f" ({type_name(annotation)})"


def _is_dataset_version(value: Any) -> bool:
    return hasattr(value, "lineage_ref") and hasattr(value, "content_hash")


def jsonable_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON for the run record (datasets as ``name@vN``, other objects as their repr)."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        if _is_dataset_version(value):
            result[name] = f"{value.name}@v{value.version}"
        elif isinstance(value, DataRef):
            result[name] = repr(value)
        elif isinstance(value, dt.date | Path):  # as the CLI takes them back: -p day=2024-02-03
            result[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
        else:
            try:
                json.dumps(value, allow_nan=False)
                result[name] = value
            except (TypeError, ValueError):
                result[name] = repr(value)
    return result


def _wiring(value: Any) -> Any:
    from loopwright.pipelines.graph import StepOutput

    if isinstance(value, StepOutput):
        return {"from": value.call.name, "output": value.index}
    if isinstance(value, list | tuple):
        return [_wiring(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _wiring(item) for key, item in value.items()}
    return "value"  # parameter values are part of each step's cache key, not of the definition


def check_executor(executor: str, max_workers: int | None, *, where: str) -> str:
    """``executor`` if it names a known executor and ``max_workers`` is valid; else a clear error."""
    if executor not in EXECUTORS:
        raise PipelineDefinitionError(
            f"The 'executor' of {where} must be one of {', '.join(map(repr, EXECUTORS))}. "
            f"Got {executor!r} instead.",
            executor=executor,
        )
    if max_workers is not None and (
        not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
    ):
        raise PipelineDefinitionError(
            f"The 'max_workers' of {where} must be a positive integer. Got {max_workers!r} instead.",
            max_workers=repr(max_workers),
        )
    return executor


def _definition_location(function: Any) -> str:
    code = getattr(function, "__code__", None)
    return "<unknown>" if code is None else f"{code.co_filename}:{code.co_firstlineno}"


def referenced_sources(functions: Iterable[Callable[..., Any]]) -> dict[str, str]:
    """The source files of the modules defining ``functions`` (the code snapshot of a pipeline run)."""
    sources: dict[str, str] = {}
    for function in functions:
        module = sys.modules.get(function.__module__)
        file = getattr(module, "__file__", None)
        key = file or function.__module__
        if key in sources:
            continue
        try:
            sources[key] = Path(file).read_text(encoding="utf-8") if file else inspect.getsource(function)
        except (OSError, TypeError, UnicodeDecodeError):
            continue
    return sources
