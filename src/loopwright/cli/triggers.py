"""``loopwright triggers list | add | remove | firings`` and ``loopwright scheduler``.

Triggers start pipelines on their own: on a cron schedule (``--cron "0 3 * * *"``, in UTC) or on each new
version of a dataset (``--new-data transactions``). Pipelines declare theirs in code
(``@lw.pipeline(schedule=..., on=[lw.new_data(...)])``); they are registered when the pipeline runs, or
when ``loopwright scheduler --pipeline MODULE:PIPELINE`` names it. ``loopwright scheduler`` fires them. Run
it from the folder the pipelines' modules import from: each firing runs in a new Python process there.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from loopwright.cli._pipeline_refs import importable, load_ref, parse_params
from loopwright.cli._render import format_time, output_console, plain_table, short_id
from loopwright.cli._state import command_hint, open_client
from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from loopwright.store.triggers import FiringRecord, TriggerCatalog, TriggerRecord

__all__ = ["add_trigger", "app", "list_firings", "list_triggers", "register", "remove_trigger", "scheduler"]

app = typer.Typer(
    help="Triggers: what starts pipelines on their own (a cron schedule, a new data version).",
    no_args_is_help=True,
)

_STATUS_STYLES = {
    "running": "bold cyan",
    "finished": "green",
    "failed": "bold red",
    "killed": "yellow",
    "abandoned": "yellow",
}
_MISSING = "—"
_ERROR_CHARACTERS = 120  # of a firing's error that tables show (its last line)


def _catalog(client: object) -> TriggerCatalog:
    from loopwright.store.triggers import TriggerCatalog

    return TriggerCatalog(client.store)  # type: ignore[attr-defined]


@app.command("list")
def list_triggers(
    context: typer.Context,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only the triggers of this pipeline (by name).")
    ] = None,
) -> None:
    """List triggers: what each starts, on what, its latest firing and (for schedules) its next one."""
    console = output_console()
    with open_client(context) as client:
        catalog = _catalog(client)
        records = catalog.list_triggers(pipeline)
        last = catalog.last_firings()
    if not records:
        hint = command_hint(context, 'triggers add MODULE:PIPELINE --cron "0 3 * * *"')
        console.print(Text.assemble("No triggers yet. Add one with ", (hint, "bold"), "."))
        return
    from loopwright.pipelines.triggers import CRON, describe, next_occasion

    now = datetime.now(UTC)
    table = plain_table()
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("pipeline", no_wrap=True)
    table.add_column("on", overflow="fold")
    table.add_column("params", overflow="fold")
    table.add_column("origin", no_wrap=True)
    table.add_column("last fired", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("run", no_wrap=True, style="cyan")
    table.add_column("next", no_wrap=True)
    for record in records:
        firing = last.get(record.id)
        upcoming = next_occasion(record.spec, now) if record.kind == CRON else None
        table.add_row(
            Text(short_id(record.id)),
            Text(record.pipeline, style="bold"),
            Text(describe(record.kind, record.spec)),
            Text(_params(record.params)),
            Text(record.origin),
            Text(format_time(firing.fired_at) if firing else _MISSING),
            _status(firing.status) if firing else Text(_MISSING),
            Text(short_id(firing.run_id) if firing and firing.run_id else _MISSING),
            Text(format_time(upcoming) if upcoming else ("on a new version" if record.kind != CRON else "")),
        )
    console.print(table)


@app.command("add")
def add_trigger(
    context: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:PIPELINE",
            help="The pipeline to start: module:name (importable from the current folder) or "
            "path/to/file.py:name.",
        ),
    ],
    cron: Annotated[
        str | None,
        typer.Option("--cron", metavar="EXPR", help='Start it on this schedule, in UTC: e.g. "0 3 * * *".'),
    ] = None,
    new_data: Annotated[
        str | None,
        typer.Option("--new-data", metavar="DATASET", help="Start it on each new version of this dataset."),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="A pipeline parameter for the runs it starts (repeat for several): -p n=100.",
        ),
    ] = None,
) -> None:
    """Add a trigger that starts pipeline MODULE:PIPELINE on a schedule (--cron) or on new data (--new-data).

    The pipeline is imported and the parameters are checked against it now, so a mistake shows here and
    not at the first firing. `loopwright scheduler` fires the trigger.
    """
    from loopwright.pipelines.pipeline import coerce_params
    from loopwright.pipelines.triggers import CRON, NEW_DATA, dataset_name, importable_ref, validate_schedule

    if (cron is None) == (new_data is None):
        raise InvalidInputError(
            "A trigger starts on a schedule or on new data: give exactly one of --cron EXPR or "
            f"--new-data DATASET. Got {'both' if cron is not None else 'neither'} instead."
        )
    if cron is not None:
        kind, spec = CRON, validate_schedule(cron, subject="The --cron option")
    else:
        kind, spec = NEW_DATA, dataset_name(new_data, subject="The --new-data option")
    values = parse_params(params or [])
    with importable(ref):
        pipeline = load_ref(ref)
        coerce_params(pipeline, values)  # unknown names and values of the wrong type fail now
    stored_ref = importable_ref(pipeline.name, _stored_ref(ref, pipeline.ref))
    with open_client(context, create=True) as client:
        record = _catalog(client).add(pipeline.name, stored_ref, kind, spec, params=values, origin="cli")
    console = output_console()
    console.print(
        Text.assemble(
            ("Added trigger ", "bold green"),
            (short_id(record.id), "bold cyan"),
            f": pipeline {record.pipeline!r} ({record.ref}) on {_describe(record)}",
            f", with {_params(record.params)}" if record.params else "",
            ".",
        )
    )
    if kind == CRON:
        from loopwright.pipelines.triggers import next_occasion

        console.print(f"Next occasion: {format_time(next_occasion(spec, datetime.now(UTC)))}.")
    hint = command_hint(context, "scheduler")
    console.print(Text.assemble("Fire it: keep ", (hint, "bold"), " running (from this folder)."))


@app.command("remove")
def remove_trigger(
    context: typer.Context,
    trigger_id: Annotated[
        str,
        typer.Argument(
            metavar="TRIGGER", help="The trigger's id, or a unique prefix of 4 or more characters."
        ),
    ],
) -> None:
    """Remove a trigger and the record of its firings (the runs it started stay)."""
    with open_client(context) as client:
        catalog = _catalog(client)
        record = catalog.remove(catalog.resolve_id(trigger_id))
    console = output_console()
    console.print(
        Text.assemble(
            ("Removed trigger ", "bold"),
            (short_id(record.id), "bold cyan"),
            f": pipeline {record.pipeline!r} on {_describe(record)}.",
        )
    )
    if record.origin == "code":
        console.print(
            Text(
                f"It is declared in the code of pipeline {record.pipeline!r}: it comes back when the "
                "pipeline runs again, unless you remove it there.",
                style="yellow",
            )
        )


@app.command("firings")
def list_firings(
    context: typer.Context,
    trigger_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[TRIGGER]", help="Only this trigger's firings (id or unique prefix).", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many firings.")] = 20,
) -> None:
    """List firings, newest first: when, why (the cause), which scheduler, and how the run ended."""
    console = output_console()
    with open_client(context) as client:
        catalog = _catalog(client)
        resolved = catalog.resolve_id(trigger_id) if trigger_id is not None else None
        firings = catalog.firings(resolved, limit=limit + 1)
    if not firings:
        console.print("No firings yet.")
        return
    table = plain_table()
    table.add_column("fired", no_wrap=True)
    table.add_column("trigger", no_wrap=True, style="cyan")
    table.add_column("pipeline", no_wrap=True)
    table.add_column("cause", overflow="fold")
    table.add_column("scheduler", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("run", no_wrap=True, style="cyan")
    table.add_column("error", overflow="fold")
    for firing in firings[:limit]:
        table.add_row(
            Text(format_time(firing.fired_at)),
            Text(short_id(firing.trigger_id)),
            Text(firing.pipeline, style="bold"),
            Text(firing.cause),
            Text(firing.scheduler),
            _status(firing.status),
            Text(short_id(firing.run_id) if firing.run_id else _MISSING),
            Text(_last_line(firing.error) if firing.error else ""),
        )
    console.print(table)
    if len(firings) > limit:
        console.print(
            Text(f"Showing the newest {limit} firings; there are more. Raise --limit (-n).", style="dim")
        )


def scheduler(
    context: typer.Context,
    pipelines: Annotated[
        list[str] | None,
        typer.Option(
            "--pipeline",
            metavar="MODULE:PIPELINE",
            help="Register the triggers this pipeline declares (schedule=, on=) first (repeat for several).",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Look at the triggers once, fire those due, and exit (status 1 if a run failed)."
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="Seconds between two looks at the triggers.")
    ] = 10.0,
) -> None:
    """Fire the workspace's triggers: each due occasion once, each run in a new Python process.

    Several schedulers may run against one workspace; they never start the same occasion twice. Stop it
    with Ctrl-C or SIGTERM: the run in progress is stopped too, and recorded as killed.
    """
    from loopwright.pipelines.scheduler import Scheduler
    from loopwright.pipelines.triggers import describe, sync_pipeline_triggers

    if not math.isfinite(interval):
        raise InvalidInputError(f"--interval must be a finite number of seconds. Got {interval} instead.")
    console = output_console()
    with open_client(context, create=True) as client:
        for ref in pipelines or []:
            with importable(ref):
                pipeline = load_ref(ref)
            records = sync_pipeline_triggers(client, pipeline, ref=_stored_ref(ref, pipeline.ref))
            declared = ", ".join(describe(record.kind, record.spec) for record in records) or "none"
            console.print(f"Pipeline {pipeline.name!r} ({ref}) declares triggers: {declared}.")
        _show_warnings()
        runner = Scheduler(
            client, poll_interval=interval, on_firing=lambda firing: _print_firing(console, firing)
        )
        count = len(_catalog(client).list_triggers(enabled_only=True))
        if once:
            fired = runner.tick()
            console.print(f"Looked at {_plural(count, 'trigger')}: fired {len(fired)}.")
            if any(firing.status != "finished" for firing in fired):
                raise typer.Exit(1)
            return
        started = (
            f"Scheduler {runner.holder} started on {client.store.display_url}: {_plural(count, 'trigger')}, "
            f"looking every {interval:g}s. Stop it with Ctrl-C."
        )
        runner.serve(on_ready=lambda: console.print(started))
    console.print("Scheduler stopped.")


def register(root: typer.Typer) -> None:
    """Add ``triggers`` and ``scheduler`` to the root app."""
    root.add_typer(app, name="triggers")
    root.command("scheduler")(scheduler)


# --- helpers ---------------------------------------------------------------------------------------------


def _stored_ref(given: str, own: str) -> str:
    """What the scheduler's children import: a file reference made absolute, else the pipeline's own."""
    module, _, name = given.partition(":")
    return f"{Path(module).resolve()}:{name}" if module.endswith(".py") else own


def _describe(record: TriggerRecord) -> str:
    from loopwright.pipelines.triggers import describe

    return describe(record.kind, record.spec)


def _params(params: dict[str, object]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(params.items())) or _MISSING


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= _ERROR_CHARACTERS else line[: _ERROR_CHARACTERS - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _print_firing(console: Console, firing: FiringRecord) -> None:
    moment = format_time(datetime.now(UTC))
    run = f", run {short_id(firing.run_id)}" if firing.run_id else ""
    if firing.status == "running":
        message = Text.assemble(f"{moment} ", ("fired", "bold"), f" {firing.pipeline}: {firing.cause}")
    else:
        error = f": {_last_line(firing.error)}" if firing.error else ""
        message = Text.assemble(
            f"{moment} {firing.pipeline} ", _status(firing.status), f" ({firing.cause}){run}{error}"
        )
    console.print(message, soft_wrap=True)


def _show_warnings() -> None:
    # The scheduler logs what it cannot act on (a broken trigger, a lost lease) as warnings; show them.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
