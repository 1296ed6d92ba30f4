"""Operational metrics for ``GET /metrics``, in Prometheus' text format.

Each server has its own :class:`~prometheus_client.CollectorRegistry` (never the global one, so two apps in
one process, as in tests, do not share counts). Per request, only counters and a histogram move, through
label children looked up once per (deployment, version, variant); everything else (the prediction log's
lag, shadow traffic, reloads) is read from the runtime and the log when Prometheus scrapes, so it costs
the request path nothing.

==========================================================  ==================================================
metric                                                      labels
==========================================================  ==================================================
``loopwright_requests_total``                               deployment, version, variant: requests answered
``loopwright_predictions_total``                            deployment, version, variant: rows predicted
``loopwright_request_errors_total``                         deployment, version, variant, code (empty when
                                                            the request failed before a variant was chosen)
``loopwright_request_latency_seconds``                      deployment, version, variant (histogram): from the
                                                            route to the response ready, logging included
``loopwright_prediction_log_lag_entries`` / ``_bytes`` /    entries, bytes and segments logged but not yet
``_segments``                                               compacted into Parquet
``loopwright_prediction_log_entries_total``,                this process's log writes, failed writes (each one
``loopwright_prediction_log_write_errors_total``,           answered 503, never dropped silently), compaction
``loopwright_prediction_log_compaction_errors_total``,      failures, and lines set aside as not whole entries
``loopwright_prediction_log_rejected_lines_total``
``loopwright_shadow_requests_total``                        outcome (``done``, ``dropped``: queue full,
                                                            ``failed``); ``loopwright_shadow_queued`` waiting
``loopwright_model_reloads_total``,                         models loaded, refreshes that rebuilt what is
``loopwright_refreshes_total``, ``..._refresh_errors_total`` served, and refreshes that failed
``loopwright_deployment_serving``                           deployment, variant, version: 1 for what is served
==========================================================  ==================================================

With the workspace's metadata store, the monitoring families join them: drift, data quality, performance
and operations of each monitor's latest window, and alert states
(:mod:`loopwright.monitoring.prometheus`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from loopwright.serving.predictlog import PredictionLog
    from loopwright.serving.runtime import ServingRuntime
    from loopwright.store.metadata import MetadataStore

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "ServingMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of Prometheus' text exposition format."""

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds: fine below 10 ms, where a small model's requests fall, coarse above."""

_LABELS = ("deployment", "version", "variant")


