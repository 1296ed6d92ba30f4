"""Dataset profiles as the CLI shows them: per-column statistics of one version (``data show``), and of
two versions side by side with their drift (``data diff``).

The layout of a profile is documented in :mod:`loopwright.data.profile`. Columns are shown in the
version's column order (the stored profile is JSON, whose key order a database may not keep).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from loopwright.cli._render import format_metric, plain_table
from loopwright.data.checks import value_skew_checks

if TYPE_CHECKING:
    from loopwright.data.versions import DatasetVersion

__all__ = [
    "DRIFT_THRESHOLD",
    "check_status_text",
    "diff_table",
    "format_moment",
    "format_percent",
    "format_statistic",
    "profile_tables",
    "schema_changes",
    "short_hash",
]

DRIFT_THRESHOLD = 0.2
"""PSI from which ``data diff`` flags a column as drifted (the SDK's default for value-skew checks)."""

HASH_LENGTH = 12
"""Characters of a content hash shown."""

TOP_SHOWN = 3
"""Most frequent values shown per text column."""

_MISSING = "—"
_VALUE_WIDTH = 24
_STATUS_STYLES = {"passed": "green", "warned": "yellow", "failed": "bold red", "unchecked": "dim"}
_KIND_TITLES = {
    "numeric": "Numeric columns",
    "categorical": "Categorical columns",
    "temporal": "Time columns",
}


def short_hash(content_hash: str) -> str:
    """The first characters of a content hash, as tables show it."""
    return content_hash[:HASH_LENGTH]


def check_status_text(status: str) -> Text:
    """A version's check status (``passed``, ``warned``, ``failed``, ``unchecked``), coloured."""
    return Text(status, style=_STATUS_STYLES.get(status, ""))


def format_statistic(value: float | None) -> str:
    """A statistic for reading: whole numbers below a million in full (thousands separated from 10,000),
    anything else to 4 significant digits, so a cell stays narrow."""
    if value is None:
        return _MISSING
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e6:
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.0f}"
    return format_metric(value)


