"""How ``loopwright pipelines run`` finds a pipeline: its reference, its import path and its parameters.

A reference is ``module:pipeline``, imported with the current folder first on the import path as
``python -m module`` does, or ``path/to/file.py:pipeline``, with the file's folder on the path as
``python path/to/file.py`` does. An exception raised while the user's module is imported is bad input, not
a bug of the command: its traceback is shown without Loopwright's frames, and the command exits with
status 2.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from loopwright.cli._render import error_console
from loopwright.errors import InvalidInputError, LoopwrightError, PipelineDefinitionError

if TYPE_CHECKING:
    from loopwright.pipelines.pipeline import Pipeline

__all__ = ["importable", "load_ref", "parse_params"]


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``-p KEY=VALUE`` options as a mapping of text values (the pipeline parses them by annotation)."""
    values: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        key = key.strip()
        if not separator or not key:
            raise InvalidInputError(
                f"A pipeline parameter is given as -p KEY=VALUE (e.g. -p n=100). Got {item!r} instead.",
                param=item,
            )
        if key in values and values[key] != value:
            raise InvalidInputError(
                f"The parameter {key!r} is given twice, as {values[key]!r} and {value!r}. Give it once.",
                param=key,
            )
        values[key] = value
    return values


@contextlib.contextmanager
def importable(ref: str) -> Iterator[None]:
    """The current folder (and, for ``path/to/file.py:name``, the file's folder) on the import path
    while the command runs, as ``python -m module`` and ``python path/to/file.py`` put them there."""
    module = ref.partition(":")[0]
    folders = [str(Path.cwd())]
    if module.endswith(".py"):
        folders.insert(0, str(Path(module).resolve().parent))
    added = [folder for folder in folders if folder not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def load_ref(ref: str) -> Pipeline:
    """The pipeline ``ref`` names (see :func:`loopwright.load_pipeline`). When importing the user's module
    raises, its traceback, without Loopwright's and importlib's frames, goes to standard error and a
    :class:`PipelineDefinitionError` names the line that raised."""
    from loopwright.pipelines.pipeline import load_pipeline

    try:
        return load_pipeline(ref)
    except LoopwrightError:
        raise
    except Exception as error:
        report = traceback.TracebackException.from_exception(error)
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in report.stack if _is_user_frame(frame.filename)]
        )
        error_console().print(Text("".join(report.format()).rstrip()), soft_wrap=True)
        module = ref.partition(":")[0]
        raise PipelineDefinitionError(
            f"Importing {module!r} for pipeline reference {ref!r} raised {_describe(error, report.stack)}. "
            "Its traceback is above.",
            ref=ref,
        ) from None


# Frames of the machinery between the command and the user's module, left out of the traceback.
_MACHINERY = (
    str(Path(__file__).resolve().parent.parent) + os.sep,
    str(Path(importlib.__file__).resolve().parent) + os.sep,
    "<frozen ",
)


def _is_user_frame(filename: str) -> bool:
    return not filename.startswith(_MACHINERY)


def _describe(error: Exception, stack: traceback.StackSummary) -> str:
    """``SyntaxError: invalid syntax (flow.py:3)``: the error and the user's line that raised it."""
    if isinstance(error, SyntaxError):
        where = f" ({error.filename}:{error.lineno})" if error.filename else ""
        return f"SyntaxError: {error.msg}{where}"
    where = f" ({stack[-1].filename}:{stack[-1].lineno})" if stack else ""
    return f"{type(error).__name__}: {error}{where}"
