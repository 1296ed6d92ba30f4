"""``loopwright models …``: registered models, their versions, aliases, evaluations, promotions and cards.

A version is written ``NAME/VERSION``, ``NAME@ALIAS`` or ``models:/NAME/VERSION``; a bare ``NAME`` is its
latest version. ``models promote`` exits with status 1 when a gate refuses the promotion: the refusal is
the command's result, printed as the table of gates, while bad input (an unknown version, a forced
promotion without a reason) still goes through the root error handler with status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from loopwright.cli._render import (
    format_metric,
    format_size,
    format_time,
    output_console,
    plain_table,
    short_id,
)
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError, PromotionRefusedError

if TYPE_CHECKING:
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.gates import GateResult
    from loopwright.store.aliases import AliasEvent

__all__ = ["app"]

app = typer.Typer(
    help="Model registry: versions, aliases, evaluations, gated promotion, lineage and cards.",
    no_args_is_help=True,
)
roles_app = typer.Typer(help="Workspace roles: who may approve promotions.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")

_INDENT = 2
_MISSING = "—"
_VERSION_HELP = "NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION (a bare NAME is its latest version)."


@app.command("list")
def list_models(context: typer.Context) -> None:
    """List every registered model with its number of versions and its aliases."""
    console = output_console()
    with open_client(context) as client:
        models = client.list_models()
    if not models:
        hint = "lw.register_model(NAME, model)"
        console.print(Text.assemble("No models yet. Register one with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("name", no_wrap=True)
    table.add_column("versions", justify="right")
    table.add_column("latest", justify="right")
    table.add_column("aliases")
    described = any(model.description for model in models)
    if described:
        table.add_column("description", overflow="fold")
    for model in models:
        aliases = ", ".join(f"{alias}→{version}" for alias, version in model.aliases.items())
        cells = [
            Text(model.name, style="bold"),
            Text(str(model.versions)),
            Text(str(model.latest_version) if model.latest_version is not None else _MISSING),
            Text(aliases or _MISSING),
        ]
        table.add_row(*cells, *([Text(model.description or "")] if described else []))
    console.print(table)


@app.command("versions")
def list_versions(context: typer.Context, name: Annotated[str, typer.Argument(help="The model.")]) -> None:
    """List every version of model NAME, oldest first."""
    console = output_console()
    with open_client(context) as client:
        versions = client.model_versions(name)
        aliases = {version.id: version.aliases for version in versions}
    table = plain_table(f"Versions of {name}")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("flavor", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("aliases", no_wrap=True)
    table.add_column("run", no_wrap=True, style="cyan")
    table.add_column("code", no_wrap=True)
    table.add_column("registered", no_wrap=True)
    described = any(version.description for version in versions)
    if described:
        table.add_column("description", overflow="fold")
    for version in versions:
        cells = [
            Text(str(version.version), style="bold"),
            Text(version.flavor),
            Text(version.status, style="yellow" if version.status == "archived" else ""),
            Text(", ".join(aliases[version.id]) or _MISSING),
            Text(short_id(version.run_id) if version.run_id else _MISSING),
            Text((version.code_version or _MISSING)[:12]),
            Text(format_time(version.created_at)),
        ]
        table.add_row(*cells, *([Text(version.description or "")] if described else []))
    console.print(table)


@app.command("show")
def show_version(
    context: typer.Context, target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)]
) -> None:
    """Show a version: its attributes, training data, signature and evaluations."""
    console = output_console()
    with open_client(context) as client:
        version = client.get_model_version(target)
        datasets = version.datasets()
        evaluations = version.evaluations()
        aliases = version.aliases
        parent = version.fine_tuned_from
    console.print(
        Text.assemble(
            ("Model ", "bold"),
            (version.name, "bold"),
            ("  version ", "bold"),
            (str(version.version), "bold cyan"),
        )
    )
    grid = _grid()
    record = version.record
    if record.description:
        grid.add_row("description", Text(record.description))
    grid.add_row("flavor", Text(version.flavor))
    grid.add_row("status", Text(version.status))
    grid.add_row("aliases", Text(", ".join(aliases) or _MISSING))
    grid.add_row("registered", Text(f"{format_time(version.created_at)} by {record.created_by or _MISSING}"))
    grid.add_row("run", Text(short_id(version.run_id), style="cyan") if version.run_id else Text(_MISSING))
    code = (record.code_version or _MISSING)[:12] + (" (uncommitted changes)" if record.code_dirty else "")
    grid.add_row("code", Text(code))
    grid.add_row("fine-tuned from", Text(f"{parent.name}/{parent.version}" if parent else _MISSING))
    grid.add_row("artifact", Text(f"sha256 {record.digest[:12]}, {format_size(record.size)}"))
    if record.tags:
        grid.add_row("tags", Text(", ".join(f"{key}={value}" for key, value in sorted(record.tags.items()))))
    _section(console, None, grid)
    data = plain_table()
    data.add_column("dataset version", no_wrap=True)
    data.add_column("rows", justify="right")
    data.add_column("checks", no_wrap=True)
    for dataset in datasets:
        data.add_row(f"{dataset.name}:{dataset.version}", f"{dataset.num_rows:,}", dataset.check_status)
    _section(console, "Training data", data if datasets else None)
    inputs = (record.signature or {}).get("inputs") or []
    signature = plain_table()
    signature.add_column("input", no_wrap=True)
    signature.add_column("type", no_wrap=True)
    for item in inputs:
        signature.add_row(str(item.get("name") or "(tensor)"), str(item.get("type")))
    _section(console, "Signature", signature if inputs else None)
    _section(console, "Evaluations", _evaluations_table(evaluations) if evaluations else None)


@app.command("aliases")
def list_aliases(context: typer.Context, name: Annotated[str, typer.Argument(help="The model.")]) -> None:
    """List where each alias of model NAME points, and which aliases have a promotion policy."""
    console = output_console()
    with open_client(context) as client:
        aliases = client.registry.aliases(name)
        policies = {
            alias: client.get_policy(name, alias)
            for alias in client.registry.promotions.policies(client.registry.catalog.model_id(name))
        }
    if not aliases and not policies:
        console.print(Text(f"Model {name} has no aliases yet.", style="dim"))
        return
    table = plain_table(f"Aliases of {name}")
    table.add_column("alias", no_wrap=True)
    table.add_column("version", justify="right")
    table.add_column("since", no_wrap=True)
    table.add_column("gates")
    pointers = {record.alias: record for record in aliases}
    for alias in sorted(set(pointers) | set(policies)):
        pointer = pointers.get(alias)
        policy = policies.get(alias)
        gates = (
            ("frozen" if policy.frozen else ", ".join(policy.gates) or "none")
            if policy is not None
            else "no policy"
        )
        table.add_row(
            Text(alias, style="bold"),
            Text(str(pointer.version) if pointer is not None else _MISSING),
            Text(format_time(pointer.updated_at) if pointer is not None else _MISSING),
            Text(gates),
        )
    console.print(table)


@app.command("history")
def alias_history(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Only this alias.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Say where --alias pointed at this date (ISO, e.g. 2026-03-01T12:00)."),
    ] = None,
) -> None:
    """Show every move of the aliases of NAME: when, who, from which version to which, and why."""
    console = output_console()
    if at is not None and alias is None:
        raise InvalidInputError("--at needs --alias: say which alias to look up, e.g. --alias production.")
    with open_client(context) as client:
        if at is not None and alias is not None:
            found = client.registry.alias_at(name, alias, at)
            where = f"version {found.version}" if found is not None else "no version"
            console.print(Text.assemble((f"{name}@{alias}", "bold"), f" pointed at {where} at {at}."))
            return
        events = client.alias_history(name, alias)
    if not events:
        console.print(Text(f"No alias of model {name} has moved yet.", style="dim"))
        return
    console.print(_history_table(events))


@app.command("promote")
def promote_version(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)],
    to: Annotated[str, typer.Option("--to", help="The alias to move, e.g. production.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if gates fail (needs --reason; recorded).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; required with --force.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the gates without promoting.")] = False,
) -> None:
    """Move alias --to to VERSION once every gate of its policy passes. Exits 1 when refused."""
    console = output_console()
    with open_client(context) as client:
        version = client.get_model_version(target)
        label = f"{version.name}/{version.version}"
        if dry_run:
            report = client.check_promotion(version, to=to)
            _print_gates(console, report.results)
            verdict = "would be promoted" if report.passed else "would be refused"
            console.print(Text.assemble((label, "bold"), f" {verdict} to {to}."))
            if not report.passed:
                raise typer.Exit(1)
            return
        try:
            event = client.promote(version, to=to, force=force, reason=reason)
        except PromotionRefusedError as refused:
            _print_gates(console, refused.report.results)
            console.print(
                Text.assemble(
                    ("Refused: ", "bold red"),
                    f"{label} was not promoted to {to} ({len(refused.report.failures)} gate(s) failed).",
                )
            )
            raise typer.Exit(1) from None
    if event is None:
        console.print(
            Text.assemble((f"{version.name}@{to}", "bold"), f" already points at version {version.version}.")
        )
        return
    _print_gates(console, _results(event))
    before = f"version {event.from_version}" if event.from_version is not None else "nothing"
    forced = " (forced)" if event.forced else ""
    console.print(
        Text.assemble(("Promoted ", "bold green"), (label, "bold"), f" to {to}{forced}; it was {before}.")
    )


@app.command("approve")
def approve_version(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)],
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias the approval is for.")],
    user: Annotated[
        str | None, typer.Option("--user", help="Who approves (default: LOOPWRIGHT_USER).")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="What was checked.")] = None,
) -> None:
    """Approve VERSION for an alias (the human gate of its promotion policy)."""
    with open_client(context) as client:
        version = client.get_model_version(target)
        record = client.approve(version, alias=alias, user=user, comment=comment)
    output_console().print(
        Text.assemble(
            ("Approved ", "bold green"),
            (f"{version.name}/{version.version}", "bold"),
            f" for {alias} by {record.user}.",
        )
    )


@app.command("policy")
def policy(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias whose policy to show or set.")],
    set_file: Annotated[
        Path | None,
        typer.Option("--set", help="Replace the policy by this YAML file's (fields as in the docs)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the policy.")] = False,
) -> None:
    """Show, set (from a YAML file) or clear the promotion policy of an alias."""
    from loopwright.registry.gates import PromotionPolicy

    console = output_console()
    with open_client(context) as client:
        if clear:
            client.set_policy(name, alias, None)
            console.print(Text(f"Removed the policy of {name}@{alias}."))
            return
        if set_file is not None:
            client.set_policy(name, alias, PromotionPolicy.from_dict(_read_yaml(set_file)))
        current = client.get_policy(name, alias)
    if current is None:
        console.print(Text(f"{name}@{alias} has no promotion policy: it moves without gates.", style="dim"))
        return
    grid = _grid()
    for key, value in current.to_dict().items():
        grid.add_row(key, Text(json.dumps(value) if not isinstance(value, str) else value))
    console.print(Text(f"Policy of {name}@{alias}", style="bold"))
    console.print(Padding(grid, (0, 0, 0, _INDENT), expand=False))


@app.command("evaluate")
def evaluate_version(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)],
    dataset: Annotated[str, typer.Argument(metavar="DATASET", help="NAME (latest passing) or NAME:VERSION.")],
    label: Annotated[str, typer.Option("--target", "-t", help="The label column.")],
    segments: Annotated[
        list[str] | None, typer.Option("--segment", "-s", help="A column to report per value (repeatable).")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: inferred).")
    ] = None,
) -> None:
    """Evaluate VERSION on a dataset version, overall and per segment, and store the result."""
    console = output_console()
    with open_client(context) as client:
        evaluation = client.evaluate(target, dataset, target=label, segments=segments or [], task=task)
    console.print(
        Text.assemble(
            ("Evaluated ", "bold green"),
            (f"{evaluation.model}/{evaluation.version}", "bold"),
            f" on {evaluation.dataset}: {evaluation.num_rows:,} rows, {evaluation.task}.",
        )
    )
    metrics = plain_table()
    metrics.add_column("metric", no_wrap=True)
    metrics.add_column("value", justify="right")
    for name, value in evaluation.metrics.items():
        metrics.add_row(name, format_metric(value))
    _section(console, None, metrics)
    if evaluation.segments:
        _section(console, "By segment", _segments_table(evaluation))


@app.command("lineage")
def lineage(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
) -> None:
    """Show where VERSION came from (runs, data, code, fine-tuning) and what derives from it."""
    with open_client(context) as client:
        found = client.lineage(target)
    if as_json:
        sys.stdout.write(json.dumps(found.to_dict(), indent=2, default=str) + "\n")
        return
    output_console().print(Text(found.render()), soft_wrap=True)


@app.command("card")
def card(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="VERSION", help=_VERSION_HELP)],
    html: Annotated[bool, typer.Option("--html", help="HTML (self-contained) instead of Markdown.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print (or write) the model card of VERSION, in Markdown or HTML."""
    with open_client(context) as client:
        found = client.model_card(target)
    text = found.to_html() if html else found.to_markdown()
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    output_console().print(Text.assemble("Wrote ", (str(output), "bold"), "."))


