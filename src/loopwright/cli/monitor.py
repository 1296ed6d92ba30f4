"""``loopwright monitor …``: define monitors of deployments, run them, backfill ranges, see where they stand.

A monitor watches one deployment's prediction log window by window (``--window 1h`` or ``--rows 1000``)
against a reference (a dataset version ``tx:3``, or a past window ``window:<start>/<end>``): drift per
column and of the whole dataset, data quality, live performance (realised from labels, estimated without)
and operations. ``monitor run`` computes the windows that ended since the last run; schedule it (cron, a
systemd timer) as often as the windows close. Other commands join this group (``app``) from their modules.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from loopwright.cli._render import format_metric, format_time, output_console, plain_table
from loopwright.cli._state import open_client
from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from loopwright.monitoring.service import MonitorRunReport, MonitorStatus
    from loopwright.store.monitoring import MonitorRecord

__all__ = ["app", "register"]

app = typer.Typer(
    help="Monitors: drift, data quality, live performance and operations of a deployment, window by window.",
    no_args_is_help=True,
)

_MISSING = "—"
_REFERENCE_HELP = "A dataset version (NAME:VERSION, or NAME for its latest) or window:<start>/<end>."
_DRIFT_HELP = "A column's test and/or threshold: COLUMN=TEST, COLUMN=THRESHOLD or COLUMN=TEST:THRESHOLD."
_TIME_HELP = "ISO time (UTC unless it has an offset) or epoch milliseconds."


@app.command("create")
def create(
    context: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment to watch.")],
    reference: Annotated[str, typer.Option("--reference", "-r", help=_REFERENCE_HELP)],
    name: Annotated[str | None, typer.Option("--name", help="The monitor (default: the deployment).")] = None,
    window: Annotated[
        str | None, typer.Option("--window", "-w", help="Windows by time: 15m, 1h, 1d.")
    ] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="Windows by count: predictions each.")] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", "-c", help="A column to watch (repeat; default: all).")
    ] = None,
    drift: Annotated[list[str] | None, typer.Option("--drift", help=_DRIFT_HELP)] = None,
    correction: Annotated[
        str | None, typer.Option("--correction", help="bonferroni or benjamini-hochberg.")
    ] = None,
    drift_share: Annotated[
        float, typer.Option("--drift-share", help="Share of drifted columns at which the dataset drifts.")
    ] = 0.5,
    no_multivariate: Annotated[
        bool, typer.Option("--no-multivariate", help="Leave out the PCA reconstruction test.")
    ] = False,
    label: Annotated[
        str, typer.Option("--label", help="The label's key in mapping feedback values.")
    ] = "label",
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: inferred).")
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", help="A data schema YAML file to check inputs against.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Where the first window starts. " + _TIME_HELP)
    ] = None,
    label_horizon: Annotated[
        str, typer.Option("--label-horizon", help="How long after a window late labels still count.")
    ] = "7d",
) -> None:
    """Create a monitor of DEPLOYMENT (or change the monitor of that name to this definition)."""
    from loopwright.monitoring.monitors import Monitor

    definition = Monitor(
        deployment,
        reference,
        name=name,
        window=window,
        rows=rows,
        columns=column or None,
        drift=_drift_options(drift or []),
        correction=correction,
        drift_share=drift_share,
        multivariate=not no_multivariate,
        label=label,
        task=task,
        schema=schema,
        start=_time_option(start, "--start"),
        label_horizon=label_horizon,
    )
    with open_client(context) as client:
        existed = client.monitors.catalog.find(definition.monitor_name) is not None
        record = client.monitors.create(definition)
    verb = "Updated" if existed else "Created"
    output_console().print(
        Text.assemble((f"{verb} monitor ", "bold green"), (record.name, "bold"), f": {_describe(record)}."),
        soft_wrap=True,
    )


@app.command("list")
def list_monitors(
    context: typer.Context,
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Only this deployment's.")
    ] = None,
) -> None:
    """List the monitors, with what they watch and how far they got."""
    with open_client(context) as client:
        statuses = [
            status
            for status in client.monitors.status()
            if deployment is None or status.monitor.deployment == deployment
        ]
    console = output_console()
    if not statuses:
        console.print(
            "No monitors yet. Create one with `loopwright monitor create DEPLOYMENT --reference ...`."
        )
        return
    table = plain_table()
    for heading in ("monitor", "deployment", "reference", "window", "columns", "windows", "processed to"):
        table.add_column(heading, justify="right" if heading == "windows" else "left")
    for status in statuses:
        record = status.monitor
        table.add_row(
            record.name,
            record.deployment,
            _reference(record),
            _window(record),
            ", ".join(record.columns) if record.columns else "all",
            str(status.windows),
            format_time(_end(status)),
        )
    console.print(table)


@app.command("run")
def run(
    context: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The monitor (default: every enabled monitor).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Run as of this time. " + _TIME_HELP)] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running, every --interval seconds, until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, max=86_400, help="Seconds between two runs with --watch.")
    ] = 60.0,
) -> None:
    """Compute the windows that ended since the last run, update late-labelled ones, evaluate alerts.

    Exits with status 1 when a window could not be computed (it is recorded as failed). With --watch it
    runs until Ctrl-C, printing only the runs that did something (what `loopwright server` also does).
    """
    if watch:
        if now is not None:
            raise InvalidInputError("--now and --watch cannot be combined: a watch runs at the current time.")
        _watch(context, name, interval)
        return
    with open_client(context) as client:
        reports = client.monitors.run(name, now=_time_option(now, "--now"))
    console = output_console()
    if not reports:
        console.print(
            "No monitors to run. Create one with `loopwright monitor create DEPLOYMENT --reference ...`."
        )
        return
    for report in reports:
        console.print(report.summary(), soft_wrap=True)
        _print_alerts(report)
    if any(report.failed for report in reports):
        raise typer.Exit(1)


def _watch(context: typer.Context, name: str | None, interval: float) -> None:
    console = output_console()
    console.print(f"Running the monitors every {interval:g} s. Stop with Ctrl-C.", highlight=False)
    with open_client(context) as client:
        try:
            while True:
                for report in client.monitors.run(name):
                    if report.windows or report.failed or report.updated or report.alerts:
                        console.print(report.summary(), soft_wrap=True)
                        _print_alerts(report)
                time.sleep(interval)
        except KeyboardInterrupt:
            console.print("Stopped.")


@app.command("backfill")
def backfill(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor.")],
    start: Annotated[str, typer.Option("--from", help="First window start. " + _TIME_HELP)],
    end: Annotated[str, typer.Option("--to", help="Last window start (exclusive). " + _TIME_HELP)],
) -> None:
    """Compute the windows of NAME starting in [--from, --to) again, replacing their results."""
    low = _time_option(start, "--from")
    high = _time_option(end, "--to")
    assert low is not None
    assert high is not None
    with open_client(context) as client:
        report = client.monitors.backfill(name, low, high)
    output_console().print(report.summary(), soft_wrap=True)
    _print_alerts(report)
    if report.failed:
        raise typer.Exit(1)


@app.command("status")
def status(
    context: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A monitor, for its latest window in detail.")] = None,
) -> None:
    """Where the monitors stand: the latest window's drift, performance and operations."""
    with open_client(context) as client:
        statuses = client.monitors.status(name)
    console = output_console()
    if not statuses:
        console.print(
            "No monitors yet. Create one with `loopwright monitor create DEPLOYMENT --reference ...`."
        )
        return
    if name is None:
        console.print(_summary_table(statuses))
        return
    _print_detail(statuses[0])


