"""What a monitor measures in a window: :class:`Measurement`, and the names of every metric it records.

Each number of a window is one :class:`Measurement` (a metric, optionally of one column, with a value and
a few small facts in ``extra``), stored as one row of the ``monitor_results`` time series. The names below
are a contract: alert rules (``when="drift_share > 0.3"``), the Prometheus exposition and reports select
results by them.

==============================  ========  ====================================================================
metric                          column    value (``extra``)
==============================  ========  ====================================================================
``drift_score``                 input     the column's drift score: the p-value of KS, chi-squared and z
                                          tests, the distance of Wasserstein, Jensen-Shannon and PSI
                                          (``test``, ``statistic``, ``p_value``, ``threshold``, ``drifted``)
``drift_detected``              input     1.0 when the column drifted, else 0.0
``drift_share``                 —         share of the watched columns that drifted
``dataset_drift``               —         1.0 when ``drift_share`` reached the monitor's ``drift_share``
                                          threshold (``threshold``)
``multivariate_drift``          —         the multivariate method's score (``method``, ``threshold``,
                                          ``drifted``)
``prediction_drift_score``      output    drift score of the model's outputs (``prediction``, or ``score``:
                                          the positive-class probability); same ``extra`` as ``drift_score``
``prediction_drift_detected``   output    1.0 when the outputs drifted
``missing_share``               input     share of missing values (None, NaN, or the key absent)
``out_of_range_share``          input     share of present numbers outside the reference's [min, max]
``unseen_category_share``       input     share of present values that the reference never had
``schema_violations``           —         data-schema checks the window's inputs fail (0 when clean)
``schema_violation_rows``       input     rows failing one data-schema check (``check``, ``message``)
``rows``                        —         predictions of the served variants in the window
``label_coverage``              —         share of served predictions that have a label
``labels``                      —         served predictions that have a label
``accuracy`` … ``log_loss``     —/segm.   realised classification metrics (``estimated``: false, ``labels``)
``mae`` … ``mape``              —/segm.   realised regression metrics (``estimated``: false, ``labels``)
``estimated_accuracy``          —         CBPE estimate from the predicted probabilities (``estimated``: true)
``estimated_roc_auc``           —         CBPE estimate from the predicted probabilities (``estimated``: true)
``predictions``                 —/segm.   predictions logged, of every variant
``throughput_per_s``            —/segm.   predictions per second of the window
``latency_p50_ms`` … ``p99_ms`` —/segm.   latency percentiles of the logged predictions
``error_rate``                  —/segm.   share of logged predictions without an answer
==============================  ========  ====================================================================

A *segment* column is ``<variant>:v<version>`` (``production:v3``, ``canary:v4``, ``shadow:v5``), with
``variant`` and ``version`` in ``extra``; the row without a column is the whole deployment (performance:
the served variants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DRIFT_METRICS",
    "OPERATIONS_METRICS",
    "PERFORMANCE_METRICS",
    "QUALITY_METRICS",
    "Measurement",
    "segment",
]

DRIFT_METRICS = (
    "drift_score",
    "drift_detected",
    "drift_share",
    "dataset_drift",
    "multivariate_drift",
    "prediction_drift_score",
    "prediction_drift_detected",
)
QUALITY_METRICS = (
    "missing_share",
    "out_of_range_share",
    "unseen_category_share",
    "schema_violations",
    "rows",
)
PERFORMANCE_METRICS = (
    "label_coverage",
    "labels",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "mae",
    "rmse",
    "r2",
    "mape",
    "estimated_accuracy",
    "estimated_roc_auc",
)
"""Every performance metric: late labels replace exactly these of a window."""
OPERATIONS_METRICS = (
    "predictions",
    "throughput_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One number of a window: ``metric`` of ``column`` (``None``: of the whole window), and small
    ``extra`` facts. ``value`` is ``None`` where the metric is undefined on the window's data.

    >>> Measurement("drift_share", None, 0.25)
    Measurement(metric='drift_share', column=None, value=0.25, extra=None)
    """

    metric: str
    column: str | None
    value: float | None
    extra: dict[str, Any] | None = field(default=None)


def segment(variant: str, version: int) -> str:
    """The column that names one variant and version of a deployment: ``segment("canary", 4)`` is
    ``"canary:v4"``."""
    return f"{variant}:v{version}"
