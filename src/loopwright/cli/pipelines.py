"""``loopwright pipelines …``: run pipelines, list them and their runs, show a run's steps, explain its cache.

A pipeline is named by a reference, ``module:pipeline`` (``flow:train``, imported with the current folder
on the import path, as ``python -m`` does) or ``path/to/file.py:pipeline``. Parameters are given as text,
``-p n=100``, and parsed by the pipeline's annotations. A failed step is an expected failure: the command
prints the steps that ran and the step's traceback, and the root error handler reports the
``pipeline.step_failed`` error with exit status 1 (bad input, such as a parameter of the wrong type, exits
with status 2 before anything runs).
"""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from loopwright.cli._pipeline_refs import importable, load_ref, parse_params
from loopwright.cli._render import (
    error_console,
    format_duration,
    format_time,
    output_console,
    plain_table,
    short_id,
    status_text,
)
from loopwright.cli._state import command_hint, open_client
from loopwright.cli._step_tree import last_line, step_tree
from loopwright.errors import InvalidInputError, NotFoundError, StepFailedError
from loopwright.store.records import RunStatus

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.pipelines.runner import StepExecution
    from loopwright.store.pipelines import PipelineCatalog, PipelineRunRecord

__all__ = ["ExecutorName", "app", "explain_step", "list_pipelines", "list_runs", "run", "show_run"]

app = typer.Typer(
    help="Pipelines: run them, list them and their runs, inspect a run's steps and its cache.",
    no_args_is_help=True,
)


class ExecutorName(enum.StrEnum):
    """Where steps run: one at a time in this process, or in parallel in a pool of processes."""

    INLINE = "inline"
    PROCESS = "process"


_INDENT = 2
_OUTPUT_CHARACTERS = 500  # of the output's repr that `run` prints
_OUTPUT_LINES = 12
_HASH_LENGTH = 12
_RUN_HELP = "The pipeline run's id, or a unique prefix of 4 or more characters."


@app.command("run")
def run(
    context: typer.Context,
    ref: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:PIPELINE",
            help="The pipeline: module:name (e.g. flow:train, importable from the current folder) or "
            "path/to/file.py:name.",
        ),
    ],
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="A pipeline parameter (repeat for several), parsed by its annotation: -p n=100.",
        ),
    ] = None,
    executor: Annotated[
        ExecutorName | None,
        typer.Option(
            "--executor",
            "-e",
            help="Run steps one at a time in this process (inline), or independent steps in parallel "
            "(process). Default: the pipeline's own.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Worker processes of the process executor (default: the CPUs)."
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Run every step, even those whose result is cached."),
    ] = False,
) -> None:
    """Run a pipeline, then print its steps (ran or cached) and its output.

    A step whose code, parameters and inputs are unchanged since a finished execution is not run again:
    its cached outputs are reused. After a failed step, fix it and run again: the run resumes there.
    """
    values = parse_params(params or [])
    console = output_console()
    with importable(ref):
        pipeline = load_ref(ref)
        chosen = executor.value if executor is not None else pipeline.executor
        if workers is not None and chosen != ExecutorName.PROCESS:
            raise InvalidInputError(
                f"--workers sets the worker processes of the process executor, but pipeline "
                f"{pipeline.name!r} runs with the {chosen} executor. Add --executor process.",
                workers=workers,
            )
        with open_client(context, create=True) as client:
            from loopwright.pipelines.runner import StepExecution, run_pipeline

            try:
                with _spinner(console, pipeline.name):
                    result = run_pipeline(
                        pipeline,
                        values,
                        client=client,
                        executor=chosen,
                        max_workers=workers,
                        cache=not no_cache,
                    )
            except StepFailedError as error:
                # The steps that ran, then the failed one's traceback; the root handler reports the error.
                run_id, step = str(error.details["run_id"]), str(error.details["step"])
                steps = [StepExecution.from_record(item) for item in _catalog(client).steps(run_id)]
                _print_run(console, _catalog(client).get_pipeline_run(run_id), steps)
                failed = next((item for item in steps if item.name == step), None)
                if failed is not None and failed.error:
                    _print_traceback(step, failed.run_id, failed.error)
                raise
            _print_run(console, _catalog(client).get_pipeline_run(result.run_id), result.steps)
            output = result.output
    if output is not None:
        console.print()
        console.print(Text.assemble(("Output: ", "bold"), _truncated(repr(output))))


