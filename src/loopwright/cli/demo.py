"""``loopwright demo``: record a small grid of scikit-learn runs and show how to explore them."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from loopwright.cli._render import ColumnSpec, output_console, runs_table, short_id
from loopwright.cli._state import command_hint, open_client

__all__ = ["demo", "register"]

# Fits an 80-column terminal: the run names already say each model's family and parameter.
_RANKING_COLUMNS = ("metrics.roc_auc", "metrics.accuracy", "metrics.f1", "metrics.cv_roc_auc")


def demo(
    context: typer.Context,
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Experiment to record in.")] = "demo",
    folds: Annotated[
        int, typer.Option("--folds", min=2, max=10, help="Cross-validation folds (child runs per model).")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data split, folds and models.")] = 0,
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


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root app."""
    app.command("demo")(demo)
