"""Model-quality metrics in plain numpy: classification and regression, equal to scikit-learn's.

Evaluation (and, later, monitoring of live performance) computes its numbers here, so one definition
serves both and scikit-learn stays an optional flavor rather than a dependency. Each function gives the
value scikit-learn's function of the same name gives on the same data (the tests compare them)::

    >>> import numpy as np
    >>> classification_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))["accuracy"]
    0.75
    >>> round(regression_metrics(np.array([1.0, 2.0]), np.array([1.5, 2.0]))["mae"], 2)
    0.25

Conventions, as scikit-learn's defaults: binary precision, recall and F1 are those of the positive class
(the larger of the two labels unless ``pos_label`` says otherwise); with more classes they are macro
averages, and ROC AUC is one-vs-rest, macro-averaged. A ratio whose denominator is zero is 0.0
(scikit-learn's ``zero_division`` result, without its warning). A value that is undefined on the data
(ROC AUC when the labels hold one class, log loss without probabilities) is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "REGRESSION_METRICS",
    "accuracy",
    "classification_metrics",
    "confusion_matrix",
    "log_loss",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "precision_recall_f1",
    "r2_score",
    "regression_metrics",
    "roc_auc",
    "root_mean_squared_error",
]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
"""The scalar metrics of a classifier (the confusion matrix comes with them, as a table)."""

REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
"""The metrics of a regressor."""

LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape"})
"""Metrics where a smaller value is the better one; every other metric here is higher-is-better."""

Array = npt.NDArray[Any]


# --- classification -----------------------------------------------------------------------------------


def accuracy(y_true: Array, y_pred: Array) -> float:
    """The share of predictions equal to the label."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def confusion_matrix(y_true: Array, y_pred: Array, classes: Sequence[Any]) -> list[list[int]]:
    """Counts of (true class, predicted class): rows are labels, columns predictions, both in ``classes``
    order. Values outside ``classes`` are not counted (as scikit-learn's ``labels=``)."""
    index = {label: position for position, label in enumerate(_plain(classes))}
    size = len(index)
    true_index = _indices(y_true, index)
    pred_index = _indices(y_pred, index)
    known = (true_index >= 0) & (pred_index >= 0)
    flat = np.bincount(true_index[known] * size + pred_index[known], minlength=size * size)
    return [[int(count) for count in row] for row in flat.reshape(size, size)]


def precision_recall_f1(
    y_true: Array, y_pred: Array, classes: Sequence[Any], *, pos_label: Any = None
) -> tuple[float, float, float]:
    """Precision, recall and F1: of ``pos_label`` (default the last class) when there are two classes,
    else macro averages over ``classes``."""
    matrix = np.asarray(confusion_matrix(y_true, y_pred, classes), dtype=np.float64)
    true_positives = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, actual)
    # scikit-learn's form: 2·tp / (actual + predicted), which equals 2PR / (P + R) where defined.
    f1 = _ratio(2 * true_positives, actual + predicted)
    if len(classes) == 2:
        position = _positive_position(classes, pos_label)
        return float(precision[position]), float(recall[position]), float(f1[position])
    return float(np.mean(precision)), float(np.mean(recall)), float(np.mean(f1))


