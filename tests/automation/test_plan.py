"""Rollout plans and their analysis: checked when built, every error naming the field and the value, and
a stored form that reads back to the same plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import loopwright as lw
from loopwright.errors import RolloutPlanError


def test_the_default_plan_shadows_then_canaries_up_to_all_traffic() -> None:
    plan = lw.RolloutPlan()
    assert plan.describe() == (
        "shadow for at least 1h → canary 10% for at least 1h → canary 50% for at least 1h → canary 100% for "
        "at least 1h → promote"
    )
    assert plan.analysis == lw.RolloutAnalysis()
    assert plan.analysis.checks == ["distance", "error_rate", "latency_p95"]
    assert plan.notify == ({"kind": "log"},)


def test_a_plan_reads_back_from_its_stored_form() -> None:
    plan = lw.RolloutPlan(
        steps=[
            lw.RolloutStep.shadow(timedelta(minutes=90), min_requests=500, timeout="6h"),
            lw.RolloutStep.canary(
                0.25,
                duration="30m",
                analysis=lw.RolloutAnalysis(metric="f1", min_labels=200, labels_required=True),
            ),
        ],
        analysis=lw.RolloutAnalysis(max_distance=0.2, distance_test="psi", max_error_rate_increase=None),
        notify=["log", lw.Webhook("http://127.0.0.1:9/hook", retries=0)],
    )
    stored = plan.to_dict()
    assert stored["steps"][0] == {
        "kind": "shadow",
        "weight": 0.0,
        "duration": "90m",
        "min_requests": 500,
        "timeout": "6h",
        "analysis": None,
    }
    assert stored["notify"][1] == {
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "timeout_s": 5.0,
        "retries": 0,
        "headers": {},
    }
    assert lw.RolloutPlan.from_dict(stored) == plan
    assert plan.analysis_for(0).max_distance == 0.2  # the plan's
    assert plan.analysis_for(1).metric == "f1"  # the step's own
    assert plan.steps[0].duration_ms == 5_400_000
    assert plan.steps[1].describe() == "canary 25% for at least 30m"
    assert plan.steps[0].describe() == "shadow for at least 90m, at least 500 requests, at most 6h"


def test_a_plan_from_yaml_like_mappings() -> None:
    plan = lw.RolloutPlan.from_dict(
        {"steps": [{"kind": "shadow", "duration": "1h"}, {"kind": "canary", "weight": 0.1}], "analysis": {}}
    )
    assert [step.kind for step in plan.steps] == ["shadow", "canary"]
    assert plan.analysis == lw.RolloutAnalysis()


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (
            lambda: lw.RolloutStep.canary(1.5),
            "weight",
            "The 'weight' of a rollout step must be above 0 and at most 1 (the share of traffic the candidate "
            "takes). Got 1.5 instead.",
        ),
        (
            lambda: lw.RolloutStep.canary(True),
            "weight",
            "The 'weight' of a rollout step must be a number between 0 and 1. Got True instead.",
        ),
        (
            lambda: lw.RolloutStep.shadow("1 hour"),
            "duration",
            "The 'duration' of a rollout step must be a duration such as '30s', '15m', '1h' or '1d' (or a "
            "timedelta). Got '1 hour' instead.",
        ),
        (
            lambda: lw.RolloutStep.shadow("0s"),
            "duration",
            "The 'duration' of a rollout step must be longer than zero. Got '0s' instead.",
        ),
        (
            lambda: lw.RolloutStep.shadow("1h", timeout="30m"),
            "timeout",
            "The 'timeout' of a rollout step must be longer than the step's duration (1h). Got '30m' instead.",
        ),
        (
            lambda: lw.RolloutStep.shadow(min_requests=0),
            "min_requests",
            "The 'min_requests' of a rollout step must be a whole number >= 1, or None. Got 0 instead.",
        ),
        (
            lambda: lw.RolloutStep("blue-green"),
            "kind",
            "The 'kind' of a rollout step must be 'shadow' or 'canary'. Got 'blue-green' instead.",
        ),
        (
            lambda: lw.RolloutPlan(steps=[]),
            "steps",
            "The 'steps' of a rollout plan must be at least one step. Got [] instead.",
        ),
        (
            lambda: lw.RolloutPlan(steps=["shadow"]),
            "steps",
            "Each step of a rollout plan must be a RolloutStep or a mapping such as {'kind': 'canary', 'weight': "
            "0.1}. Got 'shadow' instead.",
        ),
        (
            lambda: lw.RolloutPlan(steps=[lw.RolloutStep.canary(1.0)]),
            "steps",
            "The 'steps' of a rollout plan must be a list whose first step leaves production some traffic (a "
            "shadow, or a canary below 100%), so that the candidate can be compared with it. Got ['canary 100%'] "
            "instead.",
        ),
        (
            lambda: lw.RolloutPlan(notify=["slack"]),
            "notify",
            "The 'notify' of a rollout plan must be a list of 'log' and lw.Webhook(url). Got ['slack'] instead.",
        ),
        (
            lambda: lw.RolloutPlan.from_dict({"stages": []}),
            "plan",
            "A rollout plan has no field 'stages'. Its fields: steps, analysis, notify.",
        ),
        (
            lambda: lw.RolloutPlan.from_dict({"steps": [{"kind": "canary", "weight": 0.1, "wait": "1h"}]}),
            "steps",
            "A rollout step has no field 'wait'. Its fields: kind, weight, duration, min_requests, timeout, "
            "analysis.",
        ),
        (
            lambda: lw.RolloutAnalysis(max_distance=0),
            "max_distance",
            "The 'max_distance' of a rollout analysis must be a number > 0. Got 0 instead.",
        ),
        (
            lambda: lw.RolloutAnalysis(metric="auc"),
            "metric",
            "The 'metric' of a rollout analysis must be a metric name (accuracy, precision, recall, f1, roc_auc, "
            "log_loss, mae, rmse, r2, mape) or None. Got 'auc' instead.",
        ),
        (
            lambda: lw.RolloutAnalysis(min_samples=0),
            "min_samples",
            "The 'min_samples' of a rollout analysis must be a whole number >= 1. Got 0 instead.",
        ),
        (
            lambda: lw.RolloutAnalysis(max_latency_ratio=0.5),
            "max_latency_ratio",
            "The 'max_latency_ratio' of a rollout analysis must be a number >= 1 (1.5 allows 50% slower). Got "
            "0.5 instead.",
        ),
        (
            lambda: lw.RolloutAnalysis(distance_test="ks"),
            "distance_test",
            "The 'distance_test' of a rollout analysis must be one of jensenshannon, wasserstein, psi or None. "
            "Got 'ks' instead.",
        ),
        (
            lambda: lw.RolloutAnalysis.from_dict({"threshold": 1}),
            "analysis",
            "A rollout analysis has no field 'threshold'. Its fields: max_distance, distance_test, metric, "
            "max_metric_drop, min_labels, labels_required, label, max_error_rate_increase, max_latency_ratio, "
            "latency_tolerance_ms, min_samples.",
        ),
    ],
)
def test_a_bad_plan_fails_where_it_is_built(build: Any, field: str, message: str) -> None:
    with pytest.raises(RolloutPlanError) as raised:
        build()
    assert raised.value.code == "invalid_input.rollout_plan"
    assert raised.value.message == message
    assert raised.value.details["field"] == field
