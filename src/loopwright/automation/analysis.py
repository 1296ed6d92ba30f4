"""Canary analysis: the candidate compared with production on the live prediction log, check by check.

Argo Rollouts and Flagger judge a canary on HTTP health. This judges the model. Over the current step's
window of the prediction log, :func:`analyse` compares the candidate's predictions (its shadow or canary
entries) with production's on four checks, each with a threshold and a minimum sample size:

=============== ========================================================= ================================
check           value                                                     passes when
=============== ========================================================= ================================
``distance``    drift statistic between the two variants' predictions      below ``max_distance``
                (:func:`loopwright.monitoring.stats.column_drift`: Jensen-
                Shannon for classes, Wasserstein for numbers)
``performance`` realised ``metric`` of each variant on the predictions     the candidate is at most
                whose labels arrived (the feedback joined by request id)   ``max_metric_drop`` worse
``error_rate``  share of logged predictions without an answer              at most ``max_error_rate_
                                                                           increase`` above production's
``latency_p95`` 95th percentile of the logged latencies                    within ``max_latency_ratio`` x
                                                                           production's, or ``latency_
                                                                           tolerance_ms`` above it
=============== ========================================================= ================================

A check whose variants have fewer than ``min_samples`` predictions (``min_labels`` labels for
``performance``) is ``waiting``: the step goes on until the sample is large enough. Performance is
``skipped`` while too few labels arrived, unless ``labels_required``. One ``failed`` check fails the step
at once; the step passes when every check passed or was skipped. Metrics come from
:mod:`loopwright.registry.metrics`, the implementations evaluation uses, so a live F1 means what an
evaluated F1 means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from loopwright.errors import RolloutPlanError
from loopwright.registry.metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    classification_metrics,
    regression_metrics,
)

__all__ = [
    "CHECK_STATUSES",
    "DISTANCE_TESTS",
    "AnalysisResult",
    "Check",
    "RolloutAnalysis",
    "VariantSample",
    "analyse",
]

DISTANCE_TESTS = ("jensenshannon", "wasserstein", "psi")
"""The drift statistics a distance check can use (the distances of :mod:`loopwright.monitoring.stats`)."""

CHECK_STATUSES = ("passed", "failed", "waiting", "skipped")

_METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
_FIELDS = (
    "max_distance",
    "distance_test",
    "metric",
    "max_metric_drop",
    "min_labels",
    "labels_required",
    "label",
    "max_error_rate_increase",
    "max_latency_ratio",
    "latency_tolerance_ms",
    "min_samples",
)


@dataclass(frozen=True)
class RolloutAnalysis:
    """The thresholds and minimum sample sizes a rollout step is judged by; checked when built.

    ``None`` turns a check off (``max_distance``, ``metric``, ``max_error_rate_increase``,
    ``max_latency_ratio``). ``label`` is the key of the label in feedback values that are mappings.

    >>> RolloutAnalysis(max_distance=0.1, metric="f1", max_metric_drop=0.02, min_labels=200).checks
    ['distance', 'performance', 'error_rate', 'latency_p95']
    """

    max_distance: float | None = 0.1
    distance_test: str | None = None
    metric: str | None = None
    max_metric_drop: float = 0.0
    min_labels: int = 50
    labels_required: bool = False
    label: str = "label"
    max_error_rate_increase: float | None = 0.01
    max_latency_ratio: float | None = 1.5
    latency_tolerance_ms: float = 5.0
    min_samples: int = 100

    def __post_init__(self) -> None:
        for name in ("max_distance", "max_error_rate_increase", "max_latency_ratio"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(
                    self, name, _number(name, value, minimum=0.0, strict=name != "max_error_rate_increase")
                )
        for name in ("max_metric_drop", "latency_tolerance_ms"):
            object.__setattr__(self, name, _number(name, getattr(self, name), minimum=0.0))
        if self.max_latency_ratio is not None and self.max_latency_ratio < 1.0:
            _refuse("max_latency_ratio", self.max_latency_ratio, "a number >= 1 (1.5 allows 50% slower)")
        for name in ("min_samples", "min_labels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                _refuse(name, value, "a whole number >= 1")
        if self.distance_test is not None and self.distance_test not in DISTANCE_TESTS:
            _refuse("distance_test", self.distance_test, f"one of {', '.join(DISTANCE_TESTS)} or None")
        if self.metric is not None and self.metric not in _METRICS:
            _refuse("metric", self.metric, f"a metric name ({', '.join(_METRICS)}) or None")
        if not isinstance(self.labels_required, bool):
            _refuse("labels_required", self.labels_required, "True or False")
        if not isinstance(self.label, str) or not self.label:
            _refuse("label", self.label, "the key of the label in feedback values, e.g. 'label'")

    @property
    def checks(self) -> list[str]:
        """The checks this analysis runs, in the order they are reported."""
        names = ["distance"] if self.max_distance is not None else []
        names += ["performance"] if self.metric is not None else []
        names += ["error_rate"] if self.max_error_rate_increase is not None else []
        names += ["latency_p95"] if self.max_latency_ratio is not None else []
        return names

    def to_dict(self) -> dict[str, Any]:
        """The analysis as plain values (how plans store it)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, document: Any) -> RolloutAnalysis:
        """An analysis from :meth:`to_dict`'s form (a YAML mapping); unknown fields are refused."""
        if isinstance(document, RolloutAnalysis):
            return document
        if not isinstance(document, Mapping):
            raise RolloutPlanError(
                "The 'analysis' of a rollout plan must be a mapping of its fields. "
                f"Got {document!r} instead.",
                field="analysis",
                value=repr(document),
            )
        unknown = sorted(str(key) for key in document if key not in _FIELDS)
        if unknown:
            raise RolloutPlanError(
                f"A rollout analysis has no field {', '.join(map(repr, unknown))}. "
                f"Its fields: {', '.join(_FIELDS)}.",
                field="analysis",
                value=repr(unknown),
            )
        return cls(**{str(key): value for key, value in document.items()})


