"""The metadata store: experiments, runs, parameters, tags, metrics and the lineage graph.

One implementation over SQLAlchemy Core serves SQLite and PostgreSQL; both pass the same contract suite
(``tests/store/test_metadata_contract.py``). Every statement is built with SQLAlchemy expressions, so no
user text is ever spliced into SQL.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ParamConflictError,
    StoreError,
)
from loopwright.settings import StoreSettings
from loopwright.store import engine as engine_module
from loopwright.store.filters import compile_filter, order_clauses, parse_order_by
from loopwright.store.records import (
    ArtifactRecord,
    Experiment,
    Metric,
    RunArtifact,
    RunRecord,
    RunStatus,
    from_ms,
)
from loopwright.store.schema import (
    artifacts,
    events,
    experiments,
    latest_metrics,
    metrics,
    params,
    run_tags,
    runs,
)

__all__ = ["MetadataStore", "MetricRow", "now_ms"]

MetricRow = tuple[str, str, float, int, int]
"""One buffered metric point: ``(run_id, key, value, step, timestamp_ms)``."""

_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit


def now_ms() -> int:
    """The current time in epoch milliseconds, the unit every stored time uses."""
    return time.time_ns() // 1_000_000


class MetadataStore:
    """Experiments, runs and lineage in one SQL database (SQLite or PostgreSQL).

    Opening a store brings its schema up to date (safely under concurrency)::

        >>> store = MetadataStore("sqlite:////tmp/lw-doc/loopwright.db")
        >>> store.get_or_create_experiment("churn").name
        'churn'
    """

    def __init__(self, url: str, settings: StoreSettings | None = None) -> None:
        self.url = url
        self._engine: Engine = engine_module.make_engine(url, settings or StoreSettings())
        engine_module.ensure_schema(self._engine)
        # Only the running dialect's module is imported (the PostgreSQL one costs ~60 ms on SQLite).
        self._insert: Any
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            self._insert = postgresql_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert = sqlite_insert
        _open_stores.add(self)

    def __repr__(self) -> str:
        return f"MetadataStore({self.display_url!r})"

    @property
    def display_url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def schema_revision(self) -> str | None:
        """The Alembic revision the database's schema is at (:data:`~loopwright.store.engine.HEAD_REVISION`
        once the store is open)."""
        return engine_module.current_revision(self._engine)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            connection.execution_options(**engine_module.WRITE)
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            yield connection

    # --- experiments ---------------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str, description: str | None = None) -> Experiment:
        """The experiment called ``name``, created if it does not exist yet (race-safe)."""
        with self._read() as connection:
            row = connection.execute(select(experiments).where(experiments.c.name == name)).first()
        if row is not None:
            return _experiment(row)  # the common case takes no write lock
        with self._write() as connection:
            statement = (
                self._insert(experiments)
                .values(name=name, description=description, created_ms=now_ms())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            connection.execute(statement)
            row = connection.execute(select(experiments).where(experiments.c.name == name)).one()
        return _experiment(row)

    def get_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``; :class:`NotFoundError` if there is none."""
        with self._read() as connection:
            row = connection.execute(select(experiments).where(experiments.c.name == name)).first()
            if row is None:
                known = connection.execute(select(experiments.c.name).order_by(experiments.c.name)).scalars()
                raise NotFoundError(
                    f"Experiment {name!r} does not exist. Known experiments: "
                    f"{', '.join(repr(known_name) for known_name in known) or 'none yet'}.",
                    kind="experiment",
                    key=name,
                )
        return _experiment(row)

    def list_experiments(self) -> list[Experiment]:
        """Every experiment with its number of runs and the start of its latest run."""
        statement = (
            select(
                experiments,
                func.count(runs.c.id).label("run_count"),
                func.max(runs.c.start_ms).label("last_start_ms"),
            )
            .outerjoin(runs, runs.c.experiment_id == experiments.c.id)
            .group_by(*experiments.c)
            .order_by(experiments.c.name)
        )
        with self._read() as connection:
            return [
                _experiment(row, run_count=row.run_count, last_start_ms=row.last_start_ms)
                for row in connection.execute(statement)
            ]

    # --- runs ----------------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: int,
        name: str,
        *,
        run_id: str | None = None,
        parent_id: str | None = None,
        kind: str = "run",
        start_ms: int | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> str:
        """Insert a running run and return its id. ``system`` fills the recorded-on-its-own columns."""
        run_id = run_id or uuid.uuid4().hex
        values: dict[str, Any] = {
            "id": run_id,
            "experiment_id": experiment_id,
            "parent_id": parent_id,
            "name": name,
            "kind": kind,
            "status": RunStatus.RUNNING.value,
            "start_ms": start_ms if start_ms is not None else now_ms(),
        }
        allowed = {
            "user",
            "host",
            "pid",
            "source",
            "git_commit",
            "git_dirty",
            "python_version",
            "environment",
        }
        values.update({key: value for key, value in (system or {}).items() if key in allowed})
        try:
            with self._write() as connection:
                connection.execute(insert(runs).values(**values))
        except IntegrityError as error:
            if parent_id is not None:
                self.get_run(parent_id)  # raises NotFoundError naming the parent
            raise StoreError(f"Creating run {name!r} failed: {error.orig}") from error
        return run_id

    def end_run(self, run_id: str, status: RunStatus, *, error: str | None = None) -> None:
        """Mark a run as ended with ``status`` (and the error text of a failed run)."""
        with self._write() as connection:
            result = connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status.value, end_ms=now_ms(), error=error)
            )
        if result.rowcount == 0:
            raise _run_not_found(run_id)

    def run_status(self, run_id: str) -> RunStatus:
        """The current status of a run."""
        with self._read() as connection:
            status = connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        if status is None:
            raise _run_not_found(run_id)
        return RunStatus(status)

    def get_run(self, run_id: str) -> RunRecord:
        """Everything recorded about one run; :class:`NotFoundError` if there is no such run."""
        with self._read() as connection:
            statement = (
                select(runs, experiments.c.name.label("experiment_name"))
                .join(experiments, experiments.c.id == runs.c.experiment_id)
                .where(runs.c.id == run_id)
            )
            row = connection.execute(statement).first()
            if row is None:
                raise _run_not_found(run_id)
            return self._hydrate(connection, [row])[0]

    def runs_with_id_prefix(self, prefix: str, *, limit: int | None = 10) -> list[tuple[str, str]]:
        """``(id, name)`` of the runs whose id starts with ``prefix``, by id; at most ``limit`` of them.

        The prefix is matched with ``LIKE 'prefix%'`` with its wildcards escaped, so ``%`` and ``_`` in
        it match only themselves. Matching is case-sensitive on every backend; the rows are checked again
        here so that holds whatever a connection's ``LIKE`` settings are.
        """
        statement = (
            select(runs.c.id, runs.c.name)
            .where(runs.c.id.startswith(prefix, autoescape=True))
            .order_by(runs.c.id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._read() as connection:
            rows = connection.execute(statement).all()
        return [(row.id, row.name) for row in rows if row.id.startswith(prefix)]

    def search_runs(
        self,
        experiment_names: Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = 1000,
        offset: int = 0,
        parent_id: str | None = None,
    ) -> list[RunRecord]:
        """Runs matching ``filter`` (see :mod:`loopwright.store.filters`), ordered and paged in SQL."""
        _check_count("max_results", max_results, allow_none=True)
        _check_count("offset", offset, allow_none=False)
        condition = compile_filter(filter)
        keys = parse_order_by(list(order_by or ()))
        statement = select(runs, experiments.c.name.label("experiment_name")).join(
            experiments, experiments.c.id == runs.c.experiment_id
        )
        if experiment_names:
            ids = [self.get_experiment(name).id for name in experiment_names]
            statement = statement.where(runs.c.experiment_id.in_(ids))
        if parent_id is not None:
            statement = statement.where(runs.c.parent_id == parent_id)
        statement = statement.where(condition)
        statement, clauses = order_clauses(keys, statement)
        statement = statement.order_by(*clauses).offset(offset)
        if max_results is not None:
            statement = statement.limit(max_results)
        with self._read() as connection:
            rows = list(connection.execute(statement))
            return self._hydrate(connection, rows)

    def _hydrate(self, connection: Connection, rows: Sequence[Row[Any]]) -> list[RunRecord]:
        ids = [row.id for row in rows]
        run_params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
        tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
        latest: dict[str, dict[str, float]] = {run_id: {} for run_id in ids}
        for chunk in _chunks(ids, _IN_CHUNK):
            for run_id, key, value in connection.execute(
                select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(chunk))
            ):
                run_params[run_id][key] = value
            for run_id, key, value in connection.execute(
                select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
                    run_tags.c.run_id.in_(chunk)
                )
            ):
                tags[run_id][key] = value
            for run_id, key, value, is_nan in connection.execute(
                select(
                    latest_metrics.c.run_id,
                    latest_metrics.c.key,
                    latest_metrics.c.value,
                    latest_metrics.c.is_nan,
                ).where(latest_metrics.c.run_id.in_(chunk))
            ):
                latest[run_id][key] = _metric_value(value, is_nan)
        return [
            RunRecord(
                id=row.id,
                experiment_id=row.experiment_id,
                experiment=row.experiment_name,
                name=row.name,
                kind=row.kind,
                status=RunStatus(row.status),
                start_time=from_ms(row.start_ms),  # type: ignore[arg-type]
                end_time=from_ms(row.end_ms),
                parent_id=row.parent_id,
                error=row.error,
                user=row.user,
                host=row.host,
                pid=row.pid,
                source=row.source,
                git_commit=row.git_commit,
                git_dirty=row.git_dirty,
                python_version=row.python_version,
                environment=dict(row.environment or {}),
                params=dict(sorted(run_params[row.id].items())),
                tags=dict(sorted(tags[row.id].items())),
                metrics=dict(sorted(latest[row.id].items())),
            )
            for row in rows
        ]

    # --- params, tags, metrics -----------------------------------------------------------------------

    def log_params(self, run_id: str, values: Mapping[str, str]) -> None:
        """Record parameters. Logging a key again with the same value is a no-op; another value is a
        :class:`ParamConflictError` and nothing of the call is written."""
        if not values:
            return
        with self._write() as connection:
            existing = dict(
                connection.execute(
                    select(params.c.key, params.c.value).where(
                        params.c.run_id == run_id, params.c.key.in_(list(values))
                    )
                ).all()
            )
            for key, value in values.items():
                if key in existing and existing[key] != value:
                    raise ParamConflictError(
                        f"Parameter {key!r} of run {run_id} is already {existing[key]!r}; it cannot become "
                        f"{value!r}. Parameters are immutable: log the new value under another key or "
                        "start a new run.",
                        run_id=run_id,
                        key=key,
                        old=existing[key],
                        new=value,
                    )
            new = [{"run_id": run_id, "key": key, "value": value} for key, value in values.items()]
            new = [row for row in new if row["key"] not in existing]
            if new:
                self._execute_or_missing_run(
                    connection,
                    self._insert(params).on_conflict_do_nothing(index_elements=["run_id", "key"]),
                    new,
                    run_id,
                )

    def set_tags(self, run_id: str, values: Mapping[str, str]) -> None:
        """Set tags; unlike parameters, a tag can be overwritten."""
        if not values:
            return
        statement = self._insert(run_tags)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": statement.excluded.value}
        )
        rows = [{"run_id": run_id, "key": key, "value": value} for key, value in values.items()]
        with self._write() as connection:
            self._execute_or_missing_run(connection, statement, rows, run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run (no error if it is not set)."""
        with self._write() as connection:
            connection.execute(run_tags.delete().where(run_tags.c.run_id == run_id, run_tags.c.key == key))

    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Append metric points in one transaction and advance each series' latest value."""
        if not rows:
            return
        records: list[dict[str, Any]] = []
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for run_id, key, value, step, timestamp_ms in rows:
            is_nan = value != value
            record = {
                "run_id": run_id,
                "key": key,
                "step": step,
                "timestamp_ms": timestamp_ms,
                "value": None if is_nan else value,
                "is_nan": is_nan,
            }
            records.append(record)
            current = latest.get((run_id, key))
            if current is None or (step, timestamp_ms) >= (current["step"], current["timestamp_ms"]):
                latest[(run_id, key)] = record
        upsert = self._insert(latest_metrics)
        excluded = upsert.excluded
        upsert = upsert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "step": excluded.step,
                "timestamp_ms": excluded.timestamp_ms,
                "value": excluded.value,
                "is_nan": excluded.is_nan,
            },
            where=or_(
                excluded.step > latest_metrics.c.step,
                and_(
                    excluded.step == latest_metrics.c.step,
                    excluded.timestamp_ms >= latest_metrics.c.timestamp_ms,
                ),
            ),
        )
        with self._write() as connection:
            connection.execute(insert(metrics), records)
            connection.execute(upsert, list(latest.values()))

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric of one run, by step then time."""
        statement = (
            select(metrics.c.key, metrics.c.value, metrics.c.is_nan, metrics.c.step, metrics.c.timestamp_ms)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp_ms, metrics.c.id)
        )
        with self._read() as connection:
            return [
                Metric(
                    key=row.key,
                    value=_metric_value(row.value, row.is_nan),
                    step=row.step,
                    timestamp=from_ms(row.timestamp_ms),  # type: ignore[arg-type]
                )
                for row in connection.execute(statement)
            ]

    def metric_keys(self, run_id: str) -> list[str]:
        """The names of every metric logged by a run."""
        with self._read() as connection:
            return list(
                connection.execute(
                    select(latest_metrics.c.key)
                    .where(latest_metrics.c.run_id == run_id)
                    .order_by(latest_metrics.c.key)
                ).scalars()
            )

    def count_metric_points(self, run_id: str | None = None) -> int:
        """How many metric points are stored (for one run, or in all)."""
        statement = select(func.count()).select_from(metrics)
        if run_id is not None:
            statement = statement.where(metrics.c.run_id == run_id)
        with self._read() as connection:
            return int(connection.execute(statement).scalar_one())

    def _execute_or_missing_run(
        self, connection: Connection, statement: Any, rows: list[dict[str, Any]], run_id: str
    ) -> None:
        try:
            with connection.begin_nested():
                connection.execute(statement, rows)
        except IntegrityError:
            raise _run_not_found(run_id) from None

    # --- artifacts and lineage -----------------------------------------------------------------------

    def record_artifact(
        self,
        kind: str,
        digest: str,
        size: int,
        *,
        media_type: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> ArtifactRecord:
        """The artifact of ``kind`` with ``digest``, recorded if new (content-addressed: never twice)."""
        statement = (
            self._insert(artifacts)
            .values(
                id=uuid.uuid4().hex,
                kind=kind,
                digest=digest,
                size=size,
                media_type=media_type,
                created_ms=now_ms(),
                properties=dict(properties or {}),
            )
            .on_conflict_do_nothing(index_elements=["kind", "digest"])
        )
        with self._write() as connection:
            connection.execute(statement)
            row = connection.execute(
                select(artifacts).where(artifacts.c.kind == kind, artifacts.c.digest == digest)
            ).one()
        return _artifact(row)

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """One artifact by id."""
        with self._read() as connection:
            row = connection.execute(select(artifacts).where(artifacts.c.id == artifact_id)).first()
        if row is None:
            raise NotFoundError(f"Artifact {artifact_id!r} does not exist.", kind="artifact", key=artifact_id)
        return _artifact(row)

    def link_artifact(self, run_id: str, artifact_id: str, direction: str, name: str) -> None:
        """Record that ``run_id`` used (``input``) or produced (``output``) an artifact under ``name``."""
        if direction not in {"input", "output"}:
            raise ValueError(f"direction must be 'input' or 'output'. Got {direction!r} instead.")
        with self._write() as connection:
            current = connection.execute(
                select(events.c.artifact_id).where(
                    events.c.run_id == run_id, events.c.direction == direction, events.c.name == name
                )
            ).scalar()
            if current == artifact_id:
                return
            if current is not None:
                raise ConflictError(
                    f"Run {run_id} already has an {direction} named {name!r} with other content. Artifacts "
                    "are immutable: log the new content under another name.",
                    run_id=run_id,
                    name=name,
                )
            self._execute_or_missing_run(
                connection,
                insert(events),
                [
                    {
                        "run_id": run_id,
                        "artifact_id": artifact_id,
                        "direction": direction,
                        "name": name,
                        "created_ms": now_ms(),
                    }
                ],
                run_id,
            )

    def run_artifacts(self, run_id: str, direction: str | None = None) -> list[RunArtifact]:
        """The artifacts a run used and produced, by name."""
        statement = (
            select(events.c.run_id, events.c.name, events.c.direction, artifacts)
            .join(artifacts, artifacts.c.id == events.c.artifact_id)
            .where(events.c.run_id == run_id)
            .order_by(events.c.direction, events.c.name)
        )
        if direction is not None:
            statement = statement.where(events.c.direction == direction)
        with self._read() as connection:
            return [
                RunArtifact(
                    run_id=row.run_id, name=row.name, direction=row.direction, artifact=_artifact(row)
                )
                for row in connection.execute(statement)
            ]


_open_stores: weakref.WeakSet[MetadataStore] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    # Pooled connections belong to the parent process; a child must open its own (SQLAlchemy: "Using
    # Connection Pools with Multiprocessing").
    for store in list(_open_stores):
        store._engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_connections)


def _check_count(field: str, value: object, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**63 - 1:
        expected = "a non-negative integer" + (" or None" if allow_none else "")
        raise InvalidInputError(
            f"{field} must be {expected}. Got {value!r} instead.", field=field, value=repr(value)
        )


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _metric_value(value: float | None, is_nan: bool) -> float:
    return float("nan") if is_nan or value is None else float(value)


def _run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"Run {run_id!r} does not exist. List runs with `loopwright runs list`.", kind="run", key=run_id
    )


def _experiment(row: Row[Any], *, run_count: int = 0, last_start_ms: int | None = None) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        run_count=run_count,
        last_run_at=from_ms(last_start_ms),
    )


def _artifact(row: Row[Any]) -> ArtifactRecord:
    return ArtifactRecord(
        id=row.id,
        kind=row.kind,
        digest=row.digest,
        size=row.size,
        media_type=row.media_type,
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        properties=dict(row.properties or {}),
    )
