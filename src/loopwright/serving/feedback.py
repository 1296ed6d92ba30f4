"""Feedback: labels and outcomes that arrive after a prediction, recorded by request id for monitoring to
join with the prediction log.

Every request id is checked against the prediction log of its deployment first. A label for a request
that was never logged cannot be joined to anything, so it is never stored quietly: it is reported back
in :attr:`FeedbackReport.unknown` (or, with ``on_unknown="raise"``, the whole call is refused before
anything is written). Recording a label again replaces it: a corrected label wins, and a retried upload
changes nothing.

>>> report = feedback.record("fraud", {"c0ffee-0": 1, "c0ffee-1": 0})  # doctest: +SKIP
>>> report.recorded, report.unknown                                    # doctest: +SKIP
(2, ())
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from loopwright._names import KEY_LENGTH
from loopwright.errors import InvalidInputError, NotFoundError
from loopwright.serving.deployments import validate_deployment_name
from loopwright.store.deployments import DeploymentStore
from loopwright.store.feedback import FeedbackCatalog
from loopwright.store.metadata import MetadataStore, now_ms

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.serving.predictlog import PredictionLog

__all__ = ["MAX_VALUE_BYTES", "FeedbackReport", "FeedbackStore"]

logger = logging.getLogger("loopwright.serving")

MAX_VALUE_BYTES = 65_536
"""Largest feedback value, as JSON."""

_CHUNK = 100_000  # ids checked against the log and written per transaction: bounds memory on bulk loads
_SHOWN = 5  # unknown request ids a message names


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """What :meth:`FeedbackStore.record` did: values recorded (``replaced`` of them had one already), and
    the request ids that are not in the deployment's prediction log (not recorded)."""

    deployment: str
    recorded: int
    replaced: int
    unknown: tuple[str, ...]

    def summary(self) -> str:
        """One line for people, e.g. ``Recorded 98 labels for deployment 'fraud' (3 replaced); 2 request
        ids are not in its prediction log: 'a', 'b'.``"""
        text = (
            f"Recorded {self.recorded} label{'s' * (self.recorded != 1)} for deployment {self.deployment!r}"
        )
        if self.replaced:
            text += f" ({self.replaced} replaced)"
        if not self.unknown:
            return text + "."
        count = len(self.unknown)
        return (
            f"{text}; {count} request id{'s are' if count != 1 else ' is'} not in its prediction log and "
            f"{'were' if count != 1 else 'was'} not recorded: {_names(self.unknown)}."
        )


class FeedbackStore:
    """Records feedback for the deployments of ``store``, checked against the prediction log ``log``."""

    def __init__(self, store: MetadataStore, log: PredictionLog) -> None:
        self._catalog = FeedbackCatalog(store)
        self._deployments = DeploymentStore(store)
        self._log = log

    def record(
        self,
        deployment: str,
        values: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        on_unknown: Literal["report", "raise"] = "report",
    ) -> FeedbackReport:
        """Record a value (a label, an outcome: any JSON value but ``None``) per request id of
        ``deployment``: a mapping ``{request_id: value}`` or ``(request_id, value)`` pairs (the last value
        of a repeated id wins). Every item is checked before anything is written.

        Request ids missing from the prediction log are not recorded: they are listed in the report
        (``on_unknown="report"``), or nothing at all is recorded and :class:`NotFoundError` names them
        (``on_unknown="raise"``). Large inputs are written in transactions of 100,000 ids.
        """
        validate_deployment_name(deployment)
        if on_unknown not in ("report", "raise"):
            raise InvalidInputError(
                f"on_unknown must be 'report' or 'raise'. Got {on_unknown!r} instead.", on_unknown=on_unknown
            )
        self._deployments.get(deployment)
        pairs = _checked(deployment, values)
        chunks = [pairs[start : start + _CHUNK] for start in range(0, len(pairs), _CHUNK)]
        known_chunks = []
        unknown: list[str] = []
        for chunk in chunks:
            known = self._log.known_request_ids(deployment, [request_id for request_id, _value in chunk])
            known_chunks.append([pair for pair in chunk if pair[0] in known])
            unknown += [request_id for request_id, _value in chunk if request_id not in known]
        if unknown and on_unknown == "raise":
            raise NotFoundError(
                f"{len(unknown)} of {len(pairs)} request ids are not in the prediction log of deployment "
                f"{deployment!r}: {_names(unknown)}. Nothing was recorded. Feedback joins logged "
                "predictions; each prediction's response carries its request id.",
                kind="request",
                key=unknown[0],
                deployment=deployment,
                unknown=unknown,
            )
        received_ms = now_ms()
        replaced = sum(self._catalog.upsert(deployment, chunk, received_ms) for chunk in known_chunks)
        report = FeedbackReport(
            deployment=deployment,
            recorded=sum(map(len, known_chunks)),
            replaced=replaced,
            unknown=tuple(unknown),
        )
        if unknown:
            logger.warning("%s", report.summary())
        return report

    def get(
        self,
        deployment: str,
        request_ids: Sequence[str] | None = None,
        *,
        start: datetime | date | str | int | None = None,
        end: datetime | date | str | int | None = None,
    ) -> pd.DataFrame:
        """The feedback of ``deployment`` (of ``request_ids``, or received in ``[start, end)``), oldest
        first: columns ``request_id``, ``value`` and ``received_at`` (UTC)."""
        import pandas as pd

        from loopwright.serving.predictlog import epoch_ms

        validate_deployment_name(deployment)
        records = self._catalog.get(
            deployment,
            None if request_ids is None else list(request_ids),
            start_ms=epoch_ms(start, "start"),
            end_ms=epoch_ms(end, "end"),
        )
        return pd.DataFrame(
            {
                "request_id": pd.Series([record.request_id for record in records], dtype=object),
                "value": pd.Series([record.value for record in records], dtype=object),
                "received_at": pd.to_datetime([record.received_at for record in records], utc=True),
            }
        )


