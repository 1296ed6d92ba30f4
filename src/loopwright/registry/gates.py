"""Promotion policies and their gates: what a model version must show before an alias may point at it.

A :class:`PromotionPolicy` belongs to one alias of one model (``production`` of ``fraud``). It is checked
when built, stored as JSON, and evaluated by :func:`check_gates` into a :class:`GateReport` with one
:class:`GateResult` per gate:

============== ===========================================================================================
gate           passes when
============== ===========================================================================================
data_checks    every training dataset version of the model version passed its blocking checks
evaluation     the version has an evaluation (on ``evaluation_dataset`` when the policy names one)
threshold      each metric in ``thresholds`` reaches its bound (≥ for scores, ≤ for losses and errors)
beats          the version beats the ``baseline`` alias's version on the same dataset version by at least
               ``min_improvement`` on ``beat_metric`` (passes when no version holds the baseline alias)
segments       no segment's ``segment_metric`` is worse than the reference (the overall value, or the
               baseline's same segment) by more than ``segment_tolerance``
approval       ``approvals`` distinct users holding ``approver_role`` (or ``admin``) approved the version
============== ===========================================================================================

>>> policy = PromotionPolicy(thresholds={"f1": 0.8}, beat_metric="f1", min_improvement=0.01, approvals=1)
>>> policy.gates
['evaluation', 'threshold', 'beats', 'approval']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError, LoopwrightError
from loopwright.registry.metrics import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS

if TYPE_CHECKING:
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = ["ROLES", "GateReport", "GateResult", "PromotionPolicy", "check_gates"]

ROLES = ("viewer", "data-scientist", "ml-engineer", "reviewer", "admin")
"""The roles of a workspace (DESIGN.md). ``admin`` may do whatever any other role may."""

_METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
_FIELDS = (
    "require_data_checks",
    "thresholds",
    "beat_metric",
    "min_improvement",
    "baseline",
    "segment_metric",
    "segment_tolerance",
    "segment_reference",
    "approvals",
    "approver_role",
    "evaluation_dataset",
    "frozen",
)


@dataclass(frozen=True)
class PromotionPolicy:
    """The gates a version must pass to take one alias. Every field is checked when the policy is built.

    ``thresholds`` maps metric names to bounds: a floor for scores (``f1``), a ceiling for losses and
    errors (``log_loss``, ``mae``, ``rmse``, ``mape``). ``frozen`` forbids promotions to the alias
    altogether (force does not override it).
    """

    require_data_checks: bool = False
    thresholds: Mapping[str, float] = field(default_factory=dict)
    beat_metric: str | None = None
    min_improvement: float = 0.0
    baseline: str = "production"
    segment_metric: str | None = None
    segment_tolerance: float = 0.0
    segment_reference: str = "overall"
    approvals: int = 0
    approver_role: str = "ml-engineer"
    evaluation_dataset: str | None = None
    frozen: bool = False

    def __post_init__(self) -> None:
        for name in ("require_data_checks", "frozen"):
            if not isinstance(getattr(self, name), bool):
                _refuse(name, getattr(self, name), "True or False")
        if not isinstance(self.thresholds, Mapping):
            _refuse("thresholds", self.thresholds, "a mapping of metric names to numbers")
        bounds = {}
        for metric, bound in self.thresholds.items():
            _check_metric("thresholds", metric)
            bounds[metric] = _number(f"thresholds[{metric!r}]", bound)
        object.__setattr__(self, "thresholds", dict(sorted(bounds.items())))
        for name in ("beat_metric", "segment_metric"):
            if getattr(self, name) is not None:
                _check_metric(name, getattr(self, name))
        for name in ("min_improvement", "segment_tolerance"):
            value = _number(name, getattr(self, name))
            if value < 0:
                _refuse(name, value, "a number >= 0")
            object.__setattr__(self, name, value)
        from loopwright.registry.references import validate_alias

        try:
            validate_alias(self.baseline)
        except InvalidInputError:
            _refuse("baseline", self.baseline, "an alias such as 'production'")
        if self.segment_reference not in ("overall", "baseline"):
            _refuse("segment_reference", self.segment_reference, "'overall' or 'baseline'")
        if isinstance(self.approvals, bool) or not isinstance(self.approvals, int) or self.approvals < 0:
            _refuse("approvals", self.approvals, "an integer >= 0")
        if self.approver_role not in ROLES:
            _refuse("approver_role", self.approver_role, f"one of {', '.join(ROLES)}")
        if self.evaluation_dataset is not None and (
            not isinstance(self.evaluation_dataset, str) or not self.evaluation_dataset
        ):
            _refuse("evaluation_dataset", self.evaluation_dataset, "a dataset name or NAME:VERSION")

    @property
    def gates(self) -> list[str]:
        """The kinds of gate this policy checks, in the order they are reported."""
        kinds = ["data_checks"] if self.require_data_checks else []
        if self.thresholds or self.beat_metric or self.segment_metric:
            kinds.append("evaluation")
        kinds += ["threshold"] if self.thresholds else []
        kinds += ["beats"] if self.beat_metric else []
        kinds += ["segments"] if self.segment_metric else []
        kinds += ["approval"] if self.approvals else []
        return kinds

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain values (how it is stored)."""
        return {
            name: (dict(value) if isinstance(value, Mapping) else value)
            for name in _FIELDS
            for value in [getattr(self, name)]
        }

    @classmethod
    def from_dict(cls, document: Any) -> PromotionPolicy:
        """A policy from :meth:`to_dict`'s form (a YAML file's content); unknown fields are refused."""
        if not isinstance(document, Mapping):
            raise InvalidInputError(
                f"A promotion policy must be a mapping of fields. Got {type(document).__name__} instead."
            )
        unknown = sorted(str(key) for key in document if key not in _FIELDS)
        if unknown:
            raise InvalidInputError(
                f"A promotion policy has no field {', '.join(map(repr, unknown))}. Its fields: "
                f"{', '.join(_FIELDS)}.",
                fields=unknown,
            )
        return cls(**{str(key): value for key, value in document.items()})


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate: its ``kind`` (see the module table), a ``name``, and what was found."""

    kind: str
    name: str
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as stored in the alias history."""
        return {
            "kind": self.kind,
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class GateReport:
    """Every gate's outcome for promoting one version to one alias."""

    model: str
    version: int
    alias: str
    results: list[GateResult]
    evaluation: str | None = None
    """The evaluation the metric gates read: ``dataset name:version``."""

    @property
    def passed(self) -> bool:
        """Whether every gate passed (a policy with no gates passes)."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> list[GateResult]:
        """The gates that failed."""
        return [result for result in self.results if not result.passed]

    def summary(self) -> str:
        """One line per gate, failures first, with what to do about a refusal."""
        subject = f"Model {self.model!r} version {self.version} for alias {self.alias!r}"
        if self.passed:
            return f"{subject}: all {len(self.results)} gates passed."
        lines = [f"{subject}: {len(self.failures)} of {len(self.results)} gates failed."]
        ordered = self.failures + [result for result in self.results if result.passed]
        lines += [f"  {'FAILED' if not r.passed else 'passed'} {r.name}: {r.message}" for r in ordered]
        lines.append("Fix what failed, or promote with force=True and a reason (it is recorded).")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as stored with the promotion in the alias history."""
        return {
            "passed": self.passed,
            "evaluation": self.evaluation,
            "results": [result.to_dict() for result in self.results],
        }


def check_gates(registry: Registry, version: ModelVersion, alias: str, policy: PromotionPolicy) -> GateReport:
    """Evaluate every gate of ``policy`` for moving ``alias`` to ``version``. Nothing is changed, except
    that the baseline version is evaluated on the candidate's dataset when it has not been yet."""
    results: list[GateResult] = []
    if policy.require_data_checks:
        results.append(_data_checks(registry, version))
    evaluation = None
    if policy.thresholds or policy.beat_metric or policy.segment_metric:
        evaluation, found = _candidate_evaluation(registry, version, policy)
        results.append(found)
    if evaluation is not None:
        results += [_threshold(evaluation, metric, bound) for metric, bound in policy.thresholds.items()]
        baseline, baseline_result = None, None
        if policy.beat_metric or (policy.segment_metric and policy.segment_reference == "baseline"):
            baseline, baseline_result = _baseline(registry, version, evaluation, policy)
        if policy.beat_metric:
            results.append(baseline_result or _beats(evaluation, baseline, policy))
        if policy.segment_metric:
            results.append(_segments(evaluation, baseline if baseline_result is None else None, policy))
    if policy.approvals:
        results.append(_approval(registry, version, alias, policy))
    return GateReport(
        version.name, version.version, alias, results, evaluation.dataset if evaluation is not None else None
    )


# --- the gates ---------------------------------------------------------------------------------------


def _data_checks(registry: Registry, version: ModelVersion) -> GateResult:
    datasets = version.datasets()
    if not datasets:
        return GateResult(
            "data_checks",
            "data checks",
            False,
            "no training data is recorded for this version (register it with datasets=[...], or from a run "
            "that read its data with lw.dataset()).",
        )
    statuses = {f"{data.name}:{data.version}": data.check_status for data in datasets}
    bad = {label: status for label, status in statuses.items() if status not in ("passed", "warned")}
    if bad:
        described = ", ".join(
            f"{label} {'failed a blocking check' if status == 'failed' else 'was never checked'}"
            for label, status in bad.items()
        )
        return GateResult("data_checks", "data checks", False, described + ".", {"datasets": statuses})
    return GateResult(
        "data_checks",
        "data checks",
        True,
        f"{', '.join(statuses)} passed their blocking checks.",
        {"datasets": statuses},
    )


def _candidate_evaluation(
    registry: Registry, version: ModelVersion, policy: PromotionPolicy
) -> tuple[Evaluation | None, GateResult]:
    evaluations = version.evaluations()
    wanted = policy.evaluation_dataset
    if wanted is not None:
        evaluations = [
            evaluation
            for evaluation in evaluations
            if evaluation.dataset == wanted or evaluation.dataset.rpartition(":")[0] == wanted
        ]
    if not evaluations:
        on = f" on {wanted!r}" if wanted is not None else ""
        return None, GateResult(
            "evaluation",
            "evaluation",
            False,
            f"version {version.version} has no evaluation{on}. Evaluate it first: "
            f"lw.evaluate({version.uri!r}, {wanted or 'DATASET'!r}, target=...).",
        )
    chosen = evaluations[-1]
    return chosen, GateResult(
        "evaluation",
        "evaluation",
        True,
        f"evaluated on {chosen.dataset} ({chosen.num_rows} rows).",
        {"evaluation": chosen.id, "dataset": chosen.dataset},
    )


def _threshold(evaluation: Evaluation, metric: str, bound: float) -> GateResult:
    value = evaluation.metric(metric)
    lower = metric in LOWER_IS_BETTER
    name = f"threshold {metric}"
    details = {"metric": metric, "value": value, "bound": bound, "direction": "max" if lower else "min"}
    if value is None:
        return GateResult(
            "threshold", name, False, f"{metric} is undefined on {evaluation.dataset}.", details
        )
    passed = value <= bound if lower else value >= bound
    relation = ("<=" if passed else ">") if lower else (">=" if passed else "<")
    return GateResult(
        "threshold",
        name,
        passed,
        f"{metric} {_show(value)} {relation} {_show(bound)} on {evaluation.dataset}.",
        details,
    )


def _baseline(
    registry: Registry, version: ModelVersion, evaluation: Evaluation, policy: PromotionPolicy
) -> tuple[Evaluation | None, GateResult | None]:
    """The baseline version's evaluation on the candidate's dataset version (made now if missing), or
    ``(None, None)`` when nothing holds the baseline alias, or ``(None, failure)``."""
    from loopwright.data.versions import DatasetVersion
    from loopwright.registry.evaluation import evaluate

    pointer = registry.ledger.alias(version.name, policy.baseline)
    if pointer is None or pointer.version_id is None or pointer.version_id == version.id:
        return None, None
    baseline = registry.get_by_id(pointer.version_id)
    record = evaluation.record
    same = [
        other
        for other in baseline.evaluations()
        if other.record.dataset_version_id == record.dataset_version_id and other.target == record.target
    ]
    if same:
        return same[-1], None
    name = f"beats {policy.baseline}"
    if record.dataset_version_id is None:
        return None, GateResult("beats", name, False, f"the dataset {record.dataset} no longer exists.")
    try:
        data = DatasetVersion(
            registry.datasets.catalog.get_version_by_id(record.dataset_version_id), registry.datasets
        )
        return evaluate(
            registry, baseline, data, target=record.target, segments=record.segments, task=record.task
        ), None
    except LoopwrightError as error:
        return None, GateResult(
            "beats",
            name,
            False,
            f"version {baseline.version} ({policy.baseline}) could not be evaluated on "
            f"{record.dataset}: {error}",
        )


def _beats(evaluation: Evaluation, baseline: Evaluation | None, policy: PromotionPolicy) -> GateResult:
    metric = policy.beat_metric or ""
    name = f"beats {policy.baseline}"
    if baseline is None:
        return GateResult(
            "beats", name, True, f"no other version holds {policy.baseline!r}: nothing to beat."
        )
    candidate, reference = evaluation.metric(metric), baseline.metric(metric)
    details = {
        "metric": metric,
        "value": candidate,
        "baseline_value": reference,
        "baseline_version": baseline.version,
        "min_improvement": policy.min_improvement,
    }
    if candidate is None or reference is None:
        return GateResult("beats", name, False, f"{metric} is undefined on {evaluation.dataset}.", details)
    improvement = reference - candidate if metric in LOWER_IS_BETTER else candidate - reference
    details["improvement"] = improvement
    passed = improvement >= policy.min_improvement - 1e-12  # a tie at the bound is not a float artefact
    return GateResult(
        "beats",
        name,
        passed,
        f"{metric} {_show(candidate)} vs {_show(reference)} for version "
        f"{baseline.version} on {evaluation.dataset}: {'+' if improvement >= 0 else ''}{_show(improvement)} "
        f"(needs at least +{_show(policy.min_improvement)}).",
        details,
    )


def _segments(evaluation: Evaluation, baseline: Evaluation | None, policy: PromotionPolicy) -> GateResult:
    metric = policy.segment_metric or ""
    lower = metric in LOWER_IS_BETTER
    against_baseline = policy.segment_reference == "baseline" and baseline is not None
    overall = evaluation.metric(metric)
    worse: list[str] = []
    checked = 0
    for column, values in evaluation.segments.items():
        for value, metrics in values.items():
            own = metrics.get(metric)
            reference = baseline.metric(metric, (column, value)) if against_baseline and baseline else overall
            if own is None or reference is None:
                continue  # undefined on this segment (e.g. ROC AUC of a one-class segment)
            checked += 1
            drop = own - reference if lower else reference - own
            if drop > policy.segment_tolerance + 1e-12:
                worse.append(f"{column}={value} {_show(own)} vs {_show(reference)}")
    where = f"version {baseline.version}'s segments" if against_baseline and baseline else "overall"
    details = {"metric": metric, "reference": where, "tolerance": policy.segment_tolerance, "worse": worse}
    if not evaluation.segments:
        return GateResult(
            "segments",
            f"segments {metric}",
            False,
            f"the evaluation on {evaluation.dataset} has no segments; evaluate with segments=[...].",
            details,
        )
    if worse:
        return GateResult(
            "segments",
            f"segments {metric}",
            False,
            f"{len(worse)} segment(s) worse than {where} by more than {_show(policy.segment_tolerance)}: "
            f"{'; '.join(worse)}.",
            details,
        )
    return GateResult(
        "segments",
        f"segments {metric}",
        True,
        f"{checked} segment(s) within {_show(policy.segment_tolerance)} of {where}.",
        details,
    )


def _approval(registry: Registry, version: ModelVersion, alias: str, policy: PromotionPolicy) -> GateResult:
    holders = {
        grant.user for grant in registry.promotions.roles() if grant.role in (policy.approver_role, "admin")
    }
    approvals = registry.promotions.approvals(version.id, alias)
    valid = sorted({approval.user for approval in approvals if approval.user in holders})
    ignored = sorted({approval.user for approval in approvals} - set(valid))
    passed = len(valid) >= policy.approvals
    message = (
        f"{len(valid)} of {policy.approvals} approval(s) by a user with role {policy.approver_role!r}"
        + (f" ({', '.join(valid)})" if valid else "")
        + (f"; not counted, no longer holding the role: {', '.join(ignored)}" if ignored else "")
        + "."
    )
    return GateResult(
        "approval", "approval", passed, message, {"approved_by": valid, "required": policy.approvals}
    )


def _refuse(name: str, value: Any, expected: str) -> None:
    raise InvalidInputError(
        f"The '{name}' of a promotion policy must be {expected}. Got {value!r} instead.",
        field=name,
        value=repr(value),
    )


def _check_metric(name: str, metric: Any) -> None:
    if metric not in _METRICS:
        _refuse(name, metric, f"a metric name ({', '.join(_METRICS)})")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _refuse(name, value, "a finite number")
    return float(value)


def _show(value: float) -> str:
    return f"{value:.4g}"
