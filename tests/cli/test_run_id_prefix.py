"""Run ids abbreviated to a unique prefix: ``Client.resolve_run_id`` (on every metadata backend) and the
CLI's errors when a prefix is too short, matches nothing or matches several runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopwright.client import Client
from loopwright.errors import InvalidInputError, NotFoundError
from loopwright.settings import Settings
from tests.cli.conftest import Invoker, seed_run

AMBIGUOUS = ("abcd1111" + "0" * 24, "abcd2222" + "0" * 24)
UNDERSCORE = "ab_d" + "0" * 28


@pytest.fixture
def backend_client(tmp_path: Path, database_url: str) -> Iterator[Client]:
    """A client on SQLite, then on PostgreSQL (the shared ``database_url`` fixture)."""
    client = Client(Settings(workspace=tmp_path / "ws", database_url=database_url))
    yield client
    client.close()


@pytest.fixture
def prefixed(backend_client: Client) -> Client:
    """Runs whose ids share prefixes, one with a LIKE wildcard character in its id."""
    seed_run(backend_client, AMBIGUOUS[0], "lr-small")
    seed_run(backend_client, AMBIGUOUS[1], "lr-large")
    seed_run(backend_client, UNDERSCORE, "underscored")
    seed_run(backend_client, "ab", "two-letter-id")
    return backend_client


def test_a_unique_prefix_resolves_to_the_full_id(prefixed: Client) -> None:
    assert prefixed.resolve_run_id("abcd1") == AMBIGUOUS[0]
    assert prefixed.resolve_run_id(AMBIGUOUS[1]) == AMBIGUOUS[1]


def test_a_whole_id_shorter_than_the_minimum_prefix_still_resolves(prefixed: Client) -> None:
    assert prefixed.resolve_run_id("ab") == "ab"


def test_like_wildcards_in_a_prefix_match_only_themselves(prefixed: Client) -> None:
    assert prefixed.resolve_run_id("ab_d") == UNDERSCORE
    with pytest.raises(NotFoundError, match="No run has an id starting with 'a%cd'"):
        prefixed.resolve_run_id("a%cd")


def test_prefixes_are_case_sensitive_on_every_backend(prefixed: Client) -> None:
    with pytest.raises(NotFoundError):
        prefixed.resolve_run_id("ABCD1")


def test_an_ambiguous_prefix_names_every_candidate(prefixed: Client) -> None:
    with pytest.raises(InvalidInputError) as caught:
        prefixed.resolve_run_id("abcd")

    assert caught.value.details["candidates"] == list(AMBIGUOUS)
    assert str(caught.value) == (
        f"The run id prefix 'abcd' is ambiguous: it matches {AMBIGUOUS[0]} (lr-small), {AMBIGUOUS[1]} "
        "(lr-large). Give more characters of the id."
    )


def test_an_ambiguous_prefix_is_a_usage_error_on_the_command_line(invoke: Invoker, client: Client) -> None:
    seed_run(client, AMBIGUOUS[0], "lr-small")
    seed_run(client, AMBIGUOUS[1], "lr-large")

    result = invoke("runs", "show", "abcd")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error[invalid_input]: The run id prefix 'abcd' is ambiguous: it matches {AMBIGUOUS[0]} (lr-small), "
        f"{AMBIGUOUS[1]} (lr-large). Give more characters of the id.\n"
    )
    assert invoke("runs", "show", "abcd2").exit_code == 0


def test_an_ambiguous_prefix_lists_at_most_ten_candidates(invoke: Invoker, client: Client) -> None:
    for number in range(12):
        seed_run(client, f"eeee{number:02d}" + "0" * 26, f"run-{number}")

    result = invoke("runs", "compare", "eeee", "eeee00")

    assert result.exit_code == 2
    assert result.stderr.count("(run-") == 10
    assert result.stderr.endswith("(run-9) and more. Give more characters of the id.\n")


def test_a_prefix_shorter_than_four_characters_is_refused(invoke: Invoker, client: Client) -> None:
    seed_run(client, AMBIGUOUS[0], "lr-small")

    result = invoke("runs", "show", "abc")

    assert result.exit_code == 2
    assert (
        result.stderr
        == "error[invalid_input]: A run id prefix needs at least 4 characters. Got 'abc' instead.\n"
    )


def test_a_prefix_that_matches_nothing_is_not_found(invoke: Invoker, client: Client) -> None:
    seed_run(client, AMBIGUOUS[0], "lr-small")

    result = invoke("runs", "show", "ffff")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[not_found.run]: No run has an id starting with 'ffff'. List runs with `loopwright runs list`.\n"
    )
