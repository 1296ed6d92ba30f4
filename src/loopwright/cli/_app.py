"""The root of the ``loopwright`` command: global options, the command groups, and error reporting.

Expected failures (every :class:`~loopwright.errors.LoopwrightError`) are caught here, in one place, and
printed as ``error[<code>]: <message>`` on standard error without a traceback. The exit status is 2 for
bad input (as for a usage error) and 1 otherwise. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

import loopwright
from loopwright.cli import (
    config,
    data,
    demo,
    deployments,
    experiments,
    feedback,
    models,
    monitor,
    pipelines,
    rollouts,
    runs,
    server,
    triggers,
    workspace,
)
from loopwright.cli._render import print_error
from loopwright.cli._state import CliState
from loopwright.errors import InvalidInputError, LoopwrightError
from loopwright.settings import Settings

__all__ = ["app", "exit_code", "main"]


def exit_code(error: LoopwrightError) -> int:
    """The exit status for an expected error: 2 for bad input (like a usage error), else 1."""
    return 2 if isinstance(error, InvalidInputError) else 1


class _ReportingGroup(TyperGroup):
    """The root group: turns :class:`LoopwrightError` from any command into a one-line report."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LoopwrightError as error:
            print_error(error)
            raise typer.Exit(exit_code(error)) from None


app = typer.Typer(
    name="loopwright",
    cls=_ReportingGroup,
    help="Loopwright: experiment tracking, and the rest of the machine-learning loop, in one package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold database URLs with passwords
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(pipelines.app, name="pipelines")
workspace.register(app)
demo.register(app)
triggers.register(app)
feedback.register(app)
deployments.register(app)
rollouts.register(app)
server.register(app)
monitor.register(app)
config.register(app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loopwright {loopwright.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    context: typer.Context,
    workspace_folder: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder (SQLite database and artifacts). Overrides LOOPWRIGHT_WORKSPACE; "
            "default ./.loopwright.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Track, compare and inspect machine-learning runs. Start with `loopwright demo`."""
    try:
        settings = Settings() if workspace_folder is None else Settings(workspace=workspace_folder)
    except ValidationError as error:
        raise InvalidInputError(_settings_message(error)) from None
    context.obj = CliState(settings=settings, workspace_option=workspace_folder)


def _settings_message(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        variable = "LOOPWRIGHT_" + "__".join(str(part) for part in item["loc"]).upper()
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(message if variable in message else f"{variable}: {message}")
    return "The Loopwright settings are invalid: " + "; ".join(problems)


def main() -> None:
    """Entry point of the ``loopwright`` console script."""
    app(prog_name="loopwright")
