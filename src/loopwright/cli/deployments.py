"""``loopwright deployments …`` and ``loopwright predict``: what each endpoint serves, and batch scoring.

A deployment's model is an alias (``fraud@production``, followed as it moves) or a pinned version
(``fraud/3``); a canary or shadow is a version number of the same model (``4`` or ``fraud/4``). Every
change is recorded with who made it and ``--reason``; ``deployments history`` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.padding import Padding
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from loopwright.cli._render import format_time, output_console, plain_table, short_id
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from loopwright.serving.deployments import Deployment

__all__ = ["app", "register"]

app = typer.Typer(
    help="Deployments: what each prediction endpoint serves (production, canary, shadow), and its history.",
    no_args_is_help=True,
)

_INDENT = 2
_MISSING = "—"
_MODEL_HELP = "NAME@ALIAS (followed as the alias moves; a bare NAME is NAME@production) or NAME/VERSION."
_CANARY_HELP = "A version of the same model (4 or NAME/4) that takes --canary-weight of the traffic."
_WEIGHT_HELP = "Share of traffic for the canary, 0 to 1 (default 0.1 for a new canary)."
_STICKY_HELP = "Route by a key: header:NAME (an HTTP header) or field:NAME (a field of each row)."
_SHADOW_HELP = "A version of the same model that receives a copy of every request and never answers."
_REASON_HELP = "Why; recorded in the deployment's history."


@app.command("create")
def create(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The deployment (letters, digits, '.', '_', '-').")],
    model: Annotated[str, typer.Option("--model", "-m", help=_MODEL_HELP)],
    canary: Annotated[str | None, typer.Option("--canary", help=_CANARY_HELP)] = None,
    canary_weight: Annotated[float | None, typer.Option("--canary-weight", help=_WEIGHT_HELP)] = None,
    sticky: Annotated[str | None, typer.Option("--sticky", help=_STICKY_HELP)] = None,
    shadow: Annotated[str | None, typer.Option("--shadow", help=_SHADOW_HELP)] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="What it serves.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help=_REASON_HELP)] = None,
) -> None:
    """Create deployment NAME serving --model (and optionally a canary and a shadow)."""
    with open_client(context) as client:
        deployment = client.deployments.create(
            name,
            model,
            canary=_version_option(canary),
            canary_weight=canary_weight,
            sticky=sticky,
            shadow=_version_option(shadow),
            description=description,
            reason=reason,
        )
    console = output_console()
    console.print(
        Text.assemble(("Created ", "bold green"), (deployment.name, "bold"), f": {_summary(deployment)}.")
    )


@app.command("update")
def update(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The deployment.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help=_MODEL_HELP)] = None,
    canary: Annotated[str | None, typer.Option("--canary", help=_CANARY_HELP)] = None,
    no_canary: Annotated[bool, typer.Option("--no-canary", help="Remove the canary.")] = False,
    canary_weight: Annotated[float | None, typer.Option("--canary-weight", help=_WEIGHT_HELP)] = None,
    sticky: Annotated[str | None, typer.Option("--sticky", help=_STICKY_HELP)] = None,
    no_sticky: Annotated[bool, typer.Option("--no-sticky", help="Route the canary at random again.")] = False,
    shadow: Annotated[str | None, typer.Option("--shadow", help=_SHADOW_HELP)] = None,
    no_shadow: Annotated[bool, typer.Option("--no-shadow", help="Remove the shadow.")] = False,
    description: Annotated[str | None, typer.Option("--description", "-d", help="What it serves.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help=_REASON_HELP)] = None,
) -> None:
    """Change what deployment NAME serves; options left out keep their value."""
    from loopwright.serving.deployments import UNSET

    for given, removed, option in (
        (canary, no_canary, "canary"),
        (sticky, no_sticky, "sticky"),
        (shadow, no_shadow, "shadow"),
    ):
        if given is not None and removed:
            raise InvalidInputError(f"Give --{option} or --no-{option}, not both.", field=option)
    changes: dict[str, Any] = {}
    if model is not None:
        changes["model"] = model
    if canary is not None or no_canary:
        changes["canary"] = None if no_canary else _version_option(canary)
    if canary_weight is not None:
        changes["canary_weight"] = canary_weight
    if sticky is not None or no_sticky:
        changes["sticky"] = None if no_sticky else sticky
    if shadow is not None or no_shadow:
        changes["shadow"] = None if no_shadow else _version_option(shadow)
    if description is not None:
        changes["description"] = description
    console = output_console()
    if not changes:
        raise InvalidInputError(
            "Nothing to change: give at least one of --model, --canary, --no-canary, --canary-weight, "
            "--sticky, --no-sticky, --shadow, --no-shadow or --description.",
        )
    with open_client(context) as client:
        before = client.deployments.get(name)
        after = client.deployments.update(
            name, reason=reason, **{key: changes.get(key, UNSET) for key in _UPDATABLE}
        )
    if after.revision == before.revision:
        console.print(Text.assemble((name, "bold"), f" already serves that: {_summary(after)}."))
        return
    console.print(
        Text.assemble(
            ("Updated ", "bold green"), (name, "bold"), f" to revision {after.revision}: {_summary(after)}."
        )
    )


_UPDATABLE = ("model", "canary", "canary_weight", "sticky", "shadow", "description")


@app.command("list")
def list_deployments(context: typer.Context) -> None:
    """List every deployment: what answers, its canary and shadow."""
    console = output_console()
    with open_client(context) as client:
        deployments = client.deployments.all()
    if not deployments:
        hint = command_hint(context, "deployments create NAME --model MODEL@production")
        console.print(Text.assemble("No deployments yet. Create one with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("name", no_wrap=True)
    table.add_column("serves", no_wrap=True)
    table.add_column("canary", no_wrap=True)
    table.add_column("sticky", no_wrap=True)
    table.add_column("shadow", justify="right", no_wrap=True)
    table.add_column("revision", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for deployment in deployments:
        table.add_row(
            Text(deployment.name, style="bold"),
            Text(deployment.production),
            Text(_canary(deployment)),
            Text(deployment.sticky or _MISSING),
            Text(str(deployment.shadow) if deployment.shadow is not None else _MISSING),
            Text(str(deployment.revision)),
            Text(format_time(deployment.updated_at)),
        )
    console.print(table)


@app.command("show")
def show(context: typer.Context, name: Annotated[str, typer.Argument(help="The deployment.")]) -> None:
    """Show deployment NAME and the version each variant serves right now."""
    console = output_console()
    with open_client(context) as client:
        deployment = client.deployments.get(name)
        try:
            resolved = client.deployments.resolve(deployment)
            versions: dict[str, str] = {
                "production": str(resolved.production.version),
                "canary": str(resolved.canary.version) if resolved.canary else _MISSING,
                "shadow": str(resolved.shadow.version) if resolved.shadow else _MISSING,
            }
            problem = None
        except Exception as error:  # show what is recorded even when it cannot serve
            versions, problem = {}, str(error)
    console.print(Text.assemble(("Deployment ", "bold"), (deployment.name, "bold cyan")))
    grid = _grid()
    if deployment.description:
        grid.add_row("description", Text(deployment.description))
    grid.add_row("model", Text(deployment.model))
    serves = deployment.production
    if "production" in versions and deployment.alias is not None:
        serves += f" (version {versions['production']} now)"
    grid.add_row("production", Text(serves))
    grid.add_row("canary", Text(_canary(deployment)))
    grid.add_row("sticky", Text(deployment.sticky or _MISSING))
    grid.add_row("shadow", Text(str(deployment.shadow) if deployment.shadow is not None else _MISSING))
    grid.add_row("revision", Text(str(deployment.revision)))
    grid.add_row("created", Text(format_time(deployment.created_at)))
    grid.add_row("updated", Text(format_time(deployment.updated_at)))
    console.print(Padding(grid, (0, 0, 0, _INDENT), expand=False))
    if problem is not None:
        console.print()
        console.print(Text.assemble(("Cannot serve: ", "bold red"), problem))


@app.command("history")
def history(context: typer.Context, name: Annotated[str, typer.Argument(help="The deployment.")]) -> None:
    """Show every change of deployment NAME: when, who, what changed and why."""
    with open_client(context) as client:
        events = client.deployments.history(name)
    table = plain_table(f"History of {name}")
    table.add_column("revision", justify="right", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("change", overflow="fold")
    table.add_column("reason", overflow="fold", min_width=12)
    for event in events:
        change = "; ".join(
            f"{_FIELD_NAMES.get(key, key)} {_value(old)} → {_value(new)}"
            for key, (old, new) in event.change.items()
        )
        table.add_row(
            Text(str(event.revision), style="bold"),
            format_time(event.created_at),
            event.user or _MISSING,
            change,
            event.reason or "",
        )
    output_console().print(table)


_FIELD_NAMES = {"canary_version": "canary", "sticky_key": "sticky", "shadow_version": "shadow"}


def predict(
    context: typer.Context,
    input_data: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="A CSV / Parquet file or folder, or a dataset version (NAME or NAME:VERSION).",
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the predictions to this Parquet file.")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option("--deployment", help="Score with what this deployment's production serves.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Score with this model version.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Record the predictions as a version of this dataset (default MODEL-predictions).",
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows scored at a time (bounds memory).")
    ] = 65_536,
    columns: Annotated[
        list[str] | None,
        typer.Option(
            "--column", "-c", help="An input column to copy to the output (repeatable; default: all)."
        ),
    ] = None,
    probabilities: Annotated[
        bool, typer.Option("--probabilities", help="Add one probability_<class> column per class.")
    ] = False,
) -> None:
    """Score data with a model version (--model) or a deployment's production (--deployment), in chunks.

    The predictions are recorded as a dataset version made by a run of kind "batch" (lineage: the input
    data and the model version), and written to --output when given.
    """
    if (deployment is None) == (model is None):
        raise InvalidInputError("Give exactly one of --deployment NAME or --model MODEL.")
    console = output_console()
    with open_client(context) as client:
        if deployment is not None:
            version = client.deployments.resolve(deployment).production
        else:
            version = client.registry.resolve(model)  # type: ignore[arg-type]
        data: str | Path = Path(input_data) if Path(input_data).exists() else input_data
        with Progress(
            SpinnerColumn(),
            TextColumn(f"Scoring with {version.name}/{version.version}"),
            BarColumn(),
            TextColumn("{task.completed:,} rows", style="cyan"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("score", total=None)

            def show(rows: int, total: int | None) -> None:
                progress.update(task, completed=rows, total=total)

            result = client.batch_predict(
                version,
                data,
                output=dataset,
                path=output,
                chunk_rows=chunk_rows,
                columns=columns,
                probabilities=probabilities,
                progress=show,
            )
    written = f", written to {output}" if output is not None else ""
    console.print(
        Text.assemble(
            ("Scored ", "bold green"),
            f"{result.rows:,} rows with ",
            (f"{result.model}/{result.version}", "bold"),
            f" in {result.chunks} chunk(s): ",
            (f"{result.output.name}:{result.output.version}", "bold"),
            f"{written} (run {short_id(result.run_id)}).",
        )
    )


def register(root: typer.Typer) -> None:
    """Add ``deployments`` and ``predict`` to the root app."""
    root.add_typer(app, name="deployments")
    root.command("predict")(predict)


# --- rendering -----------------------------------------------------------------------------------------


def _version_option(text: str | None) -> int | str | None:
    """``4`` as a version number, anything else (``fraud/4``) as a reference for the SDK to check."""
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def _canary(deployment: Deployment) -> str:
    if deployment.canary is None:
        return _MISSING
    return f"{deployment.canary} at {deployment.canary_weight * 100:g}%"


def _summary(deployment: Deployment) -> str:
    parts = [f"serves {deployment.production}"]
    if deployment.canary is not None:
        parts.append(f"canary {_canary(deployment)}")
        if deployment.sticky is not None:
            parts.append(f"sticky by {deployment.sticky}")
    if deployment.shadow is not None:
        parts.append(f"shadow {deployment.shadow}")
    return ", ".join(parts)


def _value(value: Any) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid
