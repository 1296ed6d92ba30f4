"""Retraining on a real workspace: a policy checked when set, its triggers registered for the scheduler, a
retraining that trains on recent labelled predictions, registers the candidate and starts its rollout, one
rejected by the gates, and one fired by an alert through the scheduler; on both metadata backends."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import loopwright as lw
from loopwright.automation.retraining import RETRAIN_REF
from loopwright.errors import PipelineDefinitionError, RetrainingPolicyError
from loopwright.pipelines.scheduler import Scheduler, run_in_process
from loopwright.store.metadata import now_ms
from loopwright.store.monitoring import MonitorCatalog, ResultRecord, WindowRecord
from loopwright.store.retraining import RetrainingStore
from loopwright.store.triggers import TriggerCatalog
from tests.automation.conftest import MINUTE, T0, traffic

SHADOW = lw.RolloutPlan(steps=[lw.RolloutStep.shadow("10m")])


def policy(**changes: Any) -> lw.RetrainingPolicy:
    values: dict[str, Any] = {
        "pipeline": "tests.automation.flows:train",
        "data": lw.RecentPredictions("fraud-recent", window="1d", min_rows=50),
        "data_param": "data",
        "on": [lw.on_alert("fraud-drift")],
        "plan": SHADOW,
    }
    return lw.RetrainingPolicy(**{**values, **changes})


def retraining_triggers(client: lw.Client) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (record.kind, record.spec, record.ref, record.params)
        for record in TriggerCatalog(client.store).list_triggers("retrain-fraud")
    ]


# --- the policy -----------------------------------------------------------------------------------------


def test_setting_a_policy_registers_its_triggers_for_the_scheduler(client: lw.Client) -> None:
    records = lw.set_retraining("fraud", policy(on=[lw.on_alert("fraud-drift"), lw.new_data("transactions")]))
    assert [(record.pipeline, record.origin) for record in records] == [("retrain-fraud", "retraining")] * 2
    assert retraining_triggers(client) == [
        ("alert", "fraud-drift", RETRAIN_REF, {"deployment": "fraud"}),
        ("new_data", "transactions", RETRAIN_REF, {"deployment": "fraud"}),
    ]
    stored = client.retrainer.policy("fraud")
    assert stored == policy(on=[lw.on_alert("fraud-drift"), lw.new_data("transactions")])
    lw.set_retraining("fraud", policy(on=[lw.new_data("transactions")]))
    assert [trigger[:2] for trigger in retraining_triggers(client)] == [("new_data", "transactions")]
    lw.set_retraining("fraud", None)
    assert retraining_triggers(client) == []
    assert client.retrainer.policy("fraud") is None


def test_a_policy_is_checked_against_its_pipeline_when_it_is_set(client: lw.Client) -> None:
    with pytest.raises(PipelineDefinitionError) as raised:
        lw.set_retraining("fraud", policy(params={"epochs": 3}))
    assert raised.value.message == "Pipeline 'train' has no parameter 'epochs'. Its parameters: data, target."
    with pytest.raises(RetrainingPolicyError) as refused:
        lw.set_retraining("fraud", policy(data_param="dataset"))
    assert refused.value.message == (
        "The 'data_param' of a retraining policy must be a parameter of pipeline 'train' (data, target). Got "
        "'dataset' instead."
    )
    with pytest.raises(RetrainingPolicyError) as other_model:
        lw.set_retraining("fraud", policy(model="churn"))
    assert other_model.value.message == (
        "The 'model' of a retraining policy must be 'fraud', the model deployment 'fraud' serves. Got 'churn' "
        "instead."
    )
    assert client.retrainer.policy("fraud") is None


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"pipeline": "train"},
            "pipeline",
            "The 'pipeline' of a retraining policy must be a pipeline reference 'module:pipeline' or "
            "'path/to/file.py:pipeline'. Got 'train' instead.",
        ),
        (
            {"data": None},
            "data_param",
            "The 'data_param' of a retraining policy must be given only with data= (the data it receives). Got "
            "'data' instead.",
        ),
        (
            {"on": ["fraud-drift"]},
            "on",
            "The 'on' of a retraining policy must be a trigger such as lw.on_alert('fraud-drift') or "
            "lw.new_data('transactions'). Got 'fraud-drift' instead.",
        ),
        (
            {"evaluation": "holdout"},
            "target",
            "The 'target' of a retraining policy must be given together with evaluation= (the evaluation "
            "dataset and its label column). Got None instead.",
        ),
        (
            {"data": {"kind": "recent_predictions", "dataset": "recent", "window": "a week"}},
            "data.window",
            "The 'data.window' of a retraining policy must be a duration such as '1h', '7d' or '2w'. Got 'a "
            "week' instead.",
        ),
    ],
)
def test_a_bad_policy_fails_where_it_is_built(changes: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(RetrainingPolicyError) as raised:
        policy(**changes)
    assert raised.value.code == "invalid_input.retraining_policy"
    assert (raised.value.details["field"], raised.value.message) == (field, message)


def test_a_policy_reads_back_from_its_stored_form() -> None:
    original = policy(params={"target": "label"}, evaluation="fraud-holdout:2", target="label")
    stored = original.to_dict()
    assert stored["data"] == {
        "kind": "recent_predictions",
        "dataset": "fraud-recent",
        "window": "1d",
        "target": "label",
        "label": "label",
        "include": None,
        "min_rows": 50,
    }
    assert stored["on"] == [{"kind": "alert", "spec": "fraud-drift"}]
    assert lw.RetrainingPolicy.from_dict(stored) == original


# --- retraining -----------------------------------------------------------------------------------------


def test_retraining_trains_on_recent_labelled_predictions_and_starts_a_rollout(client: lw.Client) -> None:
    lw.set_retraining("fraud", policy())
    traffic(client, T0, 80)
    traffic(client, T0 + 2 * MINUTE, 30, labels=False, seed=1)  # unlabelled: not training data
    record = lw.retrain("fraud", now=T0 + 5 * MINUTE)
    assert (record.status, record.cause, record.dataset, record.model, record.version) == (
        "rolling_out",
        "manual",
        "fraud-recent:1",
        "fraud",
        5,
    )
    assert record.gates == {"passed": True, "evaluation": None, "results": []}
    assert (record.started_ms, record.ended_ms) == (T0 + 5 * MINUTE, T0 + 5 * MINUTE)
    data = client.dataset("fraud-recent", 1)
    assert (data.num_rows, sorted(data.to_pandas().columns)) == (80, ["amount", "label"])

    candidate = client.get_model_version("fraud", alias="candidate")
    assert candidate.version == 5
    assert candidate.tags == {"retraining": str(record.id)}
    assert candidate.signature == client.get_model_version("fraud", 1).signature
    assert [(item.name, item.version) for item in candidate.datasets()] == [("fraud-recent", 1)]
    assert candidate.run_id == record.pipeline_run_id
    assert client.get_run(record.pipeline_run_id).kind == "pipeline"
    assert candidate.load().predict(pd.DataFrame({"amount": [40.0, 60.0]})).tolist() == [0, 1]

    rollout = client.controller.get(record.rollout_id)  # type: ignore[arg-type]
    assert (rollout.status, rollout.candidate, rollout.cause) == (
        "active",
        5,
        f"retraining {record.id}: manual",
    )
    assert client.deployments.get("fraud").shadow == 5
    assert RetrainingStore(client.store).list_retrainings("fraud") == [record]


def test_a_candidate_that_fails_the_gates_is_rejected(client: lw.Client) -> None:
    holdout = pd.DataFrame({"amount": [float(value) for value in range(0, 100, 2)]})
    holdout["label"] = (holdout["amount"] > 50).astype("int64")
    client.log_dataset("fraud-holdout", holdout)
    client.set_policy("fraud", "production", lw.PromotionPolicy(thresholds={"accuracy": 0.9}))
    lw.set_retraining(
        "fraud",
        policy(
            pipeline="tests.automation.flows:train_fixed",
            data=None,
            data_param=None,
            evaluation="fraud-holdout",
            target="label",
        ),
    )
    record = lw.retrain("fraud", cause="quarterly refresh", now=T0)
    assert (record.status, record.version, record.rollout_id) == ("rejected", 5, None)
    assert record.error == "threshold accuracy: accuracy 0.6 < 0.9 on fraud-holdout:1."
    assert record.gates is not None
    assert record.gates["passed"] is False
    removal = client.alias_history("fraud", "candidate")[-1]
    assert (removal.action, removal.reason) == (
        "remove",
        f"rejected by retraining {record.id}: threshold accuracy: accuracy 0.6 < 0.9 on fraud-holdout:1.",
    )
    assert lw.rollouts() == []


def test_a_retraining_without_enough_labelled_data_fails_on_record(client: lw.Client) -> None:
    lw.set_retraining("fraud", policy())
    traffic(client, T0, 20)
    with pytest.raises(RetrainingPolicyError) as raised:
        lw.retrain("fraud", now=T0 + MINUTE)
    assert raised.value.message == (
        "Retraining deployment 'fraud' needs at least 50 labelled predictions from the last 1d (the policy's "
        "data.min_rows); the prediction log has 20. Wait for more labels, or lower min_rows."
    )
    [record] = RetrainingStore(client.store).list_retrainings("fraud")
    assert (record.status, record.error) == ("failed", f"RetrainingPolicyError: {raised.value.message}")


def test_a_deployment_without_a_policy_cannot_retrain(client: lw.Client) -> None:
    with pytest.raises(RetrainingPolicyError) as raised:
        lw.retrain("fraud")
    assert raised.value.message == (
        "Deployment 'fraud' has no retraining policy. Give it one with lw.set_retraining('fraud', "
        "lw.RetrainingPolicy(pipeline='module:pipeline', ...))."
    )


# --- fired by an alert ----------------------------------------------------------------------------------


def test_an_alert_fires_the_retraining_through_the_scheduler(client: lw.Client) -> None:
    """The loop: a monitor's window crosses a rule, the alert opens, the scheduler fires the deployment's
    retraining trigger, the candidate is registered and its rollout starts."""
    hour = 60 * MINUTE
    start = (now_ms() // hour - 3) * hour  # recent enough for the policy's one-day window
    catalog = MonitorCatalog(client.store)
    catalog.create(
        "fraud",
        {
            "deployment": "fraud",
            "reference": {"dataset": "transactions", "version": 1},
            "window_ms": hour,
            "drift": {},
            "options": {},
        },
    )
    lw.alert_rule("fraud-drift", monitor="fraud", when="drift_share > 0.3")
    lw.set_retraining("fraud", policy())
    traffic(client, start, 120)
    monitor = catalog.get("fraud")
    catalog.save_window(
        WindowRecord(monitor.id, start, start + hour, 120, None, "ok", None, start + hour),
        [ResultRecord(start, start + hour, "drift_share", None, 0.5)],
    )
    [opened] = client.alerts.evaluate("fraud")
    assert opened.event == "opened"

    firings = Scheduler(client, run=run_in_process(client)).tick()
    assert [(firing.pipeline, firing.status) for firing in firings] == [("retrain-fraud", "finished")]
    assert firings[0].cause == f"alert {opened.alert.id} of rule 'fraud-drift'"

    [record] = RetrainingStore(client.store).list_retrainings("fraud")
    assert (record.status, record.cause, record.version) == (
        "rolling_out",
        f"alert {opened.alert.id} of rule 'fraud-drift'",
        5,
    )
    assert client.get_model_version("fraud", alias="candidate").version == 5
    [rollout] = lw.rollouts("fraud")
    assert (rollout.id, rollout.status, rollout.cause) == (
        record.rollout_id,
        "active",
        f"retraining {record.id}: alert {opened.alert.id} of rule 'fraud-drift'",
    )
    # The retraining pipeline's run is the firing's; the training pipeline ran inside it.
    training = client.get_run(record.pipeline_run_id)  # type: ignore[arg-type]
    assert training.experiment == "train"
    assert client.get_run(firings[0].run_id).experiment == "retrain"  # type: ignore[arg-type]
    # Each occasion fires once.
    assert Scheduler(client, run=run_in_process(client)).tick() == []
