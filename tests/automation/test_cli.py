"""``loopwright rollouts list | show | abort`` and ``loopwright controller`` against a real SQLite workspace
with one rolled-back and one active rollout, at known times (golden output)."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopwright as lw
from loopwright.settings import Settings
from tests.automation.conftest import MINUTE, MODELS, T0, traffic
from tests.automation.flows import EXAMPLE
from tests.cli.conftest import Invoker, local_time, plain

PLAN = lw.RolloutPlan(
    steps=[lw.RolloutStep.shadow("10m", min_requests=100), lw.RolloutStep.canary(0.5, duration="10m")],
    analysis=lw.RolloutAnalysis(metric="accuracy"),
)
SHADOW = "shadow for at least 10m, at least 100 requests"


@pytest.fixture
def invoke(tmp_path: Path) -> Invoker:
    """A workspace where rollout 1 (version 4) was rolled back at T0 + 1 minute and rollout 2 (version 2)
    waits in its shadow step since T0 + 2 minutes."""
    workspace = tmp_path / "ws"
    client = lw.Client(Settings(workspace=workspace, user="tester"))
    for number in sorted(MODELS):
        client.register_model("fraud", MODELS[number], input_example=EXAMPLE)
    client.set_alias("fraud", "production", 1)
    client.deploy("fraud", "fraud@production")
    client.rollout("fraud", 4, plan=PLAN, now=T0)
    traffic(client, T0, 150, candidate=4)
    client.controller.tick(now=T0 + MINUTE)
    client.rollout("fraud", 2, plan=PLAN, now=T0 + 2 * MINUTE)
    traffic(client, T0 + 2 * MINUTE, 60, candidate=2, seed=3)
    client.controller.tick(now=T0 + 5 * MINUTE)
    client.close()
    return Invoker(workspace, environment={**Invoker(workspace).environment, "LOOPWRIGHT_USER": "alice"})


REASON = (
    f"step 1 of 2 ({SHADOW}) failed its analysis: performance: accuracy 0.55 vs 0.95 for production: worse by "
    "0.4 (beyond the 0 allowed)"
)


def test_list_shows_each_rollout_newest_first(invoke: Invoker) -> None:
    result = invoke("rollouts", "list")
    assert result.exit_code == 0, result.output
    assert plain(result.stdout) == (
        " id   deployment   candidate   against   status        step                                       "
        "          started               ended                 cause\n" + "─" * 159 + "\n"
        f"  2   fraud        fraud/2     fraud/1   active        1/2 {SHADOW}   {local_time(T0 + 2 * MINUTE)}   "
        f"—                     manual\n"
        f"  1   fraud        fraud/4     fraud/1   rolled back   1/2 {SHADOW}   {local_time(T0)}   "
        f"{local_time(T0 + MINUTE)}   manual\n"
    )
    active = plain(invoke("rollouts", "list", "--status", "active").stdout).splitlines()
    assert [line.split()[:5] for line in active[2:]] == [["2", "fraud", "fraud/2", "fraud/1", "active"]]


def test_show_prints_the_plan_and_every_decision_with_its_measurements(invoke: Invoker) -> None:
    result = invoke("rollouts", "show", "1")
    assert result.exit_code == 0, result.output
    lines = plain(result.stdout).splitlines()
    assert lines[:8] == [
        "Rollout 1: version 4 of 'fraud' on deployment 'fraud', against version 1 — rolled back",
        f"  plan     {SHADOW} → canary 50% for at least 10m → promote",
        f"  step     1/2 {SHADOW}",
        "  promotes alias 'production'",
        "  cause    manual",
        f"  started  {local_time(T0)} by tester",
        f"  ended    {local_time(T0 + MINUTE)}: {REASON}.",
        "",
    ]
    assert lines[8:12] == [
        "Timeline:",
        f"  {local_time(T0)}  started           Rolling version 4 of 'fraud' out on 'fraud' against version 1: "
        f"{SHADOW} → canary 50% for at least 10m → promote.",
        f"  {local_time(T0)}  step              Step 1 of 2: {SHADOW} (version 4).",
        f"  {local_time(T0 + MINUTE)}  analysis          Analysis of step 1 of 2 ({SHADOW}) failed: performance: "
        "accuracy 0.55 vs 0.95 for production: worse by 0.4 (beyond the 0 allowed).",
    ]
    checks = [line.split() for line in lines[14:18]]
    assert [(row[0], row[1], row[2], row[3], row[4]) for row in checks] == [
        ("distance", "waiting", "—", "—", "60/60"),
        ("performance", "failed", "0.55", "0.95", "60/60"),
        ("error_rate", "waiting", "—", "—", "60/60"),
        ("latency_p95", "waiting", "—", "—", "60/60"),
    ]
    assert lines[18] == f"  {local_time(T0 + MINUTE)}  rolled back       Version 4 rolled back: {REASON}."


def test_show_of_an_active_rollout_prints_its_current_analysis(invoke: Invoker) -> None:
    lines = plain(invoke("rollouts", "show", "2").stdout).splitlines()
    assert lines[6:8] == ["", "Current step, after 3m 00s (waiting):"]
    assert [line.split()[:2] for line in lines[10:14]] == [
        ["distance", "waiting"],
        ["performance", "passed"],
        ["error_rate", "waiting"],
        ["latency_p95", "waiting"],
    ]


def test_abort_stops_an_active_rollout_and_records_who(invoke: Invoker) -> None:
    result = invoke("rollouts", "abort", "2", "--reason", "wrong features")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Aborted rollout 2: deployment 'fraud' no longer serves version 2 (aborted by alice: wrong features).\n"
    )
    again = invoke("rollouts", "abort", "2")
    assert (again.exit_code, again.stderr) == (
        1,
        "error[conflict]: Rollout 2 of deployment 'fraud' has ended already (aborted); only an active rollout "
        "can be aborted.\n",
    )


def test_the_controller_once_advances_the_active_rollouts(invoke: Invoker) -> None:
    result = invoke("controller", "--once")
    assert result.exit_code == 0, result.output
    # Rollout 2 still waits for samples (real time has long passed its 10 minutes, but traffic is thin).
    assert result.stdout == "Looked at 1 active rollout: 0 decisions.\n"


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            ["rollouts", "show", "99"],
            1,
            "error[not_found.rollout]: Rollout 99 does not exist. List rollouts with `loopwright rollouts list`.\n",
        ),
        (
            ["rollouts", "list", "--status", "done"],
            2,
            "error[invalid_input]: --status must be one of active, promoted, rolled_back, aborted. Got 'done' "
            "instead.\n",
        ),
    ],
)
def test_mistakes_are_reported_in_one_line(
    invoke: Invoker, arguments: list[str], code: int, message: str
) -> None:
    result = invoke(*arguments)
    assert (result.exit_code, result.stderr) == (code, message)
