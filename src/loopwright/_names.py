"""Rules for the names users give things: metric, parameter and tag keys, experiments, datasets."""

from __future__ import annotations

from typing import Any

from loopwright.errors import InvalidKeyError

__all__ = ["KEY_LENGTH", "validate_key"]

KEY_LENGTH = 250
"""Longest key or name."""

_FORBIDDEN = {"/": "a slash", "\\": "a backslash"}


def validate_key(kind: str, key: Any) -> str:
    """Return ``key`` if it is a usable name, else raise :class:`InvalidKeyError`.

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
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(
            f"The {kind} key {key!r} is not valid Unicode text (it holds a lone surrogate); it cannot be "
            "stored.",
            kind=kind,
            key=repr(key),
        ) from None
    if key != key.strip() or any(ord(character) < 32 or ord(character) == 127 for character in key):
        raise InvalidKeyError(
            f"The {kind} key {key!r} has spaces at an end or control characters; remove them.",
            kind=kind,
            key=key,
        )
    return key
