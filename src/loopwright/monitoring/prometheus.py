"""Monitor results and alert states as Prometheus metric families, for the server's ``/metrics``.

:class:`MonitoringCollector` reads the store when Prometheus scrapes (at most once per ``cache_s``
seconds, so several scrapers cost one read) and yields gauges of each monitor's latest window, labelled
with the ``deployment`` and ``monitor``:

============================================  ================================  ==============================
metric                                        labels (and deployment, monitor)  from the monitor result
============================================  ================================  ==============================
``loopwright_drift_score``                    column, test                      ``drift_score``
``loopwright_drift_detected``                 column, test                      ``drift_detected``
``loopwright_dataset_drift_share``            —                                 ``drift_share``
``loopwright_dataset_drift_detected``         —                                 ``dataset_drift``
``loopwright_multivariate_drift_score``       method                            ``multivariate_drift``
``loopwright_prediction_drift_score``         column (the output), test         ``prediction_drift_score``
``loopwright_prediction_drift_detected``      column (the output), test         ``prediction_drift_detected``
``loopwright_data_quality``                   check, column                     ``missing_share``,
                                                                                ``out_of_range_share``,
                                                                                ``unseen_category_share``,
                                                                                ``schema_violations`` (checks
                                                                                failed; column empty)
``loopwright_schema_violation_rows``          column, check                     ``schema_violation_rows``
``loopwright_label_coverage_ratio``           —                                 ``label_coverage``
``loopwright_performance``                    metric, segment, estimated        realised and estimated
                                                                                performance metrics
``loopwright_window_predictions``             segment                           ``predictions``
``loopwright_window_predictions_per_second``  segment                           ``throughput_per_s``
``loopwright_window_latency_seconds``         segment, percentile               ``latency_p{50,95,99}_ms``
``loopwright_window_error_ratio``             segment                           ``error_rate``
``loopwright_monitor_window_rows``            —                                 ``rows``
``loopwright_monitor_last_window_end_``       —                                 the latest window's end
``timestamp_seconds``
``loopwright_alert_active``                   rule, severity                    1 while the rule has an
                                                                                open alert, else 0
============================================  ================================  ==============================

A ``segment`` is ``<variant>:v<version>`` or empty for the whole deployment; an empty ``column`` is the
whole window. Realised performance comes from the latest window that has labels (labels arrive late), at
most ``performance_lookback_s`` before the latest window; ``estimated="true"`` marks CBPE estimates.
Results without a number (undefined on the window's data) are left out rather than exposed as NaN, and
a label set seen twice keeps its first value (an exposition must not repeat a series).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from loopwright.errors import MissingExtraError
from loopwright.monitoring.results import PERFORMANCE_METRICS
from loopwright.store.alerts import AlertCatalog
from loopwright.store.monitoring import MonitorCatalog, MonitorRecord, ResultRecord

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - the [server] extra brings it
    raise MissingExtraError("Prometheus metrics", "prometheus-client", "server") from error

if TYPE_CHECKING:
    from loopwright.store.metadata import MetadataStore

__all__ = ["MonitoringCollector", "render_metrics"]

_BASE = ("deployment", "monitor")
_DAY_MS = 86_400_000
_REALISED = tuple(name for name in PERFORMANCE_METRICS if name not in ("label_coverage", "labels"))
_ESTIMATED_PREFIX = "estimated_"
_QUALITY = ("missing_share", "out_of_range_share", "unseen_category_share", "schema_violations")
_LATENCY = {"latency_p50_ms": "p50", "latency_p95_ms": "p95", "latency_p99_ms": "p99"}


class MonitoringCollector(Collector):
    """A Prometheus collector of the monitor results and alert states in ``store``.

    >>> registry = CollectorRegistry()
    >>> registry.register(MonitoringCollector(client.store))  # doctest: +SKIP
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        cache_s: float = 10.0,
        performance_lookback_s: float = 7 * 86_400,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monitors = MonitorCatalog(store)
        self._alerts = AlertCatalog(store)
        self._cache_s = cache_s
        self._lookback_ms = round(performance_lookback_s * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> list[Metric]:
        return []  # the families are read from the store when scraped

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # concurrent scrapes wait for one read instead of each reading
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._cache_s:
                self._cached = (now, self.families())
            families = self._cached[1]
        yield from families

    def families(self) -> list[Metric]:
        """Read the store and build every family (uncached)."""
        builder = _Families()
        for monitor in self._monitors.all():
            latest = self._monitors.latest_results(monitor.id)
            if not latest:
                continue
            builder.add_window(monitor, latest, self._realised(monitor, latest))
        for rule, open_alert in self._alerts.rule_states():
            builder.alert.add_metric(
                [rule.deployment, rule.monitor, rule.name, rule.severity], 0 if open_alert is None else 1
            )
        return builder.all()

    def _realised(self, monitor: MonitorRecord, latest: list[ResultRecord]) -> list[ResultRecord]:
        """The latest realised value of each performance series, where the latest window has none."""
        present = {(result.metric, result.column) for result in latest if result.value is not None}
        start = latest[0].window_start_ms
        found: dict[tuple[str, str | None], ResultRecord] = {}
        older = self._monitors.results(monitor.id, metric=_REALISED, start_ms=start - self._lookback_ms)
        for result in older:  # oldest first: the newest value of a series wins
            key = (result.metric, result.column)
            if result.value is not None and key not in present and result.window_start_ms < start:
                found[key] = result
        return list(found.values())


class _Families:
    def __init__(self) -> None:
        def gauge(name: str, text: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=[*_BASE, *labels])

        self.window_end = gauge(
            "loopwright_monitor_last_window_end_timestamp_seconds",
            "End of the latest window a monitor computed (Unix time): its age says whether monitoring runs.",
        )
        self.rows = gauge(
            "loopwright_monitor_window_rows", "Served predictions in a monitor's latest window."
        )
        self.drift_score = gauge(
            "loopwright_drift_score",
            "Drift score of an input column in the latest window: the p-value of KS, chi-squared and z tests "
            "(drift when below the threshold), the distance of Wasserstein, Jensen-Shannon and PSI (drift "
            "when above).",
            "column",
            "test",
        )
        self.drift_detected = gauge(
            "loopwright_drift_detected",
            "1 when an input column drifted in the latest window.",
            "column",
            "test",
        )
        self.drift_share = gauge(
            "loopwright_dataset_drift_share",
            "Share of the watched columns that drifted in the latest window.",
        )
        self.dataset_drift = gauge(
            "loopwright_dataset_drift_detected",
            "1 when the share of drifted columns reached the monitor's threshold in the latest window.",
        )
        self.multivariate = gauge(
            "loopwright_multivariate_drift_score", "The multivariate drift method's score.", "method"
        )
        self.prediction_score = gauge(
            "loopwright_prediction_drift_score", "Drift score of the model's outputs.", "column", "test"
        )
        self.prediction_detected = gauge(
            "loopwright_prediction_drift_detected", "1 when the model's outputs drifted.", "column", "test"
        )
        self.quality = gauge(
            "loopwright_data_quality",
            "Data quality of the latest window: the share of missing, out-of-range (vs the reference) and "
            "unseen category values of a column, or the rows failing a schema check.",
            "check",
            "column",
        )
        self.schema_rows = gauge(
            "loopwright_schema_violation_rows",
            "Rows of the latest window failing a data-schema check, by column and check.",
            "column",
            "check",
        )
        self.coverage = gauge(
            "loopwright_label_coverage_ratio", "Share of a window's served predictions that have a label."
        )
        self.performance = gauge(
            "loopwright_performance",
            "Model performance: realised from labels (the latest window that has them), or estimated from "
            'predicted probabilities (estimated="true").',
            "metric",
            "segment",
            "estimated",
        )
        self.predictions = gauge(
            "loopwright_window_predictions", "Predictions logged in the latest window.", "segment"
        )
        self.throughput = gauge(
            "loopwright_window_predictions_per_second",
            "Predictions per second over the latest window.",
            "segment",
        )
        self.latency = gauge(
            "loopwright_window_latency_seconds",
            "Latency percentiles of the latest window's logged predictions.",
            "segment",
            "percentile",
        )
        self.error_ratio = gauge(
            "loopwright_window_error_ratio",
            "Share of the latest window's logged predictions without an answer.",
            "segment",
        )
        self.alert = GaugeMetricFamily(
            "loopwright_alert_active",
            "1 while an alert rule has an open alert, else 0.",
            labels=[*_BASE, "rule", "severity"],
        )

    def add_window(
        self, monitor: MonitorRecord, latest: Iterable[ResultRecord], realised: Iterable[ResultRecord]
    ) -> None:
        base = [monitor.deployment, monitor.name]
        results = list(latest)
        self.window_end.add_metric(base, max(result.window_end_ms for result in results) / 1000)
        # The test is recorded with the score; the detected flag of the same column is labelled alike.
        tests = {
            (_drift_kind(result.metric), result.column): str((result.extra or {}).get("test", ""))
            for result in results
            if result.metric in ("drift_score", "prediction_drift_score")
        }
        for result in [*results, *realised]:
            if result.value is not None:
                self._add(base, result, tests)

    def _add(self, base: list[str], result: ResultRecord, tests: dict[tuple[str, str | None], str]) -> None:
        metric, column, value = result.metric, result.column or "", float(result.value or 0.0)
        extra: dict[str, Any] = result.extra or {}
        test = str(extra.get("test") or tests.get((_drift_kind(metric), result.column), ""))
        simple = {
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "label_coverage": self.coverage,
            "rows": self.rows,
        }
        per_segment = {
            "predictions": self.predictions,
            "throughput_per_s": self.throughput,
            "error_rate": self.error_ratio,
        }
        if metric in simple:
            simple[metric].add_metric(base, value)
        elif metric == "drift_score":
            self.drift_score.add_metric([*base, column, test], value)
        elif metric == "drift_detected":
            self.drift_detected.add_metric([*base, column, test], value)
        elif metric == "multivariate_drift":
            self.multivariate.add_metric([*base, str(extra.get("method", ""))], value)
        elif metric == "prediction_drift_score":
            self.prediction_score.add_metric([*base, column, test], value)
        elif metric == "prediction_drift_detected":
            self.prediction_detected.add_metric([*base, column, test], value)
        elif metric in _QUALITY:
            self.quality.add_metric([*base, metric, column], value)
        elif metric == "schema_violation_rows":
            self.schema_rows.add_metric([*base, column, str(extra.get("check", ""))], value)
        elif metric in per_segment:
            per_segment[metric].add_metric([*base, column], value)
        elif metric in _LATENCY:
            self.latency.add_metric([*base, column, _LATENCY[metric]], value / 1000)
        elif metric in PERFORMANCE_METRICS and metric != "labels":
            estimated = metric.startswith(_ESTIMATED_PREFIX)
            name = metric.removeprefix(_ESTIMATED_PREFIX)
            self.performance.add_metric([*base, name, column, "true" if estimated else "false"], value)

    def all(self) -> list[Metric]:
        families = [family for family in vars(self).values() if isinstance(family, GaugeMetricFamily)]
        for family in families:
            seen: set[tuple[tuple[str, str], ...]] = set()
            unique = []
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                if labels not in seen:
                    seen.add(labels)
                    unique.append(sample)
            family.samples = unique
        return [family for family in families if family.samples]


def _drift_kind(metric: str) -> str:
    return "prediction" if metric.startswith("prediction_") else "input"


def render_metrics(store: MetadataStore) -> bytes:
    """The monitoring families of ``store`` alone, in Prometheus' text exposition format.

    >>> print(render_metrics(client.store).decode())  # doctest: +SKIP
    # HELP loopwright_dataset_drift_share Share of the watched columns that drifted in the latest window.
    ...
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitoringCollector(store, cache_s=0.0))
    return generate_latest(registry)
