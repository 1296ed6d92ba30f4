"""``loopwright demo``: the demos. ``demo fraud`` runs the whole loop (what ``make demo`` shows); ``demo
tracking`` records a small grid of scikit-learn runs and shows how to explore them. ``loopwright demo`` on
its own still runs the tracking demo, as it always did.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from loopwright.cli._render import ColumnSpec, output_console, plain_table, runs_table, short_id
from loopwright.cli._state import command_hint, open_client

__all__ = ["app", "demo", "fraud", "register", "tracking"]

app = typer.Typer(
    help="Demos on the workspace: `demo fraud` closes the whole loop; `demo tracking` (or plain `demo`) "
    "records and ranks a grid of runs.",
    no_args_is_help=False,
)

# Fits an 80-column terminal: the run names already say each model's family and parameter.
_RANKING_COLUMNS = ("metrics.roc_auc", "metrics.accuracy", "metrics.f1", "metrics.cv_roc_auc")


_Experiment = Annotated[str, typer.Option("--experiment", "-e", help="Experiment to record in.")]
_Folds = Annotated[
    int, typer.Option("--folds", min=2, max=10, help="Cross-validation folds (child runs per model).")
]
_Seed = Annotated[int, typer.Option("--seed", help="Seed of the data split, folds and models.")]


@app.callback(invoke_without_command=True)
def demo(
    context: typer.Context, experiment: _Experiment = "demo", folds: _Folds = 5, seed: _Seed = 0
) -> None:
    """Run a demo: `demo fraud` (the whole loop, a few minutes) or `demo tracking` (the default: a grid
    of tracked runs, seconds)."""
    if context.invoked_subcommand is None:
        tracking(context, experiment=experiment, folds=folds, seed=seed)


@app.command("tracking")
def tracking(
    context: typer.Context, experiment: _Experiment = "demo", folds: _Folds = 5, seed: _Seed = 0
) -> None:
    """Train seven scikit-learn models with cross-validation, track each as a run, and rank them.

    Uses the breast cancer data set bundled with scikit-learn (nothing is downloaded). Needs
    scikit-learn: pip install 'loopwright[sklearn]'.
    """
    from loopwright.demos.tracking import DemoProgress, run_tracking_demo

    console = output_console()
    with open_client(context, create=True) as client:
        console.print(
            Text.assemble(
                "Recording runs in experiment ",
                (experiment, "bold"),
                " of the workspace at ",
                (str(client.settings.workspace.absolute()), "bold"),
            )
        )
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("loading data", total=None)

            def show(step: DemoProgress) -> None:
                progress.update(
                    task, completed=step.completed, total=step.total, description=step.description
                )

            result = run_tracking_demo(
                client, experiment=experiment, folds=folds, seed=seed, on_progress=show
            )

    columns = [ColumnSpec.parse(text) for text in _RANKING_COLUMNS]
    title = f"Models ranked by test {result.metric} (best first)"
    console.print(runs_table(result.runs, columns, attributes=(), title=title, rank=True))
    console.print(
        f"Recorded {len(result.runs)} runs with {result.child_count} cross-validation fold runs nested "
        f"under them in {result.duration_s:.1f} s.",
        style="dim",
        highlight=False,
    )
    best, runner_up = result.runs[0], result.runs[1]
    name = shlex.quote(experiment)
    hints = [
        ("every run of the demo, fold runs included", f"runs list -e {name}"),
        (
            "the models alone, best first",
            f"runs list -e {name} -f 'parent_id is null' -o 'metrics.{result.metric} desc'",
        ),
        (f"everything about the best run ({best.name})", f"runs show {short_id(best.id)}"),
        ("the top two side by side", f"runs compare {short_id(best.id)} {short_id(runner_up.id)}"),
    ]
    console.print("\nNext, try:")
    for meaning, arguments in hints:
        console.print(Text("  # " + meaning, style="dim"), soft_wrap=True)
        console.print(Text("  " + command_hint(context, arguments), style="bold"), soft_wrap=True)


@app.command("fraud")
def fraud(
    context: typer.Context,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the transactions and the models.")] = 0,
    training_rows: Annotated[
        int,
        typer.Option(
            "--training-rows", min=1_000, max=1_000_000, help="Transactions to train the first model on."
        ),
    ] = 12_000,
    window_rows: Annotated[
        int,
        typer.Option("--window-rows", min=100, max=100_000, help="Rows per monitor window and rollout step."),
    ] = 1_000,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=10, max=10_000, help="Transactions per HTTP request.")
    ] = 200,
) -> None:
    """Close the loop on synthetic card transactions: train, gate, deploy and serve over HTTP, then a new
    fraud pattern appears; monitors alert, the model retrains on its own labelled traffic, is shadowed,
    canaried, promoted, and recall recovers. Exits 1 unless every stage happened.

    Takes a few minutes. Needs scikit-learn and the server: pip install 'loopwright[sklearn,server]'.
    """
    from loopwright.demos.fraud import FraudDemoProgress, run_fraud_demo

    console = output_console()
    with open_client(context, create=True) as client:
        console.print(
            Text.assemble(
                "Running the fraud loop in the workspace at ",
                (str(client.settings.workspace.absolute()), "bold"),
            )
        )
        with Progress(
            TextColumn("{task.fields[stage]:<12}"),
            TextColumn("{task.description:<44}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("starting", total=None, stage="")

            def show(step: FraudDemoProgress) -> None:
                progress.update(
                    task,
                    completed=step.completed or 0,
                    total=step.total,
                    description=step.description,
                    stage=step.stage,
                )

            result = run_fraud_demo(
                client,
                seed=seed,
                training_rows=training_rows,
                window_rows=window_rows,
                batch_rows=batch_rows,
                on_progress=show,
            )

    timeline = plain_table("Timeline")
    for column in ("s", "stage", "what happened"):
        timeline.add_column(column, justify="right" if column == "s" else "left")
    for event in result.timeline:
        timeline.add_row(f"{event.at_s:.0f}", event.stage, event.message)
    console.print(timeline)
    metrics = plain_table("Production on live traffic, from the labels that came back")
    for column in ("phase", "served by", "transactions", "frauds", "recall", "precision"):
        metrics.add_column(column, justify="left" if column in ("phase", "served by") else "right")
    for phase in result.metrics:
        metrics.add_row(
            phase.phase,
            phase.versions,
            f"{phase.transactions:,}",
            f"{phase.frauds:,}",
            f"{phase.recall:.2f}",
            f"{phase.precision:.2f}",
        )
    console.print(metrics)
    if result.lineage:
        console.print("Lineage:", style="bold")
        for line in result.lineage:
            console.print("  " + line, highlight=False, soft_wrap=True)
    if not result.closed:
        for failure in result.failures:
            console.print(f"failed: {failure}", style="bold red", highlight=False)
        if result.missing:
            console.print(f"stages that did not happen: {', '.join(result.missing)}", style="bold red")
        console.print(f"The loop did not close ({result.duration_s:.0f} s).", style="bold red")
        raise typer.Exit(1)
    console.print(
        f"The loop closed in {result.duration_s:.0f} s: every stage happened and recall recovered.",
        style="bold green",
        highlight=False,
    )
    name = shlex.quote(result.deployment)
    console.print("\nNext, try:")
    for meaning, arguments in (
        ("the rollout and each of its decisions", f"rollouts list -d {name}"),
        ("the deployment and its history", f"deployments show {name}"),
        ("the monitor's windows", "monitor status"),
    ):
        console.print(Text("  # " + meaning, style="dim"), soft_wrap=True)
        console.print(Text("  " + command_hint(context, arguments), style="bold"), soft_wrap=True)


def register(root: typer.Typer) -> None:
    """Add ``demo`` (and its ``tracking`` and ``fraud`` demos) to the root app."""
    root.add_typer(app, name="demo")