def roc_auc(y_true: Array, scores: Array, classes: Sequence[Any], *, pos_label: Any = None) -> float | None:
    """Area under the ROC curve. ``scores`` is one column of positive-class scores (two classes) or one
    probability column per class (one-vs-rest, macro average). ``None`` when a class is absent from
    ``y_true`` or is all of it (the curve is undefined)."""
    labels = _plain_array(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if len(classes) == 2 and scores.ndim == 1:
        positive = _plain(classes)[_positive_position(classes, pos_label)]
        return _binary_auc(labels == positive, scores)
    matrix = scores if scores.ndim == 2 else scores[:, np.newaxis]
    areas = []
    for position, label in enumerate(_plain(classes)):
        area = _binary_auc(labels == label, matrix[:, position])
        if area is None:
            return None
        areas.append(area)
    return float(np.mean(areas))


def log_loss(y_true: Array, probabilities: Array, classes: Sequence[Any]) -> float | None:
    """Mean cross-entropy of the labels under ``probabilities`` (one column per class in ``classes``
    order, or one column of positive-class probabilities for two classes), clipped to ``[eps, 1 - eps]``
    as scikit-learn does. ``None`` when a label is not one of ``classes``."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, np.newaxis]
    if matrix.shape[1] == 1:
        matrix = np.concatenate([1 - matrix, matrix], axis=1)
    index = {label: position for position, label in enumerate(_plain(classes))}
    positions = _indices(y_true, index)
    if len(positions) == 0 or (positions < 0).any() or matrix.shape[1] != len(index):
        return None
    eps = np.finfo(matrix.dtype).eps
    clipped = np.clip(matrix, eps, 1 - eps)
    return float(np.mean(-np.log(clipped[np.arange(len(positions)), positions])))


def classification_metrics(
    y_true: Array,
    y_pred: Array,
    probabilities: Array | None = None,
    *,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
) -> dict[str, Any]:
    """Every classification metric at once: accuracy, precision, recall, F1, ROC AUC and log loss (the
    last two need ``probabilities``, one column per class in ``classes`` order) and the confusion matrix
    as ``{"labels": [...], "matrix": [[...], ...]}``. ``classes`` defaults to the sorted labels and
    predictions seen."""
    labels = _plain_array(y_true)
    predictions = _plain_array(y_pred)
    if classes is None:
        classes = sorted(set(labels.tolist()) | set(predictions.tolist()), key=_sort_key)
    class_list = _plain(classes)
    precision, recall, f1 = precision_recall_f1(labels, predictions, class_list, pos_label=pos_label)
    result: dict[str, Any] = {
        "accuracy": accuracy(labels, predictions) if len(labels) else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": None,
        "log_loss": None,
    }
    if probabilities is not None and len(labels):
        matrix = np.asarray(probabilities, dtype=np.float64)
        if matrix.ndim == 2 and matrix.shape[1] == len(class_list):
            scores = matrix[:, _positive_position(class_list, pos_label)] if len(class_list) == 2 else matrix
            result["roc_auc"] = roc_auc(labels, scores, class_list, pos_label=pos_label)
            result["log_loss"] = log_loss(labels, matrix, class_list)
    result["confusion_matrix"] = {
        "labels": class_list,
        "matrix": confusion_matrix(labels, predictions, class_list),
    }
    return result


# --- regression ---------------------------------------------------------------------------------------


def mean_absolute_error(y_true: Array, y_pred: Array) -> float:
    """Mean of ``|y - ŷ|``."""
    return float(np.mean(np.abs(_floats(y_true) - _floats(y_pred))))


def root_mean_squared_error(y_true: Array, y_pred: Array) -> float:
    """Square root of the mean of ``(y - ŷ)²``."""
    return float(np.sqrt(np.mean((_floats(y_true) - _floats(y_pred)) ** 2)))


def r2_score(y_true: Array, y_pred: Array) -> float | None:
    """The coefficient of determination. As scikit-learn: 1.0 for a perfect fit of a constant target,
    0.0 for an imperfect one; ``None`` for fewer than two rows."""
    truth = _floats(y_true)
    if len(truth) < 2:
        return None
    residual = float(np.sum((truth - _floats(y_pred)) ** 2))
    total = float(np.sum((truth - np.mean(truth)) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def mean_absolute_percentage_error(y_true: Array, y_pred: Array) -> float:
    """Mean of ``|y - ŷ| / max(|y|, eps)``: a fraction (0.1 is 10 %), huge where ``y`` is 0."""
    truth = _floats(y_true)
    eps = np.finfo(np.float64).eps
    return float(np.mean(np.abs(_floats(y_pred) - truth) / np.maximum(np.abs(truth), eps)))


def regression_metrics(y_true: Array, y_pred: Array) -> dict[str, Any]:
    """MAE, RMSE, R² and MAPE at once (each ``None`` on no rows)."""
    if len(y_true) == 0:
        return dict.fromkeys(REGRESSION_METRICS)
    return {
        "mae": mean_absolute_error(y_true, y_pred),
        "rmse": root_mean_squared_error(y_true, y_pred),
        "r2": r2_score(y_true, y_pred),
        "mape": mean_absolute_percentage_error(y_true, y_pred),
    }


# --- helpers ------------------------------------------------------------------------------------------


def _binary_auc(is_positive: Array, scores: Array) -> float | None:
    """The Mann-Whitney form of the ROC AUC: ties share their average rank, which is what the
    trapezoids of scikit-learn's curve add up to."""
    positives = int(np.count_nonzero(is_positive))
    negatives = len(is_positive) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(ordered)]
    average_rank = (starts + ends + 1) / 2.0  # 1-based ranks starts+1 .. ends, averaged
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = average_rank[group]
    rank_sum = float(np.sum(ranks[np.asarray(is_positive, dtype=bool)]))
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def _ratio(numerator: Array, denominator: Array) -> Array:
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _positive_position(classes: Sequence[Any], pos_label: Any) -> int:
    plain = _plain(classes)
    if pos_label is None:
        return len(plain) - 1
    value = _plain([pos_label])[0]
    if value not in plain:
        from loopwright.errors import InvalidInputError

        raise InvalidInputError(
            f"The 'pos_label' must be one of the classes {plain}. Got {pos_label!r} instead.",
            pos_label=repr(pos_label),
        )
    return plain.index(value)


def _indices(values: Array, index: dict[Any, int]) -> Array:
    return np.fromiter((index.get(value, -1) for value in _plain_array(values).tolist()), dtype=np.int64)


def _plain_array(values: Any) -> Array:
    """Labels as a numpy array of Python-comparable values (pandas extension arrays included)."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    return np.asarray(values)


def _plain(values: Sequence[Any]) -> list[Any]:
    """Numpy scalars to Python values, so labels compare, hash and serialise to JSON alike."""
    return [value.item() if isinstance(value, np.generic) else value for value in values]


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value) if not isinstance(value, bool | int | float) else ("", value)


def _floats(values: Array) -> npt.NDArray[np.float64]:
    return np.asarray(_plain_array(values), dtype=np.float64)