def _checked(deployment: str, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The items as ``(request_id, plain JSON value)``, the last of a repeated id kept; the first bad item
    raises :class:`InvalidInputError` naming it."""
    if isinstance(values, Mapping):
        items: Iterable[Any] = values.items()
    elif isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInputError(
            f"The feedback for deployment {deployment!r} must be a mapping of request ids to values or "
            f"(request_id, value) pairs. Got {type(values).__name__} instead.",
            field="values",
        )
    else:
        items = values
    pairs: dict[str, Any] = {}
    for position, item in enumerate(items):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidInputError(
                f"Feedback item {position} for deployment {deployment!r} must be a (request_id, value) pair. "
                f"Got {item!r} instead.",
                field="values",
                position=position,
            )
        request_id, value = item
        if not isinstance(request_id, str) or not request_id or len(request_id) > KEY_LENGTH:
            raise InvalidInputError(
                f"The request id of feedback item {position} for deployment {deployment!r} must be a "
                f"non-empty text of at most {KEY_LENGTH} characters. Got {request_id!r} instead.",
                field="request_id",
                position=position,
            )
        pairs.pop(request_id, None)  # a repeated id moves to its last position, with its last value
        pairs[request_id] = _plain_value(deployment, request_id, value)
    return list(pairs.items())


def _plain_value(deployment: str, request_id: str, value: Any) -> Any:
    if value is None:
        raise InvalidInputError(
            f"The feedback value of request {request_id!r} of deployment {deployment!r} must be a label or "
            "an outcome (a number, a text, a boolean, a list or a mapping). Got None instead.",
            field="value",
            request_id=request_id,
        )
    try:
        text = json.dumps(value, allow_nan=False, default=_scalar, ensure_ascii=False)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"The feedback value of request {request_id!r} of deployment {deployment!r} must be JSON: "
            f"finite numbers, texts, booleans, lists and mappings with text keys. Got {value!r} instead.",
            field="value",
            request_id=request_id,
        ) from None
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise InvalidInputError(
            f"The feedback value of request {request_id!r} of deployment {deployment!r} is "
            f"{len(text.encode()):,} bytes as JSON; the limit is {MAX_VALUE_BYTES:,}.",
            field="value",
            request_id=request_id,
        )
    return json.loads(text)


def _scalar(value: Any) -> Any:
    # numpy and pandas scalars (a label column read from a file); anything else is not JSON
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _names(request_ids: Sequence[str]) -> str:
    shown = ", ".join(map(repr, request_ids[:_SHOWN]))
    return shown + (f" and {len(request_ids) - _SHOWN} more" if len(request_ids) > _SHOWN else "")
