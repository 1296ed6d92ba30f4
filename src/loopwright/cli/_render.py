"""How the commands show things: consoles, value formats and the run tables they share.

Everything a command prints as a table is built here, so ``runs list``, ``runs compare`` and the demo's
ranking look alike. Values are formatted for reading (4 significant digits, short ids, local times);
machine-readable output (``--output json|csv``) bypasses this module's formats and keeps full values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from loopwright.errors import InvalidInputError, LoopwrightError, NotFoundError
from loopwright.store.records import RunRecord, RunStatus

__all__ = [
    "RUN_ATTRIBUTES",
    "ColumnSpec",
    "compare_table",
    "default_attributes",
    "error_console",
    "fit_columns",
    "format_duration",
    "format_metric",
    "format_size",
    "format_time",
    "lower_is_better",
    "output_console",
    "plain_table",
    "print_error",
    "runs_table",
    "short_id",
    "status_text",
]

SHORT_ID_LENGTH = 8
"""Characters of a run id shown in tables; ``runs show`` accepts any unique prefix of 4 or more."""

_STATUS_STYLES = {
    RunStatus.RUNNING: "bold cyan",
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "bold red",
    RunStatus.KILLED: "yellow",
}

# Metric names whose smaller values are better; any other metric is taken as higher-is-better.
_LOWER_IS_BETTER = re.compile(
    r"(loss|error|err\b|mse|mae|rmse|mape|deviance|perplexity|latency|duration|time)", re.IGNORECASE
)

_MISSING = "—"
_NAME_WIDTH = 32
_VALUE_WIDTH = 24
_COLUMN_PADDING = 3  # a space each side of a cell, and the (blank) rule between cells


def output_console() -> Console:
    """A console on standard output. Built per command so it sees the current terminal width."""
    return Console(highlight=False)


def error_console() -> Console:
    """A console on standard error for messages that are not the command's output."""
    return Console(stderr=True, highlight=False)


def print_error(error: LoopwrightError) -> None:
    """Print ``error[<code>]: <message>`` in red on standard error (never as Rich markup)."""
    code = error.specific_code if isinstance(error, NotFoundError) else error.code
    # soft_wrap: the message stays on its lines whatever the width, so it can be copied and grepped.
    error_console().print(Text(f"error[{code}]: {error.message}", style="red"), soft_wrap=True)


# --- values ------------------------------------------------------------------------------------------


def short_id(run_id: str) -> str:
    """The first characters of a run id, as tables show it."""
    return run_id[:SHORT_ID_LENGTH]


def format_time(moment: datetime | None) -> str:
    """A stored (UTC) time in the local time zone, to the second."""
    if moment is None:
        return _MISSING
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``2m 05s``, ``1h 02m``; a dash for a run that has not ended."""
    if seconds is None:
        return _MISSING
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {whole_seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_metric(value: float | None) -> str:
    """A metric value to 4 significant digits (``nan``, ``inf`` as such); a dash when it is missing."""
    if value is None:
        return _MISSING
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def format_size(size: int) -> str:
    """A byte count in B, KiB, MiB or GiB."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB"):
        if amount < 1024:
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def status_text(status: RunStatus) -> Text:
    """The status word, coloured by outcome."""
    return Text(str(status), style=_STATUS_STYLES.get(status, ""))


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better, judged by its name (loss, error, mse, time…)."""
    return _LOWER_IS_BETTER.search(metric) is not None


# --- run tables --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One data column of a run table: ``family`` is ``metrics``, ``params``, ``tags`` or ``attributes``."""

    family: str
    key: str

    @classmethod
    def parse(cls, text: str) -> ColumnSpec:
        """``metrics.accuracy``, ``params.C``, ``tags.team`` or an attribute such as ``user``."""
        family, separator, key = text.partition(".")
        aliases = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}
        family = aliases.get(family, family)
        if separator and family in {"metrics", "params", "tags", "attributes"} and key:
            if family == "attributes" and key not in _ATTRIBUTE_COLUMNS:
                raise _unknown_column(text)
            return cls(family, key)
        if not separator and text in _ATTRIBUTE_COLUMNS:
            return cls("attributes", text)
        raise _unknown_column(text)

    @property
    def label(self) -> str:
        """The column's name as typed: ``metrics.accuracy``."""
        return f"{self.family}.{self.key}"

    def header(self) -> Text:
        """A two-line header: the family, dimmed, above the key."""
        family = {"metrics": "metric", "params": "param", "tags": "tag", "attributes": ""}[self.family]
        header = Text(family + "\n", style="dim")
        header.append(self.key, style="bold")
        return header

    def cell(self, record: RunRecord) -> Text:
        """This column's value for one run."""
        if self.family == "metrics":
            value = record.metrics.get(self.key)
            return Text(format_metric(value), style="" if value is not None else "dim")
        if self.family in {"params", "tags"}:
            values = record.params if self.family == "params" else record.tags
            text = values.get(self.key)
            return Text(_MISSING, style="dim") if text is None else Text(text)
        return Text(_ATTRIBUTE_COLUMNS[self.key](record))


