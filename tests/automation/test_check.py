"""``loopwright check``: the CI gate of a model repository. Exit 0 when every data check and model test
passes, 1 when one fails (with a readable report, and JUnit XML on request), 2 when the file is wrong."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

import loopwright as lw
from loopwright.settings import Settings
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
datasets:
  transactions: {schema: schema.yaml}
models:
  fraud:
    policies:
      production: {}
deployments:
  fraud:
    model: fraud@production
    input_example: [{amount: 12.5}]
    latency_budget_ms: 1000
"""


@pytest.fixture
def invoke(tmp_path: Path) -> Invoker:
    """A SQLite workspace with dataset ``transactions`` (version 1) and model ``fraud``: version 1 is
    ``production``, version 2 ``candidate``."""
    workspace = tmp_path / "ws"
    client = lw.Client(Settings(workspace=workspace, user="tester"))
    for number in (1, 2):
        client.register_model("fraud", MODELS[number], input_example=EXAMPLE)
    client.set_alias("fraud", "production", 1)
    client.set_alias("fraud", "candidate", 2)
    client.log_dataset("transactions", pd.DataFrame({"amount": [10.0, 60.0], "label": [0, 1]}))
    client.close()
    (tmp_path / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    return Invoker(workspace)


def check(invoke: Invoker, config: str, *options: str) -> tuple[int, str]:
    path = invoke.workspace.parent / "loopwright.yaml"
    path.write_text(config, encoding="utf-8")
    result = invoke("check", "--file", str(path), *options)
    # The measured latency varies from run to run.
    return result.exit_code, re.sub(r"median \d+\.\d\d ms", "median X ms", plain(result.output))


def test_everything_passes_exit_0(invoke: Invoker) -> None:
    code, output = check(invoke, CONFIG)
    assert output == (
        "PASS data     transactions: Dataset 'transactions' version 1 passed 1 checks.\n"
        "PASS gates    fraud@production: Version 2 of model 'fraud' for alias 'production': no gates to "
        "pass.\n"
        "PASS contract fraud: Model 'fraud' version 2 accepts the 1-row input example.\n"
        "PASS latency  fraud: One-row predict of model 'fraud' version 2: median X ms over 20 calls, within the "
        "budget of 1000 ms.\n"
        "4 checks: 4 passed, 0 failed.\n"
    )
    assert code == 0


def test_a_failing_test_exits_1_with_a_report_and_junit(invoke: Invoker, tmp_path: Path) -> None:
    config = CONFIG.replace("production: {}", "production: {approvals: 1}").replace(
        "{amount: 12.5}", "{amt: 12.5}"
    )
    junit = tmp_path / "out.xml"
    code, output = check(invoke, config, "--junit", str(junit))
    missing = (
        "The input is missing the column 'amount' (float64) required by the model's signature. Got the "
        "columns 'amt' instead."
    )
    assert output == (
        "PASS data     transactions: Dataset 'transactions' version 1 passed 1 checks.\n"
        "FAIL gates    fraud@production: Version 2 of model 'fraud' for alias 'production' failed 1 of 1 "
        "gate(s):\n"
        "                approval: 0 of 1 approval(s) by a user with role 'ml-engineer'.\n"
        "FAIL contract fraud: Model 'fraud' version 2 does not accept the input example of deployment 'fraud': "
        f"{missing}\n"
        f"FAIL latency  fraud: {missing}\n"
        "4 checks: 1 passed, 3 failed.\n"
    )
    assert code == 1
    suites = ElementTree.parse(junit).getroot()
    assert suites.get("name") == "loopwright check"
    assert [(suite.get("name"), suite.get("tests"), suite.get("failures")) for suite in suites] == [
        ("data", "1", "0"),
        ("gates", "1", "1"),
        ("contract", "1", "1"),
        ("latency", "1", "1"),
    ]
    gate = suites[1].find("testcase/failure")
    assert gate is not None
    assert gate.get("message") == "Version 2 of model 'fraud' for alias 'production' failed 1 of 1 gate(s):"
    assert gate.text == (
        "Version 2 of model 'fraud' for alias 'production' failed 1 of 1 gate(s):\n"
        "  approval: 0 of 1 approval(s) by a user with role 'ml-engineer'."
    )
    assert suites[0].find("testcase/failure") is None


def test_a_model_over_its_latency_budget_fails(invoke: Invoker) -> None:
    code, output = check(invoke, CONFIG.replace("latency_budget_ms: 1000", "latency_budget_ms: 0.000001"))
    assert output.splitlines()[3] == (
        "FAIL latency  fraud: One-row predict of model 'fraud' version 2: median X ms over 20 calls, over the "
        "budget of 1e-06 ms."
    )
    assert code == 1


def test_data_that_breaks_its_schema_fails(invoke: Invoker) -> None:
    schema = invoke.workspace.parent / "schema.yaml"
    schema.write_text(SCHEMA.replace("min: 0.0", "min: 20.0"), encoding="utf-8")
    code, output = check(invoke, "datasets:\n  transactions: {schema: schema.yaml}\n")
    assert code == 1
    assert output.splitlines()[0] == (
        "FAIL data     transactions: Dataset 'transactions' version 1: 1 blocking check(s) failed, 0 warning(s)."
    )


def test_a_missing_candidate_fails_rather_than_passing_nothing(invoke: Invoker) -> None:
    code, output = check(invoke, "models:\n  fraud: {candidate: challenger}\n")
    assert code == 1
    assert output.splitlines()[0].startswith(
        "FAIL gates    fraud@production: Model 'fraud' has no alias 'challenger'."
    )


def test_a_wrong_file_exits_2(invoke: Invoker) -> None:
    code, output = check(invoke, "deployments:\n  fraud: {model: fraud@production, latency_budget_ms: 0}\n")
    assert code == 2
    assert (
        "line 2, field 'deployments.fraud.latency_budget_ms': Input should be greater than 0 (got 0)."
        in output
    )
