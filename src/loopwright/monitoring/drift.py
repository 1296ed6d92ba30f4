"""Drift of a window against the monitor's reference profile, as measurements.

The statistics are :mod:`loopwright.monitoring.stats`' (``detect_drift``); this module feeds it a window's
columns and turns its report into the ``drift_*`` measurements of :mod:`loopwright.monitoring.results`:
per column the drift score (the p-value of a p-value test, adjusted when the monitor has a correction;
the distance of a distance test) and the verdict, the share of drifted columns and the dataset verdict,
the multivariate (PCA reconstruction) test, and the drift of the model's outputs.

Live requests are JSON, so a categorical column may mix texts, numbers and booleans; values are read as
the reference profile reads categories (booleans as ``true`` / ``false``, whole numbers without a decimal
point, everything else as its text), so such a window is measured instead of failing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from loopwright.errors import InvalidInputError, MonitorDefinitionError
from loopwright.monitoring.profile import ReferenceProfile
from loopwright.monitoring.results import Measurement
from loopwright.monitoring.stats import ColumnTest, DriftResult, detect_drift

if TYPE_CHECKING:
    import pyarrow as pa

    from loopwright.monitoring.performance import PerformanceOptions
    from loopwright.monitoring.windows import WindowData

__all__ = ["OUTPUT_PREFIX", "as_labels", "drift_measurements", "normalise_override", "prediction_drift"]

OUTPUT_PREFIX = "output:"
"""Reference profile columns of the model's outputs: ``output:prediction`` and ``output:score``."""

_NUMERIC_ONLY = ("ks", "wasserstein")


def normalise_override(column: str, override: Any, *, monitor: str) -> dict[str, Any]:
    """A drift override as stored: ``{"test": ..., "threshold": ...}`` (either may be ``None``);
    :class:`MonitorDefinitionError` naming the monitor and the column when it is not one.

    >>> normalise_override("amount", "psi", monitor="fraud")
    {'test': 'psi', 'threshold': None}
    """
    try:
        parsed = ColumnTest.parse(column, override)
    except InvalidInputError as error:
        raise MonitorDefinitionError(
            f"Monitor {monitor!r}: {error.message}", field="drift", column=column, value=repr(override)
        ) from None
    return {"test": parsed.test, "threshold": parsed.threshold}


def check_overrides(profile: ReferenceProfile, overrides: Mapping[str, Any], *, monitor: str) -> None:
    """Refuse overrides that cannot run on the profiled columns (a numeric test on a categorical column),
    once, when the profile is built, instead of failing every window."""
    for column, override in overrides.items():
        test = (override or {}).get("test")
        if column in profile and profile[column].kind == "categorical" and test in _NUMERIC_ONLY:
            raise MonitorDefinitionError(
                f"Monitor {monitor!r}: the test {test!r} of column {column!r} needs numbers, and {column!r} "
                "is categorical in the reference. Use chisquare, z, jensenshannon or psi.",
                field="drift",
                column=column,
                value=repr(override),
            )


def as_labels(values: npt.NDArray[Any] | Sequence[Any]) -> pa.Array:
    """Category labels of live values, as the reference profile writes them (texts pass through at
    Arrow's speed; other values are converted one by one).

    >>> as_labels(np.array([True, 3, 3.0, 2.5, "a", None], dtype=object)).to_pylist()
    ['true', '3', '3', '2.5', 'a', None]
    """
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_label(value) for value in values], type=pa.string())


