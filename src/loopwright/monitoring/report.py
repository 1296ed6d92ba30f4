"""The monitoring report: one self-contained HTML page per deployment and time range.

``loopwright monitor report fraud --from 2026-11-01 --to 2026-11-28 -o report.html`` writes it; in Python::

    from loopwright.monitoring.report import render_report

    html = render_report(client.monitors, client.alerts, client.prediction_log, "fraud",
                         start="2026-11-01", end="2026-11-28")

For each monitor of the deployment it shows the alerts of the range, drift over time (the share of
drifted columns, then each column's score against its threshold), performance over time (realised from
labels as solid lines, estimated as dashed ones, and the label coverage), operations (latency
percentiles, throughput), data quality per column, and per column the reference distribution beside the
current one (the served predictions of the range). The plots are inline SVG
(:mod:`loopwright.monitoring._svg`): the page loads nothing, runs no script, and escapes every name and
value it shows, so it can be mailed, archived or opened offline.

The current distributions read the range's predictions from the log once; a range of more than
``max_rows`` served predictions is sampled uniformly (seeded, so a report is reproducible).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.monitoring import _svg
from loopwright.monitoring.alerts import Alerts
from loopwright.monitoring.drift import OUTPUT_PREFIX
from loopwright.monitoring.profile import ColumnProfile
from loopwright.monitoring.results import PERFORMANCE_METRICS
from loopwright.monitoring.stats import P_VALUE_TESTS
from loopwright.monitoring.windows import Window, WindowData
from loopwright.store.alerts import AlertRecord
from loopwright.store.metadata import now_ms
from loopwright.store.monitoring import MonitorRecord, ResultRecord

if TYPE_CHECKING:
    from loopwright.monitoring.service import MonitorService
    from loopwright.serving.predictlog import PredictionLog

__all__ = ["DEFAULT_RANGE_MS", "render_report"]

DEFAULT_RANGE_MS = 7 * 86_400_000
"""The range a report covers when no start is given: the 7 days before its end."""

_BINS = 20
_TOP_CATEGORIES = 12
_LATENCY = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
_QUALITY = ("missing_share", "out_of_range_share", "unseen_category_share")
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1340px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
.meta { color: #666; } .note { color: #666; font-style: italic; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.critical { color: #b00020; font-weight: 600; } .warning { color: #b26a00; } .info { color: #555; }
"""


def render_report(
    monitors: MonitorService,
    alerts: Alerts | None,
    log: PredictionLog,
    deployment: str,
    *,
    start: datetime | date | str | int | None = None,
    end: datetime | date | str | int | None = None,
    max_rows: int = 200_000,
) -> str:
    """The HTML report of ``deployment``'s monitors over ``[start, end)`` (default: the 7 days before
    now). ``start`` and ``end`` are datetimes, dates, ISO texts or epoch milliseconds."""
    from loopwright.serving.predictlog import epoch_ms

    end_ms = epoch_ms(end, "end") if end is not None else now_ms()
    start_ms = epoch_ms(start, "start") if start is not None else None
    assert end_ms is not None
    start_ms = start_ms if start_ms is not None else end_ms - DEFAULT_RANGE_MS
    records = monitors.all(deployment)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Monitoring report: {escape(deployment)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Monitoring report: deployment {escape(deployment)}</h1>",
        f'<p class="meta">{_stamp(start_ms)} to {_stamp(end_ms)} (UTC) · generated {_stamp(now_ms())} · '
        f"{len(records)} monitor{'s' * (len(records) != 1)}</p>",
    ]
    if not records:
        parts.append(
            f'<p class="note">Deployment {escape(deployment)!s} has no monitors. Create one with '
            "<code>loopwright monitor create</code>.</p>"
        )
    frame = log.query(deployment, start_ms, end_ms) if records else None
    for record in records:
        parts.append(_Section(monitors, alerts, record, start_ms, end_ms, frame, max_rows).render())
    parts.append("</body></html>")
    return "\n".join(parts)


