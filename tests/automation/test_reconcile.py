"""``loopwright plan`` / ``apply``: a workspace made to match ``loopwright.yaml``, idempotently, through the
services the SDK uses; objects the file does not name are left alone unless ``--prune``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import loopwright as lw
from loopwright.automation.config import load_config
from loopwright.automation.reconcile import ReconcilePlan, apply, plan
from loopwright.errors import InvalidInputError
from loopwright.settings import Settings
from loopwright.store.triggers import TriggerCatalog
from tests.automation.conftest import MODELS
from tests.automation.flows import EXAMPLE
from tests.cli.conftest import Invoker, plain

SCHEMA = """\
dataset: transactions
columns:
  amount: {type: float64, nullable: false, min: 0.0}
  label: {type: int64, nullable: false}
"""

CONFIG = """\
version: 1
datasets:
  transactions:
    schema: schema.yaml
pipelines:
  train:
    ref: tests.automation.flows:train
    triggers:
      - new_data: transactions
        params: {data: transactions, target: label}
models:
  fraud:
    policies:
      production: {thresholds: {f1: 0.5}}
deployments:
  fraud:
    model: fraud@production
    description: Scores card transactions
    rollout:
      steps: [{kind: shadow, duration: 10m}]
    retraining:
      pipeline: tests.automation.flows:train
      data: transactions
      data_param: data
      on: [{alert: fraud-drift-high}]
monitors:
  fraud-drift: {deployment: fraud, reference: "transactions:1", window: 1h}
alerts:
  fraud-drift-high: {monitor: fraud-drift, when: drift_share > 0.3, for_windows: 2}
