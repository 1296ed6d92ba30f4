"""What promotion decisions rest on, in the metadata store: evaluations, policies, approvals and roles.

Kept apart from :mod:`loopwright.store.models` (versions and aliases): these are the evidence a promotion
weighs, each written once and read by the gates. Same database, same transaction rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.exc import IntegrityError

from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import (
    approvals,
    evaluations,
    model_versions,
    models,
    promotion_policies,
    user_roles,
)

__all__ = ["ApprovalRecord", "EvaluationRecord", "PromotionStore", "RoleGrant"]


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    """A stored evaluation of a model version on a dataset version.

    ``metrics`` holds the overall values; ``segment_metrics`` maps each segment column to its values, and
    each value (as text) to its metrics and ``rows``.
    """

    id: str
    model: str
    version: int
    model_version_id: str
    dataset_version_id: str | None
    dataset: str
    target: str
    task: str
    segments: list[str]
    num_rows: int
    metrics: dict[str, Any]
    segment_metrics: dict[str, dict[str, dict[str, Any]]]
    created_at: datetime
    run_id: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A person's approval of one model version for one alias."""

    model_version_id: str
    alias: str
    user: str
    created_at: datetime
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """One role held by one user of the workspace."""

    user: str
    role: str
    created_at: datetime
    granted_by: str | None = None


