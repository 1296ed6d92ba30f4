"""Dataset versions: logging data as immutable, profiled, checked versions, and reading them back.

>>> version = datasets.log("transactions", frame)          # doctest: +SKIP
>>> version.version, version.num_rows                        # doctest: +SKIP
(1, 1000000)
>>> datasets.get("transactions").to_pandas()               # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from loopwright._names import validate_key
from loopwright.data.checks import (
    CheckReport,
    CheckResult,
    custom_checks,
    schema_checks,
    validate_checks,
    value_skew_checks,
)
from loopwright.data.profile import RowSample, column_kind, compute_profile, decode_profile, encode_profile
from loopwright.data.schema import DataSchema, infer_schema
from loopwright.data.tables import BATCH_ROWS, ContentHasher, DataInputError, open_stream, type_name
from loopwright.errors import ArtifactIntegrityError, InvalidInputError, MissingExtraError, NotFoundError
from loopwright.store.artifacts import ArtifactStore, sha256_file
from loopwright.store.datasets import (
    CheckRecord,
    DatasetCatalog,
    DatasetSummary,
    DatasetVersionRecord,
    SchemaRecord,
)
from loopwright.store.metadata import MetadataStore

__all__ = ["ROW_GROUP_ROWS", "DatasetVersion", "Datasets", "lineage_name"]

ROW_GROUP_ROWS = 262_144
"""Rows per Parquet row group of a stored version (fixed, so the file layout depends only on the data)."""

Progress = Callable[[int], None]


class DatasetVersion:
    """One immutable version of a dataset. Read it with :meth:`to_pandas`, :meth:`to_polars`,
    :meth:`to_arrow`, or stream it with :meth:`iter_batches` when it is larger than memory."""

    def __init__(self, record: DatasetVersionRecord, datasets: Datasets, *, created: bool = False) -> None:
        self.record = record
        self._datasets = datasets
        self.created = created
        """Whether the call that returned this object stored a new version (False: same content as before)."""

    def __repr__(self) -> str:
        return (
            f"<DatasetVersion {self.name}:{self.version} {self.num_rows} rows x {self.num_columns} columns, "
            f"checks {self.check_status}>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatasetVersion) and other.record.id == self.record.id

    def __hash__(self) -> int:
        return hash(self.record.id)

    @property
    def id(self) -> str:
        """The version's unique id."""
        return self.record.id

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self.record.dataset

    @property
    def version(self) -> int:
        """The version number (1, 2, … per dataset)."""
        return self.record.version

    @property
    def num_rows(self) -> int:
        """Number of rows."""
        return self.record.num_rows

    @property
    def num_columns(self) -> int:
        """Number of columns."""
        return self.record.num_columns

    @property
    def columns(self) -> list[dict[str, Any]]:
        """``[{"name": ..., "type": ...}, ...]`` in column order."""
        return self.record.columns

    @property
    def content_hash(self) -> str:
        """The identity of the logical content (independent of file layout)."""
        return self.record.content_hash

    @property
    def profile(self) -> dict[str, Any]:
        """Per-column statistics (see :mod:`loopwright.data.profile`)."""
        return decode_profile(self.record.profile)

    @property
    def check_status(self) -> str:
        """``unchecked``, ``passed``, ``warned`` or ``failed`` (a blocking check failed)."""
        return self.record.check_status

    @property
    def parent_version(self) -> int | None:
        """The version this one followed."""
        return self.record.parent_version

    @property
    def run_id(self) -> str | None:
        """The run that logged this version, if any."""
        return self.record.run_id

    @property
    def path(self) -> Path:
        """A local path of the version's Parquet file, verified against its hash."""
        return self._datasets.local_path(self.record)

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole version as a pyarrow Table."""
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=list(columns) if columns is not None else None)

    def to_pandas(self, columns: Sequence[str] | None = None) -> Any:
        """The whole version as a pandas DataFrame."""
        return self.to_arrow(columns).to_pandas()

    def to_polars(self, columns: Sequence[str] | None = None) -> Any:
        """The whole version as a polars DataFrame (needs polars: ``pip install 'loopwright[polars]'``)."""
        try:
            import polars as pl
        except ImportError as error:
            raise MissingExtraError("Reading a dataset as polars", "polars", "polars") from error
        return pl.from_arrow(self.to_arrow(columns))

    def iter_batches(
        self, batch_size: int = BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stream the version in record batches of at most ``batch_size`` rows (bounded memory)."""
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.path, pre_buffer=False)  # pre-buffering keeps every row group read
        yield from parquet.iter_batches(
            batch_size=batch_size, columns=list(columns) if columns is not None else None
        )

    def checks(self) -> list[CheckRecord]:
        """Every check result stored for this version."""
        return self._datasets.catalog.checks(self.id)

    def lineage_ref(self) -> tuple[str, str]:
        """``(artifact id, name)`` under which runs record this version in lineage."""
        return self.record.artifact_id, lineage_name(self.record)