@roles_app.command("list")
def list_roles(context: typer.Context) -> None:
    """List every user's roles."""
    console = output_console()
    with open_client(context) as client:
        grants = client.registry.promotions.roles()
    if not grants:
        hint = command_hint(context, "models roles grant USER ROLE")
        console.print(Text.assemble("No roles granted yet. Grant one with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("user", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("granted by", no_wrap=True)
    table.add_column("since", no_wrap=True)
    for grant in grants:
        table.add_row(grant.user, grant.role, grant.granted_by or _MISSING, format_time(grant.created_at))
    console.print(table)


@roles_app.command("grant")
def grant_role(
    context: typer.Context,
    user: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="viewer, data-scientist, ml-engineer, reviewer or admin.")],
) -> None:
    """Give USER a ROLE."""
    with open_client(context) as client:
        new = client.grant_role(user, role)
    output_console().print(Text(f"{user} {'now has' if new else 'already had'} the role {role}."))


@roles_app.command("revoke")
def revoke_role(
    context: typer.Context,
    user: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[str, typer.Argument(help="The role to take away.")],
) -> None:
    """Take ROLE from USER (their approvals stop counting)."""
    with open_client(context) as client:
        had = client.revoke_role(user, role)
    output_console().print(Text(f"{user} {'no longer has' if had else 'did not have'} the role {role}."))