@dataclass(frozen=True, slots=True)
class VariantSample:
    """One variant's entries in the analysis window: predictions (``None`` where it gave no answer), the
    logged latencies, and the labels that arrived for them (``None`` where none did)."""

    predictions: Sequence[Any]
    latency_ms: npt.NDArray[np.float64]
    labels: Sequence[Any]

    @property
    def size(self) -> int:
        """Predictions logged."""
        return len(self.predictions)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome: its ``status`` (``passed``, ``failed``, ``waiting``, ``skipped``), the
    candidate's and production's values, the ``statistic`` judged against ``threshold``, the sample
    sizes and the minimum, and a message for people."""

    name: str
    status: str
    message: str
    candidate: float | None = None
    production: float | None = None
    statistic: float | None = None
    threshold: float | None = None
    samples: dict[str, int] = field(default_factory=dict)
    min_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as recorded in the rollout's events."""
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "candidate": _finite(self.candidate),
            "production": _finite(self.production),
            "statistic": _finite(self.statistic),
            "threshold": _finite(self.threshold),
            "samples": dict(self.samples),
            "min_samples": self.min_samples,
        }


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """Every check of one analysis, and the production values a later step may be compared with."""

    checks: list[Check]
    reference: dict[str, float | None] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``failed`` if a check failed, else ``waiting`` if one waits for samples, else ``passed``."""
        statuses = {check.status for check in self.checks}
        if "failed" in statuses:
            return "failed"
        return "waiting" if "waiting" in statuses else "passed"

    @property
    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [check for check in self.checks if check.status == "failed"]

    def describe(self) -> str:
        """Each check's status and message, on one line."""
        parts = "; ".join(
            f"{check.name} {check.status}: {check.message.rstrip('.')}" for check in self.checks
        )
        return parts or "no checks"

    def summary(self) -> str:
        """One line: the verdict and each check's message."""
        return f"{self.verdict} ({self.describe()})"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as recorded in the rollout's events and state."""
        return {
            "verdict": self.verdict,
            "checks": [check.to_dict() for check in self.checks],
            "reference": {key: _finite(value) for key, value in self.reference.items()},
        }


def analyse(
    analysis: RolloutAnalysis,
    candidate: VariantSample,
    production: VariantSample,
    *,
    reference: Mapping[str, float | None] | None = None,
) -> AnalysisResult:
    """Judge ``candidate`` against ``production`` by ``analysis``. When production took no traffic in the
    window (a 100% canary step), its values from ``reference`` (an earlier step's
    :attr:`AnalysisResult.reference`) stand in for it, and the distance, which needs its predictions, is
    skipped.

    >>> sample = VariantSample([0, 1] * 100, np.full(200, 2.0), [None] * 200)
    >>> analyse(RolloutAnalysis(), sample, sample).verdict
    'passed'
    """
    carried = dict(reference or {}) if production.size == 0 else None
    checks: list[Check] = []
    found: dict[str, float | None] = {}
    if analysis.max_distance is not None:
        checks.append(_distance(analysis, candidate, production, carried is not None))
    if analysis.metric is not None:
        check, value = _performance(analysis, candidate, production, carried)
        checks.append(check)
        found[analysis.metric] = value
    if analysis.max_error_rate_increase is not None:
        check, value = _error_rate(analysis, candidate, production, carried)
        checks.append(check)
        found["error_rate"] = value
    if analysis.max_latency_ratio is not None:
        check, value = _latency(analysis, candidate, production, carried)
        checks.append(check)
        found["latency_p95_ms"] = value
    return AnalysisResult(checks, carried if carried is not None else found)


