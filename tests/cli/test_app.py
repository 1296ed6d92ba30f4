"""The root command: version, help, global options, and how errors are reported."""

from __future__ import annotations

import subprocess
import sys

import typer

from loopwright.cli._app import exit_code
from loopwright.errors import (
    FilterSyntaxError,
    InvalidInputError,
    MissingExtraError,
    NotFoundError,
    StoreUnavailableError,
)
from tests.cli.conftest import Invoker


def test_version(invoke: Invoker) -> None:
    result = invoke("--version", workspace=False)

    assert (result.exit_code, result.stdout) == (0, "loopwright 0.1.0\n")


def test_no_arguments_prints_help(invoke: Invoker) -> None:
    result = invoke(workspace=False)

    assert result.exit_code == 2
    assert "Usage: loopwright [OPTIONS] COMMAND [ARGS]..." in result.stdout
    for command in ("init", "info", "demo", "experiments", "runs"):
        assert f"│ {command} " in result.stdout


def test_an_unknown_command_is_a_usage_error(invoke: Invoker) -> None:
    result = invoke("runs", "bogus")

    assert result.exit_code == 2
    assert "No such command 'bogus'." in result.stderr


def test_invalid_settings_from_the_environment_are_reported_without_a_traceback(invoke: Invoker) -> None:
    result = invoke("info", env={"LOOPWRIGHT_DATABASE_URL": "mysql://localhost/db"})

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error[invalid_input]: The Loopwright settings are invalid: LOOPWRIGHT_DATABASE_URL must be a "
        "sqlite:/// or postgresql:// URL. Got 'mysql://localhost/db' instead.\n"
    )


def test_invalid_nested_settings_name_their_variable(invoke: Invoker) -> None:
    result = invoke("info", env={"LOOPWRIGHT_TRACKING__FLUSH_INTERVAL_S": "0"})

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input]: The Loopwright settings are invalid: LOOPWRIGHT_TRACKING__FLUSH_INTERVAL_S: "
        "Input should be greater than 0\n"
    )


def test_messages_are_printed_as_text_never_as_markup(invoke: Invoker) -> None:
    invoke("init")

    result = invoke("runs", "list", "-e", "[bold]x[/bold]")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[not_found.experiment]: Experiment '[bold]x[/bold]' does not exist. Known experiments: none yet.\n"
    )


def test_bad_input_exits_with_2_and_every_other_expected_error_with_1() -> None:
    assert exit_code(InvalidInputError("bad")) == 2
    assert exit_code(FilterSyntaxError("bad", expression="x", position=0)) == 2
    assert exit_code(NotFoundError("missing", kind="run", key="x")) == 1
    assert exit_code(StoreUnavailableError("down")) == 1
    assert exit_code(MissingExtraError("The demo", "scikit-learn", "sklearn")) == 1


def test_the_entry_point_is_the_app() -> None:
    from loopwright.cli import app, main

    assert isinstance(app, typer.Typer)
    assert callable(main)


def test_importing_loopwright_does_not_import_the_cli() -> None:
    code = "import sys, loopwright; print(sorted(m for m in sys.modules if m.split('.')[0] in {'typer', 'rich', 'loopwright'}))"

    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert output.strip() == "['loopwright', 'loopwright.errors']"