class Datasets:
    """Logs, reads, profiles and checks dataset versions in one workspace."""

    def __init__(self, store: MetadataStore, artifacts: ArtifactStore, cache_dir: Path) -> None:
        self.store = store
        self.artifacts = artifacts
        self.catalog = DatasetCatalog(store)
        self._cache_dir = cache_dir
        self._verified: set[str] = set()

    # --- logging -------------------------------------------------------------------------------------

    def log(
        self,
        name: str,
        data: Any,
        *,
        run_id: str | None = None,
        description: str | None = None,
        schema: DataSchema | str | Path | None = None,
        reference: int | DatasetVersion | None = None,
        checks: Sequence[Any] = (),
        raise_on_failure: bool = True,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        """Store ``data`` as the next version of ``name`` (or return the version with the same content).

        Checks run on a new version when a ``schema`` is given or saved for the dataset, a ``reference``
        version is given, or ``checks`` are passed; their results are stored with the version. A blocking
        failure raises :class:`~loopwright.data.checks.DataCheckError` after recording, and the version is
        never returned as "latest" by :meth:`get`.
        """
        _validate_dataset_name(name)
        # A bad schema file or an unknown reference must fail before a version is recorded, not after.
        if schema is not None:
            schema = _load_schema(schema)
        if isinstance(reference, int):
            reference = self.get(name, reference, include_failed=True)
        validate_checks(checks)
        stream = open_stream(data, name=name)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="log-", dir=self._cache_dir))
        try:
            parquet = folder / "data.parquet"
            hasher, sample = _write_canonical(stream.schema, stream.batches, parquet, progress)
            if hasher.rows == 0:
                raise DataInputError(
                    f"Dataset {name!r}: {stream.source} has no rows; there is nothing to version.",
                    source=stream.source,
                )
            content_hash = hasher.hexdigest()
            existing = self.catalog.find_by_hash(name, content_hash)
            if existing is not None:
                self._repair_blob(existing, parquet)
                self._link(run_id, existing)
                found = DatasetVersion(existing, self)
                return self._check_on_log(found, schema, reference, checks, run_id, raise_on_failure)
            profile = encode_profile(compute_profile(parquet, stream.schema, hasher.rows, sample))
            blob = self.artifacts.put_file(parquet, move=True)
            artifact = self.store.record_artifact(
                "dataset",
                blob.digest,
                blob.size,
                media_type="application/vnd.apache.parquet",
                properties={"rows": hasher.rows, "columns": len(stream.schema)},
            )
            record, _created = self.catalog.create_version(
                name,
                content_hash=content_hash,
                artifact_id=artifact.id,
                num_rows=hasher.rows,
                columns=[{"name": field.name, "type": type_name(field.type)} for field in stream.schema],
                profile=profile,
                run_id=run_id,
                source=stream.source,
                description=description,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self._verified.add(record.digest)
        self._link(run_id, record)
        version = DatasetVersion(record, self, created=True)
        return self._check_on_log(version, schema, reference, checks, run_id, raise_on_failure)

    def _check_on_log(
        self,
        version: DatasetVersion,
        schema: DataSchema | str | Path | None,
        reference: int | DatasetVersion | None,
        checks: Sequence[Any],
        run_id: str | None,
        raise_on_failure: bool,
    ) -> DatasetVersion:
        """Run the checks that apply to a logged version (also when its content was logged before, so a
        rerun with the same bad data fails again), and raise on a blocking failure."""
        if schema is not None or reference is not None or checks or self.catalog.has_schema(version.name):
            report = self.check(version, schema=schema, reference=reference, checks=checks, run_id=run_id)
        elif version.check_status == "failed":
            stored = version.checks()
            latest = max(record.created_at for record in stored if record.created_at is not None)
            report = CheckReport(
                version.name,
                version.version,
                [_result(record) for record in stored if record.created_at == latest],
            )
        else:
            return version
        refreshed = DatasetVersion(self.catalog.get_version_by_id(version.id), self, created=version.created)
        if raise_on_failure:
            report.raise_for_failures()
        return refreshed

    def _repair_blob(self, record: DatasetVersionRecord, parquet: Path) -> None:
        """Put the stored file back when it went missing or corrupt and the new copy has the same bytes."""
        if not self.artifacts.is_local:
            return
        try:
            self.artifacts.verified_path(record.digest)
            return
        except (NotFoundError, ArtifactIntegrityError):
            pass
        if sha256_file(parquet).digest == record.digest:
            self.artifacts.delete(record.digest)
            self.artifacts.put_file(parquet, move=True)
            self._verified.discard(record.digest)

    def _link(self, run_id: str | None, record: DatasetVersionRecord) -> None:
        if run_id is not None:
            self.store.link_artifact(
                run_id, record.artifact_id, "output", f"datasets/{record.dataset}/v{record.version}"
            )

    # --- reading -------------------------------------------------------------------------------------

    def get(self, name: str, version: int | None = None, *, include_failed: bool = False) -> DatasetVersion:
        """A version of ``name``: ``version=N``, or the latest one whose blocking checks did not fail."""
        return DatasetVersion(self.catalog.get_version(name, version, include_failed=include_failed), self)

    def resolve(self, target: str | DatasetVersion, version: int | None = None) -> DatasetVersion:
        """A version from a :class:`DatasetVersion`, a name (latest), or ``"name:3"``."""
        if isinstance(target, DatasetVersion):
            return target
        if version is None and ":" in target:
            name, _, number = target.rpartition(":")
            if not number.isdigit():
                raise InvalidInputError(
                    "A dataset version is written NAME or NAME:VERSION, e.g. transactions:3. "
                    f"Got {target!r} instead.",
                    target=target,
                )
            return self.get(name, int(number), include_failed=True)
        return self.get(target, version, include_failed=version is not None)

    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its version count."""
        return self.catalog.list_datasets()

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        return [DatasetVersion(record, self) for record in self.catalog.list_versions(name)]

    def local_path(self, record: DatasetVersionRecord) -> Path:
        """The version's Parquet file on this machine, verified against its digest once per process."""
        label = f"{record.dataset}:{record.version}"
        if self.artifacts.is_local:
            path = Path(self.artifacts.path_for(record.digest))
            if record.digest not in self._verified:
                self.artifacts.verified_path(record.digest, name=label)
                self._verified.add(record.digest)
            return path
        cached = self._cache_dir / "sha256" / f"{record.digest}.parquet"
        if not cached.exists():
            self.artifacts.download(record.digest, cached, name=label)
        return cached

    # --- schemas -------------------------------------------------------------------------------------

    def infer_schema(self, target: str | DatasetVersion, version: int | None = None) -> DataSchema:
        """A schema that a version satisfies (types, nullability, ranges, categories); edit it to taste."""
        resolved = self.resolve(target, version)
        return infer_schema(resolved.profile, dataset=resolved.name)

    def save_schema(self, name: str, schema: DataSchema | str | Path) -> SchemaRecord:
        """Record ``schema`` (an object or a YAML file) as the next schema version of dataset ``name``.

        From then on every new version of ``name`` is checked against it when logged."""
        _validate_dataset_name(name)
        loaded = _load_schema(schema)
        record, _created = self.catalog.save_schema(name, loaded.to_yaml(), loaded.content_hash)
        return record

    def schema(self, name: str, version: int | None = None) -> DataSchema:
        """A saved schema of ``name`` (default the latest)."""
        record = self.catalog.get_schema(name, version)
        return DataSchema.from_yaml(record.body, source=f"schema {record.version} of dataset {name!r}")

    # --- checks --------------------------------------------------------------------------------------

    def check(
        self,
        target: str | DatasetVersion,
        version: int | None = None,
        *,
        schema: DataSchema | str | Path | None = None,
        reference: int | str | DatasetVersion | None = None,
        checks: Sequence[Any] = (),
        psi_threshold: float = 0.2,
        run_id: str | None = None,
        record: bool = True,
    ) -> CheckReport:
        """Check a version against a schema (default: the dataset's saved schema), a reference version
        (value skew) and custom checks; store the results with the version unless ``record=False``."""
        validate_checks(checks)
        resolved = self.resolve(target, version)
        schema_id = None
        if schema is None and self.catalog.has_schema(resolved.name):
            saved = self.catalog.get_schema(resolved.name)
            schema_id = saved.id
            loaded: DataSchema | None = DataSchema.from_yaml(
                saved.body, source=f"schema {saved.version} of {resolved.name!r}"
            )
        else:
            loaded = None if schema is None else _load_schema(schema)
        results: list[CheckResult] = []
        if loaded is not None:
            results += schema_checks(resolved.path, resolved.columns, resolved.profile, loaded)
        reference_version = None
        if reference is not None:
            reference_version = (
                self.get(resolved.name, reference, include_failed=True)
                if isinstance(reference, int)
                else self.resolve(reference)
            )
            results += value_skew_checks(
                resolved.profile, reference_version.profile, psi_threshold=psi_threshold
            )
        if checks:
            results += custom_checks(checks, lambda columns: resolved.to_pandas(columns))
        report = CheckReport(resolved.name, resolved.version, results)
        if record and results:
            self.catalog.record_checks(
                resolved.id,
                [
                    CheckRecord(
                        name=result.name,
                        kind=result.kind,
                        severity=result.severity,
                        passed=result.passed,
                        column=result.column,
                        failed_rows=result.failed_rows,
                        details={
                            "message": result.message,
                            "examples": [_jsonable(value) for value in result.examples],
                            "statistics": result.statistics,
                        },
                        schema_id=schema_id if result.kind == "schema" else None,
                        reference_id=reference_version.id
                        if result.kind == "value" and reference_version
                        else None,
                        run_id=run_id,
                    )
                    for result in results
                ],
                report.status,
            )
        return report


def _validate_dataset_name(name: str) -> None:
    validate_key("dataset", name)
    if ":" in name:
        raise InvalidInputError(
            f"A dataset name cannot contain ':' (it separates name and version, as in transactions:3). "
            f"Got {name!r} instead.",
            name=name,
        )


def _result(record: CheckRecord) -> CheckResult:
    """A stored check outcome as a :class:`CheckResult` (to report a failure recorded earlier)."""
    return CheckResult(
        name=record.name,
        kind=record.kind,
        severity=record.severity,
        passed=record.passed,
        message=str(record.details.get("message", record.name)),
        column=record.column,
        failed_rows=record.failed_rows,
        examples=list(record.details.get("examples", [])),
        statistics=dict(record.details.get("statistics", {})),
    )


def lineage_name(record: DatasetVersionRecord) -> str:
    """The name a dataset version has among a run's inputs or outputs: ``datasets/<name>/v<version>``."""
    return f"datasets/{record.dataset}/v{record.version}"


def _load_schema(schema: DataSchema | str | Path) -> DataSchema:
    if isinstance(schema, DataSchema):
        return schema
    return DataSchema.load(schema)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _write_canonical(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], path: Path, progress: Progress | None
) -> tuple[ContentHasher, RowSample]:
    """Write canonical Parquet with fixed row groups while hashing the logical content and sampling rows
    for the profile, in one pass."""
    import pyarrow.parquet as pq

    hasher = ContentHasher(schema)
    sample = RowSample(schema)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    # Dictionary-encode text and booleans only: numbers rarely repeat enough to pay for it.
    dictionary = [field.name for field in schema if column_kind(field.type) == "categorical"]
    with pq.ParquetWriter(
        path,
        schema,
        compression="zstd",
        compression_level=1,
        use_dictionary=dictionary,
        write_statistics=True,
    ) as writer:
        for batch in batches:
            if not batch.num_rows:
                continue
            hasher.update(batch)
            sample.update(batch)
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(pending, schema=schema)
                writer.write_table(table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
                rest = table.slice(ROW_GROUP_ROWS)
                pending = rest.to_batches()
                pending_rows = rest.num_rows
            if progress is not None:
                progress(hasher.rows)
        if pending_rows:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROW_GROUP_ROWS)
    return hasher, sample
