"""Monitors, the windows they processed, and their results, in the metadata store.

On the metadata store's database and transaction rules, like :mod:`loopwright.store.deployments`. Results
are a compact time series, one row per (window, metric, column) holding one number, so a year of hourly
windows over 25 columns is a few hundred thousand small rows that an index answers by metric and time.

A window and its results are written in one transaction (:meth:`MonitorCatalog.save_window`): a window
row exists only with all of its results, so a run cut short leaves no half-computed window behind, and
the next run computes it again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import ConflictError, NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import feedback, monitor_results, monitor_windows, monitors

__all__ = [
    "MONITOR_FIELDS",
    "PROFILE_OPTIONS",
    "MonitorCatalog",
    "MonitorRecord",
    "ResultRecord",
    "WindowRecord",
]

MONITOR_FIELDS = (
    "deployment",
    "reference",
    "window_ms",
    "window_rows",
    "columns",
    "drift",
    "correction",
    "options",
)
"""The columns of a monitor that its definition sets (the rest are kept by the store)."""

_LABEL_CHUNK = 5_000  # ids per IN (...): well under SQLite's 32,766 variables and PostgreSQL's 65,535

PROFILE_OPTIONS = ("multivariate", "prediction_column", "task")
"""The options a reference profile depends on (with the reference and the columns)."""


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """What the store knows of one monitor."""

    id: int
    name: str
    deployment: str
    reference: dict[str, Any]
    window_ms: int | None
    window_rows: int | None
    columns: list[str] | None
    drift: dict[str, Any]
    correction: str | None
    options: dict[str, Any]
    profile_artifact_id: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def fields(self) -> dict[str, Any]:
        """The definition's fields, by name (:data:`MONITOR_FIELDS`)."""
        return {name: getattr(self, name) for name in MONITOR_FIELDS}


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One processed window of a monitor: ``[start_ms, end_ms)``, its predictions, how many had labels
    when it was computed, and ``ok``, ``empty`` or ``failed`` (with the error)."""

    monitor_id: int
    start_ms: int
    end_ms: int
    rows: int
    labels: int | None
    status: str
    error: str | None
    computed_ms: int


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One number of one window: ``metric`` (of ``column``, when it is per column) and small ``extra``
    facts such as the test used or ``estimated``. ``value`` is ``None`` where the metric is undefined."""

    window_start_ms: int
    window_end_ms: int
    metric: str
    column: str | None
    value: float | None
    extra: dict[str, Any] | None = field(default=None)