@app.command("report")
def report(
    context: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment whose monitors to report on.")],
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start of the range (default: 7 days before --to). " + _TIME_HELP),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End of the range (default: now). " + _TIME_HELP)
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
) -> None:
    """Write a self-contained HTML report of DEPLOYMENT's monitors: alerts, drift, performance and
    operations over time, data quality, and reference vs current distributions per column."""
    from loopwright.monitoring.report import render_report

    low, high = _time_option(start, "--from"), _time_option(end, "--to")
    with open_client(context) as client:
        client.deployments.get(deployment)  # an unknown deployment is an error, not an empty report
        html = render_report(
            client.monitors, client.alerts, client.prediction_log, deployment, start=low, end=high
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    output_console().print(f"Wrote the report of deployment {deployment!r} to {output}.", soft_wrap=True)


def register(app_: typer.Typer) -> None:
    """Add the ``monitor`` group to the root app."""
    app_.add_typer(app, name="monitor")


# --- output ----------------------------------------------------------------------------------------------


def _summary_table(statuses: list[MonitorStatus]) -> Any:
    table = plain_table()
    headings = ("monitor", "windows", "failed", "latest window", "rows", "drift share", "accuracy", "p95 ms")
    for heading in headings:
        table.add_column(heading, justify="left" if heading in ("monitor", "latest window") else "right")
    for item in statuses:
        window = item.latest_window
        table.add_row(
            item.monitor.name,
            str(item.windows),
            str(item.failed),
            _span(item),
            _MISSING if window is None else str(window.rows),
            format_metric(item.value("drift_share")),
            _accuracy(item),
            format_metric(item.value("latency_p95_ms")),
        )
    return table


def _print_detail(item: MonitorStatus) -> None:
    console = output_console()
    record = item.monitor
    console.print(
        Text.assemble(("Monitor ", "bold"), (record.name, "bold"), f": {_describe(record)}."), soft_wrap=True
    )
    window = item.latest_window
    if window is None:
        console.print("No window processed yet. Run `loopwright monitor run " + record.name + "`.")
        return
    console.print(
        f"Windows: {item.windows} ({item.failed} failed). Latest: {_span(item)}, {window.rows} rows, "
        f"status {window.status}.",
        soft_wrap=True,
    )
    if window.error:
        console.print(Text(f"Error: {window.error}", style="red"), soft_wrap=True)
    facts = [
        ("drift share", item.value("drift_share")),
        ("multivariate drift", item.value("multivariate_drift")),
        ("label coverage", item.value("label_coverage")),
        ("accuracy", item.value("accuracy")),
        ("estimated accuracy", item.value("estimated_accuracy")),
        ("rmse", item.value("rmse")),
        ("latency p95 ms", item.value("latency_p95_ms")),
        ("error rate", item.value("error_rate")),
    ]
    shown = [f"{label} {format_metric(value)}" for label, value in facts if value is not None]
    if shown:
        console.print(", ".join(shown) + ".", soft_wrap=True)
    columns: dict[str, dict[str, Any]] = {}
    for result in item.latest:
        if result.column is None or result.metric not in _COLUMN_METRICS:
            continue
        row = columns.setdefault(result.column, {})
        row[result.metric] = result.value
        if result.metric == "drift_score":
            row["test"] = (result.extra or {}).get("test")
    if not columns:
        return
    table = plain_table()
    for heading in ("column", "test", "drift score", "drifted", "missing", "out of range", "unseen"):
        table.add_column(heading, justify="left" if heading in ("column", "test") else "right")
    for column, row in columns.items():
        drifted = row.get("drift_detected")
        table.add_row(
            column,
            str(row.get("test") or _MISSING),
            format_metric(row.get("drift_score")),
            _MISSING if drifted is None else ("yes" if drifted else "no"),
            format_metric(row.get("missing_share")),
            format_metric(row.get("out_of_range_share")),
            format_metric(row.get("unseen_category_share")),
        )
    console.print(table)


_COLUMN_METRICS = (
    "drift_score",
    "drift_detected",
    "missing_share",
    "out_of_range_share",
    "unseen_category_share",
)


def _print_alerts(report: MonitorRunReport) -> None:
    console = output_console()
    for event in report.alerts:
        style = "bold red" if event.event == "opened" else "green"
        console.print(Text(f"  alert {event.event}: {event.rule.name} ({event.rule.severity})", style=style))


def _accuracy(item: MonitorStatus) -> str:
    realised = item.value("accuracy")
    if realised is not None:
        return format_metric(realised)
    estimated = item.value("estimated_accuracy")
    return _MISSING if estimated is None else f"~{format_metric(estimated)}"


def _describe(record: MonitorRecord) -> str:
    columns = ", ".join(record.columns) if record.columns else "all columns of the reference"
    return (
        f"deployment {record.deployment}, reference {_reference(record)}, windows of {_window(record)}, "
        f"watching {columns}"
    )


def _reference(record: MonitorRecord) -> str:
    reference = record.reference
    if reference["kind"] == "dataset":
        return f"{reference['name']}:{reference['version']}"
    start = format_time(_moment(reference["start_ms"]))
    end = format_time(_moment(reference["end_ms"]))
    return f"window {start} to {end}"


def _window(record: MonitorRecord) -> str:
    from loopwright.monitoring.windows import format_duration

    if record.window_rows is not None:
        return f"{record.window_rows} rows"
    return format_duration(int(record.window_ms or 0))


def _span(item: MonitorStatus) -> str:
    window = item.latest_window
    if window is None:
        return _MISSING
    return f"{format_time(_moment(window.start_ms))} to {format_time(_moment(window.end_ms))}"


def _end(item: MonitorStatus) -> datetime | None:
    window = item.latest_window
    return None if window is None else _moment(window.end_ms)


def _moment(milliseconds: int) -> datetime:
    from loopwright.store.records import from_ms

    moment = from_ms(milliseconds)
    assert moment is not None
    return moment


def _time_option(value: str | None, option: str) -> int | None:
    from loopwright.serving.predictlog import epoch_ms

    if value is None:
        return None
    text = value.strip()
    try:
        return epoch_ms(int(text) if text.lstrip("-").isdigit() else text, option)
    except InvalidInputError:
        raise InvalidInputError(
            f"{option} must be an ISO time such as 2026-03-01T12:00:00+00:00 or epoch milliseconds. Got "
            f"{value!r} instead.",
            field=option,
            value=value,
        ) from None


def _drift_options(values: list[str]) -> dict[str, Any]:
    """``COLUMN=TEST``, ``COLUMN=THRESHOLD`` or ``COLUMN=TEST:THRESHOLD`` options as drift overrides."""
    overrides: dict[str, Any] = {}
    for value in values:
        column, separator, setting = value.partition("=")
        if not separator or not column or not setting:
            raise InvalidInputError(
                f"--drift must be COLUMN=TEST, COLUMN=THRESHOLD or COLUMN=TEST:THRESHOLD. Got {value!r} "
                "instead.",
                field="--drift",
                value=value,
            )
        test, colon, threshold = setting.partition(":")
        override: dict[str, Any] = {}
        number = _float(threshold if colon else setting)
        if colon:
            override["test"] = test
            if number is None:
                raise InvalidInputError(
                    f"The threshold in --drift {value!r} must be a number. Got {threshold!r} instead.",
                    field="--drift",
                    value=value,
                )
            override["threshold"] = number
        elif number is not None:
            override["threshold"] = number
        else:
            override["test"] = setting
        overrides[column] = override
    return overrides


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
