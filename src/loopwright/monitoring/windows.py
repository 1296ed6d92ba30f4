"""Windows: the slices of a deployment's prediction log that a monitor computes over, one at a time.

A window is ``[start_ms, end_ms)`` in epoch milliseconds (UTC).

* **By time** (``window="1h"``): windows lie on a grid aligned to the epoch (an hourly window starts on
  the hour, a daily one at midnight UTC), so two monitors of the same size cut the log the same way. A
  window is computed once its end has passed.
* **By rows** (``rows=1000``): consecutive runs of at least ``rows`` predictions, oldest first. A window
  closes at the first change of timestamp after its ``rows``-th prediction (predictions logged in the
  same millisecond are never split), so a window may hold a few more rows than asked.

:class:`WindowData` turns a window's log entries into columns (numpy arrays) once, for every monitor part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loopwright.errors import MonitorDefinitionError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SERVED_VARIANTS",
    "Window",
    "WindowData",
    "format_duration",
    "parse_duration",
    "row_windows",
    "time_windows",
]

SERVED_VARIANTS = ("production", "canary")
"""The variants whose predictions reached a caller; shadow predictions only count for operations and
per-variant performance (their inputs are copies of the served ones)."""

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: str | int, field: str = "window", monitor: str | None = None) -> int:
    """``value`` (``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"1w"`` or milliseconds) in milliseconds.

    >>> parse_duration("1h")
    3600000
    """
    if isinstance(value, int) and not isinstance(value, bool):
        milliseconds = value
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise MonitorDefinitionError(
                f"The {field!r}{_of(monitor)} must be a duration such as '30s', '15m', '1h', '1d' or '1w' "
                f"(or milliseconds). Got {value!r} instead.",
                field=field,
                value=repr(value),
            )
        milliseconds = int(match.group(1)) * _UNITS[match.group(2)]
    if milliseconds <= 0:
        raise MonitorDefinitionError(
            f"The {field!r}{_of(monitor)} must be longer than zero. Got {value!r} instead.",
            field=field,
            value=repr(value),
        )
    return milliseconds


def format_duration(milliseconds: int) -> str:
    """The shortest exact text for a duration: ``3600000`` → ``"1h"``."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"  # pragma: no cover - every integer is a multiple of 1 ms


def _of(monitor: str | None) -> str:
    return "" if monitor is None else f" of monitor {monitor!r}"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """``[start_ms, end_ms)`` in epoch milliseconds."""

    start_ms: int
    end_ms: int


