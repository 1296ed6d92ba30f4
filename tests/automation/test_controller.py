"""The promotion controller on a real workspace: rollouts that promote a good candidate and roll back a
worse one, every decision recorded with its measurements, minimum sample sizes respected, on both
metadata backends. Time is passed in (``now=``); traffic is written into the prediction log directly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

import loopwright as lw
from loopwright.errors import ConflictError, InvalidInputError, NotFoundError, PromotionRefusedError
from tests.automation.conftest import MINUTE, T0, accuracy, traffic


def plan(notify: list[Any] | None = None, **analysis: Any) -> lw.RolloutPlan:
    """Shadow for 10 minutes and 100 requests, then a 50% canary for 10 minutes; judged on accuracy too."""
    return lw.RolloutPlan(
        steps=[
            lw.RolloutStep.shadow("10m", min_requests=100),
            lw.RolloutStep.canary(0.5, duration="10m"),
        ],
        analysis=lw.RolloutAnalysis(**{"metric": "accuracy", "max_metric_drop": 0.02, **analysis}),
        notify=notify if notify is not None else ["log"],
    )


def kinds(client: lw.Client, rollout_id: int) -> list[str]:
    return [event.kind for event in client.controller.events(rollout_id)]


def checks_of(event: Any) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in event.details["checks"]}


# --- promotion ----------------------------------------------------------------------------------------


def test_a_better_candidate_goes_through_every_step_and_is_promoted(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(), now=T0)
    assert (rollout.status, rollout.step, rollout.baseline, rollout.candidate, rollout.alias) == (
        "active",
        0,
        1,
        2,
        "production",
    )
    assert (rollout.cause, rollout.created_by, rollout.created_ms) == ("manual", "tester", T0)
    deployment = client.deployments.get("fraud")
    assert (deployment.shadow, deployment.canary) == (2, None)
    started, step = client.controller.events(rollout.id)
    assert started.message == (
        "Rolling version 2 of 'fraud' out on 'fraud' against version 1: shadow for at least 10m, at least "
        "100 requests → canary 50% for at least 10m → promote."
    )
    assert (step.kind, step.step, step.message) == (
        "step",
        0,
        "Step 1 of 2: shadow for at least 10m, at least 100 requests (version 2).",
    )
    assert step.details == {"deployment": {"shadow": 2, "canary": None}}
    assert client.deployments.history("fraud")[-1].reason == (
        f"rollout {rollout.id}: step 1, shadow for at least 10m, at least 100 requests"
    )

    traffic(client, T0, 200, candidate=2, variant="shadow")
    events = client.controller.tick(now=T0 + 11 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "step"]
    assert events[0].details["verdict"] == "passed"
    assert events[0].details["elapsed_ms"] == 11 * MINUTE
    checks = checks_of(events[0])
    assert {name: check["status"] for name, check in checks.items()} == {
        "distance": "passed",
        "performance": "passed",
        "error_rate": "passed",
        "latency_p95": "passed",
    }
    assert checks["distance"]["samples"] == {"candidate": 200, "production": 200}
    assert checks["distance"]["threshold"] == 0.1
    assert (checks["performance"]["candidate"], checks["performance"]["production"]) == (
        1.0,
        accuracy(1, 200),
    )
    assert checks["performance"]["samples"] == {"candidate": 200, "production": 200}
    assert (checks["error_rate"]["candidate"], checks["error_rate"]["production"]) == (0.0, 0.0)
    assert (checks["latency_p95"]["candidate"], checks["latency_p95"]["threshold"]) == (2.0, 7.0)
    deployment = client.deployments.get("fraud")
    assert (deployment.shadow, deployment.canary, deployment.canary_weight) == (None, 2, 0.5)

    traffic(client, T0 + 11 * MINUTE, 400, candidate=2, variant="canary", seed=1)
    events = client.controller.tick(now=T0 + 22 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "promoted"]
    assert (
        events[1].message == "Version 2 of 'fraud' promoted to alias 'production'; 'fraud' serves it alone."
    )
    final = client.controller.get(rollout.id)
    assert (final.status, final.reason, final.ended_ms) == (
        "promoted",
        "every step passed its analysis",
        T0 + 22 * MINUTE,
    )
    assert client.get_model_version("fraud", alias="production").version == 2
    deployment = client.deployments.get("fraud")
    assert (deployment.production, deployment.shadow, deployment.canary) == ("fraud@production", None, None)
    [promotion] = [event for event in client.alias_history("fraud", "production") if event.to_version == 2]
    assert (promotion.action, promotion.reason) == (
        "promote",
        f"rollout {rollout.id}: every step passed its analysis",
    )
    assert kinds(client, rollout.id) == ["started", "step", "analysis", "step", "analysis", "promoted"]
    assert client.controller.tick(now=T0 + 30 * MINUTE) == []  # an ended rollout is left alone


def test_a_pinned_deployment_is_moved_to_the_candidate(client: lw.Client) -> None:
    client.deploy("fraud", "fraud/1")
    single = lw.RolloutPlan(
        steps=[lw.RolloutStep.shadow(min_requests=50)], analysis=lw.RolloutAnalysis(min_samples=50)
    )
    rollout = lw.rollout("fraud", "fraud/2", plan=single, now=T0)
    assert rollout.alias is None
    traffic(client, T0, 60, candidate=2)
    assert [event.kind for event in client.controller.tick(now=T0 + MINUTE)] == ["analysis", "promoted"]
    deployment = client.deployments.get("fraud")
    assert (deployment.production, deployment.shadow) == ("fraud/2", None)
    assert client.get_model_version("fraud", alias="production").version == 1  # the alias is not touched


# --- rollback -----------------------------------------------------------------------------------------


def test_a_candidate_whose_predictions_drift_is_rolled_back_during_the_shadow(client: lw.Client) -> None:
    client.set_alias("fraud", "candidate", 4)
    rollout = lw.rollout("fraud", "fraud@candidate", plan=plan(), now=T0)
    traffic(client, T0, 150, candidate=4, variant="shadow")
    # A failed check rolls back at once, before the step's 10 minutes are over.
    events = client.controller.tick(now=T0 + 3 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "rolled_back"]
    distance = checks_of(events[0])["distance"]
    assert distance["status"] == "failed"
    assert distance["statistic"] > 0.1
    assert distance["message"].startswith("jensenshannon distance between the predictions ")
    final = client.controller.get(rollout.id)
    assert final.status == "rolled_back"
    assert final.reason.startswith(
        "step 1 of 2 (shadow for at least 10m, at least 100 requests) failed its analysis: distance: "
        "jensenshannon distance between the predictions "
    )
    assert events[1].message == f"Version 4 rolled back: {final.reason}."
    assert events[1].details == {"changes": {"canary": None, "shadow": None, "alias": "'candidate' removed"}}
    deployment = client.deployments.get("fraud")
    assert (deployment.shadow, deployment.canary) == (None, None)
    assert client.get_model_version("fraud", alias="production").version == 1
    removal = client.alias_history("fraud", "candidate")[-1]
    assert (removal.action, removal.to_version, removal.reason) == (
        "remove",
        None,
        f"rejected by rollout {rollout.id}: {final.reason}",
    )
    assert lw.rollouts("fraud") == [final]
    assert lw.rollouts(status="active") == []
    with pytest.raises(InvalidInputError) as raised:
        lw.rollouts(status="done")
    assert raised.value.message == (
        "A rollout's status is one of active, promoted, rolled_back, aborted. Got 'done' instead."
    )


def test_a_worse_candidate_with_the_same_prediction_mix_is_rolled_back_on_realised_accuracy(
    client: lw.Client,
) -> None:
    rollout = lw.rollout("fraud", 3, plan=plan(), now=T0)
    traffic(client, T0, 200, candidate=3, variant="shadow")
    events = client.controller.tick(now=T0 + 11 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "rolled_back"]
    checks = checks_of(events[0])
    assert checks["distance"]["status"] == "passed"  # it predicts as many positives as production
    performance = checks["performance"]
    assert (performance["status"], performance["candidate"], performance["production"]) == (
        "failed",
        0.0,
        accuracy(1, 200),
    )
    assert performance["message"] == (
        f"accuracy 0 vs {accuracy(1, 200):.4g} for production: worse by {accuracy(1, 200):.4g} (beyond the "
        "0.02 allowed)."
    )
    assert client.controller.get(rollout.id).status == "rolled_back"


def test_a_slower_canary_is_rolled_back_on_latency(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(), now=T0)
    traffic(client, T0, 150, candidate=2)
    client.controller.tick(now=T0 + 11 * MINUTE)
    traffic(client, T0 + 11 * MINUTE, 400, candidate=2, variant="canary", latency=(4.0, 20.0))
    events = client.controller.tick(now=T0 + 22 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "rolled_back"]
    latency = checks_of(events[0])["latency_p95"]
    assert (latency["status"], latency["candidate"], latency["production"], latency["threshold"]) == (
        "failed",
        20.0,
        4.0,
        9.0,
    )
    assert latency["message"] == "20 ms vs 4 ms for production (above the 9 ms allowed)."
    assert client.deployments.get("fraud").canary is None
    assert client.controller.get(rollout.id).reason.startswith(
        "step 2 of 2 (canary 50% for at least 10m) failed its analysis: latency_p95: 20 ms vs 4 ms"
    )


# --- minimum samples and durations ------------------------------------------------------------------------


def test_a_step_waits_for_its_duration_and_its_minimum_samples(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(min_samples=100, min_labels=80), now=T0)
    traffic(client, T0, 60, candidate=2, labels=False)
    assert client.controller.tick(now=T0 + 11 * MINUTE) == []  # too few predictions: nothing decided
    waiting = client.controller.get(rollout.id)
    assert (waiting.step, waiting.status) == (0, "active")
    analysis = waiting.state["analysis"]
    assert (analysis["verdict"], analysis["candidate_requests"]) == ("waiting", 60)
    checks = {check["name"]: check for check in analysis["checks"]}
    assert checks["distance"]["message"] == "60 candidate predictions so far; 100 needed from each variant."
    assert checks["performance"]["status"] == "skipped"  # labels have not arrived; not required
    assert checks["performance"]["message"] == (
        "0 candidate labels so far, fewer than the 80 needed to compare accuracy."
    )
    assert kinds(client, rollout.id) == ["started", "step"]

    traffic(client, T0 + 2 * MINUTE, 60, candidate=2, seed=1, labels=False)
    assert client.controller.tick(now=T0 + 5 * MINUTE) == []  # enough samples, but 10 minutes not over
    assert client.controller.get(rollout.id).state["analysis"]["verdict"] == "passed"
    assert [event.kind for event in client.controller.tick(now=T0 + 10 * MINUTE)] == ["analysis", "step"]


def test_labels_can_be_required_before_a_step_passes(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(labels_required=True, min_labels=150), now=T0)
    traffic(client, T0, 120, candidate=2)
    assert client.controller.tick(now=T0 + 11 * MINUTE) == []
    performance = {c["name"]: c for c in client.controller.get(rollout.id).state["analysis"]["checks"]}
    assert (performance["performance"]["status"], performance["performance"]["samples"]) == (
        "waiting",
        {"candidate": 120, "production": 120},
    )
    traffic(client, T0 + 3 * MINUTE, 40, candidate=2, seed=2)
    assert [event.kind for event in client.controller.tick(now=T0 + 12 * MINUTE)] == ["analysis", "step"]


def test_a_step_that_never_gets_enough_samples_times_out_and_rolls_back(client: lw.Client) -> None:
    slow = lw.RolloutPlan(steps=[lw.RolloutStep.shadow("10m", timeout="30m")])
    rollout = lw.rollout("fraud", 2, plan=slow, now=T0)
    traffic(client, T0, 20, candidate=2)
    assert client.controller.tick(now=T0 + 29 * MINUTE) == []
    events = client.controller.tick(now=T0 + 30 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "rolled_back"]
    assert client.controller.get(rollout.id).reason == (
        "step 1 of 1 (shadow for at least 10m, at most 30m) was inconclusive after 30m: distance: 20 "
        "candidate predictions so far; 100 needed from each variant; error_rate: 20 candidate predictions "
        "so far; 100 needed from each variant; latency_p95: 20 candidate predictions so far; 100 needed "
        "from each variant"
    )


def test_the_last_canary_step_at_full_weight_is_judged_against_the_earlier_production_values(
    client: lw.Client,
) -> None:
    full = lw.RolloutPlan(
        steps=[lw.RolloutStep.canary(0.5, duration="5m"), lw.RolloutStep.canary(1.0, duration="5m")],
        analysis=lw.RolloutAnalysis(metric="accuracy"),
    )
    rollout = lw.rollout("fraud", 2, plan=full, now=T0)
    traffic(client, T0, 300, candidate=2, variant="canary")  # 5 minutes of traffic, half of it to the canary
    client.controller.tick(now=T0 + 6 * MINUTE)
    assert client.deployments.get("fraud").canary_weight == 1.0
    traffic(client, T0 + 6 * MINUTE, 200, candidate=2, variant="canary", share=1.0, latency=(2.0, 30.0))
    events = client.controller.tick(now=T0 + 12 * MINUTE)
    assert [event.kind for event in events] == ["analysis", "rolled_back"]
    checks = checks_of(events[0])
    assert checks["distance"]["status"] == "skipped"
    assert checks["distance"]["message"] == (
        "production takes no traffic at this step; compared at the earlier steps."
    )
    assert (checks["latency_p95"]["status"], checks["latency_p95"]["production"]) == ("failed", 2.0)
    step_one = client.controller.events(rollout.id)[2]
    assert checks["performance"]["status"] == "passed"
    assert checks["performance"]["production"] == checks_of(step_one)["performance"]["production"]
    assert checks["performance"]["samples"]["production"] == 50  # stands for the minimum: carried
    assert client.controller.get(rollout.id).status == "rolled_back"


# --- outside changes, aborts and refusals -----------------------------------------------------------------


def test_a_deployment_changed_outside_the_rollout_rolls_it_back(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(), now=T0)
    client.deployments.update("fraud", shadow=None, reason="by hand")
    events = client.controller.tick(now=T0 + MINUTE)
    assert [event.kind for event in events] == ["rolled_back"]
    assert client.controller.get(rollout.id).reason == (
        "deployment 'fraud' was changed outside the rollout: it no longer serves version 2 as the step's "
        "shadow for at least 10m, at least 100 requests"
    )


def test_production_moved_by_hand_rolls_the_rollout_back(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(), now=T0)
    client.set_alias("fraud", "production", 4)
    client.controller.tick(now=T0 + MINUTE)
    assert client.controller.get(rollout.id).reason == (
        "production of 'fraud' moved from version 1 to 4 outside the rollout"
    )
    assert client.deployments.get("fraud").shadow is None


def test_an_aborted_rollout_removes_the_candidate_and_records_who(client: lw.Client) -> None:
    rollout = lw.rollout("fraud", 2, plan=plan(), now=T0)
    aborted = client.controller.abort(rollout.id, reason="wrong feature set", now=T0 + MINUTE)
    assert (aborted.status, aborted.reason) == ("aborted", "aborted by tester: wrong feature set")
    assert client.deployments.get("fraud").shadow is None
    with pytest.raises(ConflictError) as raised:
        client.controller.abort(rollout.id)
    assert raised.value.message == (
        f"Rollout {rollout.id} of deployment 'fraud' has ended already (aborted); only an active rollout can be "
        "aborted."
    )
    # The deployment is free again.
    assert lw.rollout("fraud", 3, plan=plan(), now=T0 + 2 * MINUTE).status == "active"


def test_one_active_rollout_per_deployment(client: lw.Client) -> None:
    first = lw.rollout("fraud", 2, plan=plan(), now=T0)
    with pytest.raises(ConflictError) as raised:
        lw.rollout("fraud", 3, plan=plan(), now=T0)
    assert raised.value.message == (
        f"Deployment 'fraud' has an active rollout already (rollout {first.id}, version 2). Wait for it to end, "
        f"or abort it first: `loopwright rollouts abort {first.id}`."
    )


@pytest.mark.parametrize(
    ("candidate", "error", "message"),
    [
        (
            1,
            InvalidInputError,
            "Deployment 'fraud' already serves version 1 of 'fraud' in production; a rollout needs another "
            "version as its candidate.",
        ),
        (9, NotFoundError, None),
        (
            2.5,
            InvalidInputError,
            "The candidate of a rollout must be a version of the deployment's model: 4, 'fraud/4', "
            "'fraud@candidate' or a ModelVersion. Got 2.5 instead.",
        ),
    ],
)
def test_a_bad_candidate_is_refused_before_anything_is_recorded(
    client: lw.Client, candidate: Any, error: type[Exception], message: str | None
) -> None:
    with pytest.raises(error) as raised:
        lw.rollout("fraud", candidate, now=T0)
    if message is not None:
        assert str(raised.value) == message
    assert lw.rollouts() == []


def test_a_candidate_that_fails_its_gates_is_not_rolled_out(client: lw.Client) -> None:
    client.set_policy("fraud", "production", lw.PromotionPolicy(thresholds={"accuracy": 0.9}))
    with pytest.raises(PromotionRefusedError) as raised:
        lw.rollout("fraud", 2, now=T0)
    assert [result.kind for result in raised.value.report.results] == ["evaluation"]
    assert lw.rollouts() == []


def test_a_missing_approval_holds_the_promotion_until_it_is_given(client: lw.Client) -> None:
    client.set_policy("fraud", "production", lw.PromotionPolicy(approvals=1))
    client.grant_role("alice", "ml-engineer")
    single = lw.RolloutPlan(
        steps=[lw.RolloutStep.shadow(min_requests=50)], analysis=lw.RolloutAnalysis(min_samples=50)
    )
    rollout = lw.rollout("fraud", 2, plan=single, now=T0)
    traffic(client, T0, 60, candidate=2)
    events = client.controller.tick(now=T0 + MINUTE)
    assert [event.kind for event in events] == ["analysis", "promotion_blocked"]
    assert events[1].message.startswith(
        "Promotion to 'production' is waiting: Model 'fraud' version 2 for alias"
    )
    assert client.controller.tick(now=T0 + 2 * MINUTE) == []  # the same refusal is recorded once
    client.approve("fraud", 2, alias="production", user="alice")
    assert [event.kind for event in client.controller.tick(now=T0 + 3 * MINUTE)] == ["promoted"]
    assert client.controller.get(rollout.id).status == "promoted"


# --- notifications --------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: its URL, and the JSON bodies it received."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_every_decision_is_sent_to_the_plan_s_webhook_and_the_delivery_recorded(
    client: lw.Client, receiver: tuple[str, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    url, received = receiver
    rollout = lw.rollout("fraud", 4, plan=plan(notify=["log", lw.Webhook(url)]), now=T0)
    traffic(client, T0, 150, candidate=4)
    with caplog.at_level("INFO", logger="loopwright.automation"):
        client.controller.tick(now=T0 + MINUTE)
    assert [body["event"] for body in received] == [
        "rollout.started",
        "rollout.step",
        "rollout.analysis",
        "rollout.rolled_back",
    ]
    last = received[-1]
    assert (
        last["text"]
        == f"[rollout {rollout.id}] fraud: Version 4 rolled back: {client.controller.get(rollout.id).reason}."
    )
    assert (last["rollout"]["id"], last["rollout"]["status"], last["rollout"]["candidate"]) == (
        rollout.id,
        "rolled_back",
        4,
    )
    for event in client.controller.events(rollout.id):
        assert event.notified == {
            "log": {"ok": True},
            f"webhook:{url}": {"ok": True, "attempts": 1, "status": 204},
        }
    assert [record.levelname for record in caplog.records if record.name == "loopwright.automation"] == [
        "INFO",
        "WARNING",
    ]  # the tick's analysis (info) and rollback (warning); the start was logged before capture
