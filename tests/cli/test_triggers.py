"""``loopwright triggers list | add | remove | firings`` and ``loopwright scheduler`` against a real SQLite
workspace, with a module of pipelines in the working directory. Trigger ids are random, so expected output
is built from the ids the store holds; firing times are set explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from loopwright.client import Client
from loopwright.pipelines.triggers import next_occasion
from loopwright.settings import Settings
from loopwright.store.triggers import TriggerCatalog, TriggerRecord
from tests.cli.conftest import T0_MS, Invoker, local_time, plain

FLOW = """
import loopwright as lw


@lw.step
def double(n: int) -> int:
    return n * 2


@lw.pipeline(schedule="0 0 1 1 *", on=[lw.new_data("tx")])
def train(n: int = 1) -> int:
    return double(n)


@lw.step
def explode(n: int) -> int:
    raise ValueError("the forest caught fire")


@lw.pipeline
def broken(n: int = 1) -> int:
    return explode(n)
"""

YEARLY = "0 0 1 1 *"  # its next occasion only changes on New Year's Eve


@pytest.fixture
def flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module ``trigger_flow`` in the working directory (where the CLI and its children import from)."""
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "trigger_flow.py").write_text(FLOW, encoding="utf-8")
    monkeypatch.chdir(folder)
    return "trigger_flow"


@pytest.fixture
def catalog(workspace: Path) -> Iterator[TriggerCatalog]:
    client = Client(Settings(workspace=workspace))
    yield TriggerCatalog(client.store)
    client.close()


def next_yearly() -> str:
    return local_time(round(next_occasion(YEARLY, datetime.now(UTC)).timestamp() * 1000))


def only(catalog: TriggerCatalog, kind: str, origin: str = "cli") -> TriggerRecord:
    [record] = [
        record for record in catalog.list_triggers() if record.kind == kind and record.origin == origin
    ]
    return record


# --- add -----------------------------------------------------------------------------------------------


def test_add_checks_the_pipeline_and_its_parameters_then_records_the_trigger(
    invoke: Invoker, flow: str, catalog: TriggerCatalog
) -> None:
    added = invoke("triggers", "add", f"{flow}:train", "--cron", f" {YEARLY} ", "-p", "n=4")
    assert added.exit_code == 0, added.output
    record = only(catalog, "cron")
    assert (record.pipeline, record.ref, record.spec, record.params, record.origin) == (
        "train",
        "trigger_flow:train",
        YEARLY,
        {"n": "4"},
        "cli",
    )
    assert added.output == (
        f"Added trigger {record.id[:8]}: pipeline 'train' (trigger_flow:train) on cron {YEARLY}, with n=4.\n"
        f"Next occasion: {next_yearly()}.\n"
        f"Fire it: keep loopwright --workspace {invoke.workspace} scheduler running (from this folder).\n"
    )

    data = invoke("triggers", "add", f"{flow}:train", "--new-data", "tx")
    assert data.exit_code == 0, data.output
    assert data.output.splitlines()[0] == (
        f"Added trigger {only(catalog, 'new_data').id[:8]}: pipeline 'train' (trigger_flow:train) on new data "
        "in 'tx'."
    )