def _label(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def current_columns(
    profile: ReferenceProfile, inputs: Mapping[str, npt.NDArray[Any]], names: Sequence[str], rows: int
) -> dict[str, Any]:
    """The window's values of ``names`` as the drift tests read them: floats for numeric columns, labels
    for categorical ones, all-missing for a column no request carried."""
    columns: dict[str, Any] = {}
    for name in names:
        numeric = profile[name].kind == "numeric"
        values = inputs.get(name)
        if values is None:
            columns[name] = np.full(rows, np.nan) if numeric else [None] * rows
        elif numeric:
            columns[name] = values if values.dtype.kind == "f" else _floats(values)
        else:
            columns[name] = as_labels(values)
    return columns


def drift_measurements(
    profile: ReferenceProfile,
    inputs: Mapping[str, npt.NDArray[Any]],
    columns: Sequence[str],
    *,
    overrides: Mapping[str, Any],
    correction: str | None,
    drift_share: float,
    multivariate: bool,
) -> list[Measurement]:
    """Per-column drift of the window's ``inputs`` (``columns`` that the profile has), the drifted
    share, the dataset verdict and the multivariate test."""
    tested = [name for name in columns if name in profile]
    if not tested:
        return []
    rows = len(next(iter(inputs.values()))) if inputs else 0
    model = profile.multivariate if multivariate else None
    # The multivariate model reads every column it was fitted on, watched or not.
    needed = list(dict.fromkeys([*tested, *(model.features if model is not None else ())]))
    current = current_columns(profile, inputs, needed, rows)
    report = detect_drift(
        profile,
        current,
        columns=tested,
        drift={name: ColumnTest(**value) for name, value in overrides.items() if name in tested},
        correction=correction,
        drift_share=drift_share,
        multivariate=model is not None,
        workers=1,
    )
    measurements: list[Measurement] = []
    for result in report.columns:
        measurements += _column_measurements(result, "drift_score", "drift_detected")
    measurements.append(Measurement("drift_share", None, report.share, {"tested": report.tested_columns}))
    measurements.append(
        Measurement("dataset_drift", None, float(report.drifted), {"threshold": report.drift_share})
    )
    if report.multivariate is not None:
        found = report.multivariate
        measurements.append(
            Measurement(
                "multivariate_drift",
                None,
                found.statistic,
                {
                    "method": found.method,
                    "reference": found.reference,
                    "lower": found.lower,
                    "upper": found.upper,
                    "p_value": found.p_value,
                    "threshold": found.threshold,
                    "drifted": found.drifted,
                },
            )
        )
    return measurements


def prediction_drift(
    profile: ReferenceProfile, data: WindowData, options: PerformanceOptions
) -> list[Measurement]:
    """Drift of the model's outputs (``prediction``, and ``score`` for a binary classifier) against the
    reference's, where the reference profile has them."""
    outputs: dict[str, Any] = {}
    if f"{OUTPUT_PREFIX}prediction" in profile:
        predictions = data.predictions
        if profile[f"{OUTPUT_PREFIX}prediction"].kind == "numeric":
            outputs[f"{OUTPUT_PREFIX}prediction"] = _floats(predictions)
        else:
            outputs[f"{OUTPUT_PREFIX}prediction"] = as_labels(predictions)
    if (
        f"{OUTPUT_PREFIX}score" in profile
        and data.probabilities is not None
        and data.probabilities.shape[1] == 2
    ):
        outputs[f"{OUTPUT_PREFIX}score"] = data.probabilities[:, 1]
    if not outputs:
        return []
    report = detect_drift(profile, outputs, columns=list(outputs), multivariate=False, workers=1)
    measurements: list[Measurement] = []
    for result in report.columns:
        measurements += _column_measurements(
            result, "prediction_drift_score", "prediction_drift_detected", prefix=OUTPUT_PREFIX
        )
    return measurements


def _column_measurements(
    result: DriftResult, score: str, detected: str, prefix: str = ""
) -> list[Measurement]:
    column = result.column.removeprefix(prefix)
    p_value = result.adjusted_p_value if result.adjusted_p_value is not None else result.p_value
    value = p_value if p_value is not None else result.statistic
    extra: dict[str, Any] = {
        "test": result.test,
        "statistic": _finite(result.statistic),
        "p_value": result.p_value,
        "effect_size": _finite(result.effect_size),
        "threshold": result.threshold,
        "drifted": result.drifted,
    }
    if result.adjusted_p_value is not None:
        extra["adjusted_p_value"] = result.adjusted_p_value
    if result.detail is not None:
        extra["detail"] = result.detail
        return [Measurement(score, column, None, extra), Measurement(detected, column, None, extra)]
    return [
        Measurement(score, column, _finite(value), extra),
        Measurement(detected, column, float(result.drifted), {"test": result.test}),
    ]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _floats(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    return np.array(
        [
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan
            for value in values
        ],
        dtype=np.float64,
    )