class ServingMetrics:
    """The server's metrics. ``observe`` records one answered request (per variant that served rows),
    ``observe_error`` one refused or failed request; :meth:`render` is the ``/metrics`` body.

    >>> metrics = ServingMetrics(runtime, log)            # doctest: +SKIP
    >>> metrics.observe("fraud", 3, "production", rows=1, seconds=0.0008)  # doctest: +SKIP
    """

    def __init__(
        self,
        runtime: ServingRuntime | None = None,
        log: PredictionLog | None = None,
        store: MetadataStore | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "loopwright_requests",
            "Prediction requests answered, by the deployment, version and variant that served them (a "
            "request split between production and a canary counts once for each).",
            _LABELS,
            registry=self.registry,
        )
        self._rows = Counter(
            "loopwright_predictions",
            "Rows predicted, by deployment, version and variant.",
            _LABELS,
            registry=self.registry,
        )
        self._errors = Counter(
            "loopwright_request_errors",
            "Prediction requests refused or failed, by deployment, version, variant (empty when unknown) and "
            "error code.",
            (*_LABELS, "code"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "loopwright_request_latency_seconds",
            "Time from a prediction request reaching its route to its response being ready (reading and "
            "parsing the body, the model, the prediction log), by deployment, version and variant.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        if runtime is not None or log is not None:
            self.registry.register(_StateCollector(runtime, log))
        if store is not None:
            from loopwright.monitoring.prometheus import MonitoringCollector

            self.registry.register(MonitoringCollector(store))

    def observe(self, deployment: str, version: int, variant: str, *, rows: int, seconds: float) -> None:
        """Record a request answered by ``variant`` (version ``version``) of ``deployment``."""
        key = (deployment, str(version), variant)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(*key), self._rows.labels(*key), self._latency.labels(*key))
            self._children[key] = children
        requests, predictions, latency = children
        requests.inc()
        predictions.inc(rows)
        latency.observe(seconds)

    def observe_error(
        self, deployment: str, code: str, *, version: int | None = None, variant: str | None = None
    ) -> None:
        """Record a refused or failed request. ``deployment`` must be a served deployment's name or empty:
        names from unknown paths never become labels (a scanner would grow the series without bound)."""
        self._errors.labels(deployment, "" if version is None else str(version), variant or "", code).inc()

    def render(self) -> bytes:
        """Every metric in Prometheus' text exposition format."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Reads the runtime's and the log's own counters at scrape time."""

    def __init__(self, runtime: ServingRuntime | None, log: PredictionLog | None) -> None:
        self._runtime = runtime
        self._log = log

    def describe(self) -> list[Metric]:
        return []  # the families depend on what is attached: collect() says

    def collect(self) -> Iterator[Metric]:
        if self._log is not None:
            yield from self._log_metrics(self._log)
        if self._runtime is not None:
            yield from self._runtime_metrics(self._runtime)

    @staticmethod
    def _log_metrics(log: PredictionLog) -> Iterator[Metric]:
        lag = log.lag()
        for unit, value, what in (
            ("entries", lag.entries, "Prediction log entries"),
            ("bytes", lag.bytes, "Bytes of prediction log segments"),
            ("segments", lag.segments, "Prediction log segments"),
        ):
            yield GaugeMetricFamily(
                f"loopwright_prediction_log_lag_{unit}",
                f"{what} written but not yet compacted into Parquet (every process writing the log).",
                value=value,
            )
        for name, value, text in (
            ("entries", log.entries_written, "Prediction log entries handed to the operating system."),
            (
                "write_errors",
                log.write_errors,
                "Prediction log writes that failed; each such request was answered 503, never acknowledged.",
            ),
            ("compaction_errors", log.compaction_errors, "Prediction log segments that failed to compact."),
            (
                "rejected_lines",
                log.rejected_lines,
                "Prediction log lines set aside while compacting because they were not whole entries.",
            ),
        ):
            yield CounterMetricFamily(f"loopwright_prediction_log_{name}", text, value=value)

    @staticmethod
    def _runtime_metrics(runtime: ServingRuntime) -> Iterator[Metric]:
        stats = runtime.stats()
        shadow = CounterMetricFamily(
            "loopwright_shadow_requests",
            "Shadow copies of requests, by outcome: done, dropped (the queue was full: shadow traffic is "
            "best-effort) or failed.",
            labels=["outcome"],
        )
        shadow.add_metric(["done"], stats.get("shadow_done", 0))
        shadow.add_metric(["dropped"], stats.get("shadow_dropped", 0))
        shadow.add_metric(["failed"], stats.get("shadow_errors", 0))
        yield shadow
        yield GaugeMetricFamily(
            "loopwright_shadow_queued",
            "Shadow copies waiting for the shadow model.",
            value=stats.get("shadow_queued", 0),
        )
        for name, key, text in (
            ("model_reloads", "reloads", "Model versions loaded by the serving runtime."),
            ("refreshes", "refreshes", "Refreshes that rebuilt what the server serves."),
            ("refresh_errors", "refresh_errors", "Refreshes that failed (the store was unreachable)."),
        ):
            yield CounterMetricFamily(f"loopwright_{name}", text, value=stats.get(key, 0))
        serving = GaugeMetricFamily(
            "loopwright_deployment_serving",
            "1 for each version a deployment's variants serve now.",
            labels=["deployment", "variant", "version"],
        )
        for name in runtime.names():
            try:
                versions = runtime.versions(name)
            except Exception:  # removed between names() and versions(): not served any more
                continue
            for variant, version in versions.items():
                serving.add_metric([name, variant, str(version)], 1)
        yield serving
