"""The graph of a pipeline, traced from its body.

The body runs once with placeholders: each step call records a :class:`StepCall` and returns a
:class:`StepOutput` that later calls take as an argument. Every check that can fail before a step runs is
made here (arguments bound to the step's signature, annotated types of outputs against the inputs they
feed), so a graph that cannot run is refused before anything is recorded. Graphs are acyclic by
construction: a call can only take outputs of calls made before it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopwright.errors import LoopwrightError, PipelineDefinitionError
from loopwright.pipelines.step import Step, compatible, readable_signature, tracing, type_name

__all__ = ["DataRef", "Graph", "StepCall", "StepOutput", "Tracer", "latest", "trace"]


@dataclass(frozen=True, slots=True)
class DataRef:
    """A dataset input resolved when a run starts: the latest version (or a fixed one) of a dataset."""

    name: str
    version: int | None = None

    def __repr__(self) -> str:
        return f"lw.latest({self.name!r})" if self.version is None else f"{self.name}@v{self.version}"


def latest(name: str) -> DataRef:
    """The newest version of dataset ``name`` that passed its blocking checks, resolved when each run
    starts, so new data invalidates exactly the steps that read it.

    >>> import loopwright as lw
    >>> lw.latest("transactions")
    lw.latest('transactions')
    """
    from loopwright._names import validate_key

    return DataRef(validate_key("dataset name", name))


@dataclass(eq=False)
class StepCall:
    """One call of a step in a pipeline body: a node of the graph."""

    step: Step[..., Any]
    name: str
    arguments: dict[str, Any]
    location: str
    upstream: list[StepCall] = field(default_factory=list)

    @property
    def output_count(self) -> int:
        members = self.step.output_types
        return 1 if members is None else len(members)

    def output_name(self, index: int | None) -> str:
        return "output" if index is None else f"output.{index}"


@dataclass(frozen=True, eq=False)
class StepOutput:
    """The placeholder a step call returns while the pipeline body is traced."""

    call: StepCall
    index: int | None = None

    @property
    def annotation(self) -> Any:
        members = self.call.step.output_types
        if members is None:
            return self.call.step.return_type
        return Any if self.index is None else members[self.index]

    def __iter__(self) -> Iterator[StepOutput]:
        if self.index is None and self.call.step.output_types is not None:
            return iter([StepOutput(self.call, position) for position in range(self.call.output_count)])
        raise PipelineDefinitionError(
            f"The output of step {self.call.name!r} (called at {self.call.location}) cannot be unpacked: "
            f"its return annotation is {type_name(self.annotation)}. Annotate it as a fixed tuple "
            "(-> tuple[pd.DataFrame, pd.DataFrame]) to return several outputs.",
            step=self.call.name,
        )

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(
            f"The output of step {self.call.name!r} (called at {self.call.location}) is a placeholder while "
            "the pipeline is defined: its value exists only when the step runs. Branch inside a step "
            "instead of in the pipeline body.",
            step=self.call.name,
        )

    def __repr__(self) -> str:
        suffix = "" if self.index is None else f"[{self.index}]"
        return f"<output of step {self.call.name!r}{suffix}>"


@dataclass
class Graph:
    """The traced graph: calls in a runnable (topological) order, and the body's return value with
    placeholders in it."""

    calls: list[StepCall]
    output: Any

    def downstream_of(self, call: StepCall) -> list[StepCall]:
        return [other for other in self.calls if call in other.upstream]


class Tracer:
    """Collects the step calls of one pipeline body."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.calls: list[StepCall] = []
        self._names: dict[str, int] = {}

    def add_call(
        self, step_object: Step[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], location: str
    ) -> StepOutput:
        try:
            bound = step_object.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise PipelineDefinitionError(
                f"Step {step_object.name!r} is called at {location} in pipeline {self.pipeline!r} with "
                f"arguments that do not fit {step_object.function.__qualname__}"
                f"{readable_signature(step_object.signature)}: "
                f"{error}.",
                step=step_object.name,
                location=location,
            ) from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        for declared in step_object.signature.parameters.values():
            if declared.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"Step {step_object.name!r} takes *{declared.name}: pipeline steps need named "
                    "parameters, "
                    "so their inputs can be recorded and cached by name.",
                    step=step_object.name,
                )
        count = self._names.get(step_object.name, 0) + 1
        self._names[step_object.name] = count
        name = step_object.name if count == 1 else f"{step_object.name}_{count}"
        call = StepCall(step_object, name, arguments, location)
        for parameter, value in arguments.items():
            for found in _placeholders(value):
                if found.call not in call.upstream:
                    call.upstream.append(found.call)
                if found is value:
                    _check_types(call, parameter, found)
            if isinstance(value, Step):
                raise PipelineDefinitionError(
                    f"Step {step_object.name!r} is given the step {value.name!r} itself as {parameter!r} at "
                    f"{location}. Call it to pass its output: {value.name}(...).",
                    step=step_object.name,
                    parameter=parameter,
                )
        self.calls.append(call)
        return StepOutput(call)


