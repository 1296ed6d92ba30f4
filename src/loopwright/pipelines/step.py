"""Steps: plain typed functions that a pipeline runs, records and caches.

A step called outside a pipeline is just its function (so notebook code and unit tests keep working).
Called inside a pipeline's body, it records a node of the pipeline's graph and returns a placeholder for
its output, which later steps take as input; the graph runs once the body has been traced.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import math
import sys
import types
import typing
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from loopwright._names import validate_key
from loopwright.errors import PipelineDefinitionError, StepOutputError
from loopwright.pipelines.hashing import code_hash

if TYPE_CHECKING:
    from loopwright.pipelines.graph import Tracer

__all__ = ["CacheSettings", "Step", "check_output", "readable_signature", "step", "user_location"]

P = ParamSpec("P")
R = TypeVar("R")

tracing: ContextVar[Tracer | None] = ContextVar("loopwright_pipeline_tracer", default=None)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """How a step's results are reused: on by default, keyed on content."""

    enabled: bool = True
    ignore: frozenset[str] = frozenset()
    expire_s: float | None = None


class Step(Generic[P, R]):
    """A function that runs as one recorded, cached unit of a pipeline. Build it with :func:`step`."""

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        cache: bool = True,
        ignore: typing.Iterable[str] = (),
        expire: float | dt.timedelta | None = None,
    ) -> None:
        if not inspect.isfunction(function):
            raise PipelineDefinitionError(
                f"@lw.step decorates a plain function. Got {function!r} instead.", value=repr(function)
            )
        self.function: Callable[P, R] = function
        self.name = validate_key("step name", name or function.__name__)
        self.signature = inspect.signature(function)
        if not isinstance(cache, bool):
            raise PipelineDefinitionError(
                f"The 'cache' of step {self.name!r} must be True or False. Got {cache!r} instead.",
                step=self.name,
                cache=repr(cache),
            )
        try:  # one name given as text means that name, not its letters
            ignored = frozenset([ignore] if isinstance(ignore, str) else ignore)
        except TypeError:
            raise PipelineDefinitionError(
                f"The 'ignore' of step {self.name!r} must be a list of its parameter names. "
                f"Got {ignore!r} instead.",
                step=self.name,
                ignore=repr(ignore),
            ) from None
        unknown = sorted(ignored - set(self.signature.parameters), key=repr)
        if unknown:
            raise PipelineDefinitionError(
                f"The 'ignore' of step {self.name!r} names {', '.join(map(repr, unknown))}, which "
                f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
                f"{function.__qualname__}(). Its parameters: "
                f"{', '.join(self.signature.parameters) or 'none'}.",
                step=self.name,
                ignore=unknown,
            )
        if isinstance(expire, dt.timedelta):
            expire = expire.total_seconds()
        if expire is not None and (
            not isinstance(expire, int | float)
            or isinstance(expire, bool)
            or not math.isfinite(expire)
            or expire <= 0
        ):
            raise PipelineDefinitionError(
                f"The 'expire' of step {self.name!r} must be a positive number of seconds or a timedelta. "
                f"Got {expire!r} instead.",
                step=self.name,
                expire=repr(expire),
            )
        self.cache_settings = CacheSettings(bool(cache), ignored, None if expire is None else float(expire))
        functools.update_wrapper(self, function)
        self._hints: dict[str, Any] | None = None
        self._code_hash: str | None = None

    def __repr__(self) -> str:
        return f"<step {self.name!r} ({self.function.__module__}.{self.function.__qualname__})>"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by reference (the module attribute holding this step), so process workers import it. The
        # module's file goes along for a module loaded from a path (lw.load_pipeline("flows/train.py:x")),
        # which a fresh process cannot import by name.
        module = sys.modules.get(self.function.__module__)
        file = getattr(module, "__file__", None)
        return (_import_step, (self.function.__module__, self.function.__qualname__, file))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        tracer = tracing.get()
        if tracer is None:
            return self.function(*args, **kwargs)
        return tracer.add_call(self, args, kwargs, user_location(sys._getframe(1)))  # type: ignore[return-value]

    @property
    def hints(self) -> dict[str, Any]:
        """The function's resolved type annotations (empty where they cannot be resolved)."""
        if self._hints is None:
            try:
                self._hints = typing.get_type_hints(self.function)
            except Exception:  # a forward reference to a name that does not exist: no type checks then
                self._hints = {}
        return self._hints

    @property
    def code_hash(self) -> str:
        """The hash of this step's normalised code and what it references (computed once)."""
        if self._code_hash is None:
            self._code_hash = code_hash(self.function)
        return self._code_hash

    @property
    def output_types(self) -> tuple[Any, ...] | None:
        """The annotated type of each output when the step returns a fixed-size tuple, else ``None``."""
        annotation = self.hints.get("return")
        if typing.get_origin(annotation) is tuple:
            members = typing.get_args(annotation)
            if members and members[-1] is not Ellipsis and members != ((),):
                return members
        return None

    @property
    def return_type(self) -> Any:
        return self.hints.get("return", Any)


