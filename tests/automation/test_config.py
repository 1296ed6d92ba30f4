"""The workspace configuration file: a file with a mistake is refused, naming the file, the line and the
field; a good one is read into the SDK's own objects."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopwright as lw
from loopwright.automation.config import load_config, parse_config
from loopwright.errors import ConfigFileError, InvalidInputError

CASES = [
    pytest.param(
        "version: 1\nmodel:\n  fraud: {}\n",
        "loopwright.yaml, line 2, field 'model': Extra inputs are not permitted.",
        2,
        "model",
        id="unknown_section",
    ),
    pytest.param(
        "version: 2\n",
        "loopwright.yaml, line 1, field 'version': Input should be 1 (got 2).",
        1,
        "version",
        id="bad_version",
    ),
    pytest.param(
        "pipelines:\n  train:\n    triggers: []\n",
        "loopwright.yaml, line 2, field 'pipelines.train.ref': Field required.",
        2,
        "pipelines.train.ref",
        id="missing_ref",
    ),
    pytest.param(
        "pipelines:\n  train:\n    ref: m:train\n    triggers:\n      - cron: '0 3 * * *'\n        new_data: transactions\n",
        "loopwright.yaml, line 5, field 'pipelines.train.triggers.0': a trigger needs exactly one of cron, new_data, alert. Got cron, new_data instead.",
        5,
        "pipelines.train.triggers.0",
        id="two_trigger_kinds",
    ),
    pytest.param(
        "pipelines:\n  train:\n    ref: m:train\n    triggers:\n      - cron: every day\n",
        "loopwright.yaml, line 5, field 'pipelines.train.triggers.0.cron': The schedule must be a cron expression of five fields (minute hour day-of-month month day-of-week, in UTC), e.g. '0 3 * * *' for 03:00 every day, or one of @hourly, @daily, @weekly, @monthly, @yearly. Got 'every day' instead: it has 2 fields, not 5.",
        5,
        "pipelines.train.triggers.0.cron",
        id="bad_cron",
    ),
    pytest.param(
        "models:\n  fraud:\n    policies:\n      production:\n        thresholds: {f1: high}\n",
        "loopwright.yaml, line 5, field 'models.fraud.policies.production.thresholds': The 'thresholds['f1']' of a promotion policy must be a finite number. Got 'high' instead.",
        5,
        "models.fraud.policies.production.thresholds",
        id="bad_policy",
    ),
    pytest.param(
        "monitors:\n  fraud-drift:\n    deployment: fraud\n    reference: transactions:1\n    window: an hour\n",
        "loopwright.yaml, line 5, field 'monitors.fraud-drift.window': The 'window' of monitor 'fraud-drift' must be a duration such as '30s', '15m', '1h', '1d' or '1w' (or milliseconds). Got 'an hour' instead.",
        5,
        "monitors.fraud-drift.window",
        id="bad_monitor",
    ),
    pytest.param(
        "monitors:\n  fraud-drift:\n    deployment: fraud\n    reference: transactions:1\n    windows: 1h\n",
        "loopwright.yaml, line 5, field 'monitors.fraud-drift.windows': unknown field 'windows'; a monitor takes classes, columns, correction, deployment, drift, drift_share, label, label_horizon, multivariate, pos_label, prediction_column, reference, rows, schema, start, task, window.",
        5,
        "monitors.fraud-drift.windows",
        id="unknown_monitor_field",
    ),
    pytest.param(
        "alerts:\n  high:\n    monitor: fraud-drift\n    when: drift_share >> 0.3\n",
        "loopwright.yaml, line 4, field 'alerts.high.when': The 'when' of alert rule 'high' must be a condition '<metric> <operator> <number>' or '<metric>[<column>] <operator> <number>' with an operator among >, >=, <, <=, ==, !=, e.g. 'drift_share > 0.3' or 'drift_score[amount] >= 0.1'. Got 'drift_share >> 0.3' instead.",
        4,
        "alerts.high.when",
        id="bad_alert",
    ),
    pytest.param(
        "deployments:\n  fraud:\n    model: fraud@production\n    rollout: {steps: [{kind: canary, weight: 0.1}]}\n",
        "loopwright.yaml, line 4, field 'deployments.fraud.rollout': a rollout plan is followed when retraining rolls a candidate out; add a 'retraining:' section to this deployment, or remove 'rollout:'.",
        4,
        "deployments.fraud.rollout",
        id="rollout_without_retraining",
    ),
    pytest.param(
        "deployments:\n  fraud:\n    model: fraud@production\n    latency_budget_ms: -5\n",
        "loopwright.yaml, line 4, field 'deployments.fraud.latency_budget_ms': Input should be greater than 0 (got -5).",
        4,
        "deployments.fraud.latency_budget_ms",
        id="bad_latency",
    ),
    pytest.param(
        "deployments:\n  fraud:\n    model: fraud@production\n    rollout: {steps: [{kind: canary, weight: 1.5}]}\n    retraining: {pipeline: m:train}\n",
        "loopwright.yaml, line 4, field 'deployments.fraud.rollout': The 'weight' of a rollout step must be above 0 and at most 1 (the share of traffic the candidate takes). Got 1.5 instead.",
        4,
        "deployments.fraud.rollout",
        id="bad_rollout",
    ),
    pytest.param(
        "deployments:\n  fraud:\n    model: fraud@production\n    retraining:\n      pipeline: m:train\n      on: [{alarm: x}]\n",
        "loopwright.yaml, line 6, field 'deployments.fraud.retraining.on.0': a retraining trigger is one of {alert: RULE}, {new_data: DATASET} or {cron: SCHEDULE}. Got {'alarm': 'x'} instead.",
        6,
        "deployments.fraud.retraining.on.0",
        id="bad_retraining_trigger",
    ),
    pytest.param(
        "alerts:\n  a: {monitor: m, when: drift_share > 0.3}\n  a: {monitor: m, when: drift_share > 0.3}\n",
        "loopwright.yaml, line 3: the key 'a' appears twice in the same mapping.",
        3,
        None,
        id="duplicate",
    ),
    pytest.param(
        "alerts: [\n",
        "loopwright.yaml, line 2: not valid YAML: expected the node content, but found '<stream end>'.",
        None,
        None,
        id="bad_yaml",
    ),
    pytest.param(
        "- a\n",
        "loopwright.yaml, line 1: a configuration file must be a mapping of sections (datasets, pipelines, models, deployments, monitors, alerts). Got a list instead.",
        1,
        None,
        id="not_mapping",
    ),
]


@pytest.mark.parametrize(("text", "message", "line", "field"), CASES)
def test_each_mistake_names_the_file_the_line_and_the_field(
    text: str, message: str, line: int | None, field: str | None
) -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, source="loopwright.yaml", root="/nonexistent")
    assert caught.value.message == message
    assert caught.value.details.get("line") == line
    assert caught.value.details.get("field") == field
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.code == "invalid_input.config"


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_config(tmp_path / "loopwright.yaml")
    assert caught.value.message == (
        f"The configuration file {str(tmp_path / 'loopwright.yaml')!r} cannot be read: No such file or "
        "directory. Write one (see docs/config.md) or pass its path with --file."
    )


def test_a_schema_file_that_is_missing_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "loopwright.yaml"
    path.write_text("datasets:\n  transactions:\n    schema: schemas/nope.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_config(path)
    missing = tmp_path / "schemas" / "nope.yaml"
    assert caught.value.message == (
        f"{path}, line 3, field 'datasets.transactions.schema': The schema file {str(missing)!r} cannot be "
        f"read: [Errno 2] No such file or directory: {str(missing)!r}."
    )


def test_a_good_file_becomes_the_sdks_objects(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "example.json").write_text('{"amount": 12.5}', encoding="utf-8")
    path = tmp_path / "loopwright.yaml"
    path.write_text(
        """\
