"""Checks on what users log: keys, metric values and parameter values.

Each check raises a typed error naming the key and the value, before anything reaches the buffer or the
store, so a bad call never takes good data down with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopwright._names import validate_key
from loopwright.errors import InvalidInputError, InvalidMetricError

__all__ = ["MAX_VALUE_LENGTH", "mapping", "metric_value", "text_value", "validate_key"]

MAX_VALUE_LENGTH = 65_536
"""Longest parameter or tag value, in characters."""


def metric_value(key: str, value: Any) -> float:
    """``value`` as a float. NaN and +/-inf are accepted; text, None, containers and complex numbers are
    not (:class:`InvalidMetricError`). numpy / torch scalars and anything with ``__float__`` work."""
    if isinstance(value, float):
        return value
    if isinstance(value, str | bytes | bytearray | complex) or value is None:
        raise InvalidMetricError(
            f"Metric {key!r} must be a real number. Got {value!r} of type {type(value).__name__} instead.",
            key=key,
            value=repr(value),
        )
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidMetricError(
            f"Metric {key!r} must be a real number. Got {_short(value)} of type {type(value).__name__} "
            "instead.",
            key=key,
            value=_short(value),
        ) from error
    return number


def text_value(kind: str, key: str, value: Any) -> str:
    """A parameter or tag value as stored: text as is, anything else as ``str(value)``."""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"The value of {kind} {key!r} is not valid Unicode text (it holds a lone surrogate): {text!r}.",
            kind=kind,
            key=key,
        ) from None
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidInputError(
            f"The value of {kind} {key!r} is {len(text)} characters long; the limit is {MAX_VALUE_LENGTH}. "
            "Log large values as an artifact instead (run.log_text / run.log_artifact).",
            kind=kind,
            key=key,
        )
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def mapping(argument: str, value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping (a dict of keys to values), else :class:`InvalidInputError`."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{argument} must be a mapping of keys to values, e.g. {{'lr': 0.1}}. Got {_short(value)} of "
            f"type {type(value).__name__} instead.",
            argument=argument,
        )
    return value
