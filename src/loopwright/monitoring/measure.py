"""Everything a monitor measures in one window, from the window's log entries.

:meth:`WindowMeasurer.window` reads the entries once into columns (:class:`WindowData`) and hands them to
each part: operations (every variant), then, on the served predictions, drift of the inputs and of the
outputs, data quality, schema violations (when the monitor has a schema), and performance with the
labels recorded so far. The service records the result; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.monitoring.drift import OUTPUT_PREFIX, drift_measurements, prediction_drift
from loopwright.monitoring.operations import operations
from loopwright.monitoring.performance import PerformanceOptions, performance
from loopwright.monitoring.quality import quality, schema_violations
from loopwright.monitoring.results import Measurement
from loopwright.monitoring.windows import Window, WindowData

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.data.schema import DataSchema
    from loopwright.data.versions import Datasets
    from loopwright.monitoring.profile import ReferenceProfile
    from loopwright.monitoring.reference import ReferenceProfiles
    from loopwright.store.monitoring import MonitorCatalog, MonitorRecord

__all__ = ["WindowMeasurer"]


class WindowMeasurer:
    """Measures windows of a workspace's monitors (reference profiles from ``profiles``, schemas from
    ``datasets``, labels through ``catalog``; schema checks write their scratch files under ``scratch``).

    >>> measurements, rows, labelled = measurer.window(record, Window(t0, t1), frame)  # doctest: +SKIP
    """

    def __init__(
        self, profiles: ReferenceProfiles, datasets: Datasets, catalog: MonitorCatalog, scratch: Path | None
    ) -> None:
        self._profiles = profiles
        self._datasets = datasets
        self._catalog = catalog
        self._scratch = scratch

    def window(
        self, record: MonitorRecord, window: Window, frame: pd.DataFrame
    ) -> tuple[list[Measurement], int, int | None]:
        """Every measurement of one window (``frame``: its log entries), the served predictions in it,
        and how many of those had labels (``None`` without served predictions)."""
        if not len(frame):
            return [Measurement("rows", None, 0.0), Measurement("predictions", None, 0.0)], 0, None
        options = record.options
        profile = self._profiles.get(record, lambda: _input_names(frame))
        numeric = [name for name, column in profile.columns.items() if column.kind == "numeric"]
        data = WindowData.from_log(window, frame, numeric)
        served = data.select(data.served)
        measurements = [Measurement("rows", None, float(served.rows))]
        measurements += operations(data)
        if not served.rows:
            return measurements, 0, None
        settings = PerformanceOptions.from_options(options)
        columns = watched(record, profile)
        measurements += drift_measurements(
            profile,
            served.inputs,
            columns,
            overrides=record.drift,
            correction=record.correction,
            drift_share=float(options.get("drift_share", 0.5)),
            multivariate=bool(options.get("multivariate", True)),
        )
        measurements += prediction_drift(profile, served, settings)
        measurements += quality(served.inputs, served.rows, columns, profile)
        schema = self.schema(record)
        if schema is not None:
            # A training set's schema lists its label too: check the columns requests carry or should.
            relevant = set(columns) | set(served.inputs)
            schema = schema.model_copy(
                update={
                    "columns": {name: column for name, column in schema.columns.items() if name in relevant}
                }
            )
            records = frame["inputs"][data.served].tolist()
            measurements += schema_violations(records, schema, self._scratch)
        found, labelled = performance(data, self.labels(record.deployment, data.request_ids), settings)
        return measurements + found, served.rows, labelled

    def performance(
        self, record: MonitorRecord, window: Window, frame: pd.DataFrame
    ) -> tuple[list[Measurement], int]:
        """The performance measurements of one window alone (late labels), and the labelled count."""
        data = WindowData.from_log(window, frame)
        settings = PerformanceOptions.from_options(record.options)
        return performance(data, self.labels(record.deployment, data.request_ids), settings)

    def labels(self, deployment: str, request_ids: Sequence[Any] | np.ndarray) -> dict[str, Any]:
        """The feedback recorded for ``request_ids``, by request id."""
        if not len(request_ids) or not self._catalog.has_labels(deployment):
            return {}
        return self._catalog.labels(
            deployment, list(dict.fromkeys(str(request_id) for request_id in request_ids))
        )

    def schema(self, record: MonitorRecord) -> DataSchema | None:
        """The monitor's data schema: its own, or its reference dataset's saved one, or ``None``."""
        from loopwright.data.schema import DataSchema

        text = record.options.get("schema")
        if text:
            return DataSchema.from_yaml(text, source=f"the schema of monitor {record.name!r}")
        reference = record.reference
        if reference.get("kind") == "dataset" and self._datasets.catalog.has_schema(reference["name"]):
            return self._datasets.schema(reference["name"])
        return None


def watched(record: MonitorRecord, profile: ReferenceProfile) -> list[str]:
    """The input columns a monitor watches: its own list, or every input column of its profile."""
    if record.columns is not None:
        return list(record.columns)
    return [name for name in profile.columns if not name.startswith(OUTPUT_PREFIX)]


def _input_names(frame: pd.DataFrame) -> list[str]:
    names: dict[str, None] = {}
    for row in frame["inputs"]:
        if isinstance(row, dict):
            names.update(dict.fromkeys(str(key) for key in row))
    return list(names)