def trace(pipeline: str, body: Callable[..., Any], params: Mapping[str, Any]) -> Graph:
    """Run ``body`` with step calls recorded instead of executed, and return the graph."""
    if tracing.get() is not None:
        raise PipelineDefinitionError(
            f"Pipeline {pipeline!r} is called inside another pipeline's body. Call its steps from the outer "
            "pipeline instead (pipelines do not nest).",
            pipeline=pipeline,
        )
    tracer = Tracer(pipeline)
    token = tracing.set(tracer)
    try:
        output = body(**params)
    except LoopwrightError:
        raise
    except Exception as error:
        where = _innermost_user_frame(error, body)
        raise PipelineDefinitionError(
            f"The body of pipeline {pipeline!r} raised {type(error).__name__} at {where} while its graph was "
            f"built: {error}. In the body, step calls return placeholders, not values: compute with values "
            "inside steps, and only call steps and pass their outputs along in the pipeline body.",
            pipeline=pipeline,
            location=where,
        ) from error
    finally:
        tracing.reset(token)
    if not tracer.calls:
        raise PipelineDefinitionError(
            f"Pipeline {pipeline!r} calls no step. Decorate the functions it calls with @lw.step.",
            pipeline=pipeline,
        )
    return Graph(tracer.calls, output)


def _placeholders(value: Any, depth: int = 0) -> Iterator[StepOutput]:
    """Placeholders in an argument, also inside lists, tuples and dicts (a list of step outputs)."""
    if isinstance(value, StepOutput):
        yield value
    elif depth < 8 and isinstance(value, list | tuple):
        for item in value:
            yield from _placeholders(item, depth + 1)
    elif depth < 8 and isinstance(value, dict):
        for item in value.values():
            yield from _placeholders(item, depth + 1)


def _check_types(call: StepCall, parameter: str, output: StepOutput) -> None:
    expected = call.step.hints.get(parameter, Any)
    produced = output.annotation
    if output.call.step.output_types is not None and output.index is None:
        produced = tuple
    if not compatible(produced, expected):
        raise PipelineDefinitionError(
            f"Step {call.name!r} (called at {call.location}) takes {parameter!r} as {type_name(expected)}, "
            f"but it is given the output of step {output.call.name!r}, annotated {type_name(produced)}.",
            step=call.name,
            parameter=parameter,
            expected=type_name(expected),
            received=type_name(produced),
        )


def _innermost_user_frame(error: BaseException, body: Callable[..., Any]) -> str:
    """``file:line`` in the pipeline body's file where ``error`` was raised (else the body's own line)."""
    code = getattr(body, "__code__", None)
    location = "<unknown>" if code is None else f"{code.co_filename}:{code.co_firstlineno}"
    traceback = error.__traceback__
    while traceback is not None:
        frame_code = traceback.tb_frame.f_code
        if code is not None and frame_code.co_filename == code.co_filename:
            location = f"{frame_code.co_filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return location
