"""How model versions and aliases are named: ``models:/fraud/3``, ``fraud@production``, and the rules for
model and alias names.

>>> parse_model_reference("models:/fraud@production")
('fraud', None, 'production')
>>> parse_model_reference("fraud/3")
('fraud', 3, None)
"""

from __future__ import annotations

import re
from typing import Any

from loopwright._names import validate_key
from loopwright.errors import InvalidInputError

__all__ = ["MODEL_URI_PREFIX", "parse_model_reference", "validate_alias", "validate_model_name"]

MODEL_URI_PREFIX = "models:/"
"""``models:/fraud/3`` (a version), ``models:/fraud@production`` (an alias), ``models:/fraud`` (latest)."""

_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
_RESERVED_ALIASES = frozenset({"latest"})


def parse_model_reference(target: str) -> tuple[str, int | None, str | None]:
    """``(name, version, alias)`` from ``models:/fraud/3``, ``models:/fraud@production``, ``fraud:3``,
    ``fraud/latest`` or ``fraud``."""
    text = target.removeprefix(MODEL_URI_PREFIX)
    name, version, alias = text, None, None
    if "@" in text:
        name, _, alias = text.partition("@")
    else:
        for separator in ("/", ":"):
            if separator in text:
                name, _, number = text.partition(separator)
                if number == "latest":
                    break
                if not number.isdigit() or int(number) < 1:
                    raise InvalidInputError(
                        "A model version is written NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION, e.g. "
                        f"fraud/3 or models:/fraud@production. Got {target!r} instead.",
                        target=target,
                    )
                version = int(number)
                break
    if not name or (alias is not None and not alias):
        raise InvalidInputError(
            "A model version is written NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION, e.g. fraud/3 or "
            f"models:/fraud@production. Got {target!r} instead.",
            target=target,
        )
    return name, version, alias


def validate_model_name(name: Any) -> str:
    """A usable model name: the key rules, and none of ``:``, ``@`` (they separate versions and aliases)."""
    validate_key("model", name)
    for character in ":@":
        if character in name:
            raise InvalidInputError(
                f"A model name cannot contain {character!r} (it separates the name from a version or an "
                f"alias, as in fraud:3 or fraud@production). Got {name!r} instead.",
                name=name,
            )
    return str(name)


def validate_alias(alias: Any) -> str:
    """A usable alias: lowercase letters, digits, ``-`` and ``_``, starting with a letter; not ``latest``."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or alias in _RESERVED_ALIASES:
        raise InvalidInputError(
            "An alias must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter, and not "
            f"'latest' (e.g. production, staging, champion). Got {alias!r} instead.",
            alias=repr(alias),
        )
    return alias