class PromotionStore:
    """Evaluations, promotion policies, approvals and user roles, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- evaluations -----------------------------------------------------------------------------------

    def add_evaluation(
        self,
        model_version_id: str,
        *,
        dataset_version_id: str | None,
        dataset: str,
        target: str,
        task: str,
        segments: Sequence[str],
        num_rows: int,
        metrics: Mapping[str, Any],
        segment_metrics: Mapping[str, Any],
        run_id: str | None,
        created_by: str | None,
    ) -> EvaluationRecord:
        """Store one evaluation and return it."""
        evaluation_id = uuid.uuid4().hex
        with self._store._write() as connection:
            connection.execute(
                insert(evaluations).values(
                    id=evaluation_id,
                    model_version_id=model_version_id,
                    dataset_version_id=dataset_version_id,
                    dataset=dataset,
                    target=target,
                    task=task,
                    segments=list(segments),
                    num_rows=num_rows,
                    metrics=dict(metrics),
                    segment_metrics=dict(segment_metrics),
                    run_id=run_id,
                    created_by=created_by,
                    created_ms=now_ms(),
                )
            )
        return self.evaluations(evaluation_id=evaluation_id)[0]

    def evaluations(
        self,
        *,
        model_version_id: str | None = None,
        model_id: int | None = None,
        dataset_version_id: str | None = None,
        evaluation_id: str | None = None,
    ) -> list[EvaluationRecord]:
        """Stored evaluations matching every given filter, oldest first."""
        statement = (
            select(evaluations, models.c.name.label("model_name"), model_versions.c.version)
            .join(model_versions, model_versions.c.id == evaluations.c.model_version_id)
            .join(models, models.c.id == model_versions.c.model_id)
        )
        if model_version_id is not None:
            statement = statement.where(evaluations.c.model_version_id == model_version_id)
        if model_id is not None:
            statement = statement.where(model_versions.c.model_id == model_id)
        if dataset_version_id is not None:
            statement = statement.where(evaluations.c.dataset_version_id == dataset_version_id)
        if evaluation_id is not None:
            statement = statement.where(evaluations.c.id == evaluation_id)
        statement = statement.order_by(evaluations.c.created_ms, evaluations.c.id)
        with self._store._read() as connection:
            return [_evaluation(row) for row in connection.execute(statement)]

    # --- policies --------------------------------------------------------------------------------------

    def set_policy(self, model_id: int, alias: str, body: Mapping[str, Any], user: str | None) -> None:
        """Store (or replace) the policy of one alias of a model."""
        statement = self._store._insert(promotion_policies).values(
            model_id=model_id, alias=alias, body=dict(body), updated_by=user, updated_ms=now_ms()
        )
        statement = statement.on_conflict_do_update(
            index_elements=["model_id", "alias"],
            set_={
                "body": statement.excluded.body,
                "updated_by": statement.excluded.updated_by,
                "updated_ms": statement.excluded.updated_ms,
            },
        )
        with self._store._write() as connection:
            connection.execute(statement)

    def delete_policy(self, model_id: int, alias: str) -> bool:
        """Remove the policy of one alias; whether there was one."""
        with self._store._write() as connection:
            result = connection.execute(
                promotion_policies.delete().where(
                    promotion_policies.c.model_id == model_id, promotion_policies.c.alias == alias
                )
            )
        return bool(result.rowcount)

    def policies(self, model_id: int) -> dict[str, dict[str, Any]]:
        """Every stored policy of a model, by alias."""
        with self._store._read() as connection:
            rows = connection.execute(
                select(promotion_policies.c.alias, promotion_policies.c.body)
                .where(promotion_policies.c.model_id == model_id)
                .order_by(promotion_policies.c.alias)
            ).all()
        return {row.alias: dict(row.body) for row in rows}

    # --- approvals -------------------------------------------------------------------------------------

    def approve(self, model_version_id: str, alias: str, user: str, comment: str | None) -> ApprovalRecord:
        """Record that ``user`` approves a version for ``alias`` (a second approval by them is kept as the
        first: an approval is a recorded fact, not a counter)."""
        try:
            with self._store._write() as connection:
                connection.execute(
                    insert(approvals).values(
                        model_version_id=model_version_id,
                        alias=alias,
                        user=user,
                        comment=comment,
                        created_ms=now_ms(),
                    )
                )
        except IntegrityError:
            pass  # approved before (or at the same moment by another process)
        return next(record for record in self.approvals(model_version_id, alias) if record.user == user)

    def approvals(self, model_version_id: str, alias: str | None = None) -> list[ApprovalRecord]:
        """The approvals of a version (for one alias, or all), oldest first."""
        statement = select(approvals).where(approvals.c.model_version_id == model_version_id)
        if alias is not None:
            statement = statement.where(approvals.c.alias == alias)
        with self._store._read() as connection:
            rows = connection.execute(statement.order_by(approvals.c.created_ms, approvals.c.id)).all()
        return [
            ApprovalRecord(
                model_version_id=row.model_version_id,
                alias=row.alias,
                user=row.user,
                created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
                comment=row.comment,
            )
            for row in rows
        ]

    # --- roles -----------------------------------------------------------------------------------------

    def grant(self, user: str, role: str, granted_by: str | None) -> bool:
        """Give ``user`` the ``role``; whether it is new."""
        statement = (
            self._store._insert(user_roles)
            .values(user=user, role=role, granted_by=granted_by, created_ms=now_ms())
            .on_conflict_do_nothing(index_elements=["user", "role"])
            .returning(user_roles.c.user)
        )
        with self._store._write() as connection:
            return connection.execute(statement).first() is not None

    def revoke(self, user: str, role: str) -> bool:
        """Take ``role`` from ``user``; whether they had it."""
        with self._store._write() as connection:
            result = connection.execute(
                user_roles.delete().where(user_roles.c.user == user, user_roles.c.role == role)
            )
        return bool(result.rowcount)

    def roles(self, user: str | None = None) -> list[RoleGrant]:
        """Every role grant (of one user, or of everyone), by user then role."""
        statement = select(user_roles).order_by(user_roles.c.user, user_roles.c.role)
        if user is not None:
            statement = statement.where(user_roles.c.user == user)
        with self._store._read() as connection:
            rows = connection.execute(statement).all()
        return [
            RoleGrant(
                user=row.user,
                role=row.role,
                created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
                granted_by=row.granted_by,
            )
            for row in rows
        ]


def _evaluation(row: Row[Any]) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id,
        model=row.model_name,
        version=row.version,
        model_version_id=row.model_version_id,
        dataset_version_id=row.dataset_version_id,
        dataset=row.dataset,
        target=row.target,
        task=row.task,
        segments=list(row.segments),
        num_rows=row.num_rows,
        metrics=dict(row.metrics),
        segment_metrics=dict(row.segment_metrics),
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        run_id=row.run_id,
        created_by=row.created_by,
    )
