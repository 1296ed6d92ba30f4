"""Operations: traffic, latency and errors of a window, per deployment and per variant and version.

Read from the prediction log, so the numbers cover every process that served the deployment (the
server's ``/metrics`` counters cover only its own process since it started). Latency percentiles are of
the logged predictions (a request of 10 rows counts 10 times, with its latency), computed with numpy's
default linear interpolation. Throughput is predictions per second of the window's length. The error rate
is the share of logged predictions that hold no answer (``prediction`` missing or null); requests refused
before a model answered are never logged, and are counted by the server's
``loopwright_request_errors_total`` instead.
"""

from __future__ import annotations

import numpy as np

from loopwright.monitoring.results import Measurement, segment
from loopwright.monitoring.windows import WindowData

__all__ = ["PERCENTILES", "operations"]

PERCENTILES = (50, 95, 99)


def operations(data: WindowData) -> list[Measurement]:
    """Predictions, throughput, latency p50 / p95 / p99 and error rate: of the whole deployment (column
    ``None``) and of each ``variant:vVERSION`` segment present, every variant included.

    >>> [m.metric for m in operations(data)][:2]  # doctest: +SKIP
    ['predictions', 'throughput_per_s']
    """
    seconds = max(data.window.end_ms - data.window.start_ms, 1) / 1000.0
    measurements = _measure(data.latency_ms, data.predictions, seconds, None, None)
    if data.rows:
        pairs = sorted(
            {
                (str(variant), int(version))
                for variant, version in zip(data.variants, data.versions, strict=True)
            }
        )
        for variant, version in pairs:
            mask = (data.variants == variant) & (data.versions == version)
            extra = {"variant": variant, "version": version}
            measurements += _measure(
                data.latency_ms[mask], data.predictions[mask], seconds, segment(variant, version), extra
            )
    return measurements


def _measure(
    latency: np.ndarray,
    predictions: np.ndarray,
    seconds: float,
    column: str | None,
    extra: dict[str, object] | None,
) -> list[Measurement]:
    count = len(latency)
    result = [
        Measurement("predictions", column, float(count), extra),
        Measurement("throughput_per_s", column, count / seconds, extra),
    ]
    finite = latency[np.isfinite(latency)]
    values = np.percentile(finite, PERCENTILES) if len(finite) else [None] * len(PERCENTILES)
    for percentile, value in zip(PERCENTILES, values, strict=True):
        result.append(
            Measurement(f"latency_p{percentile}_ms", column, None if value is None else float(value), extra)
        )
    errors = sum(1 for prediction in predictions if prediction is None)
    result.append(Measurement("error_rate", column, errors / count if count else None, extra))
    return result