# --- the checks ------------------------------------------------------------------------------------------


def _distance(
    analysis: RolloutAnalysis, candidate: VariantSample, production: VariantSample, carried: bool
) -> Check:
    from loopwright.monitoring.stats import column_drift

    threshold = analysis.max_distance
    if carried:
        return Check(
            "distance", "skipped", "production takes no traffic at this step; compared at the earlier steps."
        )
    ours = [value for value in candidate.predictions if value is not None]
    theirs = [value for value in production.predictions if value is not None]
    samples = {"candidate": len(ours), "production": len(theirs)}
    if min(samples.values()) < analysis.min_samples:
        return _waiting("distance", samples, analysis.min_samples, "predictions")
    numeric = _numeric(theirs) and _numeric(ours)
    test = analysis.distance_test or ("wasserstein" if numeric else "jensenshannon")
    if numeric:
        result = column_drift(
            np.asarray(theirs, dtype=np.float64),
            np.asarray(ours, dtype=np.float64),
            test=test,
            threshold=threshold,
        )
    else:  # classes: compared as categories (Wasserstein needs numbers, so it falls back to Jensen-Shannon)
        result = column_drift(
            [str(value) for value in theirs],
            [str(value) for value in ours],
            test="jensenshannon" if test == "wasserstein" else test,
            threshold=threshold,
            categorical=True,
        )
    statistic = float(result.statistic)
    assert threshold is not None
    if not math.isfinite(statistic):
        return Check(
            "distance",
            "skipped",
            f"the {result.test} distance could not be computed ({result.detail or 'no finite value'}).",
            samples=samples,
            min_samples=analysis.min_samples,
        )
    passed = statistic < threshold
    return Check(
        "distance",
        "passed" if passed else "failed",
        f"{result.test} distance between the predictions {_show(statistic)} "
        f"{'<' if passed else '>='} {_show(threshold)}.",
        statistic=statistic,
        threshold=threshold,
        samples=samples,
        min_samples=analysis.min_samples,
    )


def _performance(
    analysis: RolloutAnalysis,
    candidate: VariantSample,
    production: VariantSample,
    carried: dict[str, float | None] | None,
) -> tuple[Check, float | None]:
    metric = analysis.metric
    assert metric is not None
    ours, our_count = _metric(metric, candidate)
    if carried is not None:
        theirs, their_count = carried.get(metric), analysis.min_labels
    else:
        theirs, their_count = _metric(metric, production)
    samples = {"candidate": our_count, "production": their_count}
    if min(samples.values()) < analysis.min_labels:
        if not analysis.labels_required:
            return (
                Check(
                    "performance",
                    "skipped",
                    f"{_fewest(samples)} labels so far, fewer than the {analysis.min_labels} needed to "
                    f"compare {metric}.",
                    samples=samples,
                    min_samples=analysis.min_labels,
                ),
                theirs,
            )
        return _waiting("performance", samples, analysis.min_labels, "labels"), theirs
    if ours is None or theirs is None:
        return (
            Check(
                "performance",
                "skipped",
                f"{metric} is undefined on the labelled predictions.",
                samples=samples,
                min_samples=analysis.min_labels,
            ),
            theirs,
        )
    drop = ours - theirs if metric in LOWER_IS_BETTER else theirs - ours
    passed = drop <= analysis.max_metric_drop + 1e-12  # a tie at the bound is not a float artefact
    return (
        Check(
            "performance",
            "passed" if passed else "failed",
            f"{metric} {_show(ours)} vs {_show(theirs)} for production: "
            f"{_comparison(drop, passed, analysis.max_metric_drop)}.",
            candidate=ours,
            production=theirs,
            statistic=drop,
            threshold=analysis.max_metric_drop,
            samples=samples,
            min_samples=analysis.min_labels,
        ),
        theirs,
    )


def _error_rate(
    analysis: RolloutAnalysis,
    candidate: VariantSample,
    production: VariantSample,
    carried: dict[str, float | None] | None,
) -> tuple[Check, float | None]:
    threshold = analysis.max_error_rate_increase
    assert threshold is not None
    ours = _errors(candidate)
    if carried is not None:
        theirs, their_count = carried.get("error_rate"), analysis.min_samples
    else:
        theirs, their_count = _errors(production), production.size
    samples = {"candidate": candidate.size, "production": their_count}
    if min(samples.values()) < analysis.min_samples or ours is None or theirs is None:
        return _waiting("error_rate", samples, analysis.min_samples, "predictions"), theirs
    increase = ours - theirs
    passed = increase <= threshold + 1e-12
    return (
        Check(
            "error_rate",
            "passed" if passed else "failed",
            f"{_percent(ours)} vs {_percent(theirs)} for production "
            f"({'within' if passed else 'beyond'} the +{_percent(threshold)} allowed).",
            candidate=ours,
            production=theirs,
            statistic=increase,
            threshold=threshold,
            samples=samples,
            min_samples=analysis.min_samples,
        ),
        theirs,
    )