class MonitorCatalog:
    """Monitors and their windows and results, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- monitors --------------------------------------------------------------------------------------

    def find(self, name: str) -> MonitorRecord | None:
        """Monitor ``name``, or ``None``."""
        with self._store._read() as connection:
            row = connection.execute(select(monitors).where(monitors.c.name == name)).first()
        return None if row is None else _monitor(row)

    def get(self, name: str) -> MonitorRecord:
        """Monitor ``name``; :class:`NotFoundError` naming the known monitors if there is none."""
        found = self.find(name)
        if found is None:
            known = [record.name for record in self.all()]
            listing = ", ".join(map(repr, known[:10])) if known else "none yet"
            raise NotFoundError(
                f"Monitor {name!r} does not exist. Known monitors: {listing}. Create one with "
                "lw.monitor(deployment, reference=...) or `loopwright monitor create`.",
                kind="monitor",
                key=name,
            )
        return found

    def get_by_id(self, monitor_id: int) -> MonitorRecord:
        """Monitor ``monitor_id``."""
        with self._store._read() as connection:
            row = connection.execute(select(monitors).where(monitors.c.id == monitor_id)).first()
        if row is None:
            raise NotFoundError(f"Monitor {monitor_id} does not exist.", kind="monitor", key=str(monitor_id))
        return _monitor(row)

    def all(self, deployment: str | None = None) -> list[MonitorRecord]:
        """Every monitor (of ``deployment``), by name."""
        query = select(monitors).order_by(monitors.c.name)
        if deployment is not None:
            query = query.where(monitors.c.deployment == deployment)
        with self._store._read() as connection:
            return [_monitor(row) for row in connection.execute(query).all()]

    def create(self, name: str, fields: Mapping[str, Any]) -> MonitorRecord:
        """Insert monitor ``name``; :class:`ConflictError` if it exists."""
        values = {key: fields.get(key) for key in MONITOR_FIELDS}
        moment = now_ms()
        try:
            with self._store._write() as connection:
                connection.execute(
                    insert(monitors).values(
                        name=name, enabled=True, created_ms=moment, updated_ms=moment, **values
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"Monitor {name!r} already exists. Change it with lw.monitor(..., name={name!r}) or remove "
                f"it with `loopwright monitor delete {name}`.",
                monitor=name,
            ) from None
        return self.get(name)

    def update(self, name: str, fields: Mapping[str, Any]) -> MonitorRecord:
        """Set the definition ``fields`` of monitor ``name``. A change of what the reference profile is
        made of (the reference, the columns, or the options in :data:`PROFILE_OPTIONS`) drops the cached
        profile, built again when next needed; processed windows stay as they are."""
        current = self.get(name)
        values = {key: fields[key] for key in MONITOR_FIELDS if key in fields}
        before = {"reference": current.reference, "columns": current.columns, "options": current.options}
        after = {**before, **{key: values[key] for key in before if key in values}}
        if _profile_facts(before) != _profile_facts(after):
            values["profile_artifact_id"] = None
        with self._store._write() as connection:
            connection.execute(
                update(monitors).where(monitors.c.id == current.id).values(updated_ms=now_ms(), **values)
            )
        return self.get(name)

    def set_profile(self, monitor_id: int, artifact_id: str | None) -> None:
        """Point monitor ``monitor_id`` at its cached reference profile (an artifact of kind ``file``)."""
        with self._store._write() as connection:
            connection.execute(
                update(monitors).where(monitors.c.id == monitor_id).values(profile_artifact_id=artifact_id)
            )

    def set_enabled(self, name: str, enabled: bool) -> MonitorRecord:
        """Enable or disable monitor ``name`` (a disabled monitor is skipped by runs over all monitors)."""
        current = self.get(name)
        with self._store._write() as connection:
            connection.execute(
                update(monitors)
                .where(monitors.c.id == current.id)
                .values(enabled=enabled, updated_ms=now_ms())
            )
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove monitor ``name`` with its windows, results and alert rules."""
        current = self.get(name)
        with self._store._write() as connection:  # windows, results, rules and alerts go by ON DELETE CASCADE
            connection.execute(delete(monitors).where(monitors.c.id == current.id))

    # --- windows ---------------------------------------------------------------------------------------

    def windows(
        self, monitor_id: int, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[WindowRecord]:
        """The processed windows of ``monitor_id`` starting in ``[start_ms, end_ms)``, oldest first."""
        where = [monitor_windows.c.monitor_id == monitor_id]
        if start_ms is not None:
            where.append(monitor_windows.c.start_ms >= start_ms)
        if end_ms is not None:
            where.append(monitor_windows.c.start_ms < end_ms)
        query = select(monitor_windows).where(*where).order_by(monitor_windows.c.start_ms)
        with self._store._read() as connection:
            return [_window(row) for row in connection.execute(query).all()]

    def frontier(self, monitor_id: int) -> int | None:
        """The end of the latest processed window of ``monitor_id`` (where the next one starts)."""
        with self._store._read() as connection:
            value = connection.execute(
                select(func.max(monitor_windows.c.end_ms)).where(monitor_windows.c.monitor_id == monitor_id)
            ).scalar()
        return None if value is None else int(value)

    def save_window(self, window: WindowRecord, results: Sequence[ResultRecord]) -> None:
        """Record ``window`` with its ``results`` in one transaction, replacing what an earlier
        computation of the same window (same start) recorded."""
        with self._store._write() as connection:
            _delete_window(connection, window.monitor_id, window.start_ms)
            connection.execute(
                insert(monitor_windows).values(
                    monitor_id=window.monitor_id,
                    start_ms=window.start_ms,
                    end_ms=window.end_ms,
                    rows=window.rows,
                    labels=window.labels,
                    status=window.status,
                    error=window.error,
                    computed_ms=window.computed_ms,
                )
            )
            _insert_results(connection, window.monitor_id, results)

    def replace_metrics(
        self,
        monitor_id: int,
        start_ms: int,
        metrics: Sequence[str],
        results: Sequence[ResultRecord],
        *,
        labels: int,
    ) -> None:
        """Replace the ``metrics`` results of the window of ``monitor_id`` starting at ``start_ms`` with
        ``results``, and its label count (late labels make a window's performance stale)."""
        with self._store._write() as connection:
            connection.execute(
                delete(monitor_results).where(
                    monitor_results.c.monitor_id == monitor_id,
                    monitor_results.c.window_start_ms == start_ms,
                    monitor_results.c.metric.in_(list(metrics)),
                )
            )
            _insert_results(connection, monitor_id, results)
            connection.execute(
                update(monitor_windows)
                .where(monitor_windows.c.monitor_id == monitor_id, monitor_windows.c.start_ms == start_ms)
                .values(labels=labels, computed_ms=now_ms())
            )

    def delete_windows(self, monitor_id: int, start_ms: int, end_ms: int) -> int:
        """Forget the windows of ``monitor_id`` starting in ``[start_ms, end_ms)`` and their results (so a
        backfill computes them again). Returns how many windows were removed."""
        with self._store._write() as connection:
            connection.execute(
                delete(monitor_results).where(
                    monitor_results.c.monitor_id == monitor_id,
                    monitor_results.c.window_start_ms >= start_ms,
                    monitor_results.c.window_start_ms < end_ms,
                )
            )
            removed = connection.execute(
                delete(monitor_windows).where(
                    monitor_windows.c.monitor_id == monitor_id,
                    monitor_windows.c.start_ms >= start_ms,
                    monitor_windows.c.start_ms < end_ms,
                )
            ).rowcount
        return int(removed or 0)

    # --- labels ----------------------------------------------------------------------------------------

    def labels(self, deployment: str, request_ids: Sequence[str]) -> dict[str, Any]:
        """The feedback values of ``request_ids`` of ``deployment``, by request id: a window's label join,
        in large chunks of ids (a window may hold a million predictions)."""
        found: dict[str, Any] = {}
        with self._store._read() as connection:
            for start in range(0, len(request_ids), _LABEL_CHUNK):
                chunk = list(request_ids[start : start + _LABEL_CHUNK])
                rows = connection.execute(
                    select(feedback.c.request_id, feedback.c.value).where(
                        feedback.c.deployment == deployment, feedback.c.request_id.in_(chunk)
                    )
                )
                found.update((row.request_id, row.value) for row in rows)
        return found

    def has_labels(self, deployment: str, since_ms: int | None = None) -> bool:
        """Whether ``deployment`` has any feedback (received at or after ``since_ms``): one index probe."""
        query = select(feedback.c.id).where(feedback.c.deployment == deployment)
        if since_ms is not None:
            query = query.where(feedback.c.received_ms >= since_ms)
        with self._store._read() as connection:
            return connection.execute(query.limit(1)).first() is not None

    # --- results ---------------------------------------------------------------------------------------

    def results(
        self,
        monitor_id: int,
        *,
        metric: str | Sequence[str] | None = None,
        column: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[ResultRecord]:
        """The results of ``monitor_id`` (of ``metric`` and ``column``) of windows starting in
        ``[start_ms, end_ms)``, by window, then metric and column."""
        where = [monitor_results.c.monitor_id == monitor_id]
        if isinstance(metric, str):
            where.append(monitor_results.c.metric == metric)
        elif metric is not None:
            where.append(monitor_results.c.metric.in_(list(metric)))
        if column is not None:
            where.append(monitor_results.c.column == column)
        if start_ms is not None:
            where.append(monitor_results.c.window_start_ms >= start_ms)
        if end_ms is not None:
            where.append(monitor_results.c.window_start_ms < end_ms)
        query = (
            select(monitor_results)
            .where(*where)
            .order_by(monitor_results.c.window_start_ms, monitor_results.c.id)
        )
        with self._store._read() as connection:
            return [_result(row) for row in connection.execute(query).all()]

    def latest_results(self, monitor_id: int) -> list[ResultRecord]:
        """The results of the latest processed window of ``monitor_id`` that has any."""
        with self._store._read() as connection:
            latest = connection.execute(
                select(func.max(monitor_results.c.window_start_ms)).where(
                    monitor_results.c.monitor_id == monitor_id
                )
            ).scalar()
            if latest is None:
                return []
            rows = connection.execute(
                select(monitor_results)
                .where(
                    and_(
                        monitor_results.c.monitor_id == monitor_id,
                        monitor_results.c.window_start_ms == latest,
                    )
                )
                .order_by(monitor_results.c.id)
            ).all()
        return [_result(row) for row in rows]


def _profile_facts(definition: Mapping[str, Any]) -> tuple[Any, ...]:
    options = definition["options"] or {}
    return (
        definition["reference"],
        definition["columns"],
        *(options.get(key) for key in PROFILE_OPTIONS),
    )


def _delete_window(connection: Connection, monitor_id: int, start_ms: int) -> None:
    connection.execute(
        delete(monitor_results).where(
            monitor_results.c.monitor_id == monitor_id, monitor_results.c.window_start_ms == start_ms
        )
    )
    connection.execute(
        delete(monitor_windows).where(
            monitor_windows.c.monitor_id == monitor_id, monitor_windows.c.start_ms == start_ms
        )
    )


def _insert_results(connection: Connection, monitor_id: int, results: Sequence[ResultRecord]) -> None:
    if not results:
        return
    connection.execute(
        insert(monitor_results),
        [
            {
                "monitor_id": monitor_id,
                "window_start_ms": result.window_start_ms,
                "window_end_ms": result.window_end_ms,
                "metric": result.metric,
                "column": result.column,
                # NaN and infinities are "undefined" here: SQLite cannot keep NaN, and a time series of
                # monitor numbers has no use for either.
                "value": None
                if result.value is None or not math.isfinite(result.value)
                else float(result.value),
                "extra": result.extra,
            }
            for result in results
        ],
    )


def _monitor(row: Any) -> MonitorRecord:
    return MonitorRecord(
        id=row.id,
        name=row.name,
        deployment=row.deployment,
        reference=dict(row.reference),
        window_ms=row.window_ms,
        window_rows=row.window_rows,
        columns=None if row.columns is None else list(row.columns),
        drift=dict(row.drift),
        correction=row.correction,
        options=dict(row.options),
        profile_artifact_id=row.profile_artifact_id,
        enabled=bool(row.enabled),
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        updated_at=from_ms(row.updated_ms),  # type: ignore[arg-type]
    )


def _window(row: Any) -> WindowRecord:
    return WindowRecord(
        monitor_id=row.monitor_id,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        rows=row.rows,
        labels=row.labels,
        status=row.status,
        error=row.error,
        computed_ms=row.computed_ms,
    )


def _result(row: Any) -> ResultRecord:
    return ResultRecord(
        window_start_ms=row.window_start_ms,
        window_end_ms=row.window_end_ms,
        metric=row.metric,
        column=row.column,
        value=row.value,
        extra=None if row.extra is None else dict(row.extra),
    )