@overload
def step(function: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    ignore: typing.Iterable[str] = (),
    expire: float | dt.timedelta | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    ignore: typing.Iterable[str] = (),
    expire: float | dt.timedelta | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a plain function a pipeline step.

    Its results are cached by content: the step runs again only when its code (or code and constants it
    uses), its parameters, the content of its inputs, or the materializer version change. ``cache=False``
    always runs it; ``ignore`` leaves parameters out of the key (a ``verbose`` flag); ``expire`` (seconds or
    a timedelta) bounds the age of a result that is reused.

    >>> import loopwright as lw
    >>> @lw.step
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21)  # outside a pipeline, a step is just its function
    42
    """

    def decorate(inner: Callable[P, R]) -> Step[P, R]:
        return Step(inner, name=name, cache=cache, ignore=ignore, expire=expire)

    return decorate if function is None else decorate(function)


def _import_step(module: str, qualname: str, file: str | None = None) -> Step[..., Any]:
    import importlib
    import importlib.util

    target: Any = sys.modules.get(module)
    if target is None:
        try:
            target = importlib.import_module(module)
        except ImportError:
            spec = None if file is None else importlib.util.spec_from_file_location(module, file)
            if spec is None or spec.loader is None:
                raise
            target = sys.modules[module] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(target)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, Step):
        raise PipelineDefinitionError(
            f"{module}.{qualname} is not a step at module level, so a process worker cannot import it. "
            "Define steps at the top level of a module, or run the pipeline with executor='inline'.",
            ref=f"{module}:{qualname}",
        )
    return target


class _Source(str):
    """An annotation's source text, shown as written (``int``, not ``'int'``)."""

    def __repr__(self) -> str:
        return str(self)


def readable_signature(signature: inspect.Signature) -> str:
    """``signature`` as it reads in the source: annotations that ``from __future__ import annotations``
    keeps as text are shown without quotes."""

    def plain(annotation: Any) -> Any:
        return _Source(annotation) if isinstance(annotation, str) else annotation

    parameters = [item.replace(annotation=plain(item.annotation)) for item in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=plain(signature.return_annotation)))


def user_location(frame: types.FrameType | None) -> str:
    """``file:line`` of a frame, for errors that point at the user's code."""
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


# --- types ---------------------------------------------------------------------------------------------


def type_name(annotation: Any) -> str:
    """A short readable name of an annotation (``pandas.DataFrame``, ``int | None``)."""
    if annotation is Any:
        return "Any"
    if isinstance(annotation, type):
        module = annotation.__module__
        return (
            annotation.__qualname__
            if module == "builtins"
            else f"{module.split('.')[0]}.{annotation.__qualname__}"
        )
    return str(annotation).replace("typing.", "")


def _classes(annotation: Any) -> tuple[type, ...] | None:
    """The classes an annotation admits, or ``None`` when it cannot be checked with isinstance."""
    if annotation is Any:
        return None
    if annotation is None or annotation is type(None):
        return (type(None),)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found: list[type] = []
        for member in typing.get_args(annotation):
            classes = _classes(member)
            if classes is None:
                return None
            found.extend(classes)
        return tuple(found)
    if origin is typing.Annotated:
        return _classes(typing.get_args(annotation)[0])
    if origin is not None:
        return (origin,) if isinstance(origin, type) else None
    if isinstance(annotation, type):
        if annotation is float:
            return (float, int)  # PEP 484: int is acceptable where float is expected
        return (annotation,)
    return None


def compatible(produced: Any, expected: Any) -> bool:
    """Whether a value of annotation ``produced`` may be passed where ``expected`` is annotated."""
    produced_classes, expected_classes = _classes(produced), _classes(expected)
    if produced_classes is None or expected_classes is None:
        return True
    return all(issubclass(cls, expected_classes) for cls in produced_classes)


def check_output(step_object: Step[..., Any], value: Any) -> list[Any]:
    """The outputs of one execution, checked against the return annotation (a fixed tuple is split)."""
    members = step_object.output_types
    if members is not None:
        if not isinstance(value, tuple) or len(value) != len(members):
            raise StepOutputError(
                f"Step {step_object.name!r} must return a tuple of {len(members)} values, as annotated "
                f"({type_name(step_object.return_type)}). Got {_describe(value)} instead.",
                step=step_object.name,
            )
        for position, (item, annotation) in enumerate(zip(value, members, strict=True)):
            _check_one(step_object, item, annotation, f"output {position} of step {step_object.name!r}")
        return list(value)
    _check_one(step_object, value, step_object.return_type, f"step {step_object.name!r}")
    return [value]


def _check_one(step_object: Step[..., Any], value: Any, annotation: Any, what: str) -> None:
    classes = _classes(annotation)
    if classes is not None and not isinstance(value, classes):
        raise StepOutputError(
            f"The value returned for {what} must be {type_name(annotation)}, as annotated. "
            f"Got {_describe(value)} instead.",
            step=step_object.name,
            expected=type_name(annotation),
            received=type(value).__qualname__,
        )


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    name = type_name(type(value))
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
