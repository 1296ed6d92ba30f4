"""Triggers, their firings and leases in the metadata store.

Kept apart from :mod:`loopwright.store.metadata` but on the same database and transaction rules. Two
guards make firing safe when several schedulers share a workspace, on SQLite and PostgreSQL alike:

- **A firing is claimed by inserting it.** ``(trigger_id, fire_key)`` is unique, and the key names the
  occasion (``cron:2026-11-28T03:00Z``, ``dataset:transactions:v4``), so of two schedulers that claim the
  same occasion exactly one inserts the row, and only that one starts a run.
- **A lease is taken or renewed by one conditional upsert:** insert the row, or, if it exists, take it over
  only when it is ours already or has expired. Schedulers hold a lease on each trigger while they evaluate
  and run it, so a trigger never runs twice at once, and a scheduler that dies loses its leases when they
  expire.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, literal, select, update

from loopwright.errors import ConflictError, InvalidInputError, NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import leases, pipeline_runs, pipelines, runs, trigger_firings, triggers

__all__ = [
    "FIRING_STATUSES",
    "MIN_TRIGGER_ID_PREFIX",
    "FiringRecord",
    "LeaseRecord",
    "TriggerCatalog",
    "TriggerRecord",
    "trigger_lease",
]

FIRING_STATUSES = ("running", "finished", "failed", "killed", "abandoned")
"""A firing is ``running`` from its claim until its run ends; ``killed`` when the scheduler was stopped
during the run, ``abandoned`` when its scheduler died (its lease expired) before recording the end."""

MIN_TRIGGER_ID_PREFIX = 4
"""Fewest characters of a trigger id that :meth:`TriggerCatalog.resolve_id` accepts as a prefix."""


def trigger_lease(trigger_id: str) -> str:
    """The name of the lease a scheduler holds on a trigger while it evaluates and runs it."""
    return f"trigger:{trigger_id}"


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A registered trigger: which pipeline (name and import reference) it starts, on what, with which
    parameters. ``origin`` is ``code`` (declared by the pipeline) or ``cli`` (``loopwright triggers add``)."""

    id: str
    pipeline: str
    ref: str
    kind: str
    spec: str
    params: dict[str, Any]
    enabled: bool
    origin: str
    created_at: datetime
    created_ms: int
    last_checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FiringRecord:
    """One firing of a trigger: the occasion (``fire_key``), why (``cause``), which scheduler claimed
    it and when, and how the run it started ended."""

    id: int
    trigger_id: str
    pipeline: str
    fire_key: str
    cause: str
    scheduler: str
    fired_at: datetime
    status: str
    run_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who holds a lease, and until when (epoch milliseconds)."""

    name: str
    holder: str
    expires_ms: int


class TriggerCatalog:
    """Triggers, firings and leases in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- triggers ------------------------------------------------------------------------------------

    def add(
        self,
        pipeline: str,
        ref: str,
        kind: str,
        spec: str,
        *,
        params: Mapping[str, Any] | None = None,
        origin: str = "cli",
    ) -> TriggerRecord:
        """Register a trigger; :class:`ConflictError` when ``pipeline`` has one of this kind and spec."""
        trigger_id = uuid.uuid4().hex
        values = {
            "id": trigger_id,
            "pipeline": pipeline,
            "ref": ref,
            "kind": kind,
            "spec": spec,
            "params": dict(params or {}),
            "enabled": True,
            "origin": origin,
            "created_ms": now_ms(),
        }
        with self._store._write() as connection:
            inserted = connection.execute(
                self._store._insert(triggers)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["pipeline", "kind", "spec"])
                .returning(triggers.c.id)
            ).scalar()
            if inserted is None:
                existing = connection.execute(
                    select(triggers.c.id, triggers.c.origin).where(
                        triggers.c.pipeline == pipeline, triggers.c.kind == kind, triggers.c.spec == spec
                    )
                ).one()
                raise ConflictError(
                    f"Pipeline {pipeline!r} already has a {kind} trigger {spec!r}: trigger {existing.id[:8]} "
                    f"(origin {existing.origin}). Remove it first to change its parameters.",
                    trigger_id=existing.id,
                )
        return self.get(trigger_id)

    def sync_code_triggers(
        self, pipeline: str, ref: str, specs: Sequence[tuple[str, str]]
    ) -> list[TriggerRecord]:
        """Make the ``code`` triggers of ``pipeline`` exactly ``specs`` (pairs of kind and spec), with
        reference ``ref``; returns them. A spec that a ``cli`` trigger already covers is left to it."""
        records = self.list_triggers(pipeline)
        covered = {(record.kind, record.spec) for record in records if record.origin != "code"}
        wanted = [spec for spec in dict.fromkeys(specs) if spec not in covered]
        current = [record for record in records if record.origin == "code"]
        have = {(record.kind, record.spec): record for record in current}
        if set(have) == set(wanted) and all(record.ref == ref for record in current):
            return [have[key] for key in wanted]  # the common case: one read, no write lock
        with self._store._write() as connection:
            stale = [record.id for record in current if (record.kind, record.spec) not in set(wanted)]
            if stale:
                connection.execute(delete(triggers).where(triggers.c.id.in_(stale)))
            connection.execute(
                update(triggers)
                .where(triggers.c.pipeline == pipeline, triggers.c.origin == "code", triggers.c.ref != ref)
                .values(ref=ref)
            )
            for kind, spec in wanted:
                connection.execute(
                    self._store._insert(triggers)
                    .values(
                        id=uuid.uuid4().hex,
                        pipeline=pipeline,
                        ref=ref,
                        kind=kind,
                        spec=spec,
                        params={},
                        enabled=True,
                        origin="code",
                        created_ms=now_ms(),
                    )
                    .on_conflict_do_nothing(index_elements=["pipeline", "kind", "spec"])
                )
        return [
            record
            for record in self.list_triggers(pipeline)
            if record.origin == "code" and (record.kind, record.spec) in set(wanted)
        ]

    def list_triggers(
        self, pipeline: str | None = None, *, enabled_only: bool = False
    ) -> list[TriggerRecord]:
        """Triggers, by pipeline then age (all pipelines unless ``pipeline`` is given)."""
        statement = select(triggers).order_by(triggers.c.pipeline, triggers.c.created_ms, triggers.c.id)
        if pipeline is not None:
            statement = statement.where(triggers.c.pipeline == pipeline)
        if enabled_only:
            statement = statement.where(triggers.c.enabled.is_(True))
        with self._store._read() as connection:
            return [_trigger(row) for row in connection.execute(statement)]

    def get(self, trigger_id: str) -> TriggerRecord:
        """The trigger with this exact id; :class:`NotFoundError` if there is none."""
        with self._store._read() as connection:
            row = connection.execute(select(triggers).where(triggers.c.id == trigger_id)).first()
        if row is None:
            raise NotFoundError(
                f"Trigger {trigger_id!r} does not exist. List triggers with `loopwright triggers list`.",
                kind="trigger",
                key=trigger_id,
            )
        return _trigger(row)

    def resolve_id(self, trigger_id: str) -> str:
        """The full id of the trigger that ``trigger_id`` names: a whole id or a unique prefix of at least
        :data:`MIN_TRIGGER_ID_PREFIX` characters."""
        if len(trigger_id) < MIN_TRIGGER_ID_PREFIX:
            raise InvalidInputError(
                f"A trigger id prefix needs at least {MIN_TRIGGER_ID_PREFIX} characters. Got {trigger_id!r} "
                "instead.",
                trigger_id=trigger_id,
            )
        # Escaped, so that '%' and '_' in the text match themselves.
        pattern = trigger_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._store._read() as connection:
            found = list(
                connection.execute(
                    select(triggers.c.id)
                    .where(triggers.c.id.like(pattern, escape="\\"))
                    .order_by(triggers.c.id)
                    .limit(11)
                ).scalars()
            )
        if trigger_id in found:
            return trigger_id
        if not found:
            raise NotFoundError(
                f"No trigger has an id starting with {trigger_id!r}. List triggers with "
                "`loopwright triggers list`.",
                kind="trigger",
                key=trigger_id,
            )
        if len(found) > 1:
            raise InvalidInputError(
                f"The trigger id prefix {trigger_id!r} is ambiguous: it matches {', '.join(found[:10])}"
                f"{' and more' if len(found) > 10 else ''}. Give more characters of the id.",
                trigger_id=trigger_id,
            )
        return str(found[0])

    def remove(self, trigger_id: str) -> TriggerRecord:
        """Delete a trigger with its firings; returns what it was."""
        record = self.get(trigger_id)
        with self._store._write() as connection:
            connection.execute(delete(triggers).where(triggers.c.id == trigger_id))
        return record

    def mark_checked(self, trigger_ids: Iterable[str], at_ms: int) -> None:
        """Record that a scheduler looked at these triggers at ``at_ms`` (shown by ``triggers list``)."""
        ids = list(trigger_ids)
        if not ids:
            return
        with self._store._write() as connection:
            connection.execute(update(triggers).where(triggers.c.id.in_(ids)).values(last_checked_ms=at_ms))

    # --- firings -------------------------------------------------------------------------------------

    def has_fired(self, trigger_id: str, fire_key: str) -> bool:
        """Whether the occasion ``fire_key`` of the trigger was claimed already (by any scheduler)."""
        with self._store._read() as connection:
            found = connection.execute(
                select(trigger_firings.c.id).where(
                    trigger_firings.c.trigger_id == trigger_id, trigger_firings.c.fire_key == fire_key
                )
            ).first()
        return found is not None

    def claim_firing(
        self, trigger_id: str, fire_key: str, *, cause: str, scheduler: str, fired_ms: int | None = None
    ) -> FiringRecord | None:
        """Record a firing in status ``running``, or return ``None`` when the occasion was claimed
        already: the insert is the guard, so of any number of concurrent claims exactly one succeeds."""
        with self._store._write() as connection:
            firing_id = connection.execute(
                self._store._insert(trigger_firings)
                .values(
                    trigger_id=trigger_id,
                    fire_key=fire_key,
                    cause=cause,
                    scheduler=scheduler,
                    fired_ms=fired_ms if fired_ms is not None else now_ms(),
                    status="running",
                )
                .on_conflict_do_nothing(index_elements=["trigger_id", "fire_key"])
                .returning(trigger_firings.c.id)
            ).scalar()
        return None if firing_id is None else self.get_firing(int(firing_id))

    def finish_firing(
        self, firing_id: int, status: str, *, run_id: str | None = None, error: str | None = None
    ) -> FiringRecord:
        """Record how the run of a firing ended (``finished``, ``failed`` or ``killed``)."""
        if status not in FIRING_STATUSES:
            raise InvalidInputError(
                f"A firing's status must be one of {', '.join(FIRING_STATUSES)}. Got {status!r} instead.",
                status=status,
            )
        with self._store._write() as connection:
            if run_id is not None:
                # The run may belong to another workspace's store or be gone: keep the firing consistent.
                known = connection.execute(select(runs.c.id).where(runs.c.id == run_id)).first()
                run_id = run_id if known is not None else None
            connection.execute(
                update(trigger_firings)
                .where(trigger_firings.c.id == firing_id)
                .values(status=status, run_id=run_id, error=error)
            )
        return self.get_firing(firing_id)

    def get_firing(self, firing_id: int) -> FiringRecord:
        """One firing by id."""
        with self._store._read() as connection:
            row = connection.execute(_firing_query().where(trigger_firings.c.id == firing_id)).first()
        if row is None:
            raise NotFoundError(f"Firing {firing_id} does not exist.", kind="firing", key=str(firing_id))
        return _firing(row)

    def firings(self, trigger_id: str | None = None, *, limit: int | None = 50) -> list[FiringRecord]:
        """Firings, newest first (of one trigger when ``trigger_id`` is given)."""
        statement = _firing_query().order_by(trigger_firings.c.fired_ms.desc(), trigger_firings.c.id.desc())
        if trigger_id is not None:
            statement = statement.where(trigger_firings.c.trigger_id == trigger_id)
        if limit is not None:
            statement = statement.limit(limit)
        with self._store._read() as connection:
            return [_firing(row) for row in connection.execute(statement)]

    def last_firings(self) -> dict[str, FiringRecord]:
        """The latest firing of each trigger that has fired, by trigger id."""
        newest = (
            select(func.max(trigger_firings.c.id)).group_by(trigger_firings.c.trigger_id).scalar_subquery()
        )
        with self._store._read() as connection:
            rows = connection.execute(_firing_query().where(trigger_firings.c.id.in_(newest)))
            return {row.trigger_id: _firing(row) for row in rows}

    def abandon_stale_firings(self, at_ms: int | None = None) -> list[FiringRecord]:
        """Mark ``abandoned`` every running firing whose scheduler no longer holds the trigger's lease
        (it died, or froze past the lease): nobody will record how its run ended."""
        at_ms = at_ms if at_ms is not None else now_ms()
        held = select(leases.c.name).where(
            leases.c.name == literal("trigger:") + trigger_firings.c.trigger_id,
            leases.c.holder == trigger_firings.c.scheduler,
            leases.c.expires_ms > at_ms,
        )
        stale = and_(trigger_firings.c.status == "running", ~held.exists())
        with self._store._read() as connection:
            ids = list(connection.execute(select(trigger_firings.c.id).where(stale)).scalars())
        if not ids:
            return []  # the common case takes no write lock
        with self._store._write() as connection:
            connection.execute(
                update(trigger_firings)
                .where(trigger_firings.c.id.in_(ids), stale)
                .values(
                    status="abandoned",
                    error="The scheduler that started this run stopped before recording its end "
                    "(its lease on the trigger expired). See the run itself for how it ended.",
                )
            )
        return [firing for firing in map(self.get_firing, ids) if firing.status == "abandoned"]

    def find_pipeline_run(self, pipeline: str, cause: str, since_ms: int) -> str | None:
        """The newest run of ``pipeline`` started since ``since_ms`` with this trigger cause (how a
        firing finds its run when the runner could not say)."""
        statement = (
            select(runs.c.id)
            .join(pipeline_runs, pipeline_runs.c.run_id == runs.c.id)
            .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
            .where(
                pipelines.c.name == pipeline,
                pipeline_runs.c.trigger_cause == cause,
                runs.c.start_ms >= since_ms,
            )
            .order_by(runs.c.start_ms.desc())
            .limit(1)
        )
        with self._store._read() as connection:
            found = connection.execute(statement).scalar()
        return None if found is None else str(found)

    # --- leases --------------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_ms: int, *, at_ms: int | None = None) -> bool:
        """Take or renew lease ``name`` for ``holder`` until ``at_ms + ttl_ms``; false when another
        holder has it and it has not expired. One statement in one transaction, race-safe on both
        backends: the row is inserted, or updated only if it is ours or expired."""
        at_ms = at_ms if at_ms is not None else now_ms()
        statement = self._store._insert(leases).values(name=name, holder=holder, expires_ms=at_ms + ttl_ms)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": statement.excluded.holder, "expires_ms": statement.excluded.expires_ms},
            where=(leases.c.holder == holder) | (leases.c.expires_ms <= at_ms),
        )
        with self._store._write() as connection:
            connection.execute(statement)
            current = connection.execute(select(leases.c.holder).where(leases.c.name == name)).scalar()
        return current == holder

    def release_lease(self, name: str, holder: str) -> bool:
        """Give lease ``name`` up if ``holder`` has it; false when it was not (or no longer) theirs."""
        with self._store._write() as connection:
            result = connection.execute(
                delete(leases).where(leases.c.name == name, leases.c.holder == holder)
            )
        return bool(result.rowcount)

    def lease(self, name: str) -> LeaseRecord | None:
        """Lease ``name`` as stored (possibly expired), or ``None``."""
        with self._store._read() as connection:
            row = connection.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else LeaseRecord(row.name, row.holder, int(row.expires_ms))


def _trigger(row: Row[Any]) -> TriggerRecord:
    created_at = from_ms(row.created_ms)
    assert created_at is not None
    return TriggerRecord(
        id=row.id,
        pipeline=row.pipeline,
        ref=row.ref,
        kind=row.kind,
        spec=row.spec,
        params=dict(row.params or {}),
        enabled=bool(row.enabled),
        origin=row.origin,
        created_at=created_at,
        created_ms=int(row.created_ms),
        last_checked_at=from_ms(row.last_checked_ms),
    )


def _firing_query() -> Any:
    return select(trigger_firings, triggers.c.pipeline).join(
        triggers, triggers.c.id == trigger_firings.c.trigger_id
    )


def _firing(row: Row[Any]) -> FiringRecord:
    fired_at = from_ms(row.fired_ms)
    assert fired_at is not None
    return FiringRecord(
        id=int(row.id),
        trigger_id=row.trigger_id,
        pipeline=row.pipeline,
        fire_key=row.fire_key,
        cause=row.cause,
        scheduler=row.scheduler,
        fired_at=fired_at,
        status=row.status,
        run_id=row.run_id,
        error=row.error,
    )
