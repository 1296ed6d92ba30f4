"""``loopwright rollouts list | show | abort`` and ``loopwright controller``.

A rollout takes a candidate version out step by step (shadow, then canary weights) and is judged on the
live prediction log; ``loopwright controller`` advances the workspace's rollouts (``loopwright server``
runs one too). ``rollouts show`` prints every step, measurement and decision of one rollout.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.padding import Padding
from rich.text import Text

from loopwright.cli._render import format_duration, format_time, output_console, plain_table
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from rich.console import Console

    from loopwright.store.rollouts import RolloutEvent, RolloutRecord

__all__ = ["abort_rollout", "app", "controller", "list_rollouts", "register", "show_rollout"]

app = typer.Typer(
    help="Rollouts: candidates going out step by step (shadow, canary), judged on live data.",
    no_args_is_help=True,
)

_MISSING = "—"
_INDENT = 2
_STATUS_STYLES = {
    "active": "bold cyan",
    "promoted": "green",
    "rolled_back": "bold red",
    "aborted": "yellow",
}
_EVENT_STYLES = {
    "analysis": "",
    "promotion_blocked": "yellow",
    "promoted": "green",
    "rolled_back": "bold red",
    "aborted": "yellow",
}
_CHECK_STYLES = {"passed": "green", "failed": "bold red", "waiting": "cyan", "skipped": "dim"}
_STATUSES = ("active", "promoted", "rolled_back", "aborted")


@app.command("list")
def list_rollouts(
    context: typer.Context,
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Only the rollouts of this deployment.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only rollouts with this status: active, promoted, rolled_back, aborted."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many rollouts.")] = 20,
) -> None:
    """List rollouts, newest first: the candidate, where it is in its plan, and how it ended."""
    if status is not None and status not in _STATUSES:
        raise InvalidInputError(
            f"--status must be one of {', '.join(_STATUSES)}. Got {status!r} instead.", field="status"
        )
    console = output_console()
    with open_client(context) as client:
        records = client.controller.rollouts(deployment=deployment, status=status, limit=limit + 1)
    if not records:
        hint = command_hint(context, "controller")
        console.print(
            Text.assemble(
                "No rollouts yet. Start one with lw.rollout(DEPLOYMENT, CANDIDATE); ",
                (hint, "bold"),
                " advances it.",
            )
        )
        return
    table = plain_table()
    table.add_column("id", no_wrap=True, style="cyan", justify="right")
    table.add_column("deployment", no_wrap=True, style="bold")
    table.add_column("candidate", no_wrap=True)
    table.add_column("against", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("step", overflow="fold")
    table.add_column("started", no_wrap=True)
    table.add_column("ended", no_wrap=True)
    table.add_column("cause", overflow="fold")
    for record in records[:limit]:
        table.add_row(
            Text(str(record.id)),
            Text(record.deployment),
            Text(f"{record.model}/{record.candidate}"),
            Text(_MISSING if record.baseline is None else f"{record.model}/{record.baseline}"),
            _status(record.status),
            Text(_step(record)),
            Text(format_time(record.created_at)),
            Text(format_time(record.ended_at)),
            Text(record.cause or _MISSING),
        )
    console.print(table)
    if len(records) > limit:
        console.print(
            Text(f"Showing the newest {limit} rollouts; there are more. Raise --limit (-n).", style="dim")
        )


@app.command("show")
def show_rollout(
    context: typer.Context,
    rollout_id: Annotated[int, typer.Argument(metavar="ROLLOUT", help="The rollout's id.")],
) -> None:
    """Show a rollout: its plan, where it is, and every step, measurement and decision so far."""
    console = output_console()
    with open_client(context) as client:
        record = client.controller.get(rollout_id)
        events = client.controller.events(rollout_id)
    from loopwright.automation.plan import RolloutPlan

    plan = RolloutPlan.from_dict(record.plan)
    console.print(
        Text.assemble(
            (f"Rollout {record.id}", "bold"),
            f": version {record.candidate} of {record.model!r} on deployment {record.deployment!r}, against "
            f"version {record.baseline if record.baseline is not None else _MISSING} — ",
            _status(record.status),
        ),
        soft_wrap=True,
    )
    facts = [
        ("plan", plan.describe()),
        ("step", _step(record)),
        ("promotes", f"alias {record.alias!r}" if record.alias else "the deployment's pinned version"),
        ("cause", record.cause or _MISSING),
        ("started", f"{format_time(record.created_at)} by {record.created_by or 'an unknown user'}"),
    ]
    if record.ended_at is not None:
        facts.append(("ended", f"{format_time(record.ended_at)}: {record.reason}."))
    for label, value in facts:
        console.print(Text.assemble((f"  {label:<9}", "dim"), value), soft_wrap=True)
    latest = record.state.get("analysis")
    if record.active and latest:
        elapsed = format_duration(latest.get("elapsed_ms", 0) / 1000)
        console.print(Text(f"\nCurrent step, after {elapsed} ({latest['verdict']}):", style="bold"))
        console.print(Padding(_checks(latest["checks"]), (0, 0, 0, _INDENT)))
    console.print(Text("\nTimeline:", style="bold"))
    for event in events:
        _print_event(console, event)


@app.command("abort")
def abort_rollout(
    context: typer.Context,
    rollout_id: Annotated[int, typer.Argument(metavar="ROLLOUT", help="The rollout's id.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why; recorded with the rollout.")] = None,
) -> None:
    """Abort an active rollout: its canary or shadow is removed now and the candidate is not promoted."""
    with open_client(context) as client:
        record = client.controller.abort(rollout_id, reason=reason)
    output_console().print(
        Text.assemble(
            ("Aborted ", "bold yellow"),
            f"rollout {record.id}: deployment {record.deployment!r} no longer serves version "
            f"{record.candidate} ({record.reason}).",
        ),
        soft_wrap=True,
    )


def controller(
    context: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Advance every active rollout once, print the decisions, and exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="Seconds between two looks at the rollouts.")
    ] = 10.0,
) -> None:
    """Advance the workspace's rollouts: judge each step on the live prediction log, then promote or roll
    back. Several controllers may run against one workspace; they never advance the same rollout at once.
    Stop it with Ctrl-C or SIGTERM."""
    from loopwright.automation.controller import PromotionController

    if not math.isfinite(interval):
        raise InvalidInputError(f"--interval must be a finite number of seconds. Got {interval} instead.")
    console = output_console()
    with open_client(context, create=True) as client:
        runner = PromotionController(client, interval=interval)
        active = len(runner.rollouts(status="active", limit=None))
        if once:
            events = runner.tick()
            for event in events:
                _print_event(console, event, rollout=True)
            console.print(
                f"Looked at {_plural(active, 'active rollout')}: {_plural(len(events), 'decision')}."
            )
            return
        _show_progress()
        started = (
            f"Controller {runner.holder} started on {client.store.display_url}: "
            f"{_plural(active, 'active rollout')}, looking every {interval:g}s. Stop it with Ctrl-C."
        )
        runner.serve(on_ready=lambda: console.print(started, soft_wrap=True))
    console.print("Controller stopped.")


def register(root: typer.Typer) -> None:
    """Add ``rollouts`` and ``controller`` to the root app."""
    root.add_typer(app, name="rollouts")
    root.command("controller")(controller)


# --- helpers ---------------------------------------------------------------------------------------------


def _status(status: str) -> Text:
    return Text(status.replace("_", " "), style=_STATUS_STYLES.get(status, ""))


def _step(record: RolloutRecord) -> str:
    from loopwright.automation.plan import RolloutStep

    steps = record.plan.get("steps", [])
    if record.step >= len(steps):
        return "promoted" if record.status == "promoted" else f"all {len(steps)} steps passed"
    described = RolloutStep.from_dict(steps[record.step]).describe()
    return f"{record.step + 1}/{len(steps)} {described}"


def _print_event(console: Console, event: RolloutEvent, *, rollout: bool = False) -> None:
    moment = format_time(event.created_at)
    prefix = f"rollout {event.rollout_id} " if rollout else ""
    console.print(
        Text.assemble(
            f"  {moment}  {prefix}",
            (f"{event.kind.replace('_', ' '):<17}", _EVENT_STYLES.get(event.kind, "bold")),
            " ",
            event.message,
        ),
        soft_wrap=True,
    )
    if event.kind == "analysis" and event.details and not rollout:
        console.print(Padding(_checks(event.details.get("checks", [])), (0, 0, 0, _INDENT * 3)))


def _checks(checks: list[dict[str, Any]]) -> Any:
    table = plain_table()
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("candidate", justify="right", no_wrap=True)
    table.add_column("production", justify="right", no_wrap=True)
    table.add_column("samples", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        samples = check.get("samples") or {}
        table.add_row(
            Text(check["name"]),
            Text(check["status"], style=_CHECK_STYLES.get(check["status"], "")),
            Text(_number(check.get("candidate"))),
            Text(_number(check.get("production"))),
            Text(
                f"{samples.get('candidate', 0)}/{samples.get('production', 0)} (min {check['min_samples']})"
                if check.get("min_samples")
                else _MISSING
            ),
            Text(check["message"]),
        )
    return table


def _number(value: Any) -> str:
    return _MISSING if value is None else f"{value:.4g}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _show_progress() -> None:
    # The controller logs each decision (and what it cannot act on) on loopwright.automation; show them.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