pipelines:
  train:
    ref: pipelines/train.py:train
    triggers:
      - cron: "0  3 * * *"
      - alert: fraud-drift-high
        params: {epochs: 3}
models:
  fraud:
    policies:
      production: {thresholds: {f1: 0.8}, approvals: 1}
deployments:
  fraud:
    model: fraud@production
    input_example: example.json
    latency_budget_ms: 50
    rollout: {steps: [{kind: shadow, duration: 30m}]}
    retraining:
      pipeline: pipelines/train.py:train
      on: [{alert: fraud-drift-high}, {new_data: transactions}]
monitors:
  fraud-drift: {deployment: fraud, reference: "transactions:1", window: 1h}
alerts:
  fraud-drift-high: {monitor: fraud-drift, when: drift_share > 0.3, channels: [log, store]}
""",
        encoding="utf-8",
    )
    config = load_config(path)
    ref = f"{(tmp_path / 'pipelines' / 'train.py').resolve()}:train"
    assert [(t.pipeline, t.ref, t.kind, t.spec, t.params) for t in config.triggers] == [
        ("train", ref, "cron", "0 3 * * *", {}),
        ("train", ref, "alert", "fraud-drift-high", {"epochs": 3}),
    ]
    assert config.policies == {
        ("fraud", "production"): lw.PromotionPolicy(thresholds={"f1": 0.8}, approvals=1)
    }
    deployment = config.deployments["fraud"]
    assert (deployment.input_example, deployment.latency_budget_ms) == ([{"amount": 12.5}], 50)
    retraining = config.retraining["fraud"]
    assert retraining.pipeline == ref
    assert retraining.on == (lw.on_alert("fraud-drift-high"), lw.new_data("transactions"))
    assert retraining.plan == lw.RolloutPlan(steps=[lw.RolloutStep.shadow("30m")])
    assert config.monitors["fraud-drift"].window_ms == 3_600_000
    assert config.alert_rules["fraud-drift-high"].threshold == 0.3


def test_yes_and_on_stay_text() -> None:
    # YAML 1.1 reads `on:` as True, which would make a retraining policy's triggers unreadable.
    config = parse_config(
        "deployments:\n  fraud:\n    model: fraud/1\n    retraining: {pipeline: m:train, on: [{new_data: no}]}\n"
    )
    assert config.retraining["fraud"].on == (lw.new_data("no"),)


def test_an_empty_file_declares_nothing() -> None:
    config = parse_config("", source="loopwright.yaml")
    assert (config.datasets, config.triggers, config.monitors) == ({}, [], {})
