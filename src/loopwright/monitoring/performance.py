"""Live performance: labels joined to predictions by request id, realised metrics, and CBPE estimates.

**Realised.** Feedback (:mod:`loopwright.serving.feedback`) arrives by request id, often long after the
prediction. Each window joins the labels recorded so far to its predictions and computes the metrics on
the labelled ones with :mod:`loopwright.registry.metrics`, the implementations model evaluation uses, so a
live accuracy means what an evaluated accuracy means. ``label_coverage`` says how many of the window's
predictions had a label; a later run recomputes a window whose labels arrived late.

**Estimated** (classifiers with predicted probabilities). Confidence-based performance estimation
(CBPE, as NannyML names it) reads the probabilities as the chance that each prediction is right: the
expected accuracy is the mean probability of the predicted class, and the expected ROC AUC is the area
under the curve of expected true and false positives (a row of score ``p`` adds ``p`` of a positive and
``1 - p`` of a negative), one-vs-rest and macro-averaged for more classes. It needs no labels at all, so
it covers the windows labels have not reached; it is only as good as the model's calibration (NannyML
calibrates on labelled reference predictions first; Loopwright takes the probabilities as given). The
estimates are stored as ``estimated_accuracy`` and ``estimated_roc_auc`` with ``estimated: true``.

**Classes.** A probability row lists the model's classes in the model's order, which the log does not
record. Unless the monitor names ``classes``, they are read off the log: the class of column ``j`` is
the prediction most often made where column ``j`` holds the largest probability (what ``predict`` of a
scikit-learn-style classifier does); a binary model whose second class never wins is completed with the
other label seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwright.monitoring.results import Measurement, segment
from loopwright.monitoring.windows import WindowData
from loopwright.registry.metrics import CLASSIFICATION_METRICS, classification_metrics, regression_metrics

__all__ = [
    "PerformanceOptions",
    "estimated_accuracy",
    "estimated_roc_auc",
    "infer_classes",
    "infer_task",
    "label_of",
    "performance",
]


@dataclass(frozen=True, slots=True)
class PerformanceOptions:
    """How a monitor reads performance: ``task`` (``classification``, ``regression`` or ``None`` to infer
    it), the key of the label when feedback values are mappings (``label``), the model's ``classes`` in
    probability-column order, and the positive class of binary metrics (``pos_label``)."""

    task: str | None = None
    label: str = "label"
    classes: Sequence[Any] | None = None
    pos_label: Any = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PerformanceOptions:
        """The performance settings among a stored monitor's ``options``."""
        return cls(
            task=options.get("task"),
            label=options.get("label", "label"),
            classes=options.get("classes"),
            pos_label=options.get("pos_label"),
        )


def label_of(value: Any, key: str) -> Any:
    """The label in a feedback value: the value itself, or its ``key`` when it is a mapping (``None``
    when the mapping lacks it).

    >>> label_of({"label": 1, "amount": 12.5}, "label"), label_of(0, "label")
    (1, 0)
    """
    if isinstance(value, Mapping):
        return value.get(key)
    return value


def performance(
    data: WindowData, labels: Mapping[str, Any], options: PerformanceOptions
) -> tuple[list[Measurement], int]:
    """The performance measurements of a window (every variant in ``data``; the whole-deployment numbers
    cover the served variants) given the ``labels`` known by request id. Returns them with the number of
    served predictions that had a label.
    """
    served = data.select(data.served)
    truth = np.array([label_of(labels.get(request_id), options.label) for request_id in served.request_ids])
    truth = truth.astype(object) if truth.dtype != object else truth
    labelled = np.array([value is not None for value in truth], dtype=bool)
    count = int(labelled.sum())
    task = options.task or infer_task(served)
    measurements = [
        Measurement("labels", None, float(count)),
        Measurement("label_coverage", None, count / served.rows if served.rows else None),
    ]
    classes = None
    if task == "classification" and data.probabilities is not None:
        classes = (
            list(options.classes)
            if options.classes is not None
            else infer_classes(data.predictions, data.probabilities, truth[labelled])
        )
    if count:
        measurements += _realised(served, truth, labelled, task, classes, options, None, None)
    if served.rows and task == "classification" and served.probabilities is not None:
        extra = {"estimated": True, "method": "cbpe"}
        measurements.append(
            Measurement(
                "estimated_accuracy",
                None,
                estimated_accuracy(served.probabilities, served.predictions, classes),
                extra,
            )
        )
        measurements.append(
            Measurement(
                "estimated_roc_auc",
                None,
                estimated_roc_auc(served.probabilities, classes, pos_label=options.pos_label),
                extra,
            )
        )
    pairs = sorted(
        {(str(variant), int(version)) for variant, version in zip(data.variants, data.versions, strict=True)}
    )
    if len(pairs) > 1:  # per variant only when there is more than one to compare
        everything = np.array(
            [label_of(labels.get(rid), options.label) for rid in data.request_ids], dtype=object
        )
        for variant, version in pairs:
            mask = (data.variants == variant) & (data.versions == version)
            part = data.select(mask)
            part_truth = everything[mask]
            part_labelled = np.array([value is not None for value in part_truth], dtype=bool)
            if part_labelled.any():
                measurements += _realised(
                    part,
                    part_truth,
                    part_labelled,
                    task,
                    classes,
                    options,
                    segment(variant, version),
                    {"variant": variant, "version": version},
                )
    return measurements, count


