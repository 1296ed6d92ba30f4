"""Evaluating a model version on a dataset version: metrics overall and per segment, stored and comparable.

::

    evaluation = lw.evaluate("fraud/3", "transactions-eval:2", target="label", segments=["region"])
    evaluation.metrics["f1"], evaluation.segments["region"]["EU"]["f1"]     # (0.91, 0.88)
    lw.compare_evaluations("fraud")                                          # one row per evaluation

The model predicts once on the whole dataset; the segments reuse those predictions. Classification gets
accuracy, precision, recall, F1, ROC AUC, log loss and the confusion matrix; regression gets MAE, RMSE,
R² and MAPE, all from :mod:`loopwright.registry.metrics` (equal to scikit-learn's). Rows whose target is
missing are left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.errors import InvalidInputError, LoopwrightError, ModelError
from loopwright.registry.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    classification_metrics,
    regression_metrics,
)
from loopwright.store.promotions import EvaluationRecord

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.data.versions import DatasetVersion
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = ["MISSING_SEGMENT", "TASKS", "Evaluation", "compare_evaluations", "evaluate"]

TASKS = ("classification", "regression")
MISSING_SEGMENT = "<missing>"
"""The segment name of rows whose segment column is empty."""


class Evaluation:
    """A stored evaluation: one model version on one dataset version.

    ``metrics`` are the overall values; ``segments[column][value]`` the values of the rows where
    ``column`` equals ``value`` (with ``rows``, their count). A metric that is undefined on the rows (ROC
    AUC of a segment holding one class) is ``None``.
    """

    def __init__(self, record: EvaluationRecord) -> None:
        self.record = record

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value:.4g}" for name, value in self.metrics.items() if isinstance(value, float)
        )
        return f"<Evaluation {self.model}/{self.version} on {self.dataset}: {shown}>"

    @property
    def id(self) -> str:
        """The evaluation's unique id."""
        return self.record.id

    @property
    def model(self) -> str:
        """The model's name."""
        return self.record.model

    @property
    def version(self) -> int:
        """The model version evaluated."""
        return self.record.version

    @property
    def dataset(self) -> str:
        """The dataset version evaluated on, as ``name:version``."""
        return self.record.dataset

    @property
    def target(self) -> str:
        """The label column."""
        return self.record.target

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return self.record.task

    @property
    def num_rows(self) -> int:
        """Rows evaluated (rows with a missing target are left out)."""
        return self.record.num_rows

    @property
    def created_at(self) -> datetime:
        """When the evaluation ran (UTC)."""
        return self.record.created_at

    @property
    def metrics(self) -> dict[str, float | None]:
        """The overall scalar metrics, by name."""
        return {name: value for name, value in self.record.metrics.items() if name in _SCALARS}

    @property
    def confusion_matrix(self) -> dict[str, Any] | None:
        """``{"labels": [...], "matrix": [[...]]}`` (rows: labels, columns: predictions), for classifiers."""
        matrix = self.record.metrics.get("confusion_matrix")
        return dict(matrix) if matrix is not None else None

    @property
    def segments(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Metrics per segment column and value (each with ``rows``)."""
        return self.record.segment_metrics

    def metric(self, name: str, segment: tuple[str, str] | None = None) -> float | None:
        """One metric, overall or of ``(column, value)``."""
        if segment is None:
            return self.metrics.get(name)
        column, value = segment
        return self.segments.get(column, {}).get(value, {}).get(name)

    def to_frame(self) -> pd.DataFrame:
        """One row overall and one per segment: ``segment``, ``value``, ``rows`` and each metric."""
        import pandas as pd

        names = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        rows = [{"segment": "(all)", "value": "", "rows": self.num_rows, **self.metrics}]
        for column, values in self.segments.items():
            for value, metrics in values.items():
                rows.append(
                    {"segment": column, "value": value, **{k: metrics.get(k) for k in ("rows", *names)}}
                )
        return pd.DataFrame(rows, columns=["segment", "value", "rows", *names])


_SCALARS = frozenset(CLASSIFICATION_METRICS) | frozenset(REGRESSION_METRICS)


def evaluate(
    registry: Registry,
    model: ModelVersion | str,
    dataset: DatasetVersion | str,
    *,
    target: str,
    segments: Sequence[str] = (),
    task: str | None = None,
    pos_label: Any = None,
    run_id: str | None = None,
) -> Evaluation:
    """Evaluate ``model`` on ``dataset`` and store the result; see :func:`loopwright.evaluate`."""
    version = registry.resolve(model)
    data = registry.datasets.resolve(dataset)
    segment_columns = _check_columns(data, target, segments, task)
    loaded = registry.load(version)
    frame = data.to_pandas()
    labelled = frame[frame[target].notna()]
    features = _features(loaded, labelled.drop(columns=[target]))
    truth = labelled[target].to_numpy()
    label = f"Model {version.name!r} version {version.version}"
    predictions = _column(_call(loaded.predict, features, label, data.name, data.version), "predictions")
    probabilities = None
    chosen = task or _infer_task(labelled[target], loaded.has_predict_proba)
    if chosen == "classification" and loaded.has_predict_proba:
        proba = _call(loaded.predict_proba, features, label, data.name, data.version)
        probabilities = np.asarray(proba, dtype=np.float64)
    if len(predictions) != len(truth):
        raise InvalidInputError(
            f"Model {version.name!r} version {version.version} returned {len(predictions)} predictions for "
            f"{len(truth)} rows of {data.name}:{data.version}.",
            model=version.name,
        )
    classes = _classes(loaded, truth, predictions, probabilities) if chosen == "classification" else None

    def measure(rows: Any) -> dict[str, Any]:
        if chosen == "regression":
            return regression_metrics(truth[rows], predictions[rows])
        return classification_metrics(
            truth[rows],
            predictions[rows],
            probabilities[rows] if probabilities is not None else None,
            classes=classes,
            pos_label=pos_label,
        )

    everything = np.arange(len(truth))
    overall = measure(everything)
    by_segment: dict[str, dict[str, dict[str, Any]]] = {}
    for column in segment_columns:
        keys = [_segment_key(value) for value in labelled[column].tolist()]
        groups: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            groups.setdefault(key, []).append(position)
        by_segment[column] = {
            key: {"rows": len(positions), **_scalars(measure(np.asarray(positions)))}
            for key, positions in sorted(groups.items())
        }
    record = registry.promotions.add_evaluation(
        version.id,
        dataset_version_id=data.id,
        dataset=f"{data.name}:{data.version}",
        target=target,
        task=chosen,
        segments=segment_columns,
        num_rows=len(truth),
        metrics=_json_safe(overall),
        segment_metrics=_json_safe(by_segment),
        run_id=run_id,
        created_by=registry.user,
    )
    return Evaluation(record)


def compare_evaluations(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """Evaluations side by side: one row each (model, version, dataset, rows, then every metric)."""
    import pandas as pd

    names: list[str] = []
    for evaluation in evaluations:
        names += [name for name in evaluation.metrics if name not in names]
    rows = [
        {
            "model": evaluation.model,
            "version": evaluation.version,
            "dataset": evaluation.dataset,
            "rows": evaluation.num_rows,
            **evaluation.metrics,
        }
        for evaluation in evaluations
    ]
    return pd.DataFrame(rows, columns=["model", "version", "dataset", "rows", *names])


def _check_columns(data: DatasetVersion, target: str, segments: Sequence[str], task: str | None) -> list[str]:
    columns = [column["name"] for column in data.columns]
    label = f"{data.name}:{data.version}"
    if not isinstance(target, str) or target not in columns:
        raise InvalidInputError(
            f"The 'target' column {target!r} is not in dataset {label}. Its columns: {', '.join(columns)}.",
            target=repr(target),
            dataset=label,
        )
    chosen = [segments] if isinstance(segments, str) else list(segments)
    for column in chosen:
        if not isinstance(column, str) or column not in columns or column == target:
            raise InvalidInputError(
                f"The segment column {column!r} is not a column of dataset {label} other than the target "
                f"{target!r}. Its columns: {', '.join(columns)}.",
                segment=repr(column),
                dataset=label,
            )
    if task is not None and task not in TASKS:
        raise InvalidInputError(
            f"The 'task' must be 'classification', 'regression' or None (inferred). Got {task!r} instead.",
            task=repr(task),
        )
    return list(dict.fromkeys(chosen))


def _features(loaded: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the model reads: a column signature picks its own (and drops the rest); without one,
    the columns a scikit-learn-style model was fitted on, when it recorded them; else every column."""
    signature = loaded.signature
    if signature is not None and not signature.is_tensor:
        return frame
    fitted = getattr(loaded.raw, "feature_names_in_", None)
    if fitted is not None and all(name in frame.columns for name in fitted):
        return frame[list(fitted)]
    return frame


def _call(method: Any, features: Any, label: str, dataset: str, number: int) -> Any:
    """Call the model; its own failure (not Loopwright's typed errors) becomes a :class:`ModelError`
    naming the model and the data."""
    try:
        return method(features)
    except LoopwrightError:
        raise
    except Exception as error:
        raise ModelError(
            f"{label} failed on dataset {dataset}:{number}: {type(error).__name__}: {error}",
            dataset=f"{dataset}:{number}",
        ) from error


def _infer_task(labels: pd.Series[Any], has_proba: bool) -> str:
    """Classification when the model estimates probabilities or the labels are not numbers; regression
    for numeric labels otherwise."""
    import pandas as pd

    if has_proba:
        return "classification"
    if pd.api.types.is_bool_dtype(labels) or not pd.api.types.is_numeric_dtype(labels):
        return "classification"
    return "regression"


def _classes(loaded: Any, truth: Any, predictions: Any, probabilities: Any) -> list[Any]:
    """The class labels in the order of the probability columns: the model's own, else those seen."""
    known = getattr(loaded.raw, "classes_", None)
    if known is None:
        known = loaded.manifest.flavor_config.get("classes")
    if known is not None and (probabilities is None or len(known) == probabilities.shape[1]):
        return [value.item() if isinstance(value, np.generic) else value for value in known]
    seen = set(np.asarray(truth).tolist()) | set(np.asarray(predictions).tolist())
    return sorted(
        seen, key=lambda value: (type(value).__name__, value) if isinstance(value, str) else ("", value)
    )


def _column(values: Any, what: str) -> Any:
    """Predictions as a 1-D numpy array (a one-column frame or matrix is flattened)."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidInputError(
            f"Evaluation needs one prediction per row; the model returned {what} of shape {array.shape}.",
            shape=list(array.shape),
        )
    return array


def _segment_key(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple | dict) and bool(pd.isna(value))):
        return MISSING_SEGMENT
    return str(value)


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in metrics.items() if name in _SCALARS}


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity (and PostgreSQL's JSON type refuses them): such values become None."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
