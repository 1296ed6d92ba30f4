"""The canary analysis as a pure function: each check's value, threshold, sample sizes and verdict."""

from __future__ import annotations

import numpy as np
import pytest

from loopwright.automation.analysis import RolloutAnalysis, VariantSample, analyse


def sample(
    predictions: list[object], labels: list[object] | None = None, latency: float = 2.0
) -> VariantSample:
    return VariantSample(predictions, np.full(len(predictions), latency), labels or [None] * len(predictions))


def by_name(result: object) -> dict[str, object]:
    return {check.name: check for check in result.checks}  # type: ignore[attr-defined]


def test_identical_variants_pass_every_check() -> None:
    same = sample([0, 1, 1, 0] * 50, [0, 1, 1, 0] * 50)
    result = analyse(RolloutAnalysis(metric="f1"), same, same)
    assert result.verdict == "passed"
    assert [check.status for check in result.checks] == ["passed"] * 4
    assert result.reference == {"f1": 1.0, "error_rate": 0.0, "latency_p95_ms": 2.0}
    assert result.summary().startswith(
        "passed (distance passed: jensenshannon distance between the predictions 0 <"
    )


def test_numeric_predictions_are_compared_as_a_distribution() -> None:
    rng = np.random.default_rng(0)
    production = sample(list(rng.normal(0, 1, 500)))
    shifted = sample(list(rng.normal(1, 1, 500)))
    check = by_name(analyse(RolloutAnalysis(), shifted, production))["distance"]
    assert check.status == "failed"  # type: ignore[attr-defined]
    assert check.message.startswith("wasserstein distance between the predictions ")  # type: ignore[attr-defined]
    assert check.statistic == pytest.approx(1.0, abs=0.15)  # type: ignore[attr-defined]


def test_an_error_rate_above_productions_by_more_than_allowed_fails() -> None:
    production = sample([0] * 200)
    candidate = sample([0] * 194 + [None] * 6)  # 3% unanswered
    check = by_name(analyse(RolloutAnalysis(max_error_rate_increase=0.02), candidate, production))[
        "error_rate"
    ]
    assert (check.status, check.candidate, check.production, check.statistic) == (  # type: ignore[attr-defined]
        "failed",
        0.03,
        0.0,
        0.03,
    )
    assert check.message == "3% vs 0% for production (beyond the +2% allowed)."  # type: ignore[attr-defined]


def test_a_lower_is_better_metric_fails_when_it_grows() -> None:
    truth = [float(value) for value in range(100)]
    production = sample([value + 1 for value in truth], truth)
    candidate = sample([value + 3 for value in truth], truth)
    check = by_name(
        analyse(RolloutAnalysis(metric="mae", max_metric_drop=1.0, max_distance=None), candidate, production)
    )["performance"]
    assert (check.status, check.candidate, check.production, check.statistic) == (  # type: ignore[attr-defined]
        "failed",
        3.0,
        1.0,
        2.0,
    )


def latency_status(candidate_ms: float, production_ms: float) -> str:
    production = sample([0] * 100, latency=production_ms)
    result = analyse(RolloutAnalysis(), sample([0] * 100, latency=candidate_ms), production)
    return str(by_name(result)["latency_p95"].status)  # type: ignore[attr-defined]


def test_latency_passes_within_the_ratio_or_the_tolerance() -> None:
    # Fast models: 5 ms of tolerance above production's p95 (the ratio alone would allow 1.5 ms).
    assert (latency_status(6.0, 1.0), latency_status(6.5, 1.0)) == ("passed", "failed")
    # Slow models: 1.5 times production's p95.
    assert (latency_status(150.0, 100.0), latency_status(151.0, 100.0)) == ("passed", "failed")


def test_too_few_samples_wait_and_too_few_labels_skip_unless_required() -> None:
    small = sample([0, 1] * 40, [0, 1] * 10 + [None] * 60)
    result = analyse(RolloutAnalysis(metric="accuracy", min_samples=100, min_labels=50), small, small)
    assert result.verdict == "waiting"
    assert {name: check.status for name, check in by_name(result).items()} == {  # type: ignore[attr-defined]
        "distance": "waiting",
        "performance": "skipped",
        "error_rate": "waiting",
        "latency_p95": "waiting",
    }
    enough = analyse(RolloutAnalysis(metric="accuracy", min_samples=80, min_labels=50), small, small)
    assert enough.verdict == "passed"
    required = analyse(
        RolloutAnalysis(metric="accuracy", min_samples=80, min_labels=50, labels_required=True), small, small
    )
    assert required.verdict == "waiting"
    assert by_name(required)["performance"].message == (  # type: ignore[attr-defined]
        "20 candidate labels so far; 50 needed from each variant."
    )


def test_without_production_traffic_the_reference_stands_in() -> None:
    candidate = sample([0, 1] * 100, [0, 1] * 100, latency=3.0)
    nothing = sample([])
    reference = {"accuracy": 0.95, "error_rate": 0.0, "latency_p95_ms": 2.0}
    result = analyse(RolloutAnalysis(metric="accuracy"), candidate, nothing, reference=reference)
    checks = by_name(result)
    assert checks["distance"].status == "skipped"  # type: ignore[attr-defined]
    assert (checks["performance"].status, checks["performance"].production) == ("passed", 0.95)  # type: ignore[attr-defined]
    assert result.reference == reference  # carried on to the next step unchanged
    # No reference at all: the relative checks cannot decide.
    assert analyse(RolloutAnalysis(), candidate, nothing).verdict == "waiting"
