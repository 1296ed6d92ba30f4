"""The fraud demo's stages (:mod:`loopwright.demos.fraud` runs them): set the workspace up, send the live
traffic through each phase, then check that the loop closed and collect its lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopwright.demos.fraud_data import FEATURES, LABEL, schema, transactions
from loopwright.demos.fraud_model import TRAIN_REF
from loopwright.errors import LoopwrightError

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.demos.fraud import _Scenario
    from loopwright.store.retraining import RetrainingRecord

__all__ = ["conclude", "live", "prepare"]

HOLDOUT = "transactions-holdout"
RECALL_FLOOR = 0.7  # the live recall under which the recall alert fires
_GATES = {"roc_auc": 0.9, "recall": 0.6}  # what a version must reach on the holdout to serve


def plausible_fraud_rate(frame: pd.DataFrame) -> bool:
    """A blocking check of each transactions version: between 0.5% and 10% fraud."""
    return bool(0.005 <= frame[LABEL].mean() <= 0.10)


# --- before the traffic -----------------------------------------------------------------------------------


def prepare(scenario: _Scenario) -> None:
    """Data, training, registration, gates, the deployment, its monitor, alert rules and retraining."""
    from loopwright.automation.analysis import RolloutAnalysis
    from loopwright.automation.plan import RolloutPlan, RolloutStep
    from loopwright.automation.retraining import RecentPredictions, RetrainingPolicy
    from loopwright.data.checks import data_check
    from loopwright.pipelines.runner import run_pipeline
    from loopwright.pipelines.triggers import on_alert
    from loopwright.registry.gates import PromotionPolicy

    client, name, sizes, seed = scenario.client, scenario.name, scenario.sizes, scenario.seed
    scenario.progress("data", "generating card transactions")
    check = data_check(plausible_fraud_rate, columns=[LABEL])
    frame = transactions(sizes.training, seed=seed)
    holdout = transactions(max(sizes.training // 3, 500), seed=seed + 500_000, first_id=10_000_000)
    data = client.datasets.log("transactions", frame, schema=schema(), checks=[check])
    client.datasets.log(HOLDOUT, holdout, schema=schema(), checks=[check])
    scenario.event(
        "data",
        f"dataset transactions:{data.version}: {len(frame):,} transactions, "
        f"{frame[LABEL].mean():.1%} fraud, schema and fraud-rate checks passed",
    )

    scenario.progress("training", f"running pipeline {TRAIN_REF}")
    run = run_pipeline(TRAIN_REF, {"data": data, "seed": seed}, client=client, trigger_cause="fraud demo")
    scenario.event("training", f"pipeline train-fraud finished (run {run.run_id[:8]})")

    inputs = frame[["customer_id", *FEATURES]]
    version = client.register_model(
        name, run.output, run=run.run_id, input_example=inputs.head(3), description="fraud demo: first model"
    )
    scenario.event("registration", f"registered model {name} version {version.version}")

    client.evaluate(version, HOLDOUT, target=LABEL, pos_label=1)
    client.set_policy(name, "production", PromotionPolicy(thresholds=_GATES, evaluation_dataset=HOLDOUT))
    client.promote(version, to="production", reason="fraud demo: the first model")
    scenario.event(
        "gates",
        f"version {version.version} passed the gates ({_describe_gates()}) and is {name}@production",
    )

    client.deploy(name, f"{name}@production", sticky="field:customer_id", reason="fraud demo")
    client.monitor(
        name,
        reference=f"transactions:{data.version}",
        rows=sizes.window,
        columns=list(FEATURES),
        task="classification",
        pos_label=1,
        label_horizon="1h",
        drift_share=0.3,
    )
    client.alert_rule(f"{name}-drift", monitor=name, when="drift_share > 0.25", severity="warning")
    # Two windows in a row: one bad window may be chance, and the retraining needs the labelled rows.
    client.alert_rule(
        f"{name}-recall", monitor=name, when=f"recall < {RECALL_FLOOR}", for_windows=2, severity="critical"
    )
    step_analysis = RolloutAnalysis(
        max_distance=0.3,
        metric="recall",
        max_metric_drop=0.0,
        min_labels=sizes.window // 2,
        labels_required=True,
        max_error_rate_increase=0.01,
        # A guard against a candidate that hangs, not a benchmark: on two shared cores the demo's own
        # training and monitoring slow the server down, and shadow answers wait in a queue.
        max_latency_ratio=10.0,
        latency_tolerance_ms=1_000.0,
        min_samples=sizes.window // 2,
    )
    plan = RolloutPlan(
        steps=[
            RolloutStep.shadow(min_requests=sizes.window),
            RolloutStep.canary(0.5, min_requests=sizes.window),
        ],
        analysis=step_analysis,
    )
    client.set_retraining(
        name,
        RetrainingPolicy(
            pipeline=TRAIN_REF,
            params={"seed": seed},
            data=RecentPredictions(f"{name}-recent", window="1h", target=LABEL, min_rows=sizes.window),
            data_param="data",
            on=[on_alert(f"{name}-recall")],
            evaluation=HOLDOUT,
            target=LABEL,
            plan=plan,
        ),
    )
    scenario.progress("deployment", "starting the server")


def _describe_gates() -> str:
    return ", ".join(f"{metric} >= {bound}" for metric, bound in sorted(_GATES.items()))


# --- the live traffic -------------------------------------------------------------------------------------


def live(scenario: _Scenario) -> None:
    """The phases of traffic: normal, shifted until the retraining starts, the rollout, and after."""
    from loopwright.pipelines.scheduler import Scheduler, run_in_process

    client, name, sizes = scenario.client, scenario.name, scenario.sizes
    scheduler = Scheduler(client, run=run_in_process(client))
    controller = client.controller
    opened: set[str] = set()

    def monitor() -> None:
        for report in client.run_monitors(name):
            for change in report.alerts:
                if change.event != "opened" or change.rule.name in opened:
                    continue
                opened.add(change.rule.name)
                value = change.alert.last_value
                shown = "" if value is None else f" (value {value:.2f})"
                stage = "drift" if change.rule.name.endswith("-drift") else "alert"
                scenario.event(stage, f"alert {change.alert.id} opened: rule {change.rule.name!r}{shown}")

    # 1. Normal traffic: one window, no alert.
    batches = sizes.window // sizes.batch
    for index in range(batches):
        scenario.progress("traffic", "normal traffic", index * sizes.batch, batches * sizes.batch)
        scenario.send("before", shifted=False)
        monitor()
    scenario.deliver_labels()
    monitor()
    scenario.event("traffic", f"{batches * sizes.batch:,} transactions served over HTTP, labels sent late")
    scenario.event(
        "labels",
        f"{scenario.labelled:,} labels recorded through POST /v1/deployments/{name}/feedback, a batch late",
    )
    if opened:
        scenario.fail(f"an alert opened on normal traffic: {', '.join(sorted(opened))}")

    # 2. The world moves; wait for the recall alert to start a retraining.
    retraining = None
    for index in range(sizes.max_batches):
        scenario.progress("traffic", "shifted traffic: a new fraud pattern", index * sizes.batch)
        scenario.send("shifted", shifted=True)
        monitor()
        for firing in scheduler.tick():
            scenario.event(
                "retraining", f"scheduler fired {firing.pipeline} ({firing.cause}): {firing.status}"
            )
        found = client.rollouts(name)
        if found:
            retraining = found[0]
            break
    if retraining is None:
        scenario.fail("no retraining started a rollout on the shifted traffic")
        return
    record = _retraining(scenario)
    if record is not None:
        scenario.event(
            "retraining",
            f"retraining {record.id} trained on {record.dataset} and registered version {record.version} "
            f"as the candidate",
        )

    # 3. The rollout: the controller advances it as the samples come in.
    rollout = retraining
    scenario.event("rollout", f"rollout {rollout.id} started: {_describe_plan(rollout.plan)}")
    seen = {event.id for event in controller.events(rollout.id)}
    for index in range(sizes.max_batches):
        scenario.progress("rollout", f"rollout {rollout.id}, step {rollout.step + 1}", index * sizes.batch)
        scenario.send("rollout", shifted=True)
        monitor()
        controller.tick()
        for event in controller.events(rollout.id):
            if event.id not in seen:
                seen.add(event.id)
                scenario.event("rollout", event.message)  # each step, each analysis and its measurements
        rollout = controller.get(rollout.id)
        assert scenario.server is not None
        scenario.server.wait_until_serving(name, scenario.expected_serving())
        if not rollout.active:
            break
    if rollout.status != "promoted":
        scenario.fail(f"rollout {rollout.id} ended {rollout.status}: {rollout.reason}")
        return
    production = client.get_model_version(name, alias="production")
    scenario.event("promotion", f"version {production.version} promoted to {name}@production")

    # 4. After: the same shifted traffic, now served by the retrained model.
    for index in range(2 * batches):
        scenario.progress(
            "recovery", "traffic after the promotion", index * sizes.batch, 2 * batches * sizes.batch
        )
        scenario.send("after", shifted=True)
        monitor()
    scenario.deliver_labels()
    monitor()


def _retraining(scenario: _Scenario) -> RetrainingRecord | None:
    from loopwright.store.retraining import RetrainingStore

    found = RetrainingStore(scenario.client.store).list_retrainings(scenario.name)
    return found[0] if found else None


def _describe_plan(plan: dict[str, object]) -> str:
    from loopwright.automation.plan import RolloutPlan

    return RolloutPlan.from_dict(plan).describe()


# --- after ------------------------------------------------------------------------------------------------


def conclude(scenario: _Scenario) -> None:
    """Recall and precision before and after, the lineage, and whether live performance recovered."""
    from loopwright.demos.fraud import PhaseMetrics

    result = scenario.result
    for phase in ("before", "shifted", "after"):
        rows = [(answer, label) for name, answer, label in scenario.answers if name == phase]
        if not rows:
            continue
        frauds = sum(label for _answer, label in rows)
        flagged = sum(answer.prediction for answer, _label in rows)
        caught = sum(1 for answer, label in rows if label == 1 and answer.prediction == 1)
        versions = ", ".join(sorted({f"v{answer.version}" for answer, _label in rows}))
        result.metrics.append(
            PhaseMetrics(
                phase,
                versions,
                len(rows),
                frauds,
                recall=caught / frauds if frauds else float("nan"),
                precision=caught / flagged if flagged else float("nan"),
            )
        )
    by_phase = {metrics.phase: metrics for metrics in result.metrics}
    if "shifted" in by_phase and "after" in by_phase:
        before, after = by_phase["shifted"].recall, by_phase["after"].recall
        if after >= RECALL_FLOOR and after > before:
            scenario.event("recovery", f"live recall on the shifted traffic {before:.2f} → {after:.2f}")
        else:
            scenario.fail(f"live recall did not recover: {before:.2f} before, {after:.2f} after")
    result.lineage = _lineage(scenario)


def _lineage(scenario: _Scenario) -> list[str]:
    """Lines that link the alert to the promotion through the records that joined them."""
    from loopwright.store.retraining import RetrainingStore

    client, name = scenario.client, scenario.name
    lines: list[str] = []
    found = RetrainingStore(client.store).list_retrainings(name)
    if not found:
        return lines
    record = found[0]
    lines.append(f"cause      {record.cause}")
    lines.append(f"retraining {record.id} ({record.status})")
    if record.dataset:
        lines.append(f"dataset    {record.dataset} (recent predictions joined with their labels)")
    if record.pipeline_run_id:
        lines.append(f"pipeline   run {record.pipeline_run_id[:8]} of train-fraud")
    if record.version is not None:
        version = client.get_model_version(name, version=record.version)
        lines.append(f"model      {name} version {version.version} (from run {str(version.run_id)[:8]})")
    if record.rollout_id is not None:
        rollout = client.controller.get(record.rollout_id)
        lines.append(
            f"rollout    {rollout.id} ({rollout.status}), {len(client.controller.events(rollout.id))} events"
        )
    try:
        production = client.get_model_version(name, alias="production")
        lines.append(f"production {name}@production = version {production.version}")
    except LoopwrightError:
        pass
    return lines
