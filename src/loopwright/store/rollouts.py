"""Rollouts and their events in the metadata store.

Kept apart from :mod:`loopwright.store.metadata` but on the same database and transaction rules. What a
rollout *does* (its plan, the analysis, the deployment changes) is :mod:`loopwright.automation`'s
business; this module keeps the records and gives the controller the guarantees it needs from the
database:

- **One active rollout per deployment.** ``active_deployment`` holds the deployment's name while the
  rollout is active and ``NULL`` once it ended; a unique constraint on it refuses a second active rollout
  on SQLite and PostgreSQL alike (``NULL``\\ s never collide), however many processes start one at once.
- **Every change is a compare-and-swap** on ``revision`` (``UPDATE … WHERE revision = r``) in the
  transaction that appends the change's events, so two controllers can never both advance one step, and
  the history never shows a decision made on a state that was gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import ConflictError, NotFoundError
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import from_ms
from loopwright.store.schema import rollout_events, rollouts

__all__ = [
    "ACTIVE",
    "ENDED_STATUSES",
    "ROLLOUT_STATUSES",
    "EventDraft",
    "RolloutEvent",
    "RolloutRecord",
    "RolloutStore",
]

ACTIVE = "active"
ENDED_STATUSES = ("promoted", "rolled_back", "aborted")
ROLLOUT_STATUSES = (ACTIVE, *ENDED_STATUSES)
"""A rollout is ``active`` until it ends ``promoted`` (every step passed), ``rolled_back`` (an analysis
failed, or the deployment changed under it) or ``aborted`` (by a person)."""


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """One rollout: version ``candidate`` of ``model`` going out on ``deployment`` under ``plan`` (its
    stored form), against ``baseline`` (the version production served when it started). ``step`` is the
    index of the current step (``len(plan["steps"])`` once every step passed and the promotion is
    pending), entered at ``step_started_at``. ``state`` holds the latest analysis and what the controller
    carries from step to step; ``reason`` says why an ended rollout ended."""

    id: int
    deployment: str
    model: str
    candidate: int
    baseline: int | None
    alias: str | None
    plan: dict[str, Any]
    status: str
    step: int
    step_started_ms: int
    state: dict[str, Any]
    cause: str | None
    reason: str | None
    created_by: str | None
    revision: int
    created_ms: int
    updated_ms: int
    ended_ms: int | None

    @property
    def active(self) -> bool:
        """Whether the controller still advances it."""
        return self.status == ACTIVE

    @property
    def created_at(self) -> datetime:
        """When it started (UTC)."""
        return from_ms(self.created_ms)  # type: ignore[return-value]

    @property
    def ended_at(self) -> datetime | None:
        """When it ended (UTC), or ``None`` while it is active."""
        return from_ms(self.ended_ms)

    @property
    def step_started_at(self) -> datetime:
        """When the current step began (UTC)."""
        return from_ms(self.step_started_ms)  # type: ignore[return-value]

    @property
    def steps(self) -> int:
        """How many steps the plan has."""
        return len(self.plan.get("steps", []))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO text), e.g. for JSON."""
        return {
            "id": self.id,
            "deployment": self.deployment,
            "model": self.model,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "alias": self.alias,
            "status": self.status,
            "step": self.step,
            "steps": self.steps,
            "step_started_at": self.step_started_at.isoformat(),
            "plan": self.plan,
            "state": self.state,
            "cause": self.cause,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """One recorded step, measurement or decision of a rollout: ``kind`` (``started``, ``step``,
    ``analysis``, ``promotion_blocked``, ``promoted``, ``rolled_back``, ``aborted``), the step it belongs
    to, a message for people, ``details`` for programs (an analysis holds every check with its value,
    threshold and sample size) and how each notification channel took it (``notified``)."""

    id: int
    rollout_id: int
    kind: str
    step: int | None
    message: str
    details: dict[str, Any] | None
    notified: dict[str, Any] | None
    created_ms: int

    @property
    def created_at(self) -> datetime:
        """When it happened (UTC; the controller's ``now``)."""
        return from_ms(self.created_ms)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the time as ISO text)."""
        return {
            "id": self.id,
            "rollout": self.rollout_id,
            "kind": self.kind,
            "step": self.step,
            "message": self.message,
            "details": self.details,
            "notified": self.notified,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to record with a change: what :meth:`RolloutStore.create` and :meth:`RolloutStore.update`
    append in their transaction."""

    kind: str
    message: str
    step: int | None = None
    details: Mapping[str, Any] | None = None


