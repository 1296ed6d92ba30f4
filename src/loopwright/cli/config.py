"""``loopwright plan``, ``loopwright apply [--prune]`` and ``loopwright check [--junit FILE]``.

All three read the workspace configuration file (``loopwright.yaml``, or ``--file``): ``plan`` shows what
``apply`` would change, ``apply`` makes the workspace match the file, and ``check`` runs the file's data
checks and model tests and exits 1 when one fails (the CI gate of a model repository).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from loopwright.cli._render import output_console
from loopwright.cli._state import open_client

if TYPE_CHECKING:
    from rich.console import Console

    from loopwright.automation.reconcile import ReconcilePlan

__all__ = ["apply_config", "check_config", "plan_config", "register"]

_ACTION_STYLES = {"create": "green", "update": "yellow", "delete": "bold red", "wait": "cyan"}

_FileOption = Annotated[
    Path,
    typer.Option("--file", "-f", help="The workspace configuration file.", dir_okay=False),
]


def plan_config(
    context: typer.Context,
    file: _FileOption = Path("loopwright.yaml"),
    prune: Annotated[
        bool, typer.Option("--prune", help="Also show what `loopwright apply --prune` would delete.")
    ] = False,
) -> None:
    """Show what `loopwright apply` would change in the workspace, object by object; changes nothing."""
    from loopwright.automation.config import load_config
    from loopwright.automation.reconcile import plan

    config = load_config(file)
    with open_client(context) as client:
        result = plan(client, config, prune=prune)
    console = output_console()
    _print_changes(console, result)
    console.print(f"Plan: {result.summary()}")


def apply_config(
    context: typer.Context,
    file: _FileOption = Path("loopwright.yaml"),
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete monitors, alert rules, promotion and retraining policies and config triggers "
            "that the file does not declare.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan (with --prune's deletions).")
    ] = False,
) -> None:
    """Make the workspace match the configuration file. A second apply changes nothing."""
    from loopwright.automation.config import load_config
    from loopwright.automation.reconcile import apply, plan

    config = load_config(file)
    with open_client(context, create=True) as client:
        result = plan(client, config, prune=prune) if dry_run else apply(client, config, prune=prune)
    console = output_console()
    _print_changes(console, result)
    verb = "Plan" if dry_run else "Applied"
    console.print(f"{verb}: {result.summary()}")


def check_config(
    context: typer.Context,
    file: _FileOption = Path("loopwright.yaml"),
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write the outcomes as JUnit XML to this file.")
    ] = None,
) -> None:
    """Run the file's data checks and model tests (gates, serving contract, latency budget); exit 1 when
    one fails."""
    from loopwright.automation.ci import run_checks
    from loopwright.automation.config import load_config

    config = load_config(file)
    with open_client(context) as client:
        report = run_checks(client, config)
    console = output_console()
    for outcome in report.outcomes:
        mark = Text("PASS", style="green") if outcome.passed else Text("FAIL", style="bold red")
        first, *rest = outcome.message.splitlines() or [""]
        # Not wrapped: CI logs are read at any width, and a wrapped line breaks a grep.
        console.print(Text.assemble(mark, f" {outcome.suite:<8} {outcome.name}: {first}"), soft_wrap=True)
        for line in rest:
            console.print(f"              {line}", highlight=False, soft_wrap=True)
    if junit is not None:
        junit.write_text(report.to_junit(), encoding="utf-8")
    console.print(report.summary())
    if not report.passed:
        raise typer.Exit(1)


def _print_changes(console: Console, result: ReconcilePlan) -> None:
    if result.empty and not result.changes:
        console.print("No changes: the workspace matches the file.")
        return
    for change in result.changes:
        console.print(Text(change.describe(), style=_ACTION_STYLES[change.action]), soft_wrap=True)
        for detail in change.details:
            console.print(f"    {detail}", highlight=False, soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add ``plan``, ``apply`` and ``check`` to the root app."""
    root.command("plan")(plan_config)
    root.command("apply")(apply_config)
    root.command("check")(check_config)
