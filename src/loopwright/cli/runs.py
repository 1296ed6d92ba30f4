"""``loopwright runs …``: list, inspect and compare runs.

Every command that takes a run id accepts a unique prefix of at least four characters, as tables show
them (``loopwright runs show 3fa2c1d9``).
"""

from __future__ import annotations

import csv
import enum
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loopwright.cli._render import (
    ColumnSpec,
    compare_table,
    default_attributes,
    error_console,
    fit_columns,
    format_duration,
    format_metric,
    format_size,
    format_time,
    output_console,
    plain_table,
    runs_table,
    short_id,
    status_text,
)
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError
from loopwright.store.records import RUN_COLUMNS, RunArtifact, RunRecord, RunStatus

__all__ = ["OutputFormat", "app", "compare_runs", "list_runs", "show_run"]

app = typer.Typer(help="Runs: list, inspect and compare them.", no_args_is_help=True)


class OutputFormat(enum.StrEnum):
    """How ``runs list`` prints: a table for people, JSON or CSV for programs."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


_NAMED_LEFT_OUT = 4  # columns a "not shown" note names

_ATTRIBUTE_FIELDS = RUN_COLUMNS


@app.command("list")
def list_runs(
    context: typer.Context,
    experiments: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Only runs of this experiment (repeat for several)."),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            help="Keep runs matching this filter, e.g. \"metrics.accuracy > 0.9 and params.model = 'lr'\" "
            "or 'parent_id is null' (top-level runs only).",
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            help="Sort by a field, e.g. 'metrics.accuracy desc' (repeat for ties). Default: newest first.",
        ),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", "-n", min=1, help="Show at most this many runs.")
    ] = 20,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--columns",
            "-c",
            help="Data columns to show, comma-separated or repeated: metrics.<key>, params.<key>, "
            "tags.<key>, experiment, user, host, parent, git_commit, end. Default: the metrics and then "
            "parameters that fit the terminal.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", help="table for people; json or csv for programs.")
    ] = OutputFormat.TABLE,
) -> None:
    """List runs, newest first, as a table of their attributes, metrics and parameters."""
    chosen = [
        ColumnSpec.parse(text) for item in columns or () for text in map(str.strip, item.split(",")) if text
    ]
    with open_client(context) as client:
        records = client.search_runs(
            experiments, filter=filter, order_by=order_by, max_results=max_results + 1, output="list"
        )
    more = len(records) > max_results
    records = records[:max_results]
    if output is OutputFormat.JSON:
        sys.stdout.write(json.dumps([_run_json(record) for record in records], indent=2) + "\n")
    elif output is OutputFormat.CSV:
        _write_csv(records, chosen)
    else:
        _print_runs(context, records, chosen, order_by or [], filtered=bool(filter or experiments))
    if more:
        console = output_console() if output is OutputFormat.TABLE else error_console()
        console.print(
            f"Showing the first {max_results} runs; more match. Raise --max-results (-n) to see more.",
            style="dim",
        )


def _print_runs(
    context: typer.Context,
    records: Sequence[RunRecord],
    chosen: Sequence[ColumnSpec],
    order_by: Sequence[str],
    *,
    filtered: bool,
) -> None:
    console = output_console()
    if not records:
        if filtered:
            console.print("No runs match.")
        else:
            console.print(
                Text.assemble("No runs yet. Record some with ", (command_hint(context, "demo"), "bold"), ".")
            )
        return
    attributes = default_attributes(records)
    left_out: list[ColumnSpec] = []
    if chosen:
        data_columns = list(chosen)
    else:
        attributes, data_columns, left_out = fit_columns(
            records, width=console.width, attributes=attributes, first=_ordered_columns(order_by)
        )
    console.print(runs_table(records, data_columns, attributes=attributes))
    if left_out:
        names = ", ".join(column.label for column in left_out[:_NAMED_LEFT_OUT])
        if len(left_out) > _NAMED_LEFT_OUT:
            names += f" and {len(left_out) - _NAMED_LEFT_OUT} more"
        note = f"Not shown for lack of width: {names}. Pick columns with --columns (-c)."
        console.print(Text(note, style="dim"))


def _ordered_columns(order_by: Sequence[str]) -> list[ColumnSpec]:
    """The metric, parameter and tag columns that ``--order-by`` names, to show them first."""
    columns = []
    for item in order_by:
        match = _ORDER_FIELD.match(item)
        if match is not None:
            family, key = match.group(1), match.group(2).strip("`")
            if family in {"metrics", "metric", "params", "param", "tags", "tag"}:
                columns.append(ColumnSpec.parse(f"{family}.{key}"))
    return columns


_ORDER_FIELD = re.compile(r"\s*(\w+)\.(`[^`]*`|\S+)")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _run_json(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.id,
        "experiment": record.experiment,
        "name": record.name,
        "status": str(record.status),
        "start_time": record.start_time.isoformat(),
        "end_time": record.end_time.isoformat() if record.end_time else None,
        "duration_s": record.duration_s,
        "parent_id": record.parent_id,
        "user": record.user,
        "git_commit": record.git_commit,
        # JSON has no NaN or infinity: such values become null
        "metrics": {key: _finite(value) for key, value in record.metrics.items()},
        "params": record.params,
        "tags": record.tags,
    }


def _write_csv(records: Sequence[RunRecord], chosen: Sequence[ColumnSpec]) -> None:
    if chosen:
        columns = [column for column in chosen if column.label not in _CSV_DUPLICATES]
    else:
        columns = [ColumnSpec("metrics", key) for key in sorted({key for r in records for key in r.metrics})]
        columns += [ColumnSpec("params", key) for key in sorted({key for r in records for key in r.params})]
        columns += [ColumnSpec("tags", key) for key in sorted({key for r in records for key in r.tags})]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([*_ATTRIBUTE_FIELDS, *(column.label for column in columns)])
    for record in records:
        row = record.to_row()
        for field in ("start_time", "end_time"):
            row[field] = row[field].isoformat() if row[field] is not None else None
        values = [row[field] for field in _ATTRIBUTE_FIELDS]
        values += [_raw_value(record, column) for column in columns]
        writer.writerow(["" if value is None else value for value in values])


# Attribute columns the CSV output always has under their own names.
_CSV_DUPLICATES = {"attributes.experiment", "attributes.parent", "attributes.user", "attributes.git_commit"}


def _raw_value(record: RunRecord, column: ColumnSpec) -> Any:
    if column.family == "metrics":
        return record.metrics.get(column.key)
    if column.family == "params":
        return record.params.get(column.key)
    if column.family == "tags":
        return record.tags.get(column.key)
    if column.key == "end":
        return record.end_time.isoformat() if record.end_time else None
    return {"host": record.host, "kind": record.kind}[column.key]


@app.command("show")
def show_run(
    context: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id, or a unique prefix of 4 or more characters.")],
) -> None:
    """Show everything about one run: attributes, params, tags, metrics, artifacts and children."""
    with open_client(context) as client:
        record = client.get_run(client.resolve_run_id(run_id))
        parent = client.get_run(record.parent_id) if record.parent_id else None
        artifacts = client.run_artifacts(record.id)
        children = client.child_runs(record.id)
    console = output_console()
    console.print(Text.assemble(("Run ", "bold"), (record.name, "bold"), "  ", (record.id, "cyan")))
    _section(console, None, _attributes(record, parent))
    if record.error and record.status in {RunStatus.FAILED, RunStatus.KILLED}:
        panel = Panel(
            Text(record.error.rstrip()), title="error", title_align="left", border_style="red", expand=False
        )
        _section(console, None, panel)
    _section(console, f"Params ({len(record.params)})", _key_values(record.params) if record.params else None)
    _section(console, f"Tags ({len(record.tags)})", _key_values(record.tags) if record.tags else None)
    metrics = {key: format_metric(value) for key, value in record.metrics.items()}
    _section(
        console, f"Latest metrics ({len(metrics)})", _key_values(metrics, numbers=True) if metrics else None
    )
    _section(console, f"Artifacts ({len(artifacts)})", _artifacts(artifacts) if artifacts else None)
    children_table = _children(children, width=console.width - _INDENT) if children else None
    _section(console, f"Children ({len(children)})", children_table)


_INDENT = 2


def _section(console: Console, title: str | None, body: RenderableType | None) -> None:
    console.print()
    if title is not None:
        console.print(Text.assemble((title, "bold"), ("" if body is not None else ": none", "dim")))
    if body is not None:
        console.print(Padding(body, (0, 0, 0, _INDENT), expand=False))


def _attributes(record: RunRecord, parent: RunRecord | None) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("experiment", Text(record.experiment))
    grid.add_row("status", status_text(record.status))
    grid.add_row("started", format_time(record.start_time))
    grid.add_row("ended", format_time(record.end_time))
    grid.add_row("duration", format_duration(record.duration_s))
    if parent is not None:
        grid.add_row("parent", Text.assemble((short_id(parent.id), "cyan"), f" ({parent.name})"))
    if record.kind != "run":
        grid.add_row("kind", Text(record.kind))
    grid.add_row("user", Text(record.user or "—"))
    grid.add_row("host", Text(record.host or "—"))
    if record.git_commit:
        state = {True: " (dirty)", False: " (clean)", None: ""}[record.git_dirty]
        grid.add_row("git commit", Text(record.git_commit + state))
    else:
        grid.add_row("git commit", "—")
    grid.add_row("python", Text(record.python_version or "—"))
    packages = ", ".join(f"{name} {version}" for name, version in sorted(record.environment.items()))
    grid.add_row("packages", Text(packages or "—"))
    grid.add_row("source", Text(record.source or "—"))
    return grid


def _key_values(values: dict[str, str], *, numbers: bool = False) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right" if numbers else "left", overflow="fold")
    for key, value in values.items():
        grid.add_row(Text(key), Text(value))
    return grid


def _children(children: Sequence[RunRecord], *, width: int) -> Table:
    attributes, columns, _ = fit_columns(children, width=width, attributes=("status", "start", "duration"))
    return runs_table(children, columns, attributes=attributes)


def _artifacts(artifacts: Sequence[RunArtifact]) -> Table:
    table = plain_table()
    table.add_column("name", overflow="fold")
    table.add_column("direction")
    table.add_column("kind")
    table.add_column("size", justify="right")
    table.add_column("sha256", style="dim")
    for item in artifacts:
        table.add_row(
            Text(item.name),
            Text(item.direction),
            Text(item.artifact.kind),
            Text(format_size(item.artifact.size)),
            Text(item.artifact.digest[:12]),
        )
    return table


@app.command("compare")
def compare_runs(
    context: typer.Context,
    run_ids: Annotated[
        list[str], typer.Argument(help="Two or more run ids (or unique prefixes of 4+ characters).")
    ],
    only_differences: Annotated[
        bool, typer.Option("--only-differences", "-d", help="Hide the rows where every run agrees.")
    ] = False,
) -> None:
    """Compare runs side by side: their params and metrics, with differences and best values marked."""
    with open_client(context) as client:
        resolved = list(dict.fromkeys(client.resolve_run_id(run_id) for run_id in run_ids))
        if len(resolved) < 2:
            raise InvalidInputError(
                f"runs compare needs at least two different runs. Got {len(resolved)}: {', '.join(run_ids)}.",
                run_ids=run_ids,
            )
        records = [client.get_run(run_id) for run_id in resolved]
    console = output_console()
    console.print(Text(f"Comparing {len(records)} runs", style="bold"))
    console.print(compare_table(records, only_differences=only_differences))
    console.print(Text("≠ values differ   ★ best value (lowest for losses, errors and times)", style="dim"))