def test_add_with_a_file_reference_stores_the_absolute_path(
    invoke: Invoker, flow: str, catalog: TriggerCatalog
) -> None:
    added = invoke("triggers", "add", f"{flow}.py:train", "--new-data", "tx")
    assert added.exit_code == 0, added.output
    assert only(catalog, "new_data").ref == f"{Path(f'{flow}.py').resolve()}:train"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--cron", "0 3 * *"],
            "error[invalid_input]: The --cron option must be a cron expression of five fields (minute hour "
            "day-of-month month day-of-week, in UTC), e.g. '0 3 * * *' for 03:00 every day, or one of @hourly, "
            "@daily, @weekly, @monthly, @yearly. Got '0 3 * *' instead: it has 4 fields, not 5.",
        ),
        (
            [],
            "error[invalid_input]: A trigger starts on a schedule or on new data: give exactly one of --cron "
            "EXPR or --new-data DATASET. Got neither instead.",
        ),
        (
            ["--cron", "@daily", "--new-data", "tx"],
            "error[invalid_input]: A trigger starts on a schedule or on new data: give exactly one of --cron "
            "EXPR or --new-data DATASET. Got both instead.",
        ),
        (
            ["--new-data", "a/b"],
            "error[invalid_input]: The --new-data option needs the name of a dataset. The dataset key 'a/b' "
            "contains a slash ('/'); path separators are not allowed in keys. Use '.', '_' or '-' to group "
            "names, e.g. 'train.loss'.",
        ),
        (
            ["--new-data", "tx", "-p", "m=3"],
            "error[invalid_input.pipeline]: Pipeline 'train' has no parameter 'm'. Its parameters: n.",
        ),
        (
            ["--new-data", "tx", "-p", "n=x"],
            "error[invalid_input.pipeline]: The parameter 'n' of pipeline 'train' must be int. Got 'x' instead "
            "(invalid literal for int() with base 10: 'x').",
        ),
    ],
)
def test_add_refuses_bad_input_before_recording_anything(
    invoke: Invoker, flow: str, catalog: TriggerCatalog, arguments: list[str], message: str
) -> None:
    result = invoke("triggers", "add", f"{flow}:train", *arguments)
    assert (result.exit_code, result.output) == (2, message + "\n")
    assert catalog.list_triggers() == []


def test_add_refuses_a_pipeline_that_cannot_be_imported(invoke: Invoker, flow: str) -> None:
    result = invoke("triggers", "add", f"{flow}:nope", "--new-data", "tx")
    assert (result.exit_code, result.output) == (
        2,
        "error[invalid_input.pipeline]: Module 'trigger_flow' has no attribute 'nope' (pipeline reference "
        "'trigger_flow:nope').\n",
    )


def test_adding_the_same_trigger_twice_is_a_conflict(
    invoke: Invoker, flow: str, catalog: TriggerCatalog
) -> None:
    assert invoke("triggers", "add", f"{flow}:train", "--new-data", "tx").exit_code == 0
    again = invoke("triggers", "add", f"{flow}:train", "--new-data", "tx", "-p", "n=2")
    assert (again.exit_code, again.output) == (
        1,
        f"error[conflict]: Pipeline 'train' already has a new_data trigger 'tx': trigger "
        f"{only(catalog, 'new_data').id[:8]} (origin cli). Remove it first to change its parameters.\n",
    )


# --- list, remove, firings -----------------------------------------------------------------------------


def test_list_shows_each_trigger_with_its_latest_firing_and_next_occasion(
    invoke: Invoker, flow: str, catalog: TriggerCatalog
) -> None:
    empty = invoke("triggers", "list")
    assert empty.output == (
        f"No triggers yet. Add one with loopwright --workspace {invoke.workspace} triggers add "
        'MODULE:PIPELINE --cron "0 3 * * *".\n'
    )
    assert invoke("triggers", "add", f"{flow}:train", "--cron", YEARLY, "-p", "n=4").exit_code == 0
    assert invoke("triggers", "add", f"{flow}:broken", "--new-data", "tx").exit_code == 0
    cron, data = only(catalog, "cron"), only(catalog, "new_data")
    firing = catalog.claim_firing(
        data.id, "dataset:tx:v1", cause="new version 1 of dataset 'tx'", scheduler="s1", fired_ms=T0_MS
    )
    assert firing is not None
    catalog.finish_firing(firing.id, "failed", error="Traceback...\nValueError: the forest caught fire")

    listed = invoke("triggers", "list")
    assert listed.exit_code == 0, listed.output
    fired = local_time(T0_MS)
    assert plain(listed.output) == (
        " id         pipeline   on                 params   origin   last fired            status   run   next\n"
        "─────────────────────────────────────────────────────────────────────────────────────────────────────────────────────\n"
        f" {data.id[:8]}   broken     new data in 'tx'   —        cli      {fired}   failed   —     on a new version\n"
        f" {cron.id[:8]}   train      cron {YEARLY}     n=4      cli      —                     —        —     {next_yearly()}\n"
    )
    only_train = invoke("triggers", "list", "--pipeline", "train")
    assert [line.split()[1] for line in plain(only_train.output).splitlines()[2:]] == ["train"]

    firings = invoke("triggers", "firings", data.id[:6])
    assert plain(firings.output) == (
        " fired                 trigger    pipeline   cause                           scheduler   status   run   error\n"
        "───────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────────\n"
        f" {fired}   {data.id[:8]}   broken     new version 1 of dataset 'tx'   s1          failed   —     ValueError: the forest caught fire\n"
    )
    assert invoke("triggers", "firings", cron.id).output == "No firings yet.\n"