# --- rendering -----------------------------------------------------------------------------------------


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _section(console: Console, title: str | None, body: RenderableType | None) -> None:
    console.print()
    if title is not None:
        console.print(Text.assemble((title, "bold"), ("" if body is not None else ": none", "dim")))
    if body is not None:
        console.print(Padding(body, (0, 0, 0, _INDENT), expand=False))


def _evaluations_table(evaluations: Sequence[Evaluation]) -> Table:
    names: list[str] = []
    for evaluation in evaluations:
        names += [name for name in evaluation.metrics if name not in names]
    table = plain_table()
    table.add_column("dataset", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("evaluated", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for evaluation in evaluations:
        table.add_row(
            evaluation.dataset,
            f"{evaluation.num_rows:,}",
            format_time(evaluation.created_at),
            *(format_metric(evaluation.metrics.get(name)) for name in names),
        )
    return table


def _segments_table(evaluation: Evaluation) -> Table:
    names = list(evaluation.metrics)
    table = plain_table()
    table.add_column("segment", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("rows", justify="right")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for column, values in evaluation.segments.items():
        for value, metrics in values.items():
            table.add_row(
                column,
                value,
                f"{metrics.get('rows', 0):,}",
                *(format_metric(metrics.get(name)) for name in names),
            )
    return table


def _history_table(events: Sequence[AliasEvent]) -> Table:
    table = plain_table()
    table.add_column("when", no_wrap=True)
    table.add_column("alias", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("from", justify="right")
    table.add_column("to", justify="right")
    table.add_column("by", no_wrap=True)
    table.add_column("reason", overflow="fold", min_width=12)
    for event in events:
        action = event.action + (" (forced)" if event.forced else "")
        table.add_row(
            format_time(event.created_at),
            Text(event.alias, style="bold"),
            Text(action, style="bold red" if event.forced else ""),
            str(event.from_version) if event.from_version is not None else _MISSING,
            str(event.to_version) if event.to_version is not None else _MISSING,
            event.user or _MISSING,
            event.reason or "",
        )
    return table


def _results(event: AliasEvent) -> list[dict[str, Any]]:
    return list((event.gates or {}).get("results") or [])


def _print_gates(console: Console, results: Sequence[GateResult | dict[str, Any]]) -> None:
    if not results:
        console.print(Text("No promotion policy: no gates apply.", style="dim"))
        return
    table = plain_table()
    table.add_column("gate", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for result in results:
        row = result if isinstance(result, dict) else result.to_dict()
        passed = bool(row.get("passed"))
        table.add_row(
            str(row.get("name")),
            Text("passed" if passed else "FAILED", style="green" if passed else "bold red"),
            str(row.get("message")),
        )
    console.print(table)


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidInputError(
            f"The policy file {str(path)!r} could not be read: {error}", path=str(path)
        ) from None