def time_windows(start_ms: int, end_ms: int, size_ms: int) -> list[Window]:
    """The grid windows of ``size_ms`` that start at or after ``start_ms`` (rounded down to the grid) and
    end by ``end_ms``.

    >>> time_windows(5, 35, 10)
    [Window(start_ms=0, end_ms=10), Window(start_ms=10, end_ms=20), Window(start_ms=20, end_ms=30)]
    """
    first = start_ms // size_ms * size_ms
    count = max(0, (end_ms - first) // size_ms)
    return [Window(first + index * size_ms, first + (index + 1) * size_ms) for index in range(count)]


def row_windows(
    timestamps: npt.NDArray[np.int64], rows: int, *, complete_by: int | None = None
) -> list[Window]:
    """Windows of at least ``rows`` consecutive entries of ``timestamps`` (sorted epoch milliseconds), each
    closed at the first timestamp change after its ``rows``-th entry. A window whose last timestamp is
    not before ``complete_by`` may still grow (more entries of that millisecond may arrive) and is left
    for later, as is a final run of fewer than ``rows`` entries.

    >>> row_windows(np.array([1, 2, 2, 3, 4]), 2)
    [Window(start_ms=1, end_ms=3), Window(start_ms=3, end_ms=5)]
    """
    windows: list[Window] = []
    begin = 0
    total = len(timestamps)
    while total - begin >= rows:
        last = int(timestamps[begin + rows - 1])
        stop = int(np.searchsorted(timestamps, last, side="right"))
        if complete_by is not None and last >= complete_by:
            break
        windows.append(Window(int(timestamps[begin]), last + 1))
        begin = stop
    return windows


@dataclass(frozen=True, slots=True)
class WindowData:
    """A window's log entries as columns.

    ``timestamps`` (epoch ms), ``request_ids``, ``versions``, ``variants``, ``latency_ms`` and
    ``predictions`` have one value per entry; ``inputs`` maps each input column to its values (floats with
    NaN for missing numbers; objects for text) and ``probabilities`` is a matrix (one column per class) or
    ``None``. ``served`` marks entries of the variants that answered callers.
    """

    window: Window
    timestamps: npt.NDArray[np.int64]
    request_ids: npt.NDArray[Any]
    versions: npt.NDArray[np.int64]
    variants: npt.NDArray[Any]
    latency_ms: npt.NDArray[np.float64]
    predictions: npt.NDArray[Any]
    probabilities: npt.NDArray[np.float64] | None
    inputs: dict[str, npt.NDArray[Any]]
    served: npt.NDArray[np.bool_]

    @property
    def rows(self) -> int:
        """Entries in the window, of every variant."""
        return len(self.timestamps)

    @classmethod
    def from_log(cls, window: Window, frame: pd.DataFrame, numeric: Sequence[str] = ()) -> WindowData:
        """The entries of ``frame`` (a :meth:`PredictionLog.query` result) as columns. Input columns named
        in ``numeric`` are read as numbers (values that are not numbers become NaN); others keep their
        values as objects.

        >>> data = WindowData.from_log(Window(0, 10), log.query("fraud", 0, 10), ["amount"])  # doctest: +SKIP
        """
        import pandas as pd

        timestamps = _epoch_ms(frame["timestamp"]) if len(frame) else np.empty(0, dtype=np.int64)
        outputs = frame["outputs"].tolist()
        predictions = np.array([_prediction(output) for output in outputs], dtype=object)
        inputs_frame = pd.DataFrame.from_records(frame["inputs"].tolist()) if len(frame) else pd.DataFrame()
        inputs: dict[str, npt.NDArray[Any]] = {}
        for name in inputs_frame.columns:
            column = inputs_frame[name]
            if name in numeric:
                inputs[str(name)] = _numbers(column)
            else:
                inputs[str(name)] = column.to_numpy(dtype=object)
        variants = frame["variant"].to_numpy(dtype=object)
        return cls(
            window=window,
            timestamps=timestamps,
            request_ids=frame["request_id"].to_numpy(dtype=object),
            versions=frame["version"].to_numpy(dtype=np.int64),
            variants=variants,
            latency_ms=frame["latency_ms"].to_numpy(dtype=np.float64),
            predictions=predictions,
            probabilities=_probabilities(outputs),
            inputs=inputs,
            served=np.isin(variants, SERVED_VARIANTS),
        )

    def select(self, mask: npt.NDArray[np.bool_]) -> WindowData:
        """The entries where ``mask`` is true."""
        return WindowData(
            window=self.window,
            timestamps=self.timestamps[mask],
            request_ids=self.request_ids[mask],
            versions=self.versions[mask],
            variants=self.variants[mask],
            latency_ms=self.latency_ms[mask],
            predictions=self.predictions[mask],
            probabilities=None if self.probabilities is None else self.probabilities[mask],
            inputs={name: values[mask] for name, values in self.inputs.items()},
            served=self.served[mask],
        )


def _epoch_ms(column: pd.Series) -> npt.NDArray[np.int64]:
    return np.asarray(column.dt.as_unit("ms").astype("int64").to_numpy(), dtype=np.int64)


def _prediction(output: Any) -> Any:
    if isinstance(output, dict):
        return output.get("prediction")
    return None


def _numbers(column: pd.Series) -> npt.NDArray[np.float64]:
    import pandas as pd

    if column.dtype.kind in "fiub":
        return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    # Mixed values (a text where a number belongs): the text is a schema violation, not a number.
    converted = pd.to_numeric(column.where(column.map(_is_number)), errors="coerce")
    return np.asarray(converted.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _probabilities(outputs: list[Any]) -> npt.NDArray[np.float64] | None:
    """One row of class probabilities per entry, or ``None`` when any entry lacks them (a regressor, or a
    model whose versions disagree on having them) or their widths differ."""
    if not outputs:
        return None
    rows: list[Any] = [
        output.get("probabilities") if isinstance(output, dict) else None for output in outputs
    ]
    if any(not isinstance(row, list) for row in rows):
        return None
    width = len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        return None
    try:
        return np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