_ATTRIBUTE_COLUMNS: dict[str, Callable[[RunRecord], str]] = {
    "experiment": lambda record: record.experiment,
    "user": lambda record: record.user or _MISSING,
    "host": lambda record: record.host or _MISSING,
    "kind": lambda record: record.kind,
    "parent": lambda record: short_id(record.parent_id) if record.parent_id else _MISSING,
    "git_commit": lambda record: (record.git_commit or _MISSING)[:12],
    "end": lambda record: format_time(record.end_time),
}


def _unknown_column(text: str) -> InvalidInputError:
    return InvalidInputError(
        f"Unknown column {text!r}: expected metrics.<key>, params.<key>, tags.<key> or one of "
        f"{', '.join(sorted(_ATTRIBUTE_COLUMNS))}.",
        column=text,
    )


RUN_ATTRIBUTES = ("experiment", "parent", "status", "start", "duration")
"""The attribute columns a run table can show between the name and the data columns."""

_ATTRIBUTE_WIDTHS = {"parent": SHORT_ID_LENGTH, "status": 8, "start": 19, "duration": 8}


def default_attributes(records: Sequence[RunRecord]) -> list[str]:
    """Status, start and duration; the experiment when runs of several are shown, the parent when any
    run is nested."""
    attributes = []
    if len({record.experiment for record in records}) > 1:
        attributes.append("experiment")
    if any(record.parent_id for record in records):
        attributes.append("parent")
    return [*attributes, "status", "start", "duration"]


def fit_columns(
    records: Sequence[RunRecord],
    *,
    width: int,
    attributes: Sequence[str],
    first: Sequence[ColumnSpec] = (),
) -> tuple[list[str], list[ColumnSpec], list[ColumnSpec]]:
    """What of a run table fits ``width`` characters: ``(attributes, data columns, data columns left out)``.

    Data columns come in order: ``first`` (e.g. the keys the runs are ordered by), then every metric,
    then every parameter present in ``records``, each in name order; a column costs its widest value or
    key plus padding. To make room for ``first`` (or, without it, for one data column), the start time
    goes, then the parent.
    """
    metric_keys = sorted({key for record in records for key in record.metrics})
    param_keys = sorted({key for record in records for key in record.params})
    candidates = list(first)
    candidates += [ColumnSpec("metrics", key) for key in metric_keys]
    candidates += [ColumnSpec("params", key) for key in param_keys]
    candidates = list(dict.fromkeys(candidates))  # keeps the order, drops repeats
    costs = {
        column: _cell_width([len(column.key)] + [len(column.cell(record).plain) for record in records])
        for column in candidates
    }
    wanted = sum(costs[column] for column in (list(first) or candidates[:1]))

    used = _cell_width([SHORT_ID_LENGTH]) + _cell_width([len("name")] + [len(r.name) for r in records])
    attribute_costs = {attribute: _attribute_width(attribute, records) for attribute in attributes}
    kept = list(attributes)
    for expendable in _EXPENDABLE_ATTRIBUTES:
        if used + sum(attribute_costs[attribute] for attribute in kept) + wanted <= width:
            break
        if expendable in kept:
            kept.remove(expendable)
    used += sum(attribute_costs[attribute] for attribute in kept)

    chosen: list[ColumnSpec] = []
    left_out: list[ColumnSpec] = []
    for column in candidates:
        if used + costs[column] <= width:
            chosen.append(column)
            used += costs[column]
        else:
            left_out.append(column)
    return kept, chosen, left_out


_EXPENDABLE_ATTRIBUTES = ("start", "parent")


def _attribute_width(attribute: str, records: Sequence[RunRecord]) -> int:
    if attribute == "experiment":
        return _cell_width([len("experiment")] + [len(record.experiment) for record in records])
    return _cell_width([len(attribute), _ATTRIBUTE_WIDTHS[attribute]])


def _cell_width(lengths: Sequence[int]) -> int:
    return min(_VALUE_WIDTH, max(lengths)) + _COLUMN_PADDING