def format_percent(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole`` to 3 significant digits: ``0.5%``, ``33.3%``, ``100%``."""
    if whole <= 0:
        return _MISSING
    return f"{100 * part / whole:.3g}%"


def format_moment(text: str | None) -> str:
    """A profile's ISO-8601 time, shorter: ``2024-01-01 15:00`` (seconds when not zero, no time at
    midnight)."""
    if not text:
        return _MISSING
    moment = text.replace("T", " ")
    if moment.endswith(" 00:00:00"):
        return moment.removesuffix(" 00:00:00")
    return moment.removesuffix(":00") if len(moment) == len("2024-01-01 15:00:00") else moment


def _missing(stats: dict[str, Any], rows: int) -> str:
    missing = int(stats.get("missing", 0))
    return f"{missing:,} ({format_percent(missing, rows)})" if missing else "0"


def _distinct(stats: dict[str, Any]) -> str:
    approximate = "" if stats.get("categories_complete") else "≈"
    return f"{approximate}{int(stats.get('distinct', 0)):,}"


def _top(stats: dict[str, Any], *, shares: bool) -> str:
    top = stats.get("top") or []
    total = int(stats.get("count", 0))
    shown = [
        f"{value} {format_percent(count, total)}" if shares else str(value)
        for value, count in top[:TOP_SHOWN]
    ]
    return ", ".join(shown) or _MISSING


def _median(stats: dict[str, Any]) -> float | None:
    percentiles = stats.get("percentiles") or []
    return float(percentiles[50]) if len(percentiles) == 101 else None


# --- one version ---------------------------------------------------------------------------------------


def profile_tables(columns: Sequence[dict[str, Any]], profile: dict[str, Any]) -> list[tuple[str, Table]]:
    """One table per kind of column present (numeric, text, time), titled with its column count."""
    rows = int(profile["rows"])
    stats_by_name = profile["columns"]
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {kind: [] for kind in _KIND_TITLES}
    for column in columns:
        stats = stats_by_name[column["name"]]
        groups.setdefault(stats["kind"], []).append((column["name"], stats))
    tables = []
    for kind, members in groups.items():
        if not members:
            continue
        title = f"{_KIND_TITLES.get(kind, kind.title() + ' columns')} ({len(members)})"
        tables.append((title, _kind_table(kind, members, rows)))
    return tables


def _kind_table(kind: str, members: Sequence[tuple[str, dict[str, Any]]], rows: int) -> Table:
    table = plain_table()
    table.add_column("column", style="bold", max_width=_VALUE_WIDTH + 8, overflow="fold")
    table.add_column("type", no_wrap=True)
    table.add_column("missing", justify="right", no_wrap=True)
    cells: list[Callable[[dict[str, Any]], str]]
    if kind == "numeric":
        with_nan = any(stats.get("nan") for _, stats in members)
        if with_nan:
            table.add_column("NaN", justify="right", no_wrap=True)
        for header in ("min", "mean", "std", "max", "p50"):
            table.add_column(header, justify="right", no_wrap=True)
        cells = [
            *([lambda stats: f"{int(stats.get('nan', 0)):,}"] if with_nan else []),
            lambda stats: format_statistic(stats.get("min")),
            lambda stats: format_statistic(stats.get("mean")),
            lambda stats: format_statistic(stats.get("std")),
            lambda stats: format_statistic(stats.get("max")),
            lambda stats: format_statistic(_median(stats)),
        ]
    elif kind == "temporal":
        table.add_column("min", no_wrap=True)
        table.add_column("max", no_wrap=True)
        cells = [lambda stats: format_moment(stats.get("min")), lambda stats: format_moment(stats.get("max"))]
    else:
        table.add_column("distinct", justify="right", no_wrap=True)
        table.add_column(f"top {TOP_SHOWN} (share of values)", overflow="fold")
        cells = [_distinct, lambda stats: _top(stats, shares=True)]
    for name, stats in members:
        row = [Text(name), Text(stats["type"], style="dim"), Text(_missing(stats, rows))]
        row += [Text(cell(stats)) for cell in cells]
        table.add_row(*row)
    return table


# --- two versions --------------------------------------------------------------------------------------


def schema_changes(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> Text:
    """Added and removed columns and type changes, on one line (``same columns and types`` if none)."""
    old = {column["name"]: column["type"] for column in before}
    new = {column["name"]: column["type"] for column in after}
    parts: list[tuple[str, str]] = []
    added = [f"{name} ({kind})" for name, kind in new.items() if name not in old]
    removed = [f"{name} ({kind})" for name, kind in old.items() if name not in new]
    changed = [
        f"{name} {old[name]} → {kind}" for name, kind in new.items() if name in old and old[name] != kind
    ]
    if added:
        parts.append(("added " + ", ".join(added), "green"))
    if removed:
        parts.append(("removed " + ", ".join(removed), "red"))
    if changed:
        parts.append(("type changed: " + ", ".join(changed), "yellow"))
    if not parts:
        return Text("same columns and types", style="dim")
    text = Text()
    for position, (part, style) in enumerate(parts):
        if position:
            text.append("; ")
        text.append(part, style=style)
    return text


@dataclass(frozen=True, slots=True)
class _Statistic:
    label: str
    before: str
    after: str
    change: str


def diff_table(
    before: DatasetVersion, after: DatasetVersion, *, only_differences: bool = False
) -> Table | None:
    """Per-column statistics of two versions side by side, the change, and the drift of each column
    (PSI against ``before``, flagged from :data:`DRIFT_THRESHOLD`). ``None`` when ``only_differences``
    leaves nothing to show."""
    old_rows, new_rows = int(before.profile["rows"]), int(after.profile["rows"])
    old_stats, new_stats = before.profile["columns"], after.profile["columns"]
    names = [column["name"] for column in after.columns]
    names += [column["name"] for column in before.columns if column["name"] not in new_stats]
    drift = {
        result.column: result.statistics["psi"]
        for result in value_skew_checks(after.profile, before.profile, psi_threshold=DRIFT_THRESHOLD)
        if result.column is not None
    }
    table = plain_table()
    table.add_column("column", max_width=_VALUE_WIDTH, overflow="fold")
    table.add_column("statistic", no_wrap=True)
    table.add_column(
        f"{before.name}:{before.version}", justify="right", max_width=_VALUE_WIDTH, overflow="fold"
    )
    table.add_column(
        f"{after.name}:{after.version}", justify="right", max_width=_VALUE_WIDTH, overflow="fold"
    )
    table.add_column("change", max_width=_VALUE_WIDTH, overflow="fold")
    table.add_column("drift (PSI)", no_wrap=True)
    shown = 0
    for name in names:
        old, new = old_stats.get(name), new_stats.get(name)
        statistics = _statistics(old, new, old_rows, new_rows)
        psi = drift.get(name)
        drifted = psi is not None and psi >= DRIFT_THRESHOLD
        structural = old is None or new is None or old["type"] != new["type"]
        if only_differences and not structural:
            statistics = [statistic for statistic in statistics if statistic.change]
            if not statistics and not drifted:
                continue
            statistics = statistics or _statistics(old, new, old_rows, new_rows)[:1]
        if shown:
            table.add_section()
        shown += 1
        for position, statistic in enumerate(statistics):
            # The name on the first line, its type (or how it changed) on the second.
            name_cell = _name_cells(name, old, new)[position] if position < 2 else Text("")
            drift_cell = _drift_cell(psi, drifted) if position == 0 else Text("")
            table.add_row(
                name_cell,
                Text(statistic.label),
                Text(statistic.before, style="" if old is not None else "dim"),
                Text(statistic.after, style="" if new is not None else "dim"),
                Text(statistic.change, style="yellow"),
                drift_cell,
            )
    return table if shown else None


def _name_cells(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[Text, Text]:
    # Added and removed columns are listed with their types above the table.
    if old is None:
        kind = Text("added", style="green")
    elif new is None:
        kind = Text("removed", style="red")
    elif old["type"] != new["type"]:
        kind = Text(f"{old['type']} → {new['type']}", style="yellow")
    else:
        kind = Text(new["type"], style="dim")
    return Text(name, style="bold"), kind


def _drift_cell(psi: float | None, drifted: bool) -> Text:
    if psi is None:
        return Text(_MISSING, style="dim")
    if drifted:
        return Text(f"{psi:.3f} drift", style="bold yellow")
    return Text(f"{psi:.3f}")


def _statistics(
    old: dict[str, Any] | None, new: dict[str, Any] | None, old_rows: int, new_rows: int
) -> list[_Statistic]:
    kind = (new or old or {}).get("kind")
    rows = [_missing_statistic(old, new, old_rows, new_rows)]
    if kind == "numeric":
        for key in ("mean", "std", "min", "max"):
            rows.append(_number_statistic(key, old, new))
    elif kind == "temporal":
        for key in ("min", "max"):
            rows.append(_time_statistic(key, old, new))
    else:
        rows.append(_distinct_statistic(old, new))
        rows.append(_top_statistic(old, new))
    return rows


def _same_kind(stats: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    return stats if stats is not None and stats.get("kind") == kind else None


def _missing_statistic(
    old: dict[str, Any] | None, new: dict[str, Any] | None, old_rows: int, new_rows: int
) -> _Statistic:
    def share(stats: dict[str, Any] | None, rows: int) -> float | None:
        return None if stats is None or rows <= 0 else 100 * int(stats.get("missing", 0)) / rows

    before, after = share(old, old_rows), share(new, new_rows)
    change = ""
    if before is not None and after is not None and f"{before:.3g}" != f"{after:.3g}":
        change = f"{after - before:+.3g} pp"
    return _Statistic(
        "missing",
        _MISSING if before is None else f"{before:.3g}%",
        _MISSING if after is None else f"{after:.3g}%",
        change,
    )


def _number_statistic(key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> _Statistic:
    before = (_same_kind(old, "numeric") or {}).get(key)
    after = (_same_kind(new, "numeric") or {}).get(key)
    shown_before, shown_after = format_statistic(before), format_statistic(after)
    change = ""
    if before is not None and after is not None and shown_before != shown_after:
        delta = format_statistic(after - before)
        change = delta if delta.startswith("-") else "+" + delta
    return _Statistic(key, shown_before, shown_after, change)


def _time_statistic(key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> _Statistic:
    before = (_same_kind(old, "temporal") or {}).get(key)
    after = (_same_kind(new, "temporal") or {}).get(key)
    change = ""
    if before is not None and after is not None and before != after:
        change = "later" if after > before else "earlier"
    return _Statistic(key, format_moment(before), format_moment(after), change)


def _distinct_statistic(old: dict[str, Any] | None, new: dict[str, Any] | None) -> _Statistic:
    before, after = _same_kind(old, "categorical"), _same_kind(new, "categorical")
    change = ""
    if before is not None and after is not None and before.get("distinct") != after.get("distinct"):
        change = f"{int(after.get('distinct', 0)) - int(before.get('distinct', 0)):+,}"
    return _Statistic(
        "distinct",
        _MISSING if before is None else _distinct(before),
        _MISSING if after is None else _distinct(after),
        change,
    )


def _top_statistic(old: dict[str, Any] | None, new: dict[str, Any] | None) -> _Statistic:
    before, after = _same_kind(old, "categorical"), _same_kind(new, "categorical")
    change = ""
    if before is not None and after is not None:
        first = [str(value) for value, _ in (before.get("top") or [])[:TOP_SHOWN]]
        second = [str(value) for value, _ in (after.get("top") or [])[:TOP_SHOWN]]
        entered = [value for value in second if value not in first]
        left = [value for value in first if value not in second]
        if entered or left:
            change = " ".join([*(f"+{value}" for value in entered), *(f"-{value}" for value in left)])
        elif first != second:
            change = "reordered"
    return _Statistic(
        f"top {TOP_SHOWN}",
        _MISSING if before is None else _top(before, shares=False),
        _MISSING if after is None else _top(after, shares=False),
        change,
    )
