"""Monitor definitions: what to watch on a deployment, against which reference, in which windows.

::

    import loopwright as lw

    lw.monitor(
        "fraud",                                   # the deployment
        reference="transactions:3",               # a dataset version, or "window:<start>/<end>" of the log
        window="1h",                               # or rows=1000
        columns=["amount", "merchant"],            # default: every column of the reference
        drift={"amount": "psi", "merchant": {"test": "jensenshannon", "threshold": 0.2}},
        correction="benjamini-hochberg",          # optional multiple-testing correction
    )

A :class:`Monitor` only stores its arguments and checks them when it is built (a bad window or an
unknown test fails at that line, never when the monitor first runs). The
:class:`~loopwright.monitoring.service.MonitorService` resolves the reference, records the monitor and
runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError, MonitorDefinitionError
from loopwright.monitoring.windows import parse_duration

if TYPE_CHECKING:
    from loopwright.data.schema import DataSchema

__all__ = ["CORRECTIONS", "TASKS", "Monitor", "parse_reference"]

CORRECTIONS = ("bonferroni", "benjamini-hochberg")
"""Multiple-testing corrections of the per-column p-values."""

TASKS = ("classification", "regression")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DEFAULT_WINDOW = "1h"


@dataclass(frozen=True)
class Monitor:
    """A monitor of deployment ``deployment``, checked when built.

    ``reference`` is a dataset version (a :class:`~loopwright.data.versions.DatasetVersion`, ``"name:3"``,
    or ``"name"`` for its latest version, pinned when the monitor is created) or a past window of the
    deployment's own predictions, ``"window:<start>/<end>"`` (ISO times or epoch milliseconds). Windows
    are by time (``window="1h"``, the default) or by count (``rows=1000``). ``drift`` overrides the test
    or threshold of columns: ``{"amount": "psi"}``, ``{"amount": {"test": "ks", "threshold": 0.01}}`` or
    ``{"amount": 0.01}`` (threshold only). ``drift_share`` is the share of drifted columns at which the
    dataset counts as drifted. ``label``, ``task``, ``classes`` and ``pos_label`` say how to read
    performance (:class:`~loopwright.monitoring.performance.PerformanceOptions`); ``schema`` is a data
    schema to check live inputs against (default: the reference dataset's saved schema, if any).
    ``prediction_column`` names a column of a reference dataset to compare the model's outputs with (its
    predictions on the reference, or the labels); a window reference has the outputs already.
    ``start`` is where the first window starts (default: the first logged prediction); late labels are
    awaited for ``label_horizon`` after a window ends.

    >>> Monitor("fraud", reference="transactions:3", window="1h").window_ms
    3600000
    >>> Monitor("fraud", reference="transactions:3", window="an hour")
    Traceback (most recent call last):
    ...
    loopwright.errors.MonitorDefinitionError: The 'window' of monitor 'fraud' must be a duration such as ...
    """

    deployment: str
    reference: Any
    name: str | None = None
    window: str | int | None = None
    rows: int | None = None
    columns: Sequence[str] | None = None
    drift: Mapping[str, Any] = field(default_factory=dict)
    correction: str | None = None
    drift_share: float = 0.5
    multivariate: bool = True
    label: str = "label"
    task: str | None = None
    classes: Sequence[Any] | None = None
    pos_label: Any = None
    prediction_column: str | None = None
    schema: DataSchema | str | Path | None = None
    start: datetime | date | str | int | None = None
    label_horizon: str | int = "7d"

    def __post_init__(self) -> None:
        if not isinstance(self.deployment, str) or not _NAME.match(self.deployment):
            raise MonitorDefinitionError(
                "The 'deployment' of a monitor must be a deployment name (letters, digits, '.', '_' or '-'). "
                f"Got {self.deployment!r} instead.",
                field="deployment",
                value=repr(self.deployment),
            )
        name = self.monitor_name
        if not isinstance(name, str) or not _NAME.match(name):
            raise MonitorDefinitionError(
                "The 'name' of a monitor must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit. Got {name!r} instead.",
                field="name",
                value=repr(name),
            )
        parse_reference(self.reference, monitor=name)
        if self.window is not None and self.rows is not None:
            raise MonitorDefinitionError(
                f"Monitor {name!r} takes windows by time ('window') or by count ('rows'), not both. Got "
                f"window={self.window!r} and rows={self.rows!r}.",
                field="window",
                value=repr(self.window),
            )
        if self.rows is not None and (
            not isinstance(self.rows, int) or isinstance(self.rows, bool) or self.rows < 2
        ):
            raise MonitorDefinitionError(
                f"The 'rows' of monitor {name!r} must be a whole number of at least 2. Got {self.rows!r} "
                "instead.",
                field="rows",
                value=repr(self.rows),
            )
        if self.rows is None:
            parse_duration(self.window if self.window is not None else _DEFAULT_WINDOW, "window", name)
        parse_duration(self.label_horizon, "label_horizon", name)
        _check_columns(self.columns, name)
        _check_drift(self.drift, name)
        if self.correction is not None and self.correction not in CORRECTIONS:
            raise MonitorDefinitionError(
                f"The 'correction' of monitor {name!r} must be one of {', '.join(map(repr, CORRECTIONS))} or "
                f"None. Got {self.correction!r} instead.",
                field="correction",
                value=repr(self.correction),
            )
        if (
            isinstance(self.drift_share, bool)
            or not isinstance(self.drift_share, int | float)
            or not 0 < self.drift_share <= 1
        ):
            raise MonitorDefinitionError(
                f"The 'drift_share' of monitor {name!r} must be above 0 and at most 1. Got "
                f"{self.drift_share!r} instead.",
                field="drift_share",
                value=repr(self.drift_share),
            )
        if self.task is not None and self.task not in TASKS:
            raise MonitorDefinitionError(
                f"The 'task' of monitor {name!r} must be 'classification', 'regression' or None (inferred). "
                f"Got {self.task!r} instead.",
                field="task",
                value=repr(self.task),
            )
        if not isinstance(self.label, str) or not self.label:
            raise MonitorDefinitionError(
                f"The 'label' of monitor {name!r} must be the key of the label in feedback values (a "
                f"non-empty text). Got {self.label!r} instead.",
                field="label",
                value=repr(self.label),
            )
        if self.classes is not None and (isinstance(self.classes, str) or len(set(self.classes)) < 2):
            raise MonitorDefinitionError(
                f"The 'classes' of monitor {name!r} must list at least two distinct classes, in the order of "
                f"the model's probability columns. Got {self.classes!r} instead.",
                field="classes",
                value=repr(self.classes),
            )
        self.start_ms  # noqa: B018 - checks the start

    # --- derived ---------------------------------------------------------------------------------------

    @property
    def monitor_name(self) -> str:
        """The monitor's name: ``name``, or the deployment's name."""
        return self.name if self.name is not None else self.deployment

    @property
    def window_ms(self) -> int | None:
        """The length of a time window in milliseconds (``None`` for windows by count)."""
        if self.rows is not None:
            return None
        return parse_duration(self.window if self.window is not None else _DEFAULT_WINDOW)

    @property
    def start_ms(self) -> int | None:
        """``start`` in epoch milliseconds."""
        from loopwright.serving.predictlog import epoch_ms

        try:
            return epoch_ms(self.start, "start")
        except InvalidInputError as error:
            raise MonitorDefinitionError(
                f"The 'start' of monitor {self.monitor_name!r}: {error.message}", field="start"
            ) from None

    def options(self, schema_text: str | None = None) -> dict[str, Any]:
        """The settings stored as the monitor's ``options`` (JSON)."""
        return {
            "drift_share": float(self.drift_share),
            "multivariate": bool(self.multivariate),
            "label": self.label,
            "task": self.task,
            "classes": None if self.classes is None else list(self.classes),
            "pos_label": self.pos_label,
            "prediction_column": self.prediction_column,
            "schema": schema_text,
            "start_ms": self.start_ms,
            "label_horizon_ms": parse_duration(self.label_horizon),
        }


