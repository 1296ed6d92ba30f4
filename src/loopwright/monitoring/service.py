"""The monitor service: create monitors, run them over new windows, backfill ranges, report their status.

A run of a monitor (:meth:`MonitorService.run`) does three things, each safe to repeat:

1. **New windows.** It computes the windows that ended since its latest processed window (from the
   first logged prediction, or the monitor's ``start``, the first time), reading the prediction log once
   per batch of windows, and records each window with its results in one transaction.
2. **Late labels.** Windows that ended within the monitor's ``label_horizon`` and were not fully labelled
   get their performance recomputed when feedback arrived since they were computed (one cheap query
   says whether any did).
3. **Alerts.** The monitor's alert rules judge the new windows (:mod:`loopwright.monitoring.alerts`).

The reference is profiled once (:class:`~loopwright.monitoring.profile.ReferenceProfile`), the first
time a window needs it, and stored as an artifact of kind ``file``; later runs read those bytes, never
the reference data. Without explicit ``columns``, the monitor watches the reference's columns that the
deployment's requests carry (a training set's label column is never an input).

A window that cannot be computed (a bug, unreadable data) is recorded as ``failed`` with the error, and
the run goes on; ``backfill`` computes it again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.errors import InvalidInputError, MonitorDefinitionError, NotFoundError
from loopwright.monitoring.measure import WindowMeasurer
from loopwright.monitoring.monitors import Monitor, parse_reference
from loopwright.monitoring.reference import ReferenceProfiles
from loopwright.monitoring.results import PERFORMANCE_METRICS, Measurement
from loopwright.monitoring.windows import Window, row_windows, time_windows
from loopwright.store.deployments import DeploymentStore
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.monitoring import MonitorCatalog, MonitorRecord, ResultRecord, WindowRecord

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.data.versions import Datasets
    from loopwright.monitoring.alerts import AlertEvent, Alerts
    from loopwright.serving.predictlog import PredictionLog
    from loopwright.store.artifacts import ArtifactStore

__all__ = ["MonitorRunReport", "MonitorService", "MonitorStatus"]

logger = logging.getLogger("loopwright.monitoring")

_BATCH_MS = 86_400_000  # the log is read a day of windows at a time: bounds memory on a first run
_BATCH_WINDOWS = 500


@dataclass(frozen=True, slots=True)
class MonitorRunReport:
    """What one run (or ``backfill``) of one monitor did: windows computed (``failed`` of them could not
    be), windows whose performance late labels updated, and the alerts that opened or resolved."""

    monitor: str
    windows: int = 0
    failed: int = 0
    updated: int = 0
    alerts: list[AlertEvent] = field(default_factory=list)
    backfill: bool = False

    def summary(self) -> str:
        """One line for people, e.g. ``Monitor 'fraud': 3 new windows, 1 updated by late labels.``"""
        plural = "s" * (self.windows != 1)
        text = f"Monitor {self.monitor!r}: " + (
            f"{self.windows} window{plural} recomputed"
            if self.backfill
            else f"{self.windows} new window{plural}"
        )
        if self.failed:
            text += f" ({self.failed} failed)"
        if self.updated:
            text += f", {self.updated} updated by late labels"
        opened = sum(1 for event in self.alerts if event.event == "opened")
        resolved = len(self.alerts) - opened
        if opened:
            text += f", {opened} alert{'s' * (opened != 1)} opened"
        if resolved:
            text += f", {resolved} resolved"
        return text + "."


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    """Where a monitor stands: its record, windows processed (and failed), the latest window and its
    results."""

    monitor: MonitorRecord
    windows: int
    failed: int
    latest_window: WindowRecord | None
    latest: list[ResultRecord]

    def value(self, metric: str, column: str | None = None) -> float | None:
        """The latest window's value of ``metric`` (of ``column``), or ``None``."""
        for result in self.latest:
            if result.metric == metric and result.column == column:
                return result.value
        return None


