"""Feedback (labels and outcomes that arrive after a prediction), in the metadata store.

On the metadata store's database and transaction rules, like :mod:`loopwright.store.models`. A request id
holds one value per deployment: recording it again replaces it (an upsert on ``(deployment,
request_id)``), so a corrected label wins and a retried upload changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from loopwright.store.metadata import MetadataStore
from loopwright.store.records import from_ms
from loopwright.store.schema import feedback

__all__ = ["FeedbackCatalog", "FeedbackRecord"]

_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One label or outcome of one request of a deployment."""

    deployment: str
    request_id: str
    value: Any
    received_at: datetime


class FeedbackCatalog:
    """Feedback by deployment and request id, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def upsert(self, deployment: str, values: Sequence[tuple[str, Any]], received_ms: int) -> int:
        """Record ``(request_id, value)`` pairs (request ids unique among them) in one transaction,
        replacing earlier values of the same ids. Returns how many of the ids had a value already."""
        if not values:
            return 0
        statement = self._store._insert(feedback)
        statement = statement.on_conflict_do_update(
            index_elements=["deployment", "request_id"],
            set_={"value": statement.excluded.value, "received_ms": statement.excluded.received_ms},
        )
        rows = [
            {"deployment": deployment, "request_id": request_id, "value": value, "received_ms": received_ms}
            for request_id, value in values
        ]
        with self._store._write() as connection:
            replaced = 0
            for start in range(0, len(values), _IN_CHUNK):
                ids = [request_id for request_id, _value in values[start : start + _IN_CHUNK]]
                replaced += connection.execute(
                    select(func.count())
                    .select_from(feedback)
                    .where(feedback.c.deployment == deployment, feedback.c.request_id.in_(ids))
                ).scalar_one()
            connection.execute(statement, rows)
        return replaced

    def get(
        self,
        deployment: str,
        request_ids: Sequence[str] | None = None,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[FeedbackRecord]:
        """The feedback of ``deployment``: of the given request ids, or received in ``[start_ms, end_ms)``;
        oldest first."""
        where = [feedback.c.deployment == deployment]
        if start_ms is not None:
            where.append(feedback.c.received_ms >= start_ms)
        if end_ms is not None:
            where.append(feedback.c.received_ms < end_ms)
        query = select(feedback).where(*where)
        with self._store._read() as connection:
            if request_ids is None:
                rows = connection.execute(query.order_by(feedback.c.received_ms, feedback.c.id)).all()
            else:
                rows = []
                for start in range(0, len(request_ids), _IN_CHUNK):
                    chunk = request_ids[start : start + _IN_CHUNK]
                    rows += connection.execute(query.where(feedback.c.request_id.in_(chunk))).all()
                rows.sort(key=lambda row: (row.received_ms, row.id))
        return [
            FeedbackRecord(
                deployment=row.deployment,
                request_id=row.request_id,
                value=row.value,
                received_at=from_ms(row.received_ms),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    def count(self, deployment: str) -> int:
        """How many request ids of ``deployment`` have feedback."""
        with self._store._read() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(feedback).where(feedback.c.deployment == deployment)
                ).scalar_one()
            )