def _realised(
    data: WindowData,
    truth: npt.NDArray[Any],
    labelled: npt.NDArray[np.bool_],
    task: str,
    classes: list[Any] | None,
    options: PerformanceOptions,
    column: str | None,
    segment_extra: dict[str, Any] | None,
) -> list[Measurement]:
    # A prediction without an answer (an error) cannot be scored, whatever its label.
    labelled = labelled & np.array([value is not None for value in data.predictions], dtype=bool)
    count = int(labelled.sum())
    extra: dict[str, Any] = {"estimated": False, "labels": count, **(segment_extra or {})}
    y_true = truth[labelled]
    y_pred = data.predictions[labelled]
    if task == "regression":
        values = regression_metrics(_floats(y_true), _floats(y_pred))
        return [Measurement(name, column, _number(value), extra) for name, value in values.items()]
    probabilities = None
    if classes is not None and data.probabilities is not None:
        probabilities = data.probabilities[labelled]
    scores = classification_metrics(
        y_true,
        y_pred,
        probabilities,
        classes=_all_classes(classes, y_true, y_pred),
        pos_label=options.pos_label,
    )
    return [Measurement(name, column, _number(scores[name]), extra) for name in CLASSIFICATION_METRICS]


def _all_classes(
    classes: list[Any] | None, y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any]
) -> list[Any] | None:
    """The model's classes when known and covering every label and prediction (else the metrics' own
    default, the sorted values seen, and no probability metrics)."""
    if classes is None:
        return None
    known = set(classes)
    if all(value in known for value in y_true) and all(value in known for value in y_pred):
        return classes
    return None


def infer_task(data: WindowData) -> str:
    """``classification`` when the model gives probabilities or its predictions are not fractional
    numbers, else ``regression`` (a monitor's ``task`` overrides this)."""
    if data.probabilities is not None:
        return "classification"
    present = [value for value in data.predictions if value is not None]
    if any(isinstance(value, float) and not float(value).is_integer() for value in present):
        return "regression"
    return "classification"


def infer_classes(
    predictions: npt.NDArray[Any], probabilities: npt.NDArray[np.float64], labels: Sequence[Any] = ()
) -> list[Any] | None:
    """The class of each probability column, read off the log (see the module docstring); ``None`` when
    some column's class cannot be told.

    >>> infer_classes(np.array(["no", "yes", "no"], dtype=object), np.array([[.9, .1], [.2, .8], [.6, .4]]))
    ['no', 'yes']
    """
    width = probabilities.shape[1]
    winners = np.argmax(probabilities, axis=1)
    classes: list[Any] = []
    for column in range(width):
        made = Counter(value for value in predictions[winners == column] if value is not None)
        classes.append(made.most_common(1)[0][0] if made else None)
    missing = [position for position, value in enumerate(classes) if value is None]
    if missing and width == 2 and len(missing) == 1:
        seen = {value for value in list(predictions) + list(labels) if value is not None}
        others = seen - {value for value in classes if value is not None}
        if len(others) == 1:
            classes[missing[0]] = others.pop()
            missing = []
    if missing or len(set(classes)) != width:
        return None
    return classes


def estimated_accuracy(
    probabilities: npt.NDArray[np.float64], predictions: npt.NDArray[Any], classes: Sequence[Any] | None
) -> float:
    """The expected accuracy: the mean probability of the predicted class (of the largest probability
    where the predicted class is not a known column).

    >>> estimated_accuracy(np.array([[0.9, 0.1], [0.3, 0.7]]), np.array([0, 1], dtype=object), [0, 1])
    0.8
    """
    confidence = probabilities.max(axis=1)
    if classes is not None:
        index = {value: position for position, value in enumerate(classes)}
        positions = np.array([index.get(value, -1) for value in predictions], dtype=np.int64)
        known = positions >= 0
        rows = np.flatnonzero(known)
        confidence = confidence.copy()
        confidence[rows] = probabilities[rows, positions[known]]
    return float(np.mean(confidence))


def estimated_roc_auc(
    probabilities: npt.NDArray[np.float64], classes: Sequence[Any] | None = None, *, pos_label: Any = None
) -> float | None:
    """The expected ROC AUC of calibrated probabilities: of the positive class's column for two classes
    (the last one, or ``pos_label``), else the macro average of one-vs-rest curves. ``None`` when the
    expected positives or negatives are zero.

    >>> round(estimated_roc_auc(np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])), 4)
    0.8167
    """
    width = probabilities.shape[1]
    if width == 2:
        position = 1
        if pos_label is not None and classes is not None and pos_label in list(classes):
            position = list(classes).index(pos_label)
        return _expected_auc(probabilities[:, position])
    areas = [_expected_auc(probabilities[:, column]) for column in range(width)]
    if any(area is None for area in areas):
        return None
    return float(np.mean([area for area in areas if area is not None]))


def _expected_auc(scores: npt.NDArray[np.float64]) -> float | None:
    """Area under the curve of expected (FPR, TPR) over every threshold; tied scores are one step (a
    straight segment, as scikit-learn's curve draws ties)."""
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    positives, negatives = float(scores.sum()), float((1.0 - scores).sum())
    if positives <= 0.0 or negatives <= 0.0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    ordered = scores[order]
    ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]
    true_positive = np.r_[0.0, np.cumsum(ordered)[ends]] / positives
    false_positive = np.r_[0.0, np.cumsum(1.0 - ordered)[ends]] / negatives
    return float(np.trapezoid(true_positive, false_positive))


def _floats(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if value is None else float(value) for value in values], dtype=np.float64)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
