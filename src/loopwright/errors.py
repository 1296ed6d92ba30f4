"""Typed errors with stable codes.

Every error Loopwright raises on purpose is a :class:`LoopwrightError`. Each family also inherits the
nearest builtin, so ``except LookupError`` or ``except ValueError`` keep working for callers that do not
know Loopwright. Every class carries a stable ``code`` (also used by the HTTP API and the CLI) and its
message says what was wrong, the value received, and what to do next::

    >>> import loopwright as lw
    >>> try:
    ...     lw.get_run("no-such-run")
    ... except lw.errors.NotFoundError as error:
    ...     print(error.code, error.specific_code)
    not_found not_found.run
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactIntegrityError",
    "ConflictError",
    "DataCheckError",
    "DataInputError",
    "FilterSyntaxError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidMetricError",
    "LoopwrightError",
    "MissingExtraError",
    "NotFoundError",
    "ParamConflictError",
    "RunStateError",
    "SchemaFileError",
    "StoreError",
    "StoreUnavailableError",
    "TrackingWriteError",
]


class LoopwrightError(Exception):
    """Base of every error Loopwright raises on purpose.

    ``code`` is stable across releases; ``details`` holds the structured facts in the message (names,
    values) for programs that want them without parsing text.
    """

    code: ClassVar[str] = "loopwright_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


# --- bad input -------------------------------------------------------------------------------------------


class InvalidInputError(LoopwrightError, ValueError):
    """A value given by the user does not fit what was expected."""

    code = "invalid_input"


class InvalidKeyError(InvalidInputError):
    """A metric, parameter or tag key is empty, too long, or contains forbidden characters."""

    code = "invalid_input.key"


class InvalidMetricError(InvalidInputError):
    """A metric value is not a real number."""

    code = "invalid_input.metric"


class FilterSyntaxError(InvalidInputError):
    """A run filter or order-by expression could not be parsed. ``position`` points at the bad token."""

    code = "invalid_input.filter"

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        pointer = f"\n    {expression}\n    {' ' * position}^"
        super().__init__(message + pointer, expression=expression, position=position)
        self.expression = expression
        self.position = position


class DataInputError(InvalidInputError):
    """Data handed to Loopwright cannot be read (unreadable, empty, mixed or unsupported types)."""

    code = "invalid_input.data"


class SchemaFileError(InvalidInputError):
    """A data schema file (or text) is not valid YAML or does not describe a schema."""

    code = "invalid_input.schema"


class DataCheckError(LoopwrightError):
    """A blocking data check failed. ``report`` (a ``CheckReport``) holds every result."""

    code = "data_check.failed"

    def __init__(self, report: Any) -> None:
        super().__init__(report.summary(), dataset=report.dataset, version=report.version)
        self.report = report


# --- state and conflicts ---------------------------------------------------------------------------------


class NotFoundError(LoopwrightError, LookupError):
    """Something that was asked for by name or id does not exist."""

    code = "not_found"

    def __init__(self, message: str, *, kind: str, key: str, **details: Any) -> None:
        super().__init__(message, kind=kind, key=key, **details)
        self.kind = kind
        self.key = key

    @property
    def specific_code(self) -> str:
        """The code with the kind of object appended, e.g. ``not_found.run``."""
        return f"{self.code}.{self.kind}"


class ConflictError(LoopwrightError):
    """The request contradicts what is already recorded."""

    code = "conflict"


class ParamConflictError(ConflictError, ValueError):
    """A parameter was logged twice for one run with different values (parameters are immutable)."""

    code = "conflict.param"


class RunStateError(ConflictError):
    """The run is not in a state that allows the operation (e.g. logging to a finished run)."""

    code = "conflict.run_state"


# --- storage ---------------------------------------------------------------------------------------------


class StoreError(LoopwrightError):
    """The metadata or artifact store failed."""

    code = "store"


class StoreUnavailableError(StoreError, ConnectionError):
    """The metadata store cannot be reached or opened."""

    code = "store.unavailable"


class ArtifactIntegrityError(StoreError):
    """An artifact's bytes no longer match the sha256 digest it was stored under."""

    code = "store.integrity"


class TrackingWriteError(StoreError):
    """Buffered metrics could not be written to the store; they are kept and the write is retried."""

    code = "store.tracking_write"


# --- installation ----------------------------------------------------------------------------------------


class MissingExtraError(LoopwrightError, ImportError):
    """An optional dependency is not installed. The message prints the exact ``pip install`` line."""

    code = "missing_extra"

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} requires {package}: pip install 'loopwright[{extra}]'",
            feature=feature,
            package=package,
            extra=extra,
        )
        self.extra = extra
