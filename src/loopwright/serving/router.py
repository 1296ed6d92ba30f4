"""Which variant of a deployment answers each row: production, or the canary.

A canary takes ``canary_weight`` of the traffic. Without a sticky key each row is a fresh draw. With one
(``header:X-Customer`` or ``field:customer_id``) the key decides: blake2b of the key, salted with the
deployment's name, maps it to a point of [0, 1), and the row goes to the canary when the point is below the
weight. So one key always gets the same variant for a given weight; raising the weight only moves keys
from production to the canary, never back; and two deployments split the same keys independently.

The shadow variant is never chosen here: it receives a copy of every request and never answers one.

>>> router = Router("fraud", 0.2, parse_sticky("field:customer_id", deployment="fraud"))
>>> router.is_canary("customer-42") == router.is_canary("customer-42")
True
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from loopwright._names import KEY_LENGTH
from loopwright.errors import InvalidInputError

__all__ = [
    "CANARY",
    "PRODUCTION",
    "SHADOW",
    "VARIANTS",
    "Router",
    "StickyKey",
    "parse_sticky",
    "route_point",
]

PRODUCTION = "production"
CANARY = "canary"
SHADOW = "shadow"
VARIANTS = (PRODUCTION, CANARY, SHADOW)
"""The variants of a deployment, as predictions record them."""

# RFC 9110 token characters: what an HTTP header name may hold.
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}\Z")
_SCALE = float(1 << 64)


@dataclass(frozen=True, slots=True)
class StickyKey:
    """Where a request's routing key comes from: an HTTP header, or a field (column) of each row."""

    source: Literal["header", "field"]
    name: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def parse_sticky(text: object, *, deployment: str) -> StickyKey:
    """``header:X-Customer`` or ``field:customer_id`` as a :class:`StickyKey`; a clear error otherwise.

    >>> parse_sticky("header:X-Customer", deployment="fraud")
    StickyKey(source='header', name='X-Customer')
    """
    source, _, name = text.partition(":") if isinstance(text, str) else ("", "", "")
    valid = (source == "header" and _HEADER.match(name) is not None) or (
        source == "field" and 0 < len(name) <= KEY_LENGTH and name == name.strip()
    )
    if not valid:
        raise InvalidInputError(
            f"The 'sticky' key of deployment {deployment!r} must be 'header:NAME' (an HTTP header, e.g. "
            f"header:X-Customer) or 'field:NAME' (a field of each row, e.g. field:customer_id). Got {text!r} "
            "instead.",
            deployment=deployment,
            field="sticky",
            value=repr(text),
        )
    return StickyKey("header" if source == "header" else "field", name)


def route_point(key: str, salt: bytes) -> float:
    """Where ``key`` falls in [0, 1): blake2b of its UTF-8 bytes keyed with ``salt``, as a fraction."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Splits rows between production and the canary of one deployment (cheap: no I/O, no locks).

    ``is_canary(key)`` decides one row; :meth:`assign` a whole request. Rows without a key are drawn at
    random.
    """

    __slots__ = ("_salt", "sticky", "weight")

    def __init__(self, deployment: str, canary_weight: float, sticky: StickyKey | None = None) -> None:
        self.weight = canary_weight
        self.sticky = sticky
        self._salt = hashlib.blake2b(deployment.encode("utf-8"), digest_size=16).digest()

    def __repr__(self) -> str:
        return f"Router(weight={self.weight}, sticky={str(self.sticky) if self.sticky else None})"

    @property
    def splits(self) -> bool:
        """Whether any row can go to the canary (a weight above 0)."""
        return self.weight > 0.0

    def is_canary(self, key: str | None = None) -> bool:
        """Whether the row with routing key ``key`` (``None``: no key) goes to the canary."""
        if self.weight <= 0.0:
            return False
        if self.weight >= 1.0:
            return True
        point = random.random() if key is None else route_point(key, self._salt)
        return point < self.weight

    def assign(self, rows: int, keys: str | Sequence[str | None] | None = None) -> list[bool]:
        """For each of ``rows`` rows, whether it goes to the canary. ``keys`` is one key for every row
        (a header), one key per row (a field), or ``None``."""
        if self.weight <= 0.0:
            return [False] * rows
        if isinstance(keys, str) or keys is None:
            if keys is not None or rows == 1:
                return [self.is_canary(keys)] * rows
            weight = self.weight
            return [random.random() < weight for _ in range(rows)]
        if len(keys) != rows:
            raise InvalidInputError(
                f"Routing needs one key per row: {rows} row(s) but {len(keys)} key(s).",
                rows=rows,
                keys=len(keys),
            )
        return [self.is_canary(None if key is None else str(key)) for key in keys]
