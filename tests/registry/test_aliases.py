"""Aliases: every move recorded, "what was in production on date X", race-safe moves, dependents warned."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest

import loopwright as lw
from loopwright.errors import ConflictError, DependentsWarning, InvalidInputError, NotFoundError
from tests.registry.conftest import fit, fraud_frame, set_times

DAY_MS = 86_400_000
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def three_versions(client: lw.Client) -> list[lw.ModelVersion]:
    model = fit(fraud_frame())
    return [client.register_model("fraud", model) for _ in range(3)]


def test_every_move_is_recorded_with_who_when_from_to_and_why(
    client: lw.Client, three_versions: list[lw.ModelVersion]
) -> None:
    client.set_alias("fraud", "production", 1, reason="first release")
    client.set_alias("fraud", "production", 2)
    client.set_alias("fraud", "staging", 3)
    assert client.set_alias("fraud", "staging", 3) is None  # already there: nothing recorded
    client.registry.remove_alias("fraud", "staging", reason="cleanup")
    history = client.alias_history("fraud")
    assert [(e.alias, e.action, e.from_version, e.to_version, e.user, e.reason) for e in history] == [
        ("production", "set", None, 1, "tester", "first release"),
        ("production", "set", 1, 2, "tester", None),
        ("staging", "set", None, 3, "tester", None),
        ("staging", "remove", 3, None, "tester", "cleanup"),
    ]
    assert [event.to_version for event in client.alias_history("fraud", "production")] == [1, 2]
    assert [(alias.alias, alias.version) for alias in client.registry.aliases("fraud")] == [("production", 2)]
    assert three_versions[1].aliases == ["production"]
    assert [model.aliases for model in client.list_models()] == [{"production": 2}]


def test_the_history_answers_what_was_in_production_on_a_date(
    client: lw.Client, three_versions: list[lw.ModelVersion]
) -> None:
    for number in (1, 2, 3):
        client.set_alias("fraud", "production", number)
    client.registry.remove_alias("fraud", "production")
    ids = [event.id for event in client.alias_history("fraud", "production")]
    # Version 1 from Jan 1, version 2 from Jan 10, version 3 from Jan 20, removed on Feb 1.
    set_times(
        client,
        "alias_events",
        "created_ms",
        dict(zip(ids, [T0_MS, T0_MS + 9 * DAY_MS, T0_MS + 19 * DAY_MS, T0_MS + 31 * DAY_MS], strict=True)),
    )

    def at(when: object) -> int | None:
        found = client.registry.alias_at("fraud", "production", when)  # type: ignore[arg-type]
        return None if found is None else found.version

    assert at("2025-12-31T23:59:59+00:00") is None
    assert at("2026-01-01T00:00:00+00:00") == 1
    assert at(datetime(2026, 1, 9, 23, 59, tzinfo=UTC)) == 1
    assert at((T0_MS + 9 * DAY_MS) / 1000) == 2
    assert at("2026-01-25T12:00:00+00:00") == 3
    assert at("2026-02-02T00:00:00+00:00") is None
    found = client.get_model_version("fraud", alias="production", at="2026-01-15T00:00:00+00:00")
    assert found == three_versions[1]
    with pytest.raises(
        NotFoundError, match=r"^Alias 'production' of model 'fraud' pointed at no version at 2020"
    ):
        client.get_model_version("fraud", alias="production", at="2020-01-01T00:00:00+00:00")
    with pytest.raises(InvalidInputError, match="^A date must be a datetime, ISO text"):
        client.registry.alias_at("fraud", "production", "last tuesday")


def test_concurrent_promotions_one_wins_each_move_and_the_history_stays_a_chain(
    client: lw.Client, three_versions: list[lw.ModelVersion]
) -> None:
    client.set_alias("fraud", "production", 1)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def promote(number: int) -> None:
        barrier.wait()
        try:
            client.promote("fraud", number, to="production")
            outcomes.append(f"promoted {number}")
        except ConflictError as error:
            outcomes.append(f"conflict {number}: {error}")

    for _round in range(5):
        threads = [threading.Thread(target=promote, args=(number,)) for number in (2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.set_alias("fraud", "production", 1)
    assert len(outcomes) == 10
    conflicts = [outcome for outcome in outcomes if outcome.startswith("conflict")]
    assert all("was moved by someone else" in outcome for outcome in conflicts)
    history = client.alias_history("fraud", "production")
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version  # no two moves from the same state
    assert client.get_model_version("fraud", alias="production").version == history[-1].to_version


def test_a_move_decided_on_a_stale_alias_changes_nothing(
    client: lw.Client, three_versions: list[lw.ModelVersion]
) -> None:
    client.set_alias("fraud", "production", 1)
    seen = client.registry.ledger.alias("fraud", "production")
    client.set_alias("fraud", "production", 2)
    with pytest.raises(ConflictError) as error:
        client.registry.move_alias(
            three_versions[2], "production", action="promote", decided_on=seen, check_unchanged=True
        )
    assert str(error.value) == (
        "Alias 'production' of model 'fraud' was moved by someone else while this change was being decided; "
        "nothing was changed. Look at `loopwright models history` and try again."
    )
    assert [event.to_version for event in client.alias_history("fraud", "production")] == [1, 2]


def test_alias_names_are_checked(client: lw.Client, three_versions: list[lw.ModelVersion]) -> None:
    for bad in ("Production", "latest", "1st", "", "a b"):
        with pytest.raises(InvalidInputError) as error:
            client.set_alias("fraud", bad, 1)
        assert str(error.value) == (
            "An alias must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter, and not "
            f"'latest' (e.g. production, staging, champion). Got {bad!r} instead."
        )


def test_archived_versions_take_no_alias_and_aliased_versions_are_not_archived(
    client: lw.Client, three_versions: list[lw.ModelVersion]
) -> None:
    client.set_alias("fraud", "production", 1)
    with pytest.raises(ConflictError) as holds:
        client.registry.archive("fraud", 1)
    assert str(holds.value) == (
        "Model 'fraud' version 1 holds the aliases production; move them to another version before archiving it."
    )
    assert client.registry.archive("fraud", 2).status == "archived"
    with pytest.raises(ConflictError, match="^Model 'fraud' version 2 is archived; it cannot take the alias"):
        client.set_alias("fraud", "staging", 2)
    with pytest.raises(ConflictError, match="^Model 'fraud' version 2 is archived; it cannot be promoted"):
        client.promote("fraud", 2, to="staging")


def test_changing_a_version_others_derive_from_warns_about_them(client: lw.Client) -> None:
    model = fit(fraud_frame())
    base = client.register_model("base", model)
    client.register_model("base", model)
    client.register_model("fraud-eu", model, fine_tuned_from=base)
    client.register_model("fraud-us", model, fine_tuned_from="base/1")
    client.set_alias("base", "production", 1)
    with pytest.warns(DependentsWarning) as caught:
        client.set_alias("base", "production", 2)
    assert [str(warning.message) for warning in caught] == [
        "Model 'base' version 1 leaves alias 'production', and 2 version(s) were fine-tuned from it: "
        "fraud-eu/1, fraud-us/1. They may need retraining on its successor (a correction cascade)."
    ]
    with pytest.warns(DependentsWarning, match="^Model 'base' version 1 is archived, and 2 version"):
        client.registry.archive("base", 1)
    assert client.get_model_version("fraud-eu").fine_tuned_from == base