class _Section:
    """One monitor's part of the report."""

    def __init__(
        self,
        monitors: MonitorService,
        alerts: Alerts | None,
        record: MonitorRecord,
        start_ms: int,
        end_ms: int,
        frame: Any,
        max_rows: int,
    ) -> None:
        self.monitors = monitors
        self.alerts = alerts
        self.record = record
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.frame = frame
        self.max_rows = max_rows
        self.results = monitors.catalog.results(record.id, start_ms=start_ms, end_ms=end_ms)
        self.series: dict[tuple[str, str | None], list[ResultRecord]] = defaultdict(list)
        for result in self.results:
            self.series[(result.metric, result.column)].append(result)

    def render(self) -> str:
        windows = self.monitors.catalog.windows(self.record.id, start_ms=self.start_ms, end_ms=self.end_ms)
        failed = sum(1 for window in windows if window.status == "failed")
        rows = sum(window.rows for window in windows)
        parts = [
            f"<h2>Monitor {escape(self.record.name)}</h2>",
            f'<p class="meta">{len(windows)} window{"s" * (len(windows) != 1)} in range'
            f"{f' ({failed} failed)' if failed else ''} · {rows} served predictions · reference "
            f"{escape(_reference(self.record))}</p>",
        ]
        if not windows:
            parts.append(
                '<p class="note">No window of this monitor falls in the range: run the monitor first '
                "(<code>loopwright monitor run</code>) or pick another range.</p>"
            )
        parts.append(self._alerts())
        parts.append(self._drift())
        parts.append(self._performance())
        parts.append(self._operations())
        parts.append(self._quality())
        parts.append(self._distributions())
        return "\n".join(part for part in parts if part)

    # --- alerts ------------------------------------------------------------------------------------------

    def _alerts(self) -> str:
        if self.alerts is None:
            return ""
        found = [
            alert
            for alert in self.alerts.list_alerts(monitor=self.record.name, limit=None)
            if _overlaps(alert, self.start_ms, self.end_ms)
        ]
        if not found:
            return '<h3>Alerts</h3><p class="note">No alert in this range.</p>'
        rows = [
            "<tr>"
            f'<td>{escape(alert.rule)}</td><td class="{escape(alert.severity)}">{escape(alert.severity)}</td>'
            f"<td>{escape(alert.status)}</td><td>{_iso(alert.opened_at)}</td><td>{_iso(alert.resolved_at)}</td>"
            f"<td>{escape(alert.message)}</td></tr>"
            for alert in found
        ]
        return (
            "<h3>Alerts</h3><table><tr><th>rule</th><th>severity</th><th>status</th><th>opened</th>"
            f"<th>resolved</th><th>message</th></tr>{''.join(rows)}</table>"
        )

    # --- time series -------------------------------------------------------------------------------------

    def _line(
        self, metric: str, column: str | None = None, label: str | None = None, **options: Any
    ) -> _svg.Line:
        points = self.series.get((metric, column), [])
        return _svg.Line(
            label or metric,
            [point.window_end_ms for point in points],
            [math.nan if point.value is None else point.value for point in points],
            **options,
        )

    def _drift(self) -> str:
        charts = []
        if ("drift_share", None) in self.series:
            threshold = _extra(self.series.get(("dataset_drift", None), []), "threshold")
            charts.append(
                _svg.lines(
                    "Share of drifted columns",
                    [self._line("drift_share", label="drift share")],
                    threshold=threshold,
                    y_label="share",
                )
            )
        if ("multivariate_drift", None) in self.series:
            points = self.series[("multivariate_drift", None)]
            method = str(_extra(points, "method") or "multivariate")
            charts.append(
                _svg.lines(
                    f"Multivariate drift ({method})",
                    [self._line("multivariate_drift", label=method)],
                    threshold=_extra(points, "threshold"),
                )
            )
        for metric, title in (("drift_score", "Drift of"), ("prediction_drift_score", "Prediction drift of")):
            for column in sorted({column for name, column in self.series if name == metric and column}):
                points = self.series[(metric, column)]
                test = str(_extra(points, "test") or "")
                reading = (
                    "p-value: drift below the threshold"
                    if test in P_VALUE_TESTS
                    else "drift above the threshold"
                )
                charts.append(
                    _svg.lines(
                        f"{title} {column}: {test} ({reading})",
                        [self._line(metric, column, label=column)],
                        threshold=_extra(points, "threshold"),
                    )
                )
        return _block("Drift over time", charts, "No drift results in this range.")

    def _performance(self) -> str:
        charts = []
        realised = [
            name
            for name in PERFORMANCE_METRICS
            if (name, None) in self.series
            and not name.startswith("estimated_")
            and name not in ("labels", "label_coverage")
        ]
        estimated = [
            name
            for name in PERFORMANCE_METRICS
            if name.startswith("estimated_") and (name, None) in self.series
        ]
        if realised or estimated:
            lines = [self._line(name) for name in realised]
            lines += [
                self._line(name, label=f"{name.removeprefix('estimated_')} (estimated)", dashed=True)
                for name in estimated
            ]
            charts.append(_svg.lines("Performance (dashed: estimated from probabilities)", lines))
        if ("label_coverage", None) in self.series:
            charts.append(
                _svg.lines(
                    "Label coverage", [self._line("label_coverage", label="coverage")], y_label="share"
                )
            )
        return _block("Performance over time", charts, "No performance results in this range.")

    def _operations(self) -> str:
        charts = []
        latency = [
            self._line(name, label=name.removeprefix("latency_").removesuffix("_ms"))
            for name in _LATENCY
            if (name, None) in self.series
        ]
        if latency:
            charts.append(_svg.lines("Latency", latency, y_label="ms"))
        if ("throughput_per_s", None) in self.series:
            charts.append(
                _svg.lines(
                    "Throughput",
                    [self._line("throughput_per_s", label="predictions/s")],
                    y_label="per second",
                )
            )
        if ("error_rate", None) in self.series:
            charts.append(
                _svg.lines("Error rate", [self._line("error_rate", label="error rate")], y_label="share")
            )
        return _block("Operations", charts, "")

    def _quality(self) -> str:
        shares = {column for metric, column in self.series if metric in _QUALITY and column}
        failing: dict[str, float] = defaultdict(float)  # rows failing schema checks, by column
        for result in self.results:
            if result.metric == "schema_violation_rows" and result.value:
                failing[result.column or "(whole row)"] += result.value
        columns = sorted(shares | set(failing))
        if not columns:
            return ""
        head = "".join(f"<th>{escape(metric.replace('_', ' '))} (mean, max)</th>" for metric in _QUALITY)
        rows = []
        for column in columns:
            cells = []
            for metric in _QUALITY:
                values = [
                    point.value for point in self.series.get((metric, column), []) if point.value is not None
                ]
                cells.append(
                    f'<td class="number">{np.mean(values):.4f}, {max(values):.4f}</td>'
                    if values
                    else "<td>—</td>"
                )
            cells.append(f'<td class="number">{int(failing.get(column, 0))}</td>')
            rows.append(f"<tr><td>{escape(column)}</td>{''.join(cells)}</tr>")
        checked = [point.value for point in self.series.get(("schema_violations", None), [])]
        note = (
            f"<p>Data-schema checks failed in {sum(1 for value in checked if value)} of "
            f"{len(checked)} windows.</p>"
            if checked
            else ""
        )
        return (
            f"<h3>Data quality</h3><table><tr><th>column</th>{head}<th>rows failing schema checks</th></tr>"
            f"{''.join(rows)}</table>{note}"
        )

    # --- distributions -----------------------------------------------------------------------------------

    def _distributions(self) -> str:
        if self.frame is None or not len(self.frame):
            return '<h3>Distributions</h3><p class="note">No predictions of this deployment in the range.</p>'
        try:
            profile = self.monitors.profiles.get(self.record)
        except Exception as error:  # the reference is gone or unreadable: the rest of the report stands
            reason = escape(str(error))
            return f'<h3>Distributions</h3><p class="note">The reference could not be read: {reason}</p>'
        numeric = [name for name, column in profile.columns.items() if column.kind == "numeric"]
        data = WindowData.from_log(Window(self.start_ms, self.end_ms), self.frame, numeric)
        served = data.select(data.served)
        if served.rows > self.max_rows:
            chosen = np.sort(np.random.default_rng(0).choice(served.rows, self.max_rows, replace=False))
            mask = np.zeros(served.rows, dtype=bool)
            mask[chosen] = True
            served = served.select(mask)
        charts = []
        for name, column in profile.columns.items():
            if name.startswith(OUTPUT_PREFIX) or name not in served.inputs:
                continue
            charts.append(_distribution(name, column, served.inputs[name]))
        sampled = f" (a uniform sample of {self.max_rows})" if data.served.sum() > self.max_rows else ""
        return _block(
            f"Distributions: reference vs the range's {served.rows} served predictions{sampled}",
            charts,
            "No watched column appears in the logged inputs.",
        )