def test_remove_by_prefix_and_unknown_ids(invoke: Invoker, flow: str, catalog: TriggerCatalog) -> None:
    assert invoke("triggers", "add", f"{flow}:train", "--cron", YEARLY).exit_code == 0
    record = only(catalog, "cron")
    removed = invoke("triggers", "remove", record.id[:6])
    assert (removed.exit_code, removed.output) == (
        0,
        f"Removed trigger {record.id[:8]}: pipeline 'train' on cron {YEARLY}.\n",
    )
    assert catalog.list_triggers() == []
    missing = invoke("triggers", "remove", record.id[:6])
    assert (missing.exit_code, missing.output) == (
        1,
        f"error[not_found.trigger]: No trigger has an id starting with {record.id[:6]!r}. List triggers with "
        "`loopwright triggers list`.\n",
    )
    short = invoke("triggers", "remove", "ab")
    assert (short.exit_code, short.output) == (
        2,
        "error[invalid_input]: A trigger id prefix needs at least 4 characters. Got 'ab' instead.\n",
    )


# --- scheduler -----------------------------------------------------------------------------------------


def test_scheduler_registers_code_triggers_and_fires_on_new_data_once(
    invoke: Invoker, flow: str, catalog: TriggerCatalog, workspace: Path
) -> None:
    first = invoke("scheduler", "--pipeline", f"{flow}:train", "--once")
    assert (first.exit_code, first.output) == (
        0,
        f"Pipeline 'train' ({flow}:train) declares triggers: cron {YEARLY}, new data in 'tx'.\n"
        "Looked at 2 triggers: fired 0.\n",
    )
    assert {(record.kind, record.origin) for record in catalog.list_triggers()} == {
        ("cron", "code"),
        ("new_data", "code"),
    }
    client = Client(Settings(workspace=workspace))
    try:
        client.log_dataset("tx", pd.DataFrame({"amount": [1.0, 2.0]}))
    finally:
        client.close()

    fired = invoke("scheduler", "--once")
    assert fired.exit_code == 0, fired.output
    [firing] = catalog.firings()
    assert (firing.pipeline, firing.fire_key, firing.status) == ("train", "dataset:tx:v1", "finished")
    assert firing.run_id is not None
    lines = fired.output.splitlines()
    assert lines[0].endswith(" fired train: new version 1 of dataset 'tx'")
    assert lines[1].endswith(f" train finished (new version 1 of dataset 'tx'), run {firing.run_id[:8]}")
    assert lines[2:] == ["Looked at 2 triggers: fired 1."]

    again = invoke("scheduler", "--once")
    assert again.output == "Looked at 2 triggers: fired 0.\n"


def test_scheduler_once_exits_with_status_1_when_a_run_fails(
    invoke: Invoker, flow: str, catalog: TriggerCatalog, workspace: Path
) -> None:
    assert invoke("triggers", "add", f"{flow}:broken", "--new-data", "tx").exit_code == 0
    client = Client(Settings(workspace=workspace))
    try:
        client.log_dataset("tx", pd.DataFrame({"amount": [1.0]}))
    finally:
        client.close()
    result = invoke("scheduler", "--once")
    assert result.exit_code == 1, result.output
    [firing] = catalog.firings()
    assert firing.status == "failed"
    assert f" broken failed (new version 1 of dataset 'tx'), run {firing.run_id[:8]}: " in result.output  # type: ignore[index]


def test_scheduler_refuses_a_pipeline_defined_where_it_cannot_be_imported(invoke: Invoker, flow: str) -> None:
    result = invoke("scheduler", "--pipeline", f"{flow}:nope", "--once")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error[invalid_input.pipeline]: Module 'trigger_flow' has no attribute 'nope'"
    )