class RolloutStore:
    """Rollouts and their events, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- writing -----------------------------------------------------------------------------------

    def create(
        self,
        fields: Mapping[str, Any],
        events: Sequence[EventDraft],
        *,
        at_ms: int,
    ) -> tuple[RolloutRecord, list[RolloutEvent]]:
        """Record a new active rollout (``deployment``, ``model``, ``candidate``, ``baseline``, ``alias``,
        ``plan``, ``step``, ``step_started_ms``, ``state``, ``cause``, ``created_by``) with its first
        events; :class:`ConflictError` naming the active one when the deployment has one already."""
        deployment = str(fields["deployment"])
        try:
            with self._store._write() as connection:
                rollout_id = connection.execute(
                    insert(rollouts)
                    .values(
                        **fields,
                        active_deployment=deployment,
                        status=ACTIVE,
                        revision=1,
                        created_ms=at_ms,
                        updated_ms=at_ms,
                    )
                    .returning(rollouts.c.id)
                ).scalar_one()
                event_ids = self._append(connection, rollout_id, events, at_ms)
        except IntegrityError:
            active = self.find_active(deployment)
            where = f" (rollout {active.id}, version {active.candidate})" if active is not None else ""
            raise ConflictError(
                f"Deployment {deployment!r} has an active rollout already{where}. Wait for it to end, or "
                f"abort it first: `loopwright rollouts abort {active.id if active else 'ID'}`.",
                deployment=deployment,
            ) from None
        return self.get(rollout_id), self._events_by_id(event_ids)

    def update(
        self,
        record: RolloutRecord,
        fields: Mapping[str, Any],
        events: Sequence[EventDraft] = (),
        *,
        at_ms: int,
    ) -> tuple[RolloutRecord, list[RolloutEvent]]:
        """Set ``fields`` (``status``, ``step``, ``step_started_ms``, ``state``, ``reason``) of the rollout
        and append ``events``, atomically, if it is still at ``record.revision``; else
        :class:`ConflictError` and nothing changes. An ended status frees the deployment for the next
        rollout and stamps the end."""
        values = dict(fields)
        if values.get("status", ACTIVE) != ACTIVE:
            values.update(active_deployment=None, ended_ms=at_ms)
        with self._store._write() as connection:
            result = connection.execute(
                update(rollouts)
                .where(rollouts.c.id == record.id, rollouts.c.revision == record.revision)
                .values(revision=record.revision + 1, updated_ms=at_ms, **values)
            )
            if result.rowcount != 1:
                raise ConflictError(
                    f"Rollout {record.id} of deployment {record.deployment!r} was changed by another process "
                    "while this change was being decided; nothing was changed.",
                    rollout=record.id,
                )
            event_ids = self._append(connection, record.id, events, at_ms)
        return self.get(record.id), self._events_by_id(event_ids)

    def record_notification(self, event_id: int, notified: Mapping[str, Any]) -> None:
        """Store how the channels took event ``event_id``."""
        with self._store._write() as connection:
            connection.execute(
                update(rollout_events).where(rollout_events.c.id == event_id).values(notified=dict(notified))
            )

    @staticmethod
    def _append(
        connection: Connection, rollout_id: int, events: Sequence[EventDraft], at_ms: int
    ) -> list[int]:
        ids = []
        for event in events:
            ids.append(
                connection.execute(
                    insert(rollout_events)
                    .values(
                        rollout_id=rollout_id,
                        kind=event.kind,
                        step=event.step,
                        message=event.message,
                        details=None if event.details is None else dict(event.details),
                        created_ms=at_ms,
                    )
                    .returning(rollout_events.c.id)
                ).scalar_one()
            )
        return ids

    # --- reading -----------------------------------------------------------------------------------

    def get(self, rollout_id: int) -> RolloutRecord:
        """Rollout ``rollout_id``; :class:`NotFoundError` if there is none."""
        with self._store._read() as connection:
            row = connection.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
        if row is None:
            raise NotFoundError(
                f"Rollout {rollout_id} does not exist. List rollouts with `loopwright rollouts list`.",
                kind="rollout",
                key=str(rollout_id),
            )
        return _record(row)

    def find_active(self, deployment: str) -> RolloutRecord | None:
        """The active rollout of ``deployment``, or ``None``."""
        with self._store._read() as connection:
            row = connection.execute(
                select(rollouts).where(rollouts.c.active_deployment == deployment)
            ).first()
        return None if row is None else _record(row)

    def list_rollouts(
        self, *, deployment: str | None = None, status: str | None = None, limit: int | None = 100
    ) -> list[RolloutRecord]:
        """Rollouts, newest first (of one deployment, with one status, when given)."""
        statement = select(rollouts).order_by(rollouts.c.id.desc())
        if deployment is not None:
            statement = statement.where(rollouts.c.deployment == deployment)
        if status is not None:
            statement = statement.where(rollouts.c.status == status)
        if limit is not None:
            statement = statement.limit(limit)
        with self._store._read() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def active(self) -> list[RolloutRecord]:
        """Every active rollout, oldest first (the order the controller advances them in)."""
        statement = select(rollouts).where(rollouts.c.status == ACTIVE).order_by(rollouts.c.id)
        with self._store._read() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def events(self, rollout_id: int) -> list[RolloutEvent]:
        """Every event of rollout ``rollout_id``, oldest first."""
        statement = (
            select(rollout_events)
            .where(rollout_events.c.rollout_id == rollout_id)
            .order_by(rollout_events.c.id)
        )
        with self._store._read() as connection:
            return [_event(row) for row in connection.execute(statement)]

    def _events_by_id(self, ids: Sequence[int]) -> list[RolloutEvent]:
        if not ids:
            return []
        statement = select(rollout_events).where(rollout_events.c.id.in_(ids)).order_by(rollout_events.c.id)
        with self._store._read() as connection:
            return [_event(row) for row in connection.execute(statement)]


def _record(row: Row[Any]) -> RolloutRecord:
    return RolloutRecord(
        id=row.id,
        deployment=row.deployment,
        model=row.model,
        candidate=row.candidate,
        baseline=row.baseline,
        alias=row.alias,
        plan=dict(row.plan),
        status=row.status,
        step=row.step,
        step_started_ms=row.step_started_ms,
        state=dict(row.state or {}),
        cause=row.cause,
        reason=row.reason,
        created_by=row.created_by,
        revision=row.revision,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        ended_ms=row.ended_ms,
    )


def _event(row: Row[Any]) -> RolloutEvent:
    return RolloutEvent(
        id=row.id,
        rollout_id=row.rollout_id,
        kind=row.kind,
        step=row.step,
        message=row.message,
        details=None if row.details is None else dict(row.details),
        notified=None if row.notified is None else dict(row.notified),
        created_ms=row.created_ms,
    )