def _distribution(name: str, reference: ColumnProfile, current: Any) -> str:
    if reference.kind == "numeric":
        values = np.asarray(current, dtype=np.float64)
        values = values[np.isfinite(values)]
        pooled = np.concatenate([reference.values, values])
        if not pooled.size:
            return _svg.bars(name, [], [])
        low, high = np.quantile(pooled, [0.005, 0.995]) if pooled.size > 1 else (pooled[0], pooled[0])
        high = high if high > low else low + 1.0
        edges = np.linspace(low, high, _BINS + 1)
        labels = [f"{edges[index]:.4g}" for index in range(_BINS)]
        return _svg.bars(
            f"{name} (numeric; outside {edges[0]:.4g} to {edges[-1]:.4g} in the end bins)",
            labels,
            [("reference", _shares(reference.values, edges)), ("current", _shares(values, edges))],
        )
    counts: dict[str, int] = {}
    for value in current:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            label = _label(value)
            counts[label] = counts.get(label, 0) + 1
    reference_counts = dict(zip(reference.categories.tolist(), reference.counts.tolist(), strict=True))
    ref_total, cur_total = sum(reference_counts.values()) or 1, sum(counts.values()) or 1
    ranked = sorted(
        set(reference_counts) | set(counts),
        key=lambda label: -(reference_counts.get(label, 0) / ref_total + counts.get(label, 0) / cur_total),
    )
    shown, rest = ranked[:_TOP_CATEGORIES], ranked[_TOP_CATEGORIES:]
    labels = [*shown, *(["(others)"] if rest else [])]

    def shares(found: dict[str, int], total: int) -> list[float]:
        values = [found.get(label, 0) / total for label in shown]
        return values + ([sum(found.get(label, 0) for label in rest) / total] if rest else [])

    return _svg.bars(
        f"{name} (categorical)",
        labels,
        [("reference", shares(reference_counts, ref_total)), ("current", shares(counts, cur_total))],
    )


