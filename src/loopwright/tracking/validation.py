"""Checks on what users log: keys, metric values and parameter values.

Each check raises a typed error naming the key and the value, before anything reaches the buffer or the
store, so a bad call never takes good data down with it.
"""

from __future__ import annotations

from typing import Any

from loopwright.errors import InvalidInputError, InvalidKeyError, InvalidMetricError
from loopwright.store.schema import KEY_LENGTH

__all__ = ["MAX_VALUE_LENGTH", "metric_value", "text_value", "validate_key"]

MAX_VALUE_LENGTH = 65_536
"""Longest parameter or tag value, in characters."""

_FORBIDDEN = {"/": "a slash", "\\": "a backslash"}


def validate_key(kind: str, key: Any) -> str:
    """Return ``key`` if it is a usable metric / parameter / tag name, else raise :class:`InvalidKeyError`.

    A key is a non-empty text of at most 250 characters, without path separators, control characters or
    spaces at either end (keys become file names and column names elsewhere).
    """
    if not isinstance(key, str):
        raise InvalidKeyError(
            f"A {kind} key must be a text. Got {key!r} of type {type(key).__name__} instead.",
            kind=kind,
            key=repr(key),
        )
    if not key:
        raise InvalidKeyError(f"A {kind} key must not be empty. Got '' instead.", kind=kind, key=key)
    if len(key) > KEY_LENGTH:
        raise InvalidKeyError(
            f"The {kind} key {key[:40]!r}... is {len(key)} characters long; the limit is {KEY_LENGTH}.",
            kind=kind,
            key=key,
        )
    for character, description in _FORBIDDEN.items():
        if character in key:
            raise InvalidKeyError(
                f"The {kind} key {key!r} contains {description} ({character!r}); path separators are not "
                "allowed in keys. Use '.', '_' or '-' to group names, e.g. 'train.loss'.",
                kind=kind,
                key=key,
            )
    if key != key.strip() or any(ord(character) < 32 or ord(character) == 127 for character in key):
        raise InvalidKeyError(
            f"The {kind} key {key!r} has spaces at an end or control characters; remove them.",
            kind=kind,
            key=key,
        )
    return key


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
    except (TypeError, ValueError) as error:
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