"""


def write(folder: Path, config: str = CONFIG) -> Path:
    (folder / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    path = folder / "loopwright.yaml"
    path.write_text(config, encoding="utf-8")
    return path


@pytest.fixture
def workspace(client: lw.Client) -> lw.Client:
    client.log_dataset("transactions", pd.DataFrame({"amount": [10.0, 60.0, 80.0], "label": [0, 1, 1]}))
    return client


def described(result: ReconcilePlan) -> list[str]:
    return [change.describe() for change in result.changes]


def test_plan_lists_every_declared_object_and_changes_nothing(workspace: lw.Client, tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    result = plan(workspace, config)
    assert described(result) == [
        "+ schema transactions",
        "~ deployment fraud",
        "+ trigger train: new data in 'transactions'",
        "+ promotion policy fraud@production",
        "+ retraining policy fraud",
        "+ monitor fraud-drift",
        "+ alert rule fraud-drift-high",
    ]
    assert result.changes[1].details == ('description: null -> "Scores card transactions"',)
    assert result.summary() == "6 to create, 1 to update, 0 to delete, 0 waiting, 0 unchanged."
    assert plan(workspace, config) == result  # nothing was applied
    assert workspace.monitors.all() == []


def test_apply_reconciles_and_a_second_apply_changes_nothing(workspace: lw.Client, tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    first = apply(workspace, config)
    assert first.summary() == "6 to create, 1 to update, 0 to delete, 0 waiting, 0 unchanged."
    assert workspace.deployments.get("fraud").description == "Scores card transactions"
    assert workspace.get_policy("fraud", "production") == lw.PromotionPolicy(thresholds={"f1": 0.5})
    stored = workspace.retrainer.policy("fraud")
    assert stored is not None
    assert stored.plan is not None
    assert [step.kind for step in stored.plan.steps] == ["shadow"]
    assert workspace.alerts.rule("fraud-drift-high").for_windows == 2
    config_triggers = [
        (record.pipeline, record.kind, record.spec, record.params)
        for record in TriggerCatalog(workspace.store).list_triggers()
        if record.origin == "config"
    ]
    assert config_triggers == [
        ("train", "new_data", "transactions", {"data": "transactions", "target": "label"})
    ]
    second = apply(workspace, config)
    assert second.changes == []
    assert second.summary() == "0 to create, 0 to update, 0 to delete, 0 waiting, 7 unchanged."


def test_a_changed_file_updates_only_what_changed(workspace: lw.Client, tmp_path: Path) -> None:
    apply(workspace, load_config(write(tmp_path)))
    changed = CONFIG.replace("for_windows: 2", "for_windows: 3").replace("target: label}", "target: y}")
    result = plan(workspace, load_config(write(tmp_path, changed)))
    assert described(result) == [
        "~ trigger train: new data in 'transactions'",
        "~ alert rule fraud-drift-high",
    ]
    assert result.changes[0].details == (
        'params: {"data": "transactions", "target": "label"} -> {"data": "transactions", "target": "y"}',
    )
    assert result.changes[1].details == ("for_windows: 2 -> 3",)
    apply(workspace, load_config(write(tmp_path, changed)))
    assert workspace.alerts.rule("fraud-drift-high").for_windows == 3
    assert plan(workspace, load_config(write(tmp_path, changed))).changes == []


def test_objects_not_in_the_file_are_left_alone_unless_pruned(workspace: lw.Client, tmp_path: Path) -> None:
    apply(workspace, load_config(write(tmp_path)))
    workspace.monitor("fraud", "transactions:1", name="by-hand", window="1d")
    smaller = CONFIG.split("monitors:")[0]  # no monitors, no alert rules
    config = load_config(write(tmp_path, smaller))
    assert plan(workspace, config).changes == []
    pruned = plan(workspace, config, prune=True)
    assert described(pruned) == [
        "- monitor by-hand",
        "- monitor fraud-drift",
    ]  # the rule goes with its monitor
    apply(workspace, config, prune=True)
    assert workspace.monitors.all() == []
    assert workspace.alerts.rules() == []
    assert apply(workspace, config, prune=True).changes == []


def test_objects_whose_prerequisites_are_missing_wait(workspace: lw.Client, tmp_path: Path) -> None:
    config = CONFIG.replace("  fraud:\n    policies", "  churn:\n    policies").replace(
        "model: fraud@production", "model: fraud@champion"
    )
    result = apply(workspace, load_config(write(tmp_path, config)))
    waiting = [(change.describe(), change.details) for change in result.changes if change.action == "wait"]
    assert waiting == [
        (
            "! deployment fraud",
            (
                "Model 'fraud' has no alias 'champion'. Its aliases: 'production'. Point one at a version with "
                "lw.promote('fraud', VERSION, to='champion').",
            ),
        ),
        (
            "! promotion policy churn@production",
            ("model 'churn' is not registered yet; the policy is set by the first apply after it is",),
        ),
        ("! retraining policy fraud", ("deployment 'fraud' is waiting",)),
        ("! monitor fraud-drift", ("deployment 'fraud' is waiting",)),
        ("! alert rule fraud-drift-high", ("monitor 'fraud-drift' is waiting",)),
    ]
    assert workspace.deployments.get("fraud").alias == "production"


def test_a_pipeline_named_differently_in_code_is_refused(workspace: lw.Client, tmp_path: Path) -> None:
    config = CONFIG.replace("  train:\n    ref:", "  training:\n    ref:")
    with pytest.raises(InvalidInputError) as caught:
        plan(workspace, load_config(write(tmp_path, config)))
    assert caught.value.message == (
        f"Pipeline 'training' of {tmp_path / 'loopwright.yaml'} has the reference "
        "'tests.automation.flows:train', which is a pipeline named 'train'. Name the pipeline in the file as "
        "it is named in code."
    )


def test_the_plan_and_apply_commands(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    setup = lw.Client(Settings(workspace=workspace, user="tester"))
    setup.register_model("fraud", MODELS[1], input_example=EXAMPLE)
    setup.set_alias("fraud", "production", 1)
    setup.log_dataset("transactions", pd.DataFrame({"amount": [10.0, 60.0], "label": [0, 1]}))
    setup.close()
    path = write(tmp_path)
    invoke = Invoker(workspace)
    planned = invoke("plan", "--file", str(path))
    assert planned.exit_code == 0, planned.output
    assert plain(planned.stdout) == (
        "+ schema transactions\n"
        f"    from {tmp_path / 'schema.yaml'}\n"
        "+ deployment fraud\n"
        "    serving fraud@production\n"
        "+ trigger train: new data in 'transactions'\n"
        "+ promotion policy fraud@production\n"
        "+ retraining policy fraud\n"
        "    pipeline tests.automation.flows:train\n"
        "+ monitor fraud-drift\n"
        "    of deployment fraud\n"
        "+ alert rule fraud-drift-high\n"
        "    fraud-drift: drift_share > 0.3\n"
        "Plan: 7 to create, 0 to update, 0 to delete, 0 waiting, 0 unchanged.\n"
    )
    applied = invoke("apply", "--file", str(path))
    assert applied.exit_code == 0, applied.output
    assert plain(applied.stdout).splitlines()[-1] == (
        "Applied: 7 to create, 0 to update, 0 to delete, 0 waiting, 0 unchanged."
    )
    again = invoke("apply", "--file", str(path))
    assert plain(again.stdout) == (
        "No changes: the workspace matches the file.\n"
        "Applied: 0 to create, 0 to update, 0 to delete, 0 waiting, 7 unchanged.\n"
    )
    missing = invoke("plan", "--file", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    pruned = invoke("plan", "--file", str(write(tmp_path, CONFIG.split("monitors:")[0])), "--prune")
    assert plain(pruned.stdout) == (
        "- monitor fraud-drift\nPlan: 0 to create, 0 to update, 1 to delete, 0 waiting, 5 unchanged.\n"
    )