class MonitorService:
    """Monitors of one workspace: ``client.monitors``.

    >>> service = client.monitors                                        # doctest: +SKIP
    >>> service.create(Monitor("fraud", reference="transactions:3"))      # doctest: +SKIP
    >>> [report.summary() for report in service.run()]                   # doctest: +SKIP
    ["Monitor 'fraud': 24 new windows."]
    """

    def __init__(
        self,
        store: MetadataStore,
        artifacts: ArtifactStore,
        datasets: Datasets,
        log: PredictionLog,
        *,
        scratch: Path | None = None,
        alerts: Alerts | None = None,
    ) -> None:
        self.catalog = MonitorCatalog(store)
        self.profiles = ReferenceProfiles(store, artifacts, datasets, log)
        self.measure = WindowMeasurer(self.profiles, datasets, self.catalog, scratch)
        self._datasets = datasets
        self._log = log
        self._deployments = DeploymentStore(store)
        self._alerts = alerts

    # --- definitions -----------------------------------------------------------------------------------

    def create(self, monitor: Monitor) -> MonitorRecord:
        """Record ``monitor``, or change the monitor of that name to it. The deployment, the reference
        (a dataset version, pinned to its latest version when none is named, or a past window that holds
        predictions) and the schema are checked now; a changed reference is profiled again."""
        if not isinstance(monitor, Monitor):
            raise MonitorDefinitionError(
                f"A monitor must be an lw.Monitor. Got {monitor!r} of type {type(monitor).__name__} instead.",
                field="monitor",
                value=repr(monitor),
            )
        name = monitor.monitor_name
        self._deployments.get(monitor.deployment)
        reference = self._resolve_reference(monitor)
        fields = {
            "deployment": monitor.deployment,
            "reference": reference,
            "window_ms": monitor.window_ms,
            "window_rows": monitor.rows,
            "columns": None if monitor.columns is None else list(monitor.columns),
            "drift": _plain_drift(monitor),
            "correction": monitor.correction,
            "options": monitor.options(_schema_text(monitor.schema, name)),
        }
        existing = self.catalog.find(name)
        record = self.catalog.create(name, fields) if existing is None else self.catalog.update(name, fields)
        if record.profile_artifact_id is None and (
            record.columns is not None or record.reference["kind"] == "window"
        ):
            # The columns are known: profile now, so a reference that cannot serve fails here.
            try:
                self.profiles.get(record)
            except Exception:
                if existing is None:
                    self.catalog.delete(name)
                raise
        return self.catalog.get(name)

    def _resolve_reference(self, monitor: Monitor) -> dict[str, Any]:
        reference = parse_reference(monitor.reference, monitor=monitor.monitor_name)
        if reference["kind"] == "dataset":
            try:
                version = self._datasets.get(reference["name"], reference["version"])
            except NotFoundError as error:
                raise MonitorDefinitionError(
                    f"The 'reference' of monitor {monitor.monitor_name!r}: {error.message}",
                    field="reference",
                    value=repr(monitor.reference),
                ) from None
            names = [column["name"] for column in version.columns]
            unknown = [column for column in monitor.columns or () if column not in names]
            if unknown:
                raise MonitorDefinitionError(
                    f"The 'columns' of monitor {monitor.monitor_name!r} must be columns of its reference "
                    f"{version.name}:{version.version}, whose columns are {names}. Got {unknown} instead.",
                    field="columns",
                    value=repr(unknown),
                )
            return {"kind": "dataset", "name": version.name, "version": version.version}
        if reference["end_ms"] > now_ms():
            raise MonitorDefinitionError(
                f"The reference window of monitor {monitor.monitor_name!r} must lie in the past; it ends at "
                f"{reference['end_ms']} (epoch ms), after now.",
                field="reference",
                value=repr(monitor.reference),
            )
        return reference

    def get(self, name: str) -> MonitorRecord:
        """Monitor ``name``."""
        return self.catalog.get(name)

    def all(self, deployment: str | None = None) -> list[MonitorRecord]:
        """Every monitor (of ``deployment``), by name."""
        return self.catalog.all(deployment)

    def delete(self, name: str) -> None:
        """Remove monitor ``name`` with its windows, results, alert rules and alerts."""
        self.catalog.delete(name)

    # --- running ---------------------------------------------------------------------------------------

    def run(self, name: str | None = None, *, now: datetime | int | None = None) -> list[MonitorRunReport]:
        """Run monitor ``name`` (or every enabled monitor): compute its new windows, update windows that
        late labels reached, and evaluate its alert rules (see the module docstring)."""
        moment = _moment(now)
        records = (
            [self.catalog.get(name)] if name is not None else [r for r in self.catalog.all() if r.enabled]
        )
        reports = []
        for record in records:
            windows, failed = self._compute_new(record, moment)
            updated = self._late_labels(self.catalog.get_by_id(record.id), moment)
            events = self._evaluate_alerts(record.name, moment)
            reports.append(MonitorRunReport(record.name, windows, failed, updated, events))
        return reports

    def backfill(
        self,
        name: str,
        start: datetime | date | str | int,
        end: datetime | date | str | int,
        *,
        now: datetime | int | None = None,
    ) -> MonitorRunReport:
        """Compute the windows of monitor ``name`` that start in ``[start, end)`` again (or for the first
        time), replacing their results. Time windows follow the monitor's grid; windows by count keep
        the boundaries they were computed with, and a range before the first one is cut into new ones."""
        from loopwright.serving.predictlog import epoch_ms

        record = self.catalog.get(name)
        low, high = epoch_ms(start, "start"), epoch_ms(end, "end")
        assert low is not None
        assert high is not None
        moment = _moment(now)
        if high <= low:
            raise InvalidInputError(
                f"The 'end' of a backfill of monitor {name!r} must be after its 'start'. Got start={start!r} "
                f"and end={end!r} instead.",
                start=repr(start),
                end=repr(end),
            )
        high = min(high, moment)
        if record.window_ms is not None:
            windows = time_windows(low, high, record.window_ms)
            windows = [
                window for window in windows if window.start_ms >= low // record.window_ms * record.window_ms
            ]
        else:
            stored = self.catalog.windows(record.id)
            windows = [Window(w.start_ms, w.end_ms) for w in stored if low <= w.start_ms < high]
            first = stored[0].start_ms if stored else moment
            if low < first:
                frame = self._log.query(record.deployment, low, min(high, first))
                if len(frame):
                    stamps = _timestamps(frame)
                    windows += row_windows(stamps, int(record.window_rows or 0), complete_by=moment)
            windows.sort()
        computed, failed = self._compute(record, windows, replace=True)
        events = self._evaluate_alerts(record.name, moment)
        return MonitorRunReport(record.name, computed, failed, 0, events, backfill=True)

    def _compute_new(self, record: MonitorRecord, moment: int) -> tuple[int, int]:
        frontier = self.catalog.frontier(record.id)
        start = frontier if frontier is not None else record.options.get("start_ms")
        frame: pd.DataFrame | None = None
        if record.window_rows is not None:
            frame = self._log.query(record.deployment, start, moment)
            if not len(frame):
                return 0, 0
            windows = row_windows(_timestamps(frame), int(record.window_rows), complete_by=moment)
            return self._compute(record, windows, frame=frame)
        assert record.window_ms is not None
        if start is None:  # the first run: windows start at the first logged prediction
            frame = self._log.query(record.deployment, None, moment)
            if not len(frame):
                return 0, 0
            start = int(_timestamps(frame)[0])
        windows = time_windows(int(start), moment, record.window_ms)
        return self._compute(record, windows, frame=frame)

    def _compute(
        self,
        record: MonitorRecord,
        windows: Sequence[Window],
        *,
        frame: pd.DataFrame | None = None,
        replace: bool = False,
    ) -> tuple[int, int]:
        """Compute and record ``windows`` (sorted), reading the log a batch of windows at a time unless
        ``frame`` holds them all already."""
        done = failed = 0
        position = 0
        while position < len(windows):
            batch = [windows[position]]
            while (
                position + len(batch) < len(windows)
                and len(batch) < _BATCH_WINDOWS
                and windows[position + len(batch)].end_ms - batch[0].start_ms <= _BATCH_MS
            ):
                batch.append(windows[position + len(batch)])
            position += len(batch)
            source = (
                frame
                if frame is not None
                else self._log.query(record.deployment, batch[0].start_ms, batch[-1].end_ms)
            )
            stamps = _timestamps(source) if len(source) else np.empty(0, dtype=np.int64)
            for window in batch:
                low, high = np.searchsorted(stamps, [window.start_ms, window.end_ms], side="left")
                ok = self._compute_window(record, window, source.iloc[int(low) : int(high)])
                done += 1
                failed += not ok
        if replace:
            logger.info("Backfilled %d windows of monitor %r", done, record.name)
        return done, failed

    def _compute_window(self, record: MonitorRecord, window: Window, frame: pd.DataFrame) -> bool:
        computed = now_ms()
        try:
            measurements, rows, labels = self.measure.window(record, window, frame)
            status, error = ("ok" if rows else "empty"), None
        except Exception as exception:  # one bad window must not stop the monitor; it is recorded
            logger.exception(
                "Window [%d, %d) of monitor %r failed", window.start_ms, window.end_ms, record.name
            )
            measurements, rows, labels = [], 0, None
            status, error = "failed", f"{type(exception).__name__}: {exception}"
        self.catalog.save_window(
            WindowRecord(record.id, window.start_ms, window.end_ms, rows, labels, status, error, computed),
            [_record(window, measurement) for measurement in measurements],
        )
        return status != "failed"

    # --- late labels -----------------------------------------------------------------------------------

    def _late_labels(self, record: MonitorRecord, moment: int) -> int:
        horizon = int(record.options.get("label_horizon_ms", 7 * 86_400_000))
        candidates = [
            window
            for window in self.catalog.windows(record.id, start_ms=moment - horizon - (record.window_ms or 0))
            if window.status == "ok"
            and window.end_ms >= moment - horizon
            and (window.labels or 0) < window.rows
        ]
        if not candidates:
            return 0
        since = min(window.computed_ms for window in candidates)
        if not self.catalog.has_labels(record.deployment, since):
            return 0  # the common case: no label arrived since these windows were computed
        frame = self._log.query(record.deployment, candidates[0].start_ms, candidates[-1].end_ms)
        stamps = _timestamps(frame) if len(frame) else np.empty(0, dtype=np.int64)
        updated = 0
        for window in candidates:
            low, high = np.searchsorted(stamps, [window.start_ms, window.end_ms], side="left")
            part = frame.iloc[int(low) : int(high)]
            if not len(part):
                continue
            span = Window(window.start_ms, window.end_ms)
            found, labelled = self.measure.performance(record, span, part)
            if labelled == (window.labels or 0):
                continue
            self.catalog.replace_metrics(
                record.id,
                window.start_ms,
                PERFORMANCE_METRICS,
                [_record(span, measurement) for measurement in found],
                labels=labelled,
            )
            updated += 1
        return updated

    def _evaluate_alerts(self, name: str, moment: int) -> list[AlertEvent]:
        if self._alerts is None:
            return []
        from datetime import UTC

        return self._alerts.evaluate(name, now=datetime.fromtimestamp(moment / 1000, tz=UTC))

    # --- reading results -------------------------------------------------------------------------------

    def status(self, name: str | None = None) -> list[MonitorStatus]:
        """Where each monitor (or monitor ``name``) stands."""
        records = [self.catalog.get(name)] if name is not None else self.catalog.all()
        statuses = []
        for record in records:
            windows = self.catalog.windows(record.id)
            statuses.append(
                MonitorStatus(
                    monitor=record,
                    windows=len(windows),
                    failed=sum(1 for window in windows if window.status == "failed"),
                    latest_window=windows[-1] if windows else None,
                    latest=self.catalog.latest_results(record.id),
                )
            )
        return statuses

    def results(
        self,
        name: str,
        *,
        metric: str | Sequence[str] | None = None,
        column: str | None = None,
        start: datetime | date | str | int | None = None,
        end: datetime | date | str | int | None = None,
    ) -> pd.DataFrame:
        """The results of monitor ``name`` as a DataFrame: ``window_start``, ``window_end`` (UTC),
        ``metric``, ``column``, ``value`` and ``extra``, oldest window first."""
        import pandas as pd

        from loopwright.serving.predictlog import epoch_ms

        record = self.catalog.get(name)
        found = self.catalog.results(
            record.id,
            metric=metric,
            column=column,
            start_ms=epoch_ms(start, "start"),
            end_ms=epoch_ms(end, "end"),
        )
        return pd.DataFrame(
            {
                "window_start": pd.to_datetime([r.window_start_ms for r in found], unit="ms", utc=True),
                "window_end": pd.to_datetime([r.window_end_ms for r in found], unit="ms", utc=True),
                "metric": pd.Series([r.metric for r in found], dtype=object),
                "column": pd.Series([r.column for r in found], dtype=object),
                "value": pd.Series([r.value for r in found], dtype=np.float64),
                "extra": pd.Series([r.extra for r in found], dtype=object),
            }
        )


