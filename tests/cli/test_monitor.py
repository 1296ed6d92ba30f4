"""``loopwright monitor create | list | run | status | backfill`` against a real SQLite workspace with logged
traffic (golden output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopwright.client import Client
from tests.cli.conftest import Invoker, local_time, plain
from tests.monitoring._traffic import HOUR, T0, deploy, hour_of_traffic, log, reference_frame


@pytest.fixture
def traffic(client: Client) -> Client:
    """Deployment 'fraud' with dataset 'tx' and two hours of traffic, the second drifted in 'amount'."""
    deploy(client)
    client.log_dataset("tx", reference_frame())
    log(client, hour_of_traffic(0) + hour_of_traffic(1, shift=40))
    return client


def span(start_ms: int, end_ms: int) -> str:
    return f"{local_time(start_ms)} to {local_time(end_ms)}"


def test_create_then_update_a_monitor(invoke: Invoker, traffic: Client) -> None:
    created = invoke("monitor", "create", "fraud", "--reference", "tx:1", "--drift", "amount=psi:0.3")
    updated = invoke("monitor", "create", "fraud", "-r", "tx", "--rows", "200", "-c", "amount")

    assert (created.exit_code, created.output) == (
        0,
        "Created monitor fraud: deployment fraud, reference tx:1, windows of 1h, watching all columns of the "
        "reference.\n",
    )
    assert (updated.exit_code, updated.output) == (
        0,
        "Updated monitor fraud: deployment fraud, reference tx:1, windows of 200 rows, watching amount.\n",
    )
    record = traffic.monitors.get("fraud")
    assert (record.drift, record.window_rows, record.columns) == ({}, 200, ["amount"])


def test_drift_options_are_read_as_tests_and_thresholds(invoke: Invoker, traffic: Client) -> None:
    result = invoke(
        "monitor", "create", "fraud", "-r", "tx:1", "--drift", "amount=ks:0.01", "--drift", "city=0.2",
        "--drift", "label=psi", "--correction", "bonferroni",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert traffic.monitors.get("fraud").drift == {
        "amount": {"test": "ks", "threshold": 0.01},
        "city": {"test": None, "threshold": 0.2},
        "label": {"test": "psi", "threshold": None},
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--drift", "amount"],
            "error[invalid_input]: --drift must be COLUMN=TEST, COLUMN=THRESHOLD or COLUMN=TEST:THRESHOLD. Got "
            "'amount' instead.\n",
        ),
        (
            ["--drift", "amount=ks:low"],
            "error[invalid_input]: The threshold in --drift 'amount=ks:low' must be a number. Got 'low' "
            "instead.\n",
        ),
        (
            ["--window", "1h", "--rows", "10"],
            "error[invalid_input.monitor]: Monitor 'fraud' takes windows by time ('window') or by count "
            "('rows'), not both. Got window='1h' and rows=10.\n",
        ),
        (
            ["--start", "yesterday"],
            "error[invalid_input]: --start must be an ISO time such as 2026-03-01T12:00:00+00:00 or epoch "
            "milliseconds. Got 'yesterday' instead.\n",
        ),
    ],
)
def test_a_bad_definition_is_refused_with_status_2(
    invoke: Invoker, traffic: Client, arguments: list[str], message: str
) -> None:
    result = invoke("monitor", "create", "fraud", "-r", "tx:1", *arguments)

    assert (result.exit_code, result.output) == (2, message)
    assert traffic.monitors.all() == []


def test_list_run_status_and_backfill(invoke: Invoker, traffic: Client) -> None:
    assert invoke("monitor", "create", "fraud", "-r", "tx:1").exit_code == 0
    before = invoke("monitor", "list")
    ran = invoke("monitor", "run", "--now", "2026-01-01T02:00:00+00:00")
    again = invoke("monitor", "run", "fraud", "--now", str(T0 + 2 * HOUR + 1))
    listed = invoke("monitor", "list")
    summary = invoke("monitor", "status")
    detail = invoke("monitor", "status", "fraud")
    backfilled = invoke(
        "monitor", "backfill", "fraud", "--from", str(T0), "--to", "2026-01-01T01:00:00+00:00"
    )

    assert plain(before.output) == (
        " monitor   deployment   reference   window   columns   windows   processed to\n"
        "──────────────────────────────────────────────────────────────────────────────\n"
        " fraud     fraud        tx:1        1h       all             0   —\n"
    )
    assert (ran.exit_code, ran.output) == (0, "Monitor 'fraud': 2 new windows.\n")
    assert again.output == "Monitor 'fraud': 0 new windows.\n"
    assert plain(listed.output).splitlines()[2] == (
        f" fraud     fraud        tx:1        1h       all             2   {local_time(T0 + 2 * HOUR)}"
    )
    latest = span(T0 + HOUR, T0 + 2 * HOUR)
    status = traffic.monitors.status("fraud")[0]
    accuracy = f"~{status.value('estimated_accuracy'):.4g}"
    assert plain(summary.output).splitlines()[2].split() == [
        "fraud", "2", "0", *latest.split(), "300", "0.5", accuracy, "7",
    ]  # fmt: skip
    lines = plain(detail.output).splitlines()
    assert lines[:2] == [
        "Monitor fraud: deployment fraud, reference tx:1, windows of 1h, watching all columns of the reference.",
        f"Windows: 2 (0 failed). Latest: {latest}, 300 rows, status ok.",
    ]
    assert lines[2].startswith("drift share 0.5, multivariate drift ")
    assert [line.split()[:4] for line in lines[3:]] == [
        ["column", "test", "drift", "score"],
        ["─" * 82],
        ["amount", "wasserstein", f"{status.value('drift_score', 'amount'):.4g}", "yes"],
        ["city", "jensenshannon", f"{status.value('drift_score', 'city'):.4g}", "no"],
    ]
    assert (backfilled.exit_code, backfilled.output) == (0, "Monitor 'fraud': 1 window recomputed.\n")


def test_commands_without_monitors_say_how_to_create_one(invoke: Invoker, traffic: Client) -> None:
    hint = "No monitors yet. Create one with `loopwright monitor create DEPLOYMENT --reference ...`.\n"
    assert invoke("monitor", "list").output == hint
    assert invoke("monitor", "status").output == hint
    assert invoke("monitor", "run").output == (
        "No monitors to run. Create one with `loopwright monitor create DEPLOYMENT --reference ...`.\n"
    )
    unknown = invoke("monitor", "run", "nope")
    assert (unknown.exit_code, unknown.output) == (
        1,
        "error[not_found.monitor]: Monitor 'nope' does not exist. Known monitors: none yet. Create one with "
        "lw.monitor(deployment, reference=...) or `loopwright monitor create`.\n",
    )


def test_a_failed_window_makes_run_exit_with_status_1(
    invoke: Invoker, traffic: Client, monkeypatch: pytest.MonkeyPatch, workspace: Path
) -> None:
    from loopwright.monitoring import measure

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(measure, "operations", broken)
    assert invoke("monitor", "create", "fraud", "-r", "tx:1").exit_code == 0

    result = invoke("monitor", "run", "--now", str(T0 + HOUR))

    assert (result.exit_code, result.output) == (1, "Monitor 'fraud': 1 new window (1 failed).\n")
    detail = plain(invoke("monitor", "status", "fraud").output).splitlines()
    assert detail[1:] == [
        f"Windows: 1 (1 failed). Latest: {span(T0, T0 + HOUR)}, 0 rows, status failed.",
        "Error: RuntimeError: disk on fire",
    ]
