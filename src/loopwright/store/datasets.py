"""Dataset versions, data schemas and check results in the metadata store.

Kept apart from :mod:`loopwright.store.metadata` (runs and lineage) but on the same database and the same
transaction rules; every write is race-safe across processes: version numbers are assigned inside the
write transaction, and a unique key on ``(dataset, content hash)`` makes logging identical data twice
return the existing version.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import artifacts, check_results, data_schemas, dataset_versions, datasets

__all__ = [
    "CheckRecord",
    "DatasetCatalog",
    "DatasetSummary",
    "DatasetVersionRecord",
    "SchemaRecord",
]

_RETRIES = 5


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """A dataset name with how many versions it has and when the latest arrived."""

    name: str
    description: str | None
    versions: int
    latest_version: int | None
    latest_at: datetime | None


@dataclass(frozen=True, slots=True)
class DatasetVersionRecord:
    """What the store knows of one dataset version."""

    id: str
    dataset: str
    version: int
    content_hash: str
    digest: str
    size: int
    artifact_id: str
    num_rows: int
    num_columns: int
    columns: list[dict[str, Any]]
    profile: dict[str, Any]
    check_status: str
    created_at: datetime
    parent_id: str | None = None
    parent_version: int | None = None
    run_id: str | None = None
    source: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class SchemaRecord:
    """One version of a dataset's schema, as the YAML text users edit."""

    id: str
    dataset: str
    version: int
    content_hash: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """A stored check outcome."""

    name: str
    kind: str
    severity: str
    passed: bool
    column: str | None
    failed_rows: int | None
    details: dict[str, Any] = field(default_factory=dict)
    schema_id: str | None = None
    reference_id: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None