# --- helpers ---------------------------------------------------------------------------------------------


def _moment(now: datetime | int | None) -> int:
    if now is None:
        return now_ms()
    if isinstance(now, datetime):
        from loopwright.serving.predictlog import epoch_ms

        value = epoch_ms(now, "now")
        assert value is not None
        return value
    return int(now)


def _timestamps(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame["timestamp"].dt.as_unit("ms").astype("int64").to_numpy(), dtype=np.int64)


def _record(window: Window, measurement: Measurement) -> ResultRecord:
    extra = (
        None if measurement.extra is None else {key: _json(value) for key, value in measurement.extra.items()}
    )
    return ResultRecord(
        window.start_ms, window.end_ms, measurement.metric, measurement.column, measurement.value, extra
    )


def _json(value: Any) -> Any:
    # PostgreSQL's JSON has no NaN or infinity; an undefined number is null there and here.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json(value.item())
    return value


def _plain_drift(monitor: Monitor) -> dict[str, Any]:
    from loopwright.monitoring.drift import normalise_override

    return {
        column: normalise_override(column, override, monitor=monitor.monitor_name)
        for column, override in monitor.drift.items()
    }


def _schema_text(schema: Any, name: str) -> str | None:
    if schema is None:
        return None
    from loopwright.data.schema import DataSchema

    if isinstance(schema, DataSchema):
        return schema.to_yaml()
    if isinstance(schema, str) and "\n" in schema:
        return DataSchema.from_yaml(schema, source=f"the schema of monitor {name!r}").to_yaml()
    if isinstance(schema, str | Path):
        return DataSchema.load(schema).to_yaml()
    raise MonitorDefinitionError(
        f"The 'schema' of monitor {name!r} must be a DataSchema, the path of a schema YAML file or YAML "
        f"text. Got {schema!r} instead.",
        field="schema",
        value=repr(schema),
    )