def _latency(
    analysis: RolloutAnalysis,
    candidate: VariantSample,
    production: VariantSample,
    carried: dict[str, float | None] | None,
) -> tuple[Check, float | None]:
    ratio = analysis.max_latency_ratio
    assert ratio is not None
    ours = _p95(candidate.latency_ms)
    if carried is not None:
        theirs, their_count = carried.get("latency_p95_ms"), analysis.min_samples
    else:
        theirs, their_count = _p95(production.latency_ms), production.size
    samples = {"candidate": candidate.size, "production": their_count}
    if min(samples.values()) < analysis.min_samples or ours is None or theirs is None:
        return _waiting("latency_p95", samples, analysis.min_samples, "predictions"), theirs
    allowed = max(theirs * ratio, theirs + analysis.latency_tolerance_ms)
    passed = ours <= allowed
    return (
        Check(
            "latency_p95",
            "passed" if passed else "failed",
            f"{_show(ours)} ms vs {_show(theirs)} ms for production "
            f"({'within' if passed else 'above'} the {_show(allowed)} ms allowed).",
            candidate=ours,
            production=theirs,
            statistic=ours,
            threshold=allowed,
            samples=samples,
            min_samples=analysis.min_samples,
        ),
        theirs,
    )


# --- helpers ---------------------------------------------------------------------------------------------


def _metric(metric: str, sample: VariantSample) -> tuple[float | None, int]:
    """``metric`` on the predictions of ``sample`` that have both an answer and a label, and their count."""
    pairs = [
        (label, prediction)
        for label, prediction in zip(sample.labels, sample.predictions, strict=True)
        if label is not None and prediction is not None
    ]
    if not pairs:
        return None, 0
    truth = np.array([label for label, _ in pairs], dtype=object)
    predicted = np.array([prediction for _, prediction in pairs], dtype=object)
    if metric in REGRESSION_METRICS:
        values = regression_metrics(truth.astype(np.float64), predicted.astype(np.float64))
    else:
        values = classification_metrics(truth, predicted)
    value = values.get(metric)
    return (None if value is None else float(value)), len(pairs)


def _comparison(drop: float, passed: bool, allowed: float) -> str:
    if drop <= 0:
        return "as good" if drop == 0 else f"better by {_show(-drop)}"
    return f"worse by {_show(drop)} ({'within' if passed else 'beyond'} the {_show(allowed)} allowed)"


def _errors(sample: VariantSample) -> float | None:
    if not sample.size:
        return None
    return sum(1 for value in sample.predictions if value is None) / sample.size


def _p95(latency: npt.NDArray[np.float64]) -> float | None:
    finite = latency[np.isfinite(latency)]
    return float(np.percentile(finite, 95)) if len(finite) else None


def _numeric(values: Sequence[Any]) -> bool:
    """Whether predictions are numbers to compare as a distribution (a regressor's), not classes: some
    value is a float with a fractional part."""
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        return False
    return any(isinstance(value, float) and not float(value).is_integer() for value in values)


def _waiting(name: str, samples: dict[str, int], minimum: int, unit: str) -> Check:
    return Check(
        name,
        "waiting",
        f"{_fewest(samples)} {unit} so far; {minimum} needed from each variant.",
        samples=samples,
        min_samples=minimum,
    )


def _fewest(samples: Mapping[str, int]) -> str:
    side = min(samples, key=lambda key: samples[key])
    return f"{samples[side]} {side}"


def _finite(value: float | None) -> float | None:
    """``value``, or ``None`` for NaN and infinities (JSON, and so PostgreSQL, has no such numbers)."""
    return value if value is None or math.isfinite(value) else None


def _show(value: float) -> str:
    return f"{value:.4g}"


def _percent(value: float) -> str:
    return f"{value * 100:.3g}%"


def _number(name: str, value: Any, *, minimum: float, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _refuse(name, value, "a finite number")
    if value < minimum or (strict and value == minimum):
        _refuse(name, value, f"a number {'>' if strict else '>='} {minimum:g}")
    return float(value)


def _refuse(name: str, value: Any, expected: str) -> NoReturn:
    raise RolloutPlanError(
        f"The '{name}' of a rollout analysis must be {expected}. Got {value!r} instead.",
        field=name,
        value=repr(value),
    )
