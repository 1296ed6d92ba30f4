"""Retraining policies and the record of each retraining, in the metadata store.

On the metadata store's database and transaction rules, like :mod:`loopwright.store.rollouts`. A policy is
stored as JSON (one per deployment, as promotion policies are); what it means is
:mod:`loopwright.automation.retraining`'s business. A retraining is recorded when it starts and updated
as each of its steps finishes, so a failure halfway leaves the steps that happened on record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from loopwright.errors import NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import retraining_policies, retrainings

__all__ = ["RETRAINING_STATUSES", "RetrainingRecord", "RetrainingStore"]

RETRAINING_STATUSES = ("running", "rolling_out", "rejected", "failed")
"""A retraining is ``running`` until its candidate goes out (``rolling_out``: the rollout decides the
rest), fails its gates (``rejected``), or a step fails (``failed``, with the error)."""


@dataclass(frozen=True, slots=True)
class RetrainingRecord:
    """One retraining of ``deployment``: why it ran (``cause``), the data version it trained on
    (``dataset``, ``name:version``), the pipeline run, the candidate registered (``model``, ``version``),
    the gates' report, the rollout it started, and how it ended."""

    id: int
    deployment: str
    cause: str
    status: str
    dataset: str | None
    pipeline_run_id: str | None
    model: str | None
    version: int | None
    gates: dict[str, Any] | None
    rollout_id: int | None
    error: str | None
    started_ms: int
    ended_ms: int | None

    @property
    def started_at(self) -> datetime:
        """When it started (UTC)."""
        return from_ms(self.started_ms)  # type: ignore[return-value]

    @property
    def ended_at(self) -> datetime | None:
        """When it ended (UTC), or ``None`` while it runs."""
        return from_ms(self.ended_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO text)."""
        return {
            "id": self.id,
            "deployment": self.deployment,
            "cause": self.cause,
            "status": self.status,
            "dataset": self.dataset,
            "pipeline_run_id": self.pipeline_run_id,
            "model": self.model,
            "version": self.version,
            "gates": self.gates,
            "rollout": self.rollout_id,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
        }


class RetrainingStore:
    """Retraining policies and retrainings, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- policies ----------------------------------------------------------------------------------

    def set_policy(self, deployment: str, policy: Mapping[str, Any], user: str | None) -> bool:
        """Store the policy of ``deployment`` (replacing its old one); whether anything changed."""
        body = dict(policy)
        moment = now_ms()
        with self._store._write() as connection:
            row = connection.execute(
                select(retraining_policies).where(retraining_policies.c.deployment == deployment)
            ).first()
            if row is None:
                connection.execute(
                    self._store._insert(retraining_policies)
                    .values(
                        deployment=deployment,
                        policy=body,
                        created_by=user,
                        created_ms=moment,
                        updated_ms=moment,
                    )
                    .on_conflict_do_update(
                        index_elements=["deployment"], set_={"policy": body, "updated_ms": moment}
                    )
                )
                return True
            if dict(row.policy) == body:
                return False
            connection.execute(
                update(retraining_policies)
                .where(retraining_policies.c.id == row.id)
                .values(policy=body, created_by=user, updated_ms=moment)
            )
        return True

    def policy(self, deployment: str) -> dict[str, Any] | None:
        """The stored policy of ``deployment``, or ``None``."""
        with self._store._read() as connection:
            found = connection.execute(
                select(retraining_policies.c.policy).where(retraining_policies.c.deployment == deployment)
            ).scalar()
        return None if found is None else dict(found)

    def policies(self) -> dict[str, dict[str, Any]]:
        """Every stored policy, by deployment."""
        statement = select(retraining_policies.c.deployment, retraining_policies.c.policy).order_by(
            retraining_policies.c.deployment
        )
        with self._store._read() as connection:
            return {row.deployment: dict(row.policy) for row in connection.execute(statement)}

    def delete_policy(self, deployment: str) -> bool:
        """Remove the policy of ``deployment``; whether it had one."""
        with self._store._write() as connection:
            result = connection.execute(
                delete(retraining_policies).where(retraining_policies.c.deployment == deployment)
            )
        return bool(result.rowcount)

    # --- retrainings -------------------------------------------------------------------------------

    def start(self, deployment: str, cause: str, *, at_ms: int) -> RetrainingRecord:
        """Record a retraining of ``deployment`` that starts now, ``running``."""
        with self._store._write() as connection:
            retraining_id = connection.execute(
                insert(retrainings)
                .values(deployment=deployment, cause=cause, status="running", started_ms=at_ms)
                .returning(retrainings.c.id)
            ).scalar_one()
        return self.get(retraining_id)

    def update(self, retraining_id: int, *, at_ms: int | None = None, **fields: Any) -> RetrainingRecord:
        """Set ``fields`` of a retraining (``dataset``, ``pipeline_run_id``, ``model``, ``version``,
        ``gates``, ``rollout_id``, ``status``, ``error``); a final status stamps its end (``at_ms``)."""
        values = dict(fields)
        if values.get("status", "running") != "running":
            values["ended_ms"] = at_ms if at_ms is not None else now_ms()
        with self._store._write() as connection:
            connection.execute(update(retrainings).where(retrainings.c.id == retraining_id).values(**values))
        return self.get(retraining_id)

    def get(self, retraining_id: int) -> RetrainingRecord:
        """Retraining ``retraining_id``; :class:`NotFoundError` if there is none."""
        with self._store._read() as connection:
            row = connection.execute(select(retrainings).where(retrainings.c.id == retraining_id)).first()
        if row is None:
            raise NotFoundError(
                f"Retraining {retraining_id} does not exist.", kind="retraining", key=str(retraining_id)
            )
        return _record(row)

    def list_retrainings(
        self, deployment: str | None = None, *, limit: int | None = 100
    ) -> list[RetrainingRecord]:
        """Retrainings, newest first (of one deployment when given)."""
        statement = select(retrainings).order_by(retrainings.c.id.desc())
        if deployment is not None:
            statement = statement.where(retrainings.c.deployment == deployment)
        if limit is not None:
            statement = statement.limit(limit)
        with self._store._read() as connection:
            return [_record(row) for row in connection.execute(statement)]

    def for_rollout(self, rollout_id: int) -> RetrainingRecord | None:
        """The retraining that started rollout ``rollout_id``, or ``None``."""
        with self._store._read() as connection:
            row = connection.execute(
                select(retrainings).where(retrainings.c.rollout_id == rollout_id)
            ).first()
        return None if row is None else _record(row)


def _record(row: Row[Any]) -> RetrainingRecord:
    return RetrainingRecord(
        id=row.id,
        deployment=row.deployment,
        cause=row.cause,
        status=row.status,
        dataset=row.dataset,
        pipeline_run_id=row.pipeline_run_id,
        model=row.model,
        version=row.version,
        gates=None if row.gates is None else dict(row.gates),
        rollout_id=row.rollout_id,
        error=row.error,
        started_ms=row.started_ms,
        ended_ms=row.ended_ms,
    )
