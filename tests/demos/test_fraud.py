"""The fraud demo end to end through ``loopwright demo fraud`` (small sizes), then its workspace checked
record by record: every stage of the loop must have happened, not only been printed. And the data
generator: deterministic by seed, with a realistic base rate and the shift it promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopwright.client import Client
from loopwright.demos.fraud import STAGES, FraudDemoResult
from loopwright.demos.fraud_data import FEATURES, LABEL, schema, transactions
from loopwright.settings import Settings, TrackingSettings
from loopwright.store.retraining import RetrainingStore
from tests.cli.conftest import Invoker, plain

# Smaller than the default (12,000, 1,000, 200), large enough for a recall that means something per window.
SMALL = ("--training-rows", "10000", "--window-rows", "800", "--batch-rows", "200")


@pytest.mark.slow
def test_demo_fraud_closes_the_loop_and_records_every_stage(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    result = Invoker(workspace)("demo", "fraud", "--seed", "3", *SMALL)
    output = plain(result.output)
    assert result.exit_code == 0, output
    assert "The loop closed in " in output
    for stage in STAGES:  # the timeline names every stage
        assert f" {stage} " in output, stage

    client = Client(Settings(workspace=workspace, tracking=TrackingSettings(capture_git=False)))
    try:
        # Data, with its checks, and the model that passed the gates first.
        data = client.datasets.get("transactions")
        assert (data.name, data.version) == ("transactions", 1)
        assert [version.version for version in client.registry.versions("fraud")] == [1, 2]
        # The alerts: drift, then the recall drop that fired the retraining.
        alerts = {alert.rule: alert for alert in client.alerts.list_alerts(monitor="fraud")}
        assert set(alerts) == {"fraud-drift", "fraud-recall"}
        assert alerts["fraud-recall"].last_value is not None
        assert alerts["fraud-recall"].last_value < 0.7
        # The retraining: caused by the recall alert, trained on the served predictions and their labels.
        [retraining] = RetrainingStore(client.store).list_retrainings("fraud")
        assert retraining.cause == f"alert {alerts['fraud-recall'].id} of rule 'fraud-recall'"
        assert retraining.dataset == "fraud-recent:1"
        assert retraining.version == 2
        recent = client.datasets.get("fraud-recent").to_pandas()
        assert set(recent.columns) == {"customer_id", *FEATURES, LABEL}
        assert len(recent) >= 800
        # The rollout: shadow, canary, promoted; production serves the retrained version alone.
        [rollout] = client.rollouts("fraud")
        assert (rollout.id, rollout.status, rollout.candidate, rollout.baseline) == (
            retraining.rollout_id,
            "promoted",
            2,
            1,
        )
        kinds = [event.kind for event in client.controller.events(rollout.id)]
        assert "promoted" in kinds or "promotion" in kinds, kinds
        assert client.get_model_version("fraud", alias="production").version == 2
        deployment = client.deployments.get("fraud")
        assert (deployment.canary, deployment.shadow) == (None, None)
        # Live traffic reached the prediction log over HTTP, and its labels came back through feedback.
        log = client.prediction_log.query("fraud")
        assert set(log["variant"]) >= {"production", "shadow", "canary"}
        labels = client.feedback.get("fraud", log["request_id"].head(50).tolist())
        assert len(labels) > 0
    finally:
        client.close()


def test_a_result_closes_only_when_every_stage_happened_without_failure() -> None:
    result = FraudDemoResult("fraud", reached=list(STAGES))
    assert result.closed
    assert not FraudDemoResult("fraud", reached=list(STAGES[:-1])).closed
    assert FraudDemoResult("fraud", reached=list(STAGES[:-1])).missing == ["recovery"]
    assert not FraudDemoResult("fraud", reached=list(STAGES), failures=["no rollout"]).closed


def test_transactions_are_deterministic_by_seed_with_a_realistic_base_rate() -> None:
    first = transactions(20_000, seed=7)
    assert first.equals(transactions(20_000, seed=7))
    assert not first.equals(transactions(20_000, seed=8))
    assert 0.015 < first[LABEL].mean() < 0.025
    assert first["transaction_id"].is_unique
    schema().model_validate(schema().model_dump())  # the schema the dataset is checked against is valid


def test_the_shift_moves_the_inputs_and_adds_a_pattern_of_tiny_app_payments() -> None:
    before = transactions(20_000, seed=1)
    after = transactions(20_000, seed=1, shifted=True)
    assert (after["device"] == "mobile_app").mean() > 3 * (before["device"] == "mobile_app").mean()
    assert after["amount"].median() > before["amount"].median()
    assert 0.04 < after[LABEL].mean() < 0.06
    tiny_app_fraud = after[(after[LABEL] == 1) & (after["amount"] < 5) & (after["device"] == "mobile_app")]
    assert len(tiny_app_fraud) > 0.4 * after[LABEL].sum()
    assert np.mean((before[LABEL] == 1) & (before["amount"] < 5)) < 0.001