def runs_table(
    records: Sequence[RunRecord],
    columns: Sequence[ColumnSpec],
    *,
    attributes: Sequence[str] = ("status", "start", "duration"),
    title: str | None = None,
    rank: bool = False,
) -> Table:
    """Runs as rows: id, name, ``attributes`` (see :data:`RUN_ATTRIBUTES`), then the data ``columns``.

    ``rank`` numbers the rows. Headers have two lines: the family of a data column (metric, param, tag)
    above its key.
    """
    table = plain_table(title)
    if rank:
        table.add_column("\n#", justify="right")
    table.add_column("\nid", no_wrap=True, style="cyan")
    table.add_column("\nname", no_wrap=True, max_width=_NAME_WIDTH, overflow="ellipsis")
    for attribute in attributes:
        justify: JustifyMethod = "right" if attribute == "duration" else "left"
        style = "cyan" if attribute == "parent" else None
        table.add_column("\n" + attribute, justify=justify, no_wrap=True, style=style, overflow="ellipsis")
    for column in columns:
        table.add_column(
            column.header(),
            justify="right" if column.family == "metrics" else "left",
            no_wrap=True,
            max_width=_VALUE_WIDTH,
            overflow="ellipsis",
        )
    for position, record in enumerate(records, start=1):
        cells: list[Text] = [Text(str(position))] if rank else []
        cells += [Text(short_id(record.id)), Text(record.name)]
        cells += [_attribute_cell(attribute, record) for attribute in attributes]
        cells += [column.cell(record) for column in columns]
        table.add_row(*cells)
    return table


def _attribute_cell(attribute: str, record: RunRecord) -> Text:
    if attribute == "experiment":
        return Text(record.experiment)
    if attribute == "parent":
        return Text(short_id(record.parent_id)) if record.parent_id else Text(_MISSING, style="dim")
    if attribute == "status":
        return status_text(record.status)
    if attribute == "start":
        return Text(format_time(record.start_time))
    if attribute == "duration":
        return Text(format_duration(record.duration_s))
    raise ValueError(f"Unknown run attribute {attribute!r}: expected one of {', '.join(RUN_ATTRIBUTES)}.")


def compare_table(records: Sequence[RunRecord], *, only_differences: bool = False) -> Table:
    """Runs side by side: one column per run, one row per attribute, parameter and metric.

    Rows whose values differ between runs are marked ``≠`` (and coloured); where two or more runs have a
    metric, its best value is marked ``★`` (and green), judged by :func:`lower_is_better`. A key a run
    lacks shows a dash. ``only_differences`` leaves out the parameters and metrics every run agrees on.
    """
    table = plain_table()
    table.add_column("", no_wrap=True, min_width=12, overflow="ellipsis")
    table.add_column("", no_wrap=True, min_width=1)
    for record in records:
        header = Text(record.name + "\n", style="bold")
        header.append(short_id(record.id), style="cyan")
        table.add_column(header, no_wrap=True, max_width=_VALUE_WIDTH, overflow="ellipsis")

    table.add_row(Text("status"), Text(""), *[status_text(record.status) for record in records])
    durations = [Text(format_duration(record.duration_s)) for record in records]
    table.add_row(Text("duration"), Text(""), *durations)
    if len({record.experiment for record in records}) > 1:
        experiments = [Text(record.experiment) for record in records]
        table.add_row(Text("experiment", style="yellow"), Text("≠", style="yellow"), *experiments)

    param_rows = []
    for key in sorted({key for record in records for key in record.params}):
        values = [record.params.get(key) for record in records]
        differs = len(set(values)) > 1
        if differs or not only_differences:
            style = "yellow" if differs else "dim"
            cells = [Text(_MISSING if value is None else value, style=style) for value in values]
            param_rows.append([Text(f"params.{key}", style=style), Text("≠" if differs else ""), *cells])

    metric_rows = []
    for key in sorted({key for record in records for key in record.metrics}):
        numbers = [record.metrics.get(key) for record in records]
        texts = [format_metric(number) for number in numbers]
        differs = len(set(texts)) > 1
        if not differs and only_differences:
            continue
        best = _best(numbers, lower=lower_is_better(key)) if differs else None
        cells = []
        for number, text in zip(numbers, texts, strict=True):
            if best is not None and number == best:
                cells.append(Text(f"{text} ★", style="bold green"))
            else:
                cells.append(Text(text, style="" if number is not None else "dim"))
        style = "yellow" if differs else "dim"
        metric_rows.append(
            [Text(f"metrics.{key}", style=style), Text("≠" if differs else "", style=style), *cells]
        )

    for rows in (param_rows, metric_rows):
        if rows:
            table.add_section()
        for row in rows:
            table.add_row(*row)
    return table


def plain_table(title: str | None = None) -> Table:
    """The table style of every command: no vertical rules, one line under the header (dense tables
    stay readable, and their text can be copied)."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        header_style="bold",
    )


def _best(numbers: Sequence[float | None], *, lower: bool) -> float | None:
    real = [number for number in numbers if number is not None and not math.isnan(number)]
    if len(real) < 2:
        return None  # nothing to be best against
    return min(real) if lower else max(real)