@contextlib.contextmanager
def _spinner(console: Console, pipeline: str) -> Iterator[None]:
    # The runner reports no progress yet, so a spinner with the elapsed time shows that it is alive.
    with Progress(
        SpinnerColumn(),
        TextColumn("Running pipeline [bold]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        progress.add_task(escape(pipeline))
        yield


def _print_run(console: Console, record: PipelineRunRecord, steps: Sequence[StepExecution]) -> None:
    """One line on how the run went, then its steps."""
    cached = sum(step.cache_status == "hit" for step in steps)
    duration = format_duration(_duration(record))
    if record.status == RunStatus.FAILED:
        failed = [step.name for step in steps if step.status == RunStatus.FAILED]
        outcome = Text(f"failed at step {failed[0]!r}" if failed else "failed", style="bold red")
    else:
        outcome = status_text(RunStatus(record.status))
    console.print(
        Text.assemble(
            ("Pipeline run ", "bold"),
            (record.pipeline, "bold"),
            "  ",
            (record.run_id, "cyan"),
            ": ",
            outcome,
            f" in {duration}, {cached} of {len(steps)} steps from the cache",
        )
    )
    console.print(Padding(step_tree(record.pipeline, steps), (0, 0, 0, _INDENT), expand=False))


def _print_traceback(step: str, run_id: str, error: str) -> None:
    console = error_console()
    console.print(Text(f"Traceback of step {step!r} (run {short_id(run_id)}):", style="bold red"))
    console.print(Text(error.rstrip()), soft_wrap=True)


def _truncated(text: str) -> str:
    lines = text.splitlines() or [""]
    shown = "\n".join(lines[:_OUTPUT_LINES])
    if len(shown) > _OUTPUT_CHARACTERS:
        shown = shown[:_OUTPUT_CHARACTERS]
    if len(shown) < len(text):
        shown += f"… ({len(text) - len(shown):,} more characters)"
    return shown


def _catalog(client: Client) -> PipelineCatalog:
    from loopwright.store.pipelines import PipelineCatalog

    return PipelineCatalog(client.store)


def _duration(record: PipelineRunRecord) -> float | None:
    return None if record.end is None else (record.end - record.start).total_seconds()


# --- listing ---------------------------------------------------------------------------------------------


@app.command("list")
def list_pipelines(context: typer.Context) -> None:
    """List the pipelines that have run in this workspace, with their latest run."""
    console = output_console()
    with open_client(context) as client:
        summaries = _catalog(client).list_pipelines()
    if not summaries:
        hint = command_hint(context, "pipelines run MODULE:PIPELINE")
        console.print(Text.assemble("No pipelines yet. Run one with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("name", no_wrap=True)
    table.add_column("ref", overflow="fold")
    table.add_column("runs", justify="right")
    table.add_column("last run", no_wrap=True, style="cyan")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    for summary in summaries:
        table.add_row(
            Text(summary.name, style="bold"),
            Text(summary.ref or "—"),
            Text(str(summary.runs)),
            Text(short_id(summary.last_run_id) if summary.last_run_id else "—"),
            status_text(RunStatus(summary.last_status)) if summary.last_status else Text("—"),
            Text(format_time(summary.last_start)),
        )
    console.print(table)


@app.command("runs")
def list_runs(
    context: typer.Context,
    pipeline: Annotated[
        str | None, typer.Argument(help="Only the runs of this pipeline (by name).", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many runs.")] = 20,
) -> None:
    """List pipeline runs, newest first: status, duration, cache hits and what started them."""
    console = output_console()
    with open_client(context) as client:
        catalog = _catalog(client)
        if pipeline is not None:
            known = [summary.name for summary in catalog.list_pipelines()]
            if pipeline not in known:
                raise NotFoundError(
                    f"There is no pipeline named {pipeline!r} in this workspace. Known pipelines: "
                    f"{', '.join(known) or 'none'}.",
                    kind="pipeline",
                    key=pipeline,
                )
        records = catalog.pipeline_runs(pipeline, limit=limit + 1)
        more = len(records) > limit
        records = records[:limit]
        # One query per run: a page is short, and the catalog has no per-run step counts yet.
        counts = {record.run_id: _step_counts(catalog.steps(record.run_id)) for record in records}
    if not records:
        hint = command_hint(context, "pipelines run MODULE:PIPELINE")
        console.print(Text.assemble("No pipeline runs yet. Run one with ", (hint, "bold"), "."))
        return
    table = plain_table()
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("pipeline", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("start", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("cached", justify="right", no_wrap=True)
    table.add_column("trigger", overflow="fold")
    for record in records:
        hits, total = counts[record.run_id]
        table.add_row(
            Text(short_id(record.run_id)),
            Text(record.pipeline),
            status_text(RunStatus(record.status)),
            Text(format_time(record.start)),
            Text(format_duration(_duration(record))),
            Text(f"{hits}/{total}"),
            Text(record.trigger_cause or "manual"),
        )
    console.print(table)
    if more:
        console.print(
            Text(
                f"Showing the newest {limit} run{'s' if limit > 1 else ''}; there are more. "
                "Raise --limit (-n) to see more.",
                style="dim",
            )
        )


def _step_counts(steps: Sequence[Any]) -> tuple[int, int]:
    return sum(step.cache_status == "hit" for step in steps), len(steps)


# --- one run ---------------------------------------------------------------------------------------------


@app.command("show")
def show_run(
    context: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help=_RUN_HELP)],
    code: Annotated[
        bool, typer.Option("--code", help="Print the source files stored with the run instead.")
    ] = False,
) -> None:
    """Show a pipeline run: its parameters, code version and a tree of its steps with their cache outcome."""
    from loopwright.pipelines.runner import StepExecution, code_snapshot

    with open_client(context) as client:
        resolved = client.resolve_run_id(run_id)
        record = _catalog(client).get_pipeline_run(resolved)
        if code:
            if record.code_artifact_id is None:
                raise NotFoundError(
                    f"Pipeline run {resolved} has no code snapshot: its source files could not be read "
                    "when it ran.",
                    kind="code_snapshot",
                    key=resolved,
                )
            sources = code_snapshot(client, record.code_artifact_id)
        else:
            run_record = client.get_run(resolved)
            steps = [StepExecution.from_record(item) for item in _catalog(client).steps(resolved)]
    if code:
        # Raw text, not Rich: the source must come out exactly as stored, to read or redirect to a file.
        sys.stdout.write("\n".join(f"# {name}\n{text.rstrip()}\n" for name, text in sorted(sources.items())))
        return
    console = output_console()
    console.print(
        Text.assemble(("Pipeline run ", "bold"), (record.pipeline, "bold"), "  ", (record.run_id, "cyan"))
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("name", Text(record.name))
    grid.add_row("status", status_text(RunStatus(record.status)))
    grid.add_row("started", format_time(record.start))
    grid.add_row("duration", format_duration(_duration(record)))
    grid.add_row("params", Text(_params(record.params)))
    grid.add_row("definition", Text(record.definition_hash[:_HASH_LENGTH]))
    if record.git_commit:
        state = {True: " (dirty)", False: " (clean)", None: ""}[run_record.git_dirty]
        grid.add_row("git commit", Text(record.git_commit + state))
    else:
        grid.add_row("git commit", "—")
    grid.add_row("executor", Text(record.executor))
    grid.add_row("trigger", Text(record.trigger_cause or "manual"))
    snapshot = "stored (print it with --code)" if record.code_artifact_id else "—"
    grid.add_row("code", Text(snapshot))
    if record.status == RunStatus.FAILED and record.error and not any(step.error for step in steps):
        grid.add_row("error", Text(last_line(record.error), style="red"))
    _section(console, None, grid)
    cached = sum(step.cache_status == "hit" for step in steps)
    _section(console, f"Steps ({len(steps)}, {cached} from the cache)", step_tree(record.pipeline, steps))


def _params(params: dict[str, Any]) -> str:
    if not params:
        return "—"
    return ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in params.items()
    )


def _section(console: Console, title: str | None, body: RenderableType) -> None:
    console.print()
    if title is not None:
        console.print(Text(title, style="bold"))
    console.print(Padding(body, (0, 0, 0, _INDENT), expand=False))


@app.command("explain")
def explain_step(
    context: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help=_RUN_HELP)],
    step: Annotated[str, typer.Argument(help="The step's name in the pipeline.")],
) -> None:
    """Say why a step of a pipeline run hit or missed the cache: which part of its key changed."""
    with open_client(context) as client:
        explanation = client.explain(client.resolve_run_id(run_id), step)
    style = {"hit": "bold green", "miss": "bold yellow"}.get(explanation.cache_status, "bold")
    console = output_console()
    console.print(
        Text.assemble(
            ("Step ", "bold"),
            (repr(explanation.step), "bold"),
            " of pipeline run ",
            (explanation.pipeline_run_id, "cyan"),
            ": cache ",
            (explanation.cache_status, style),
        )
    )
    for reason in explanation.reasons:
        console.print(Text(f"  - {reason}"))
    if explanation.compared_with is not None and explanation.cache_status == "miss":
        console.print(Text(f"Compared with the step's run {explanation.compared_with}.", style="dim"))
