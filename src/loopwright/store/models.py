"""Registered models and their versions in the metadata store (aliases: :mod:`loopwright.store.aliases`).

On the metadata store's database and transaction rules, like :mod:`loopwright.store.datasets`. A version
is numbered (latest + 1) inside the transaction that inserts it, with its artifact record, its training
datasets and its lineage event; a unique key on ``(model, version)`` refuses a number another process
took, and the insert is retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import NotFoundError, StoreError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import (
    artifacts,
    dataset_versions,
    datasets,
    events,
    model_aliases,
    model_version_datasets,
    model_versions,
    models,
    runs,
)

__all__ = ["ModelCatalog", "ModelRecord", "ModelVersionRecord"]

_RETRIES = 5


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered model with its number of versions and where its aliases point."""

    id: int
    name: str
    description: str | None
    tags: dict[str, str]
    created_at: datetime
    versions: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """What the store knows of one model version."""

    id: str
    model: str
    model_id: int
    version: int
    artifact_id: str
    digest: str
    size: int
    flavor: str
    status: str
    created_at: datetime
    signature: dict[str, Any] | None = None
    run_id: str | None = None
    fine_tuned_from_id: str | None = None
    code_version: str | None = None
    code_dirty: bool | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created_by: str | None = None


class ModelCatalog:
    """Models, versions, aliases and alias history, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- models ----------------------------------------------------------------------------------------

    def model_id(self, name: str) -> int:
        """The id of model ``name``; :class:`NotFoundError` naming the known models if there is none."""
        with self._store._read() as connection:
            found = connection.execute(select(models.c.id).where(models.c.name == name)).scalar()
            if found is None:
                known = list(connection.execute(select(models.c.name).order_by(models.c.name)).scalars())
                raise NotFoundError(
                    f"Model {name!r} does not exist. Known models: "
                    f"{', '.join(map(repr, known)) or 'none yet'}. Register one with lw.register_model().",
                    kind="model",
                    key=name,
                )
            return int(found)

    def get_model(self, name: str) -> ModelRecord:
        """One model with its version count and aliases."""
        model_id = self.model_id(name)
        return next(record for record in self.list_models() if record.id == model_id)

    def list_models(self) -> list[ModelRecord]:
        """Every model by name, with its version count, latest version and aliases."""
        # Counted in a subquery: PostgreSQL cannot GROUP BY the JSON tags column.
        counts = (
            select(
                model_versions.c.model_id,
                func.count(model_versions.c.id).label("versions"),
                func.max(model_versions.c.version).label("latest_version"),
            )
            .group_by(model_versions.c.model_id)
            .subquery()
        )
        statement = (
            select(models, counts.c.versions, counts.c.latest_version)
            .outerjoin(counts, counts.c.model_id == models.c.id)
            .order_by(models.c.name)
        )
        pointers = (
            select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.id == model_aliases.c.model_version_id)
            .order_by(model_aliases.c.alias)
        )
        with self._store._read() as connection:
            aliases: dict[int, dict[str, int]] = {}
            for model_id, alias, version in connection.execute(pointers):
                aliases.setdefault(model_id, {})[alias] = version
            return [
                ModelRecord(
                    id=row.id,
                    name=row.name,
                    description=row.description,
                    tags=dict(row.tags or {}),
                    created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
                    versions=row.versions or 0,
                    latest_version=row.latest_version,
                    aliases=aliases.get(row.id, {}),
                )
                for row in connection.execute(statement)
            ]

    def update_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> None:
        """Set a model's description and/or merge tags into its tags."""
        model_id = self.model_id(name)
        with self._store._write() as connection:
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if tags:
                current = connection.execute(select(models.c.tags).where(models.c.id == model_id)).scalar()
                values["tags"] = {**dict(current or {}), **dict(tags)}
            if values:
                connection.execute(update(models).where(models.c.id == model_id).values(**values))

    # --- versions --------------------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        artifact: tuple[str, int, str, Mapping[str, Any]],
        flavor: str,
        signature: Mapping[str, Any] | None,
        run_id: str | None,
        fine_tuned_from_id: str | None,
        code_version: str | None,
        code_dirty: bool | None,
        description: str | None,
        tags: Mapping[str, str],
        created_by: str | None,
        dataset_version_ids: Sequence[str],
    ) -> ModelVersionRecord:
        """Record the next version of model ``name`` (created if new) in one transaction: its artifact
        (``(digest, size, media type, properties)`` of the stored blob, kind ``model``), the version, its
        training datasets and, with a run, the lineage event that makes it an output of the run."""
        digest, size, media_type, properties = artifact
        last_error: IntegrityError | None = None
        for _attempt in range(_RETRIES):
            version_id = uuid.uuid4().hex
            try:
                with self._store._write() as connection:
                    model_id = self._model_id_for_write(connection, name)
                    artifact_id = self._artifact_id_for_write(
                        connection, digest, size, media_type, properties
                    )
                    latest = connection.execute(
                        select(func.max(model_versions.c.version)).where(
                            model_versions.c.model_id == model_id
                        )
                    ).scalar()
                    number = (latest or 0) + 1
                    connection.execute(
                        insert(model_versions).values(
                            id=version_id,
                            model_id=model_id,
                            version=number,
                            artifact_id=artifact_id,
                            run_id=run_id,
                            fine_tuned_from_id=fine_tuned_from_id,
                            flavor=flavor,
                            signature=dict(signature) if signature is not None else None,
                            code_version=code_version,
                            code_dirty=code_dirty,
                            status="active",
                            description=description,
                            tags=dict(tags),
                            created_by=created_by,
                            created_ms=now_ms(),
                        )
                    )
                    if dataset_version_ids:
                        connection.execute(
                            insert(model_version_datasets),
                            [
                                {
                                    "model_version_id": version_id,
                                    "dataset_version_id": dataset_id,
                                    "role": "training",
                                }
                                for dataset_id in dict.fromkeys(dataset_version_ids)
                            ],
                        )
                    if run_id is not None:
                        connection.execute(
                            insert(events).values(
                                run_id=run_id,
                                artifact_id=artifact_id,
                                direction="output",
                                name=f"models/{name}/v{number}",
                                created_ms=now_ms(),
                            )
                        )
            except IntegrityError as error:
                if run_id is not None and not self._exists(runs, runs.c.id == run_id):
                    raise NotFoundError(
                        f"Run {run_id!r} does not exist. List runs with `loopwright runs list`.",
                        kind="run",
                        key=run_id,
                    ) from None
                last_error = error
                continue  # another process took this number: look again
            return self.get_version_by_id(version_id)
        raise StoreError(  # pragma: no cover - needs five lost races in a row
            f"Could not record a new version of model {name!r} after {_RETRIES} attempts: "
            f"{last_error.orig if last_error is not None else ''}"
        )

    def _model_id_for_write(self, connection: Connection, name: str) -> int:
        connection.execute(
            self._store._insert(models)
            .values(name=name, tags={}, created_ms=now_ms())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return int(connection.execute(select(models.c.id).where(models.c.name == name)).scalar_one())

    def _artifact_id_for_write(
        self, connection: Connection, digest: str, size: int, media_type: str, properties: Mapping[str, Any]
    ) -> str:
        connection.execute(
            self._store._insert(artifacts)
            .values(
                id=uuid.uuid4().hex,
                kind="model",
                digest=digest,
                size=size,
                media_type=media_type,
                created_ms=now_ms(),
                properties=dict(properties),
            )
            .on_conflict_do_nothing(index_elements=["kind", "digest"])
        )
        return str(
            connection.execute(
                select(artifacts.c.id).where(artifacts.c.kind == "model", artifacts.c.digest == digest)
            ).scalar_one()
        )

    def _exists(self, table: Any, condition: Any) -> bool:
        with self._store._read() as connection:
            return connection.execute(select(table).where(condition).limit(1)).first() is not None

    def get_version(self, name: str, version: int | None = None) -> ModelVersionRecord:
        """Version ``version`` of model ``name``, or its latest version."""
        model_id = self.model_id(name)
        statement = _version_query().where(model_versions.c.model_id == model_id)
        if version is not None:
            statement = statement.where(model_versions.c.version == version)
        statement = statement.order_by(model_versions.c.version.desc()).limit(1)
        with self._store._read() as connection:
            row = connection.execute(statement).first()
            if row is not None:
                return _version(row)
            numbers = list(
                connection.execute(
                    select(model_versions.c.version)
                    .where(model_versions.c.model_id == model_id)
                    .order_by(model_versions.c.version)
                ).scalars()
            )
        raise NotFoundError(
            f"Model {name!r} has no version {version}. Its versions: "
            f"{', '.join(map(str, numbers)) or 'none'}.",
            kind="model_version",
            key=f"{name}/{version}",
        )

    def get_version_by_id(self, version_id: str) -> ModelVersionRecord:
        """A version by its id."""
        with self._store._read() as connection:
            row = connection.execute(_version_query().where(model_versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(
                f"Model version {version_id!r} does not exist.", kind="model_version", key=version_id
            )
        return _version(row)

    def list_versions(self, name: str) -> list[ModelVersionRecord]:
        """Every version of model ``name``, oldest first."""
        model_id = self.model_id(name)
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query()
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            ).all()
        return [_version(row) for row in rows]

    def dependents(self, version_id: str) -> list[ModelVersionRecord]:
        """The versions (of any model) recorded as fine-tuned from ``version_id``."""
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query()
                .where(model_versions.c.fine_tuned_from_id == version_id)
                .order_by(models.c.name, model_versions.c.version)
            ).all()
        return [_version(row) for row in rows]

    def versions_from_run(self, run_id: str) -> list[ModelVersionRecord]:
        """The model versions registered from a run."""
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query()
                .where(model_versions.c.run_id == run_id)
                .order_by(model_versions.c.created_ms)
            ).all()
        return [_version(row) for row in rows]

    def set_status(self, version_id: str, status: str) -> None:
        """Mark a version ``active`` or ``archived``."""
        with self._store._write() as connection:
            connection.execute(
                update(model_versions).where(model_versions.c.id == version_id).values(status=status)
            )

    def training_dataset_ids(self, version_id: str) -> list[str]:
        """The ids of the dataset versions a model version was trained on."""
        with self._store._read() as connection:
            return list(
                connection.execute(
                    select(model_version_datasets.c.dataset_version_id)
                    .join(
                        dataset_versions, dataset_versions.c.id == model_version_datasets.c.dataset_version_id
                    )
                    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                    .where(model_version_datasets.c.model_version_id == version_id)
                    .order_by(datasets.c.name, dataset_versions.c.version)
                ).scalars()
            )

    def run_input_dataset_ids(self, run_id: str) -> list[str]:
        """The ids of the dataset versions a run recorded as inputs (``datasets/<name>/v<n>`` events)."""
        statement = (
            select(
                events.c.name,
                dataset_versions.c.id,
                datasets.c.name.label("dataset"),
                dataset_versions.c.version,
            )
            .join(dataset_versions, dataset_versions.c.artifact_id == events.c.artifact_id)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(events.c.run_id == run_id, events.c.direction == "input")
            .order_by(events.c.id)
        )
        with self._store._read() as connection:
            rows = connection.execute(statement).all()
        # One Parquet file can be a version of two datasets; the event's name says which one the run read.
        return list(
            dict.fromkeys(row.id for row in rows if row.name == f"datasets/{row.dataset}/v{row.version}")
        )

    def dataset_versions_of_artifact(self, artifact_id: str) -> list[str]:
        """The ids of the dataset versions stored as ``artifact_id`` (one Parquet file can be several)."""
        with self._store._read() as connection:
            return list(
                connection.execute(
                    select(dataset_versions.c.id)
                    .where(dataset_versions.c.artifact_id == artifact_id)
                    .order_by(dataset_versions.c.id)
                ).scalars()
            )


def _version_query() -> Any:
    return (
        select(model_versions, models.c.name.label("model_name"), artifacts.c.digest, artifacts.c.size)
        .join(models, models.c.id == model_versions.c.model_id)
        .join(artifacts, artifacts.c.id == model_versions.c.artifact_id)
    )


def _version(row: Row[Any]) -> ModelVersionRecord:
    return ModelVersionRecord(
        id=row.id,
        model=row.model_name,
        model_id=row.model_id,
        version=row.version,
        artifact_id=row.artifact_id,
        digest=row.digest,
        size=row.size,
        flavor=row.flavor,
        status=row.status,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        signature=dict(row.signature) if row.signature is not None else None,
        run_id=row.run_id,
        fine_tuned_from_id=row.fine_tuned_from_id,
        code_version=row.code_version,
        code_dirty=row.code_dirty,
        description=row.description,
        tags=dict(row.tags or {}),
        created_by=row.created_by,
    )
