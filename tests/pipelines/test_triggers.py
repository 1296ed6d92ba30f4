"""Trigger specs, cron validation and occasions, and the trigger store (triggers, firings, leases) on
SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import loopwright as lw
from loopwright.errors import ConflictError, InvalidInputError, NotFoundError, PipelineDefinitionError
from loopwright.pipelines.triggers import (
    TriggerSpec,
    check_pipeline_triggers,
    cron_firing,
    cron_spec,
    importable_ref,
    latest_occasion,
    new_data,
    new_data_firing,
    next_occasion,
    sync_pipeline_triggers,
    validate_schedule,
)
from loopwright.store.metadata import MetadataStore
from loopwright.store.triggers import TriggerCatalog, trigger_lease

EXPECTED = (
    "a cron expression of five fields (minute hour day-of-month month day-of-week, in UTC), e.g. "
    "'0 3 * * *' for 03:00 every day, or one of @hourly, @daily, @weekly, @monthly, @yearly"
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


# --- specs and cron expressions ------------------------------------------------------------------------


def test_new_data_and_cron_specs_are_plain_values() -> None:
    assert lw.new_data("transactions") == TriggerSpec("new_data", "transactions")
    assert lw.new_data("transactions").describe() == "new data in 'transactions'"
    assert cron_spec(" 0   3 * *  mon-fri ") == TriggerSpec("cron", "0 3 * * mon-fri")
    assert cron_spec("0 3 * * *").describe() == "cron 0 3 * * *"


@pytest.mark.parametrize(
    ("expression", "normalized"),
    [
        ("0 3 * * *", "0 3 * * *"),
        ("*/15  *\t* * *", "*/15 * * * *"),
        ("0 9-17 * * 1-5", "0 9-17 * * 1-5"),
        ("30 2 L * *", "30 2 L * *"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("@DAILY", "@daily"),
        ("@hourly", "@hourly"),
    ],
)
def test_valid_schedules_are_normalised(expression: str, normalized: str) -> None:
    assert validate_schedule(expression) == normalized


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("61 * * * *", "the minute field '61' is not valid (it takes 0-59)"),
        ("0 24 * * *", "the hour field '24' is not valid (it takes 0-23)"),
        ("0 3 1-40 * *", "the day-of-month field '1-40' is not valid (it takes 1-31, or L for the last day)"),
        ("0 3 * foo *", "the month field 'foo' is not valid (it takes 1-12 or jan-dec)"),
        (
            "0 3 * * 9",
            "the day-of-week field '9' is not valid (it takes 0-7 or sun-sat, where 0 and 7 are Sunday)",
        ),
        ("*/0 * * * *", "the minute field '*/0' is not valid (it takes 0-59)"),
        ("* * *", "it has 3 fields, not 5"),
        (
            "0 3 * * * 5",
            "it has 6 fields, not 5; seconds and years are not supported, a trigger fires at most once a minute",
        ),
        ("   ", "it is empty"),
        ("@reboot", "'@reboot' is not one of the aliases"),
        ("0 0 30 2 *", "no date ever matches it"),
    ],
)
def test_an_invalid_schedule_names_the_field_the_value_and_what_is_expected(
    expression: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_schedule(expression)
    assert str(raised.value) == f"The schedule must be {EXPECTED}. Got {expression!r} instead: {problem}."
    assert raised.value.code == "invalid_input"


def test_a_schedule_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidInputError) as raised:
        validate_schedule(3, subject="The '--cron' option")
    assert str(raised.value) == f"The '--cron' option must be {EXPECTED}. Got 3 of type int instead."


def test_pipeline_triggers_are_checked_at_definition_with_the_users_location() -> None:
    with pytest.raises(PipelineDefinitionError) as raised:
        check_pipeline_triggers("fraud", "0 3 * * * *", [], "jobs.py:12")
    assert str(raised.value) == (
        f"The 'schedule' of pipeline 'fraud' (jobs.py:12) must be {EXPECTED}. Got '0 3 * * * *' instead: it "
        "has 6 fields, not 5; seconds and years are not supported, a trigger fires at most once a minute."
    )
    with pytest.raises(PipelineDefinitionError) as raised:
        check_pipeline_triggers("fraud", None, [lw.new_data("tx"), "0 3 * * *"], "jobs.py:12")
    assert str(raised.value) == (
        "The 'on' of pipeline 'fraud' (jobs.py:12) must be a list of triggers such as "
        "lw.new_data('transactions'). Got '0 3 * * *' (a str) at position 1 instead. For a schedule, use "
        "schedule='0 3 * * *'."
    )
    with pytest.raises(PipelineDefinitionError, match=r"Got 'tx' \(a str\) at position 0 instead\.$"):
        check_pipeline_triggers("fraud", None, ["tx"], "jobs.py:12")
    check_pipeline_triggers("fraud", "@daily", [lw.new_data("tx")], "jobs.py:12")


def test_the_pipeline_decorator_refuses_a_bad_schedule_where_it_is_defined() -> None:
    with pytest.raises(
        PipelineDefinitionError,
        match=r"^The 'schedule' of pipeline 'nightly' \(.*test_triggers\.py:\d+\) must be a cron",
    ):

        @lw.pipeline(schedule="0 25 * * *")
        def nightly() -> None: ...


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "lw.new_data() needs the name of a dataset. A dataset key must not be empty. Got '' instead."),
        (
            "a/b",
            "lw.new_data() needs the name of a dataset. The dataset key 'a/b' contains a slash ('/'); path "
            "separators are not allowed in keys. Use '.', '_' or '-' to group names, e.g. 'train.loss'.",
        ),
        (
            7,
            "lw.new_data() needs the name of a dataset. A dataset key must be a text. Got 7 of type int instead.",
        ),
    ],
)
def test_new_data_needs_a_dataset_name(name: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        new_data(name)
    assert str(raised.value) == message


def test_occasions_are_whole_minutes_in_utc() -> None:
    assert latest_occasion("0 3 * * *", utc(2026, 11, 28, 3, 0, 0)) == utc(2026, 11, 28, 3, 0)
    assert latest_occasion("0 3 * * *", utc(2026, 11, 28, 3, 0, 59)) == utc(2026, 11, 28, 3, 0)
    assert latest_occasion("0 3 * * *", utc(2026, 11, 28, 2, 59, 59)) == utc(2026, 11, 27, 3, 0)
    assert latest_occasion("*/15 * * * *", utc(2026, 11, 28, 3, 44)) == utc(2026, 11, 28, 3, 30)
    assert next_occasion("0 3 * * *", utc(2026, 11, 28, 3, 0, 30)) == utc(2026, 11, 29, 3, 0)
    assert next_occasion("@hourly", utc(2026, 11, 28, 3, 0)) == utc(2026, 11, 28, 4, 0)
    # Another time zone is the same instant: 04:00 in UTC+1 is 03:00 UTC.
    plus_one = datetime(2026, 11, 28, 4, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert latest_occasion("0 3 * * *", plus_one) == utc(2026, 11, 28, 3, 0)
    with pytest.raises(InvalidInputError, match=r"^The scheduler's 'now' must be an aware datetime"):
        latest_occasion("0 3 * * *", datetime(2026, 11, 28, 3, 0))


def test_fire_keys_and_causes() -> None:
    assert cron_firing("0 3 * * *", utc(2026, 11, 28, 3, 0)) == (
        "cron:2026-11-28T03:00Z",
        "cron 0 3 * * * at 2026-11-28T03:00Z",
    )
    assert new_data_firing("transactions", 4) == (
        "dataset:transactions:v4",
        "new version 4 of dataset 'transactions'",
    )


def test_a_pipeline_in_a_script_is_referenced_by_its_file_and_one_in_a_notebook_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text("", encoding="utf-8")
    main = type(sys)("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert importable_ref("train", "__main__:train") == f"{script.resolve()}:train"
    assert importable_ref("train", "jobs.fraud:train") == "jobs.fraud:train"
    del main.__file__
    with pytest.raises(InvalidInputError) as raised:
        importable_ref("train", "__main__:train")
    assert str(raised.value) == (
        "Pipeline 'train' declares triggers, but it is defined in a notebook or an interactive session, where "
        "the scheduler cannot import it (reference '__main__:train'). Move it into a module, e.g. "
        "pipelines/train.py, and register it with `loopwright scheduler --pipeline pipelines.train:train`."
    )
    with pytest.raises(InvalidInputError, match="it is defined inside a function, where the scheduler"):
        importable_ref("train", "jobs:make.<locals>.train")


# --- the store: triggers -------------------------------------------------------------------------------


@pytest.fixture
def store(database_url: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(database_url)
    yield opened
    opened.close()


@pytest.fixture
def catalog(store: MetadataStore) -> TriggerCatalog:
    return TriggerCatalog(store)


def test_adding_listing_resolving_and_removing_triggers(catalog: TriggerCatalog) -> None:
    cron = catalog.add("retrain", "jobs:retrain", "cron", "0 3 * * *", params={"n": "5"})
    data = catalog.add("retrain", "jobs:retrain", "new_data", "tx")
    other = catalog.add("audit", "jobs:audit", "cron", "@daily", origin="code")
    assert (cron.pipeline, cron.ref, cron.kind, cron.spec, cron.params, cron.enabled, cron.origin) == (
        "retrain",
        "jobs:retrain",
        "cron",
        "0 3 * * *",
        {"n": "5"},
        True,
        "cli",
    )
    assert len(cron.id) == 32
    assert cron.last_checked_at is None
    assert [trigger.id for trigger in catalog.list_triggers()] == [other.id, cron.id, data.id]
    assert [trigger.id for trigger in catalog.list_triggers("retrain")] == [cron.id, data.id]
    assert catalog.resolve_id(cron.id[:6]) == cron.id
    assert catalog.resolve_id(cron.id) == cron.id

    with pytest.raises(ConflictError) as raised:
        catalog.add("retrain", "jobs:retrain", "cron", "0 3 * * *")
    assert str(raised.value) == (
        f"Pipeline 'retrain' already has a cron trigger '0 3 * * *': trigger {cron.id[:8]} (origin cli). "
        "Remove it first to change its parameters."
    )

    catalog.mark_checked([cron.id], 1_700_000_000_000)
    assert catalog.get(cron.id).last_checked_at == utc(2023, 11, 14, 22, 13, 20)
    assert catalog.remove(cron.id).id == cron.id
    with pytest.raises(NotFoundError) as missing:
        catalog.get(cron.id)
    assert str(missing.value) == (
        f"Trigger {cron.id!r} does not exist. List triggers with `loopwright triggers list`."
    )
    assert missing.value.specific_code == "not_found.trigger"


def test_resolving_a_trigger_id_prefix(catalog: TriggerCatalog) -> None:
    with pytest.raises(InvalidInputError) as short:
        catalog.resolve_id("ab")
    assert str(short.value) == "A trigger id prefix needs at least 4 characters. Got 'ab' instead."
    with pytest.raises(NotFoundError) as missing:
        catalog.resolve_id("ffff%")
    assert str(missing.value) == (
        "No trigger has an id starting with 'ffff%'. List triggers with `loopwright triggers list`."
    )


def test_syncing_code_triggers_adds_removes_and_moves_only_code_triggers(catalog: TriggerCatalog) -> None:
    by_hand = catalog.add("retrain", "jobs:retrain", "new_data", "tx")
    first = catalog.sync_code_triggers("retrain", "jobs:retrain", [("cron", "0 3 * * *"), ("new_data", "tx")])
    # The new-data trigger added by hand covers that spec; only the cron trigger is the code's.
    assert [(trigger.kind, trigger.spec, trigger.origin) for trigger in first] == [
        ("cron", "0 3 * * *", "code")
    ]
    again = catalog.sync_code_triggers("retrain", "jobs:retrain", [("cron", "0 3 * * *"), ("new_data", "tx")])
    assert again == first  # nothing changed: the same rows

    moved = catalog.sync_code_triggers("retrain", "pipelines.jobs:retrain", [("cron", "@hourly")])
    assert [(trigger.spec, trigger.ref) for trigger in moved] == [("@hourly", "pipelines.jobs:retrain")]
    assert moved[0].id != first[0].id
    kept = catalog.list_triggers("retrain")
    assert {trigger.id for trigger in kept} == {by_hand.id, moved[0].id}
    assert catalog.get(by_hand.id).ref == "jobs:retrain"

    assert catalog.sync_code_triggers("retrain", "pipelines.jobs:retrain", []) == []
    assert [trigger.id for trigger in catalog.list_triggers("retrain")] == [by_hand.id]


@dataclass
class FakePipeline:
    """What sync_pipeline_triggers reads of a pipeline."""

    name: str
    ref: str
    schedule: str | None = None
    on: list[Any] = field(default_factory=list)


def test_sync_pipeline_triggers_registers_schedule_and_on(tmp_path: Path, database_url: str) -> None:
    client = lw.Client(lw.Settings(workspace=tmp_path / "ws", database_url=database_url))
    try:
        declared = FakePipeline(
            "retrain", "jobs:retrain", "0  3 * * *", [lw.new_data("tx"), lw.new_data("tx")]
        )
        records = sync_pipeline_triggers(client, declared)
        assert [(record.kind, record.spec, record.ref, record.origin) for record in records] == [
            ("cron", "0 3 * * *", "jobs:retrain", "code"),
            ("new_data", "tx", "jobs:retrain", "code"),
        ]
        assert sync_pipeline_triggers(client, FakePipeline("retrain", "jobs:retrain")) == []
        assert TriggerCatalog(client.store).list_triggers() == []
        with pytest.raises(InvalidInputError, match="defined inside a function"):
            sync_pipeline_triggers(client, FakePipeline("retrain", "jobs:f.<locals>.retrain", "@daily"))
    finally:
        client.close()


# --- the store: firings and leases -----------------------------------------------------------------------


def test_a_firing_is_claimed_once_and_finished_with_its_run(
    catalog: TriggerCatalog, store: MetadataStore
) -> None:
    trigger = catalog.add("retrain", "jobs:retrain", "cron", "0 3 * * *")
    claimed = catalog.claim_firing(
        trigger.id, "cron:2026-11-28T03:00Z", cause="cron 0 3 * * * at 2026-11-28T03:00Z", scheduler="a"
    )
    assert claimed is not None
    assert (claimed.status, claimed.scheduler, claimed.pipeline, claimed.run_id) == (
        "running",
        "a",
        "retrain",
        None,
    )
    assert catalog.has_fired(trigger.id, "cron:2026-11-28T03:00Z")
    assert not catalog.has_fired(trigger.id, "cron:2026-11-29T03:00Z")
    assert catalog.claim_firing(trigger.id, "cron:2026-11-28T03:00Z", cause="again", scheduler="b") is None

    run_id = store.create_run(store.get_or_create_experiment("retrain").id, "retrain")
    ended = catalog.finish_firing(claimed.id, "failed", run_id=run_id, error="ValueError: boom")
    assert (ended.status, ended.run_id, ended.error) == ("failed", run_id, "ValueError: boom")
    # A run id the store does not know (another workspace's) is not linked.
    assert catalog.finish_firing(claimed.id, "failed", run_id="f" * 32).run_id is None
    with pytest.raises(InvalidInputError, match=r"^A firing's status must be one of running, finished"):
        catalog.finish_firing(claimed.id, "done")
    assert [firing.id for firing in catalog.firings(trigger.id)] == [claimed.id]
    assert catalog.last_firings() == {trigger.id: catalog.get_firing(claimed.id)}


def test_of_many_concurrent_claims_of_one_occasion_exactly_one_wins(catalog: TriggerCatalog) -> None:
    trigger = catalog.add("retrain", "jobs:retrain", "new_data", "tx")
    barrier = threading.Barrier(8)
    won: list[str] = []

    def claim(holder: str) -> None:
        barrier.wait()
        if catalog.claim_firing(trigger.id, "dataset:tx:v1", cause="c", scheduler=holder) is not None:
            won.append(holder)

    threads = [threading.Thread(target=claim, args=(f"s{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert [firing.scheduler for firing in catalog.firings(trigger.id)] == won


def test_a_lease_is_held_until_it_expires_then_taken_over(catalog: TriggerCatalog) -> None:
    t0 = 1_800_000_000_000
    assert catalog.acquire_lease("trigger:x", "a", 1_000, at_ms=t0)
    assert catalog.acquire_lease("trigger:x", "a", 1_000, at_ms=t0 + 400)  # renewed: now until t0 + 1400
    assert not catalog.acquire_lease("trigger:x", "b", 1_000, at_ms=t0 + 1_000)
    held = catalog.lease("trigger:x")
    assert held is not None
    assert (held.holder, held.expires_ms) == ("a", t0 + 1_400)
    assert catalog.acquire_lease("trigger:x", "b", 1_000, at_ms=t0 + 1_400)  # expired: taken over
    assert not catalog.acquire_lease("trigger:x", "a", 1_000, at_ms=t0 + 1_500)  # a lost it
    assert not catalog.release_lease("trigger:x", "a")
    assert catalog.release_lease("trigger:x", "b")
    assert catalog.lease("trigger:x") is None
    assert catalog.acquire_lease("trigger:x", "a", 1_000, at_ms=t0 + 1_600)


def test_of_many_concurrent_lease_takers_exactly_one_holds_it(catalog: TriggerCatalog) -> None:
    barrier = threading.Barrier(8)
    holders: list[str] = []

    def take(holder: str) -> None:
        barrier.wait()
        if catalog.acquire_lease("scheduler", holder, 60_000):
            holders.append(holder)

    threads = [threading.Thread(target=take, args=(f"s{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(holders) == 1
    lease = catalog.lease("scheduler")
    assert lease is not None
    assert lease.holder == holders[0]


def test_running_firings_whose_scheduler_lost_its_lease_are_abandoned(catalog: TriggerCatalog) -> None:
    trigger = catalog.add("retrain", "jobs:retrain", "new_data", "tx")
    t0 = 1_800_000_000_000
    assert catalog.acquire_lease(trigger_lease(trigger.id), "dead", 1_000, at_ms=t0)
    firing = catalog.claim_firing(trigger.id, "dataset:tx:v1", cause="c", scheduler="dead")
    assert firing is not None
    assert catalog.abandon_stale_firings(t0 + 999) == []
    [abandoned] = catalog.abandon_stale_firings(t0 + 1_000)
    assert (abandoned.id, abandoned.status) == (firing.id, "abandoned")
    assert abandoned.error == (
        "The scheduler that started this run stopped before recording its end (its lease on the trigger "
        "expired). See the run itself for how it ended."
    )
    assert catalog.abandon_stale_firings(t0 + 2_000) == []  # already marked
