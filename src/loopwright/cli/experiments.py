"""``loopwright experiments …``: the experiments of a workspace."""

from __future__ import annotations

import typer
from rich.text import Text

from loopwright.cli._render import format_time, output_console, plain_table
from loopwright.cli._state import command_hint, open_client

__all__ = ["app", "list_experiments"]

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)


@app.command("list")
def list_experiments(context: typer.Context) -> None:
    """List every experiment with its number of runs and when its latest run started."""
    console = output_console()
    with open_client(context) as client:
        experiments = client.list_experiments()
    if not experiments:
        console.print(
            Text.assemble(
                "No experiments yet. Record some with ",
                (command_hint(context, "demo"), "bold"),
                " or `lw.start_run(experiment=...)` in your code.",
            )
        )
        return
    table = plain_table()
    table.add_column("name", no_wrap=True)
    table.add_column("runs", justify="right")
    table.add_column("last run", no_wrap=True)
    table.add_column("created", no_wrap=True)
    described = any(experiment.description for experiment in experiments)
    if described:
        table.add_column("description", overflow="fold")
    for experiment in experiments:
        cells = [
            Text(experiment.name, style="bold"),
            Text(str(experiment.run_count)),
            Text(format_time(experiment.last_run_at)),
            Text(format_time(experiment.created_at)),
        ]
        if described:
            cells.append(Text(experiment.description or ""))
        table.add_row(*cells)
    console.print(table)
