"""``loopwright init`` and ``loopwright info``: create a workspace, and say what one holds."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

import loopwright
from loopwright.cli._render import output_console
from loopwright.cli._state import command_hint, missing_workspace, open_client, workspace_settings

__all__ = ["info", "init", "register"]


def init(
    context: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Folder to create the workspace in (same as the global --workspace).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create the workspace (metadata database at the newest schema, artifact folder) and say where.

    Running it again on an existing workspace changes nothing but brings its schema up to date.
    """
    existed = missing_workspace(workspace_settings(context, workspace)) is None
    with open_client(context, create=True, workspace=workspace) as client:
        client.artifacts.create()
        console = output_console()
        verb = "Workspace already exists" if existed else "Created workspace"
        console.print(
            Text.assemble((verb, "bold green"), " at ", (str(client.settings.workspace.absolute()), "bold"))
        )
        grid = _grid()
        grid.add_row("database", Text(client.store.display_url))
        grid.add_row("schema", Text(client.store.schema_revision() or "none"))
        grid.add_row("artifacts", Text(client.artifacts.uri))
        console.print(grid)
        hint = command_hint(context, "demo", workspace=workspace)
        console.print(Text.assemble("Next: ", (hint, "bold"), " records a few example runs."))


def info(context: typer.Context) -> None:
    """Show the workspace: where its database and artifacts are, its schema, versions and contents."""
    with open_client(context) as client:
        experiments = client.list_experiments()
        grid = _grid()
        grid.add_row("workspace", Text(str(client.settings.workspace.absolute())))
        grid.add_row("database", Text(client.store.display_url))
        grid.add_row("artifacts", Text(client.artifacts.uri))
        grid.add_row("schema revision", Text(client.store.schema_revision() or "none"))
        grid.add_row("experiments", str(len(experiments)))
        grid.add_row("runs", str(sum(experiment.run_count for experiment in experiments)))
        grid.add_row("loopwright", loopwright.__version__)
        grid.add_row("python", platform.python_version())
        grid.add_row("sqlalchemy", importlib.metadata.version("sqlalchemy"))
        output_console().print(grid)


def register(app: typer.Typer) -> None:
    """Add ``init`` and ``info`` to the root app."""
    app.command("init")(init)
    app.command("info")(info)


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid
