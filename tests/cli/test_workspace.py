"""``loopwright init``, ``loopwright info`` and ``loopwright experiments list``."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

import pytest
import sqlalchemy

from loopwright.client import Client
from loopwright.store.engine import HEAD_REVISION
from tests.cli.conftest import T0_MS, Invoker, local_time, plain, seed_run


def test_init_creates_the_database_and_artifact_folder_and_says_where(invoke: Invoker) -> None:
    result = invoke("init")

    workspace = invoke.workspace
    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        f"Created workspace at {workspace}\n"
        f"database   sqlite:///{workspace}/loopwright.db\n"
        f"schema     {HEAD_REVISION}\n"
        f"artifacts  {workspace}/artifacts\n"
        f"Next: loopwright --workspace {workspace} demo records a few example runs.\n"
    )
    assert (workspace / "loopwright.db").is_file()
    assert (workspace / "artifacts").is_dir()


def test_init_again_changes_nothing(invoke: Invoker) -> None:
    invoke("init")

    result = invoke("init")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Workspace already exists at {invoke.workspace}\n")


def test_init_takes_the_workspace_as_its_own_option(invoke: Invoker, tmp_path: Path) -> None:
    result = invoke("init", "--workspace", str(tmp_path / "other"), workspace=False)

    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "other" / "loopwright.db").is_file()
    assert f"Next: loopwright --workspace {tmp_path / 'other'} demo" in result.stdout


def test_info_shows_locations_schema_versions_and_counts(
    invoke: Invoker, client: Client, workspace: Path
) -> None:
    seed_run(client, "aaaa" + "0" * 28, "one", experiment="first")
    seed_run(client, "bbbb" + "0" * 28, "two", experiment="second")
    seed_run(client, "cccc" + "0" * 28, "three", experiment="second")

    result = invoke("info")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        f"workspace        {workspace}\n"
        f"database         sqlite:///{workspace}/loopwright.db\n"
        f"artifacts        {workspace}/artifacts\n"
        f"schema revision  {HEAD_REVISION}\n"
        "experiments      2\n"
        "runs             3\n"
        "loopwright       0.1.0\n"
        f"python           {platform.python_version()}\n"
        f"sqlalchemy       {importlib.metadata.version('sqlalchemy')}\n"
    )


@pytest.mark.postgres
def test_info_masks_the_database_password(invoke: Invoker, postgres_url: str) -> None:
    # The test server trusts local connections, so any password is accepted, and must not be shown.
    url = sqlalchemy.make_url(postgres_url).set(password="hunter2").render_as_string(hide_password=False)

    result = invoke("info", env={"LOOPWRIGHT_DATABASE_URL": url})

    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert ":***@" in result.stdout


def test_reading_commands_refuse_a_missing_workspace_and_create_nothing(invoke: Invoker) -> None:
    for command in (["info"], ["experiments", "list"], ["runs", "list"], ["runs", "show", "abcd"]):
        result = invoke(*command)

        assert result.exit_code == 1, command
        assert result.stdout == ""
        assert result.stderr == (
            f"error[not_found.workspace]: There is no Loopwright workspace at {invoke.workspace}. Create one "
            "with `loopwright init` (or run `loopwright demo`), or point --workspace or LOOPWRIGHT_WORKSPACE "
            "at an existing one.\n"
        )
    assert not invoke.workspace.exists()


def test_the_workspace_comes_from_the_environment_without_the_option(invoke: Invoker) -> None:
    result = invoke("init", workspace=False, env={"LOOPWRIGHT_WORKSPACE": str(invoke.workspace)})

    assert result.exit_code == 0, result.stderr
    assert (invoke.workspace / "loopwright.db").is_file()
    assert "Next: loopwright demo records a few example runs." in result.stdout


def test_experiments_list_shows_run_counts_and_latest_start(invoke: Invoker, client: Client) -> None:
    seed_run(client, "aaaa" + "0" * 28, "one", experiment="first", start_ms=T0_MS)
    seed_run(client, "bbbb" + "0" * 28, "two", experiment="second", start_ms=T0_MS)
    seed_run(client, "cccc" + "0" * 28, "three", experiment="second", start_ms=T0_MS + 5_000)

    result = invoke("experiments", "list")

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[0].split() == ["name", "runs", "last", "run", "created"]
    assert lines[2].split()[:4] == ["first", "1", *local_time(T0_MS).split()]
    assert lines[3].split()[:4] == ["second", "2", *local_time(T0_MS + 5_000).split()]
    assert len(lines) == 4


def test_experiments_list_of_an_empty_workspace(invoke: Invoker) -> None:
    invoke("init")

    result = invoke("experiments", "list", env={"COLUMNS": "300"})

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"No experiments yet. Record some with loopwright --workspace {invoke.workspace} demo or "
        "`lw.start_run(experiment=...)` in your code.\n"
    )