def _shares(values: np.ndarray, edges: np.ndarray) -> list[float]:
    if not values.size:
        return [0.0] * (len(edges) - 1)
    clipped = np.clip(values, edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return [float(count) / values.size for count in counts]


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _block(title: str, charts: Sequence[str], empty: str) -> str:
    if not charts:
        return f'<h3>{escape(title)}</h3><p class="note">{escape(empty)}</p>' if empty else ""
    return f'<h3>{escape(title)}</h3><div class="charts">{"".join(charts)}</div>'


def _extra(points: Sequence[ResultRecord], key: str) -> Any:
    for point in reversed(points):
        if point.extra and point.extra.get(key) is not None:
            return point.extra[key]
    return None


def _overlaps(alert: AlertRecord, start_ms: int, end_ms: int) -> bool:
    """Whether the windows ``alert`` covered touch ``[start_ms, end_ms)``: its latest window ended after
    the start, and it began before the end (or is still open)."""
    if alert.window_end_ms is None or alert.window_start_ms is None:
        return False
    return alert.window_end_ms > start_ms and (alert.window_start_ms < end_ms or alert.status == "open")


def _reference(record: MonitorRecord) -> str:
    reference = record.reference
    if reference.get("kind") == "dataset":
        return f"dataset {reference.get('name')}:{reference.get('version')}"
    if "start_ms" in reference:
        return f"window {_stamp(int(reference['start_ms']))} to {_stamp(int(reference['end_ms']))}"
    return str(reference)


def _stamp(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _iso(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