class DatasetCatalog:
    """Datasets, their versions, schemas and check results, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- datasets ------------------------------------------------------------------------------------

    def dataset_id(self, name: str, *, create: bool = False, description: str | None = None) -> int:
        """The id of dataset ``name``; created when ``create`` is set, else :class:`NotFoundError`."""
        if create:
            with self._store._write() as connection:
                connection.execute(
                    self._store._insert(datasets)
                    .values(name=name, description=description, created_ms=now_ms())
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                return int(
                    connection.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar_one()
                )
        with self._store._read() as connection:
            found = connection.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
            if found is None:
                known = list(connection.execute(select(datasets.c.name).order_by(datasets.c.name)).scalars())
                raise NotFoundError(
                    f"Dataset {name!r} does not exist. Known datasets: "
                    f"{', '.join(map(repr, known)) or 'none yet'}. Log one with lw.log_dataset().",
                    kind="dataset",
                    key=name,
                )
            return int(found)

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset with its version count and latest version."""
        statement = (
            select(
                datasets.c.name,
                datasets.c.description,
                func.count(dataset_versions.c.id).label("versions"),
                func.max(dataset_versions.c.version).label("latest_version"),
                func.max(dataset_versions.c.created_ms).label("latest_ms"),
            )
            .outerjoin(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
            .group_by(datasets.c.id, datasets.c.name, datasets.c.description)
            .order_by(datasets.c.name)
        )
        with self._store._read() as connection:
            return [
                DatasetSummary(
                    row.name, row.description, row.versions, row.latest_version, from_ms(row.latest_ms)
                )
                for row in connection.execute(statement)
            ]

    # --- versions ------------------------------------------------------------------------------------

    def find_by_hash(self, name: str, content_hash: str) -> DatasetVersionRecord | None:
        """The version of ``name`` with this logical content, if it was logged before."""
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query().where(
                    datasets.c.name == name, dataset_versions.c.content_hash == content_hash
                )
            ).all()
            return _version(rows[0]) if rows else None

    def create_version(
        self,
        name: str,
        *,
        content_hash: str,
        artifact_id: str,
        num_rows: int,
        columns: Sequence[Mapping[str, Any]],
        profile: Mapping[str, Any],
        run_id: str | None = None,
        source: str | None = None,
        description: str | None = None,
    ) -> tuple[DatasetVersionRecord, bool]:
        """Record a new version (numbered after the latest, whose child it is).

        Returns ``(record, created)``; ``created`` is false when the same content was logged already,
        possibly by another process at the same moment.
        """
        dataset_id = self.dataset_id(name, create=True, description=description)
        for _attempt in range(_RETRIES):
            existing = self.find_by_hash(name, content_hash)
            if existing is not None:
                return existing, False
            try:
                with self._store._write() as connection:
                    latest = connection.execute(
                        select(dataset_versions.c.id, dataset_versions.c.version)
                        .where(dataset_versions.c.dataset_id == dataset_id)
                        .order_by(dataset_versions.c.version.desc())
                        .limit(1)
                    ).first()
                    version_id = uuid.uuid4().hex
                    connection.execute(
                        insert(dataset_versions).values(
                            id=version_id,
                            dataset_id=dataset_id,
                            version=1 if latest is None else latest.version + 1,
                            content_hash=content_hash,
                            artifact_id=artifact_id,
                            parent_id=None if latest is None else latest.id,
                            run_id=run_id,
                            num_rows=num_rows,
                            num_columns=len(columns),
                            columns=[dict(column) for column in columns],
                            profile=dict(profile),
                            source=source,
                            description=description,
                            created_ms=now_ms(),
                        )
                    )
            except IntegrityError:
                continue  # another process took this number or logged the same content: look again
            return self.get_version_by_id(version_id), True
        raise NotFoundError(  # pragma: no cover - needs five lost races in a row
            f"Could not record a new version of dataset {name!r} after {_RETRIES} attempts.",
            kind="dataset",
            key=name,
        )

    def get_version(
        self, name: str, version: int | None = None, *, include_failed: bool = False
    ) -> DatasetVersionRecord:
        """Version ``version`` of ``name``; by default the latest one whose blocking checks did not fail."""
        dataset_id = self.dataset_id(name)
        statement = _version_query().where(dataset_versions.c.dataset_id == dataset_id)
        if version is not None:
            statement = statement.where(dataset_versions.c.version == version)
        elif not include_failed:
            statement = statement.where(dataset_versions.c.check_status != "failed")
        statement = statement.order_by(dataset_versions.c.version.desc()).limit(1)
        with self._store._read() as connection:
            row = connection.execute(statement).first()
            if row is not None:
                return _version(row)
            numbers = list(
                connection.execute(
                    select(dataset_versions.c.version, dataset_versions.c.check_status)
                    .where(dataset_versions.c.dataset_id == dataset_id)
                    .order_by(dataset_versions.c.version)
                )
            )
        if version is not None:
            raise NotFoundError(
                f"Dataset {name!r} has no version {version}. Its versions: "
                f"{', '.join(str(number) for number, _ in numbers) or 'none'}.",
                kind="dataset_version",
                key=f"{name}:{version}",
            )
        failed = [str(number) for number, status in numbers if status == "failed"]
        raise NotFoundError(
            f"Dataset {name!r} has no version that passed its blocking checks (failed: "
            f"{', '.join(failed) or 'none'}). Ask for one explicitly with version=N, or include_failed=True.",
            kind="dataset_version",
            key=name,
        )

    def get_version_by_id(self, version_id: str) -> DatasetVersionRecord:
        """A version by its id."""
        with self._store._read() as connection:
            row = connection.execute(_version_query().where(dataset_versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(
                f"Dataset version {version_id!r} does not exist.", kind="dataset_version", key=version_id
            )
        return _version(row)

    def list_versions(self, name: str) -> list[DatasetVersionRecord]:
        """Every version of ``name``, oldest first."""
        dataset_id = self.dataset_id(name)
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query()
                .where(dataset_versions.c.dataset_id == dataset_id)
                .order_by(dataset_versions.c.version)
            ).all()
        return [_version(row) for row in rows]

    def versions_from_run(self, run_id: str) -> list[DatasetVersionRecord]:
        """The dataset versions a run produced."""
        with self._store._read() as connection:
            rows = connection.execute(
                _version_query()
                .where(dataset_versions.c.run_id == run_id)
                .order_by(dataset_versions.c.created_ms)
            ).all()
        return [_version(row) for row in rows]

    # --- checks --------------------------------------------------------------------------------------

    def record_checks(self, version_id: str, results: Sequence[CheckRecord], status: str) -> None:
        """Store check outcomes for a version and set its overall status (passed / warned / failed).

        Every outcome of one call gets the same time, so readers can tell the latest check apart."""
        created_ms = now_ms()
        rows = [
            {
                "dataset_version_id": version_id,
                "name": result.name,
                "kind": result.kind,
                "severity": result.severity,
                "passed": result.passed,
                "column": result.column,
                "failed_rows": result.failed_rows,
                "details": result.details,
                "schema_id": result.schema_id,
                "reference_id": result.reference_id,
                "run_id": result.run_id,
                "created_ms": created_ms,
            }
            for result in results
        ]
        with self._store._write() as connection:
            if rows:
                connection.execute(insert(check_results), rows)
            # A version that failed a blocking check stays failed: data is immutable, and a later, more
            # lenient check must not put a bad batch back in front of training.
            current = connection.execute(
                select(dataset_versions.c.check_status).where(dataset_versions.c.id == version_id)
            ).scalar()
            connection.execute(
                update(dataset_versions)
                .where(dataset_versions.c.id == version_id)
                .values(check_status="failed" if current == "failed" else status)
            )

    def checks(self, version_id: str) -> list[CheckRecord]:
        """Every stored check outcome of a version, oldest first."""
        with self._store._read() as connection:
            rows = connection.execute(
                select(check_results)
                .where(check_results.c.dataset_version_id == version_id)
                .order_by(check_results.c.id)
            ).all()
        return [
            CheckRecord(
                name=row.name,
                kind=row.kind,
                severity=row.severity,
                passed=row.passed,
                column=row.column,
                failed_rows=row.failed_rows,
                details=dict(row.details or {}),
                schema_id=row.schema_id,
                reference_id=row.reference_id,
                run_id=row.run_id,
                created_at=from_ms(row.created_ms),
            )
            for row in rows
        ]

    # --- schemas -------------------------------------------------------------------------------------

    def save_schema(self, name: str, body: str, content_hash: str) -> tuple[SchemaRecord, bool]:
        """Record a schema version for ``name``. Text identical to the current (latest) version returns it;
        anything else, including an older version's text, becomes the new current version."""
        dataset_id = self.dataset_id(name, create=True)
        for _attempt in range(_RETRIES):
            with self._store._read() as connection:
                row = connection.execute(
                    _schema_query()
                    .where(data_schemas.c.dataset_id == dataset_id)
                    .order_by(data_schemas.c.version.desc())
                    .limit(1)
                ).first()
            if row is not None and row.content_hash == content_hash:
                return _schema(row), False
            try:
                with self._store._write() as connection:
                    latest = connection.execute(
                        select(func.max(data_schemas.c.version)).where(
                            data_schemas.c.dataset_id == dataset_id
                        )
                    ).scalar()
                    schema_id = uuid.uuid4().hex
                    connection.execute(
                        insert(data_schemas).values(
                            id=schema_id,
                            dataset_id=dataset_id,
                            version=(latest or 0) + 1,
                            content_hash=content_hash,
                            body=body,
                            created_ms=now_ms(),
                        )
                    )
            except IntegrityError:
                continue
            return self.get_schema(name), True
        raise NotFoundError(  # pragma: no cover
            f"Could not record a schema for dataset {name!r}.", kind="data_schema", key=name
        )

    def get_schema(self, name: str, version: int | None = None) -> SchemaRecord:
        """A schema version of ``name`` (default the latest); :class:`NotFoundError` if there is none."""
        dataset_id = self.dataset_id(name)
        statement = _schema_query().where(data_schemas.c.dataset_id == dataset_id)
        if version is not None:
            statement = statement.where(data_schemas.c.version == version)
        statement = statement.order_by(data_schemas.c.version.desc()).limit(1)
        with self._store._read() as connection:
            row = connection.execute(statement).first()
        if row is None:
            wanted = f"schema version {version}" if version is not None else "schema"
            raise NotFoundError(
                f"Dataset {name!r} has no {wanted}. Save one with lw.save_schema({name!r}, schema).",
                kind="data_schema",
                key=name,
            )
        return _schema(row)

    def has_schema(self, name: str) -> bool:
        """Whether ``name`` exists and has at least one schema version."""
        with self._store._read() as connection:
            return (
                connection.execute(
                    select(data_schemas.c.id)
                    .join(datasets, datasets.c.id == data_schemas.c.dataset_id)
                    .where(datasets.c.name == name)
                    .limit(1)
                ).first()
                is not None
            )


def _version_query() -> Any:
    parent = dataset_versions.alias("parent")
    return (
        select(
            dataset_versions,
            datasets.c.name.label("dataset_name"),
            artifacts.c.digest,
            artifacts.c.size,
            parent.c.version.label("parent_version"),
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(artifacts, artifacts.c.id == dataset_versions.c.artifact_id)
        .outerjoin(parent, parent.c.id == dataset_versions.c.parent_id)
    )


def _version(row: Row[Any]) -> DatasetVersionRecord:
    return DatasetVersionRecord(
        id=row.id,
        dataset=row.dataset_name,
        version=row.version,
        content_hash=row.content_hash,
        digest=row.digest,
        size=row.size,
        artifact_id=row.artifact_id,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        columns=list(row.columns),
        profile=dict(row.profile),
        check_status=row.check_status,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        parent_id=row.parent_id,
        parent_version=row.parent_version,
        run_id=row.run_id,
        source=row.source,
        description=row.description,
    )


def _schema_query() -> Any:
    return select(data_schemas, datasets.c.name.label("dataset_name")).join(
        datasets, datasets.c.id == data_schemas.c.dataset_id
    )


def _schema(row: Row[Any]) -> SchemaRecord:
    return SchemaRecord(
        id=row.id,
        dataset=row.dataset_name,
        version=row.version,
        content_hash=row.content_hash,
        body=row.body,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
    )
