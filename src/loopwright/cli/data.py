"""``loopwright data …``: version data files, inspect and compare versions, and check them (CI gates).

A version is named ``NAME`` (its latest version that passed its blocking checks, as ``lw.dataset(NAME)``
returns it) or ``NAME:VERSION``. ``data log`` and ``data check`` exit with status 1 when a blocking check
fails, so a pipeline step can stop on bad data; warnings (value skew) never change the exit status. A
failed check is the command's result rather than an error: it is printed as the report table, not through
the root error handler, which still reports bad input (an unreadable file, a schema file with a mistake)
with exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from loopwright.cli._checks import CheckOutcome, checks_table, latest_outcomes, verdict
from loopwright.cli._profiles import (
    DRIFT_THRESHOLD,
    check_status_text,
    diff_table,
    profile_tables,
    schema_changes,
    short_hash,
)
from loopwright.cli._render import (
    error_console,
    format_size,
    format_time,
    output_console,
    plain_table,
    short_id,
)
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.data.versions import DatasetVersion

__all__ = ["app", "check_data", "diff_data", "list_data", "log_data", "schema_data", "show_data"]

app = typer.Typer(
    help="Data versions: log files as versions, inspect, compare and check them.", no_args_is_help=True
)

_INDENT = 2

_TARGET_HELP = "NAME (its latest version that passed its checks) or NAME:VERSION, e.g. transactions:3."
_REFERENCE_HELP = (
    "Version to compare value distributions with (value skew, a warning): a number of the same dataset, "
    "or NAME:VERSION."
)


@app.command("log")
def log_data(
    context: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A CSV / Parquet file, or a folder of them.")],
    name: Annotated[str, typer.Option("--name", "-n", help="The dataset to add a version to.")],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What this version holds or why it changed.")
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema", help="Check against this schema file (default: the dataset's saved schema)."
        ),
    ] = None,
    reference: Annotated[str | None, typer.Option("--reference", help=_REFERENCE_HELP)] = None,
    no_fail: Annotated[
        bool, typer.Option("--no-fail", help="Exit with status 0 even when a blocking check fails.")
    ] = False,
) -> None:
    """Version a data file or folder as the next version of dataset NAME, and check it.

    Logging content that is already a version of NAME adds nothing and says which version it is. Exits
    with status 1 when a blocking check fails (unless --no-fail); the version is kept, marked failed.
    """
    console = output_console()
    with open_client(context, create=True) as client:
        reference_version = _reference(client, reference, name) if reference is not None else None
        with Progress(
            SpinnerColumn(),
            TextColumn("Versioning {task.description}"),
            TextColumn("{task.fields[rows]:,} rows", style="cyan"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task(str(path), rows=0)
            version = client.log_dataset(
                name,
                path,
                description=description,
                schema=schema,
                reference=reference_version,
                raise_on_failure=False,
                progress=lambda rows: progress.update(task, rows=rows),
            )
        created = version.created
        # The SDK checked this call's data (new or not) when a schema, a reference or a saved schema
        # applied; otherwise the results shown are those of an earlier check.
        checked_now = (
            schema is not None or reference_version is not None or client.datasets.catalog.has_schema(name)
        )
        outcomes = latest_outcomes(version.checks())
        stored = not checked_now
    label = f"{version.name}:{version.version}"
    shape = f"{version.num_rows:,} rows × {version.num_columns} columns"  # noqa: RUF001
    shape += f", content {short_hash(version.content_hash)}"
    if created:
        parent = f", after version {version.parent_version}" if version.parent_version else ""
        console.print(
            Text.assemble(("Logged ", "bold green"), (label, "bold"), f" (new version{parent}): {shape}")
        )
    else:
        console.print(
            Text.assemble(
                (label, "bold"),
                (" unchanged", "bold yellow"),
                f": same content as version {version.version} ({shape})",
            )
        )
    if stored and outcomes:
        console.print()
        console.print(Text(f"Its latest checks, at {format_time(outcomes[0].created_at)}:", style="dim"))
    _print_checks(console, label, version.check_status, outcomes, recorded=True, blank=not stored)
    if version.check_status == "failed" and not no_fail:
        raise typer.Exit(1)


@app.command("list")
def list_data(context: typer.Context) -> None:
    """List every dataset with its number of versions and when its latest version was logged."""
    console = output_console()
    with open_client(context) as client:
        summaries = client.list_datasets()
    if not summaries:
        hint = command_hint(context, "data log FILE --name NAME")
        console.print(Text.assemble("No datasets yet. Version a file with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("name", no_wrap=True)
    table.add_column("versions", justify="right")
    table.add_column("latest", justify="right")
    table.add_column("latest logged", no_wrap=True)
    described = any(summary.description for summary in summaries)
    if described:
        table.add_column("description", overflow="fold")
    for summary in summaries:
        cells = [
            Text(summary.name, style="bold"),
            Text(str(summary.versions)),
            Text(str(summary.latest_version) if summary.latest_version is not None else "—"),
            Text(format_time(summary.latest_at)),
        ]
        if described:
            cells.append(Text(summary.description or ""))
        table.add_row(*cells)
    console.print(table)


@app.command("show")
def show_data(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="NAME[:VERSION]", help=_TARGET_HELP)],
    versions: Annotated[
        bool, typer.Option("--versions", help="List every version of the dataset instead.")
    ] = False,
) -> None:
    """Show a version: its attributes, per-column statistics and latest check results."""
    console = output_console()
    with open_client(context) as client:
        if versions:
            name, _, number = target.rpartition(":")
            name = name if number.isdigit() else target
            _print_versions(console, name, client.dataset_versions(name))
            return
        version = client.dataset(target)
        outcomes = latest_outcomes(version.checks())
        # Without a version, NAME skips failed versions: say so when newer ones exist.
        newer_failed = [
            str(other.version)
            for other in (client.dataset_versions(version.name) if ":" not in target else [])
            if other.version > version.version and other.check_status == "failed"
        ]
    console.print(
        Text.assemble(
            ("Dataset ", "bold"),
            (version.name, "bold"),
            ("  version ", "bold"),
            (str(version.version), "bold cyan"),
        )
    )
    _section(console, None, _attributes(version))
    if newer_failed:
        note = (
            f"Newer versions that failed their checks: {', '.join(newer_failed)}. Show one with "
            f"{command_hint(context, f'data show {version.name}:{newer_failed[-1]}')}."
        )
        console.print(Text(note, style="dim"))
    for title, table in profile_tables(version.columns, version.profile):
        _section(console, title, table)
    if outcomes:
        title = f"Checks (latest, {format_time(outcomes[0].created_at)})"
        _section(console, title, checks_table(outcomes))
    else:
        _section(console, "Checks", None)


def _attributes(version: DatasetVersion) -> Table:
    record = version.record
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    if record.description:
        grid.add_row("description", Text(record.description))
    grid.add_row("parent", Text(str(version.parent_version) if version.parent_version else "—"))
    grid.add_row("rows", Text(f"{version.num_rows:,}"))
    grid.add_row("columns", Text(str(version.num_columns)))
    grid.add_row("content", Text(short_hash(version.content_hash)))
    grid.add_row("size", Text(f"{format_size(record.size)} (Parquet)"))
    grid.add_row("created", Text(format_time(record.created_at)))
    grid.add_row("source", Text(record.source or "—"))
    grid.add_row("run", Text(short_id(version.run_id), style="cyan") if version.run_id else Text("—"))
    grid.add_row("checks", check_status_text(version.check_status))
    return grid


def _print_versions(console: Console, name: str, versions: Sequence[DatasetVersion]) -> None:
    table = plain_table(f"Versions of {name}")
    table.add_column("version", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("columns", justify="right")
    table.add_column("content", no_wrap=True)
    table.add_column("checks", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("parent", justify="right")
    for version in versions:
        table.add_row(
            Text(str(version.version), style="bold"),
            Text(f"{version.num_rows:,}"),
            Text(str(version.num_columns)),
            Text(short_hash(version.content_hash)),
            check_status_text(version.check_status),
            Text(format_time(version.record.created_at)),
            Text(str(version.parent_version) if version.parent_version else "—"),
        )
    console.print(table)


@app.command("diff")
def diff_data(
    context: typer.Context,
    first: Annotated[str, typer.Argument(metavar="NAME:V1", help="The version to compare from.")],
    second: Annotated[str, typer.Argument(metavar="NAME:V2", help="The version to compare to.")],
    only_differences: Annotated[
        bool, typer.Option("--only-differences", "-d", help="Hide the statistics that did not change.")
    ] = False,
) -> None:
    """Compare two versions: schema changes, and per-column statistics side by side with drift (PSI)."""
    with open_client(context) as client:
        before = client.dataset(first)
        after = client.dataset(second)
    console = output_console()
    left, right = f"{before.name}:{before.version}", f"{after.name}:{after.version}"
    console.print(
        Text.assemble(("Comparing ", "bold"), (left, "bold cyan"), (" with ", "bold"), (right, "bold cyan"))
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("rows", _count_change(before.num_rows, after.num_rows))
    grid.add_row("columns", _count_change(before.num_columns, after.num_columns))
    same = before.content_hash == after.content_hash
    grid.add_row(
        "content",
        Text(
            f"{short_hash(before.content_hash)} → {short_hash(after.content_hash)}"
            + (" (identical)" if same else "")
        ),
    )
    grid.add_row("schema", schema_changes(before.columns, after.columns))
    _section(console, None, grid)
    table = diff_table(before, after, only_differences=only_differences)
    if table is None:
        console.print()
        console.print(Text("No statistic differs.", style="dim"))
        return
    _section(console, None, table)
    console.print(
        Text(
            f"drift: population stability index against {left} (flagged from {DRIFT_THRESHOLD}); "
            "pp: percentage points.",
            style="dim",
        )
    )


def _count_change(before: int, after: int) -> Text:
    if before == after:
        return Text(f"{after:,}")
    delta = after - before
    return Text(f"{before:,} → {after:,} ({delta:+,})", style="yellow")


@app.command("check")
def check_data(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="NAME[:VERSION]", help=_TARGET_HELP)],
    schema: Annotated[
        Path | None,
        typer.Option("--schema", help="Schema file to check against (default: the dataset's saved schema)."),
    ] = None,
    reference: Annotated[str | None, typer.Option("--reference", help=_REFERENCE_HELP)] = None,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="Do not store the results with the version.")
    ] = False,
) -> None:
    """Check a version against a schema and a reference; exit 1 when a blocking check fails.

    Warnings (value skew against --reference) are shown but leave the exit status at 0, so the command
    can gate a CI pipeline. Results are stored with the version (its check status) unless --no-record.
    """
    console = output_console()
    with open_client(context) as client:
        version = client.dataset(target)
        name = version.name
        against: list[str] = []
        if schema is not None:
            against.append(f"schema file {schema}")
        elif client.datasets.catalog.has_schema(name):
            against.append(f"saved schema {client.datasets.catalog.get_schema(name).version}")
        reference_version = _reference(client, reference, name) if reference is not None else None
        if reference_version is not None:
            against.append(f"reference {reference_version.name}:{reference_version.version}")
        if not against:
            raise InvalidInputError(
                f"Nothing to check {name}:{version.version} against: dataset {name!r} has no saved schema. "
                f"Pass --schema FILE or --reference VERSION, or save an inferred schema with "
                f"`{command_hint(context, f'data schema {name} --save')}`.",
                dataset=name,
            )
        report = client.check_dataset(
            version, schema=schema, reference=reference_version, record=not no_record
        )
    label = f"{name}:{version.version}"
    console.print(
        Text.assemble(("Checked ", "bold"), (label, "bold cyan"), " against ", " and ".join(against))
    )
    outcomes = [CheckOutcome.from_result(result) for result in report.results]
    _print_checks(console, label, report.status, outcomes, recorded=not no_record)
    if not report.passed:
        raise typer.Exit(1)


@app.command("schema")
def schema_data(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="NAME[:VERSION]", help=_TARGET_HELP)],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the YAML to this file instead of printing it."),
    ] = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Record it as the dataset's schema: new versions are checked against it."
        ),
    ] = False,
) -> None:
    """Infer a schema (types, nullability, ranges, categories) from a version and print it as YAML.

    Edit the file to loosen or tighten it, then check versions against it with `data check --schema`, or
    record it with --save so every new version is checked when logged.
    """
    with open_client(context) as client:
        version = client.dataset(target)
        inferred = client.infer_schema(version)
        saved = client.save_schema(version.name, inferred) if save else None
    # Notes go to standard error when the YAML goes to standard output, so it can be redirected to a file.
    notes = output_console() if output is not None else error_console()
    label = f"{version.name}:{version.version}"
    if output is None:
        sys.stdout.write(inferred.to_yaml())
    else:
        inferred.save(output)
        notes.print(
            Text.assemble("Wrote the schema inferred from ", (label, "bold"), " to ", (str(output), "bold"))
        )
    if saved is not None:
        notes.print(
            Text.assemble(
                ("Saved", "bold green"),
                f" as schema {saved.version} of dataset {version.name!r}: new versions are checked against "
                "it when logged, and ",
                (command_hint(context, f"data check {version.name}"), "bold"),
                " uses it.",
            )
        )


# --- shared ------------------------------------------------------------------------------------------


def _reference(client: Client, text: str, name: str) -> DatasetVersion:
    """The version ``--reference`` names: a version number of dataset ``name``, or NAME:VERSION."""
    if text.isdigit():
        return client.dataset(name, int(text))
    if ":" not in text:
        raise InvalidInputError(
            f"--reference takes a version number or NAME:VERSION, e.g. 3 or transactions:3. Got {text!r} "
            "instead.",
            reference=text,
        )
    return client.dataset(text)


def _print_checks(
    console: Console,
    label: str,
    status: str,
    outcomes: Sequence[CheckOutcome],
    *,
    recorded: bool,
    blank: bool = True,
) -> None:
    if not outcomes:
        return
    if blank:
        console.print()
    console.print(checks_table(outcomes))
    console.print(verdict(label, status, outcomes, recorded=recorded))


def _section(console: Console, title: str | None, body: RenderableType | None) -> None:
    console.print()
    if title is not None:
        console.print(Text.assemble((title, "bold"), ("" if body is not None else ": none", "dim")))
    if body is not None:
        console.print(Padding(body, (0, 0, 0, _INDENT), expand=False))