def parse_reference(reference: Any, *, monitor: str | None = None) -> dict[str, Any]:
    """The stored form of a reference: ``{"kind": "dataset", "name": ..., "version": ...}`` (version
    ``None`` for the latest) or ``{"kind": "window", "start_ms": ..., "end_ms": ...}``.

    >>> parse_reference("transactions:3")
    {'kind': 'dataset', 'name': 'transactions', 'version': 3}
    >>> parse_reference("window:0/3600000")
    {'kind': 'window', 'start_ms': 0, 'end_ms': 3600000}
    """
    from loopwright.serving.predictlog import epoch_ms

    subject = "a monitor" if monitor is None else f"monitor {monitor!r}"
    expected = (
        f"The 'reference' of {subject} must be a dataset version (a DatasetVersion, 'name:VERSION' or 'name' "
        "for the latest) or a past window of predictions, 'window:<start>/<end>' (ISO times or epoch "
        "milliseconds)."
    )
    if hasattr(reference, "name") and hasattr(reference, "version") and hasattr(reference, "to_arrow"):
        return {"kind": "dataset", "name": str(reference.name), "version": int(reference.version)}
    if not isinstance(reference, str) or not reference.strip():
        raise MonitorDefinitionError(
            f"{expected} Got {reference!r} instead.", field="reference", value=repr(reference)
        )
    if reference.startswith("window:"):
        start, separator, end = reference.removeprefix("window:").partition("/")
        try:
            low = epoch_ms(_number_or_text(start), "start") if separator else None
            high = epoch_ms(_number_or_text(end), "end") if separator else None
        except InvalidInputError:
            low = high = None
        if low is None or high is None or high <= low:
            raise MonitorDefinitionError(
                f"{expected} Got {reference!r} instead: the window must be '<start>/<end>' with the end "
                "after the start.",
                field="reference",
                value=repr(reference),
            )
        return {"kind": "window", "start_ms": low, "end_ms": high}
    name, separator, version = reference.partition(":")
    if separator and not version.isdigit():
        raise MonitorDefinitionError(
            f"{expected} Got {reference!r} instead: the version after ':' must be a number.",
            field="reference",
            value=repr(reference),
        )
    return {"kind": "dataset", "name": name, "version": int(version) if separator else None}


def _number_or_text(text: str) -> int | str:
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def _check_columns(columns: Sequence[str] | None, name: str) -> None:
    if columns is None:
        return
    if isinstance(columns, str) or not all(isinstance(column, str) and column for column in columns):
        raise MonitorDefinitionError(
            f"The 'columns' of monitor {name!r} must be a list of column names. Got {columns!r} instead.",
            field="columns",
            value=repr(columns),
        )
    if not columns:
        raise MonitorDefinitionError(
            f"The 'columns' of monitor {name!r} must name at least one column (or be None for every column "
            "of the reference). Got [] instead.",
            field="columns",
            value="[]",
        )


def _check_drift(drift: Mapping[str, Any], name: str) -> None:
    from loopwright.monitoring.drift import normalise_override

    if not isinstance(drift, Mapping):
        raise MonitorDefinitionError(
            f"The 'drift' of monitor {name!r} must map column names to a test, a threshold or "
            f"{{'test': ..., 'threshold': ...}}. Got {drift!r} instead.",
            field="drift",
            value=repr(drift),
        )
    for column, override in drift.items():
        normalise_override(column, override, monitor=name)
