"""Deployments and their audit trail, in the metadata store.

On the metadata store's database and transaction rules, like :mod:`loopwright.store.models`. Every change
of a deployment is a compare-and-swap on its ``revision`` (``UPDATE … WHERE revision = r``) in the
transaction that appends its event, so of two concurrent changes exactly one wins and the history never
shows two changes from the same state.

Serving processes poll :meth:`DeploymentStore.stamp`: one query over the deployments and the model aliases
that says whether anything a runtime serves may have changed since it last looked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import ConflictError, NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import deployment_events, deployments, model_aliases

__all__ = ["DEPLOYMENT_FIELDS", "DeploymentEvent", "DeploymentRecord", "DeploymentStore"]

DEPLOYMENT_FIELDS = (
    "model",
    "alias",
    "version",
    "canary_version",
    "canary_weight",
    "sticky_key",
    "shadow_version",
    "description",
)
"""The columns of a deployment that its owner sets (the rest are kept by the store)."""


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """What the store knows of one deployment."""

    id: int
    name: str
    model: str
    alias: str | None
    version: int | None
    canary_version: int | None
    canary_weight: float
    sticky_key: str | None
    shadow_version: int | None
    description: str | None
    revision: int
    created_at: datetime
    updated_at: datetime

    def fields(self) -> dict[str, Any]:
        """The owner-set fields, by name (:data:`DEPLOYMENT_FIELDS`)."""
        return {name: getattr(self, name) for name in DEPLOYMENT_FIELDS}


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    """One change of a deployment: its new revision, the fields that changed as ``[old, new]``, who, why."""

    id: int
    deployment: str
    revision: int
    change: dict[str, list[Any]]
    user: str | None
    reason: str | None
    created_at: datetime


class DeploymentStore:
    """Deployments and their history, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def find(self, name: str) -> DeploymentRecord | None:
        """Deployment ``name``, or ``None``."""
        with self._store._read() as connection:
            row = connection.execute(select(deployments).where(deployments.c.name == name)).first()
        return None if row is None else _record(row)

    def get(self, name: str) -> DeploymentRecord:
        """Deployment ``name``; :class:`NotFoundError` naming the known deployments if there is none."""
        found = self.find(name)
        if found is None:
            raise self._not_found(name)
        return found

    def all(self) -> list[DeploymentRecord]:
        """Every deployment, by name."""
        with self._store._read() as connection:
            rows = connection.execute(select(deployments).order_by(deployments.c.name)).all()
        return [_record(row) for row in rows]

    def create(
        self, name: str, fields: Mapping[str, Any], *, user: str | None, reason: str | None
    ) -> DeploymentRecord:
        """Insert deployment ``name`` at revision 1 with its first event; :class:`ConflictError` if it
        exists."""
        values = {key: fields.get(key) for key in DEPLOYMENT_FIELDS}
        moment = now_ms()
        try:
            with self._store._write() as connection:
                deployment_id = connection.execute(
                    insert(deployments)
                    .values(name=name, revision=1, created_ms=moment, updated_ms=moment, **values)
                    .returning(deployments.c.id)
                ).scalar_one()
                connection.execute(
                    insert(deployment_events).values(
                        deployment_id=deployment_id,
                        revision=1,
                        change={key: [None, value] for key, value in values.items() if value is not None},
                        user=user,
                        reason=reason,
                        created_ms=moment,
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"Deployment {name!r} already exists. Change it with `loopwright deployments update {name}` "
                f"or lw.deploy({name!r}, ...).",
                deployment=name,
            ) from None
        return self.get(name)

    def update(
        self,
        name: str,
        fields: Mapping[str, Any],
        *,
        expected_revision: int,
        user: str | None,
        reason: str | None,
    ) -> DeploymentRecord | None:
        """Set ``fields`` of deployment ``name`` and record the change, atomically, if the deployment is
        still at ``expected_revision`` (else :class:`ConflictError`, and nothing changes). Fields that
        already hold the given value are left out of the change; no change at all records nothing and
        returns ``None``."""
        unknown = set(fields) - set(DEPLOYMENT_FIELDS)
        if unknown:  # pragma: no cover - the service passes only known fields
            raise ValueError(f"Unknown deployment fields: {sorted(unknown)}")
        try:
            with self._store._write() as connection:
                row = connection.execute(select(deployments).where(deployments.c.name == name)).first()
                if row is None:
                    raise self._not_found(name)
                if row.revision != expected_revision:
                    raise _changed(name)
                change = {
                    key: [getattr(row, key), value]
                    for key, value in fields.items()
                    if getattr(row, key) != value
                }
                if not change:
                    return None
                moment = now_ms()
                result = connection.execute(
                    update(deployments)
                    .where(deployments.c.id == row.id, deployments.c.revision == expected_revision)
                    .values(revision=expected_revision + 1, updated_ms=moment, **fields)
                )
                if result.rowcount != 1:
                    raise _changed(name)
                connection.execute(
                    insert(deployment_events).values(
                        deployment_id=row.id,
                        revision=expected_revision + 1,
                        change=change,
                        user=user,
                        reason=reason,
                        created_ms=moment,
                    )
                )
        except IntegrityError:
            raise _changed(name) from None  # another process recorded this revision at the same moment
        return self.get(name)

    def history(self, name: str) -> list[DeploymentEvent]:
        """Every change of deployment ``name``, oldest first."""
        deployment_id = self.get(name).id
        statement = (
            select(deployment_events)
            .where(deployment_events.c.deployment_id == deployment_id)
            .order_by(deployment_events.c.revision)
        )
        with self._store._read() as connection:
            rows = connection.execute(statement).all()
        return [
            DeploymentEvent(
                id=row.id,
                deployment=name,
                revision=row.revision,
                change={key: list(value) for key, value in dict(row.change).items()},
                user=row.user,
                reason=row.reason,
                created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    def stamp(self) -> tuple[int, ...]:
        """A value that changes whenever a deployment or any model alias changes: one cheap query.

        Revisions only grow, and every change bumps one, so (count, sum of revisions, highest id) of each
        table moves on every create, update and alias move.
        """
        statement = select(
            select(func.count()).select_from(deployments).scalar_subquery(),
            select(func.coalesce(func.sum(deployments.c.revision), 0)).scalar_subquery(),
            select(func.coalesce(func.max(deployments.c.id), 0)).scalar_subquery(),
            select(func.count()).select_from(model_aliases).scalar_subquery(),
            select(func.coalesce(func.sum(model_aliases.c.revision), 0)).scalar_subquery(),
        )
        with self._store._read() as connection:
            row = connection.execute(statement).one()
        return tuple(int(value) for value in row)

    def _not_found(self, name: str) -> NotFoundError:
        with self._store._read() as connection:
            known = list(
                connection.execute(select(deployments.c.name).order_by(deployments.c.name)).scalars()
            )
        return NotFoundError(
            f"Deployment {name!r} does not exist. Known deployments: "
            f"{', '.join(map(repr, known)) or 'none yet'}. Create one with lw.deploy({name!r}, "
            "model='NAME@production').",
            kind="deployment",
            key=name,
        )


def _changed(name: str) -> ConflictError:
    return ConflictError(
        f"Deployment {name!r} was changed by someone else while this change was being decided; nothing was "
        f"changed. Look at `loopwright deployments history {name}` and try again.",
        deployment=name,
    )


def _record(row: Any) -> DeploymentRecord:
    return DeploymentRecord(
        id=row.id,
        name=row.name,
        model=row.model,
        alias=row.alias,
        version=row.version,
        canary_version=row.canary_version,
        canary_weight=float(row.canary_weight),
        sticky_key=row.sticky_key,
        shadow_version=row.shadow_version,
        description=row.description,
        revision=row.revision,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        updated_at=from_ms(row.updated_ms),  # type: ignore[arg-type]
    )
