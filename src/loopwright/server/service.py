"""What every prediction endpoint does once its protocol is parsed: predict, log, count.

:class:`PredictionService` sits between the routes (one per protocol) and the serving runtime. For each
request it asks the runtime for the predictions, appends one prediction log entry per row (handed to the
operating system *before* the route answers, so an acknowledged prediction survives a ``kill -9``), and
records the request's metrics. Shadow results arrive from the runtime's shadow thread and are logged the
same way, off the response path.

Small requests run on the event loop: for a model that answers in a millisecond, handing the call to a
worker thread costs more than it saves. Those that arrive together share one model call
(:mod:`loopwright.server.batching`). Requests of more than ``inline_rows`` rows run in a worker thread, so
a large batch does not hold up the small requests arriving meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from loopwright.server.batching import MicroBatcher
from loopwright.server.metrics import ServingMetrics
from loopwright.serving.predictlog import PredictionEntry, PredictionLog
from loopwright.serving.protocols import Inputs
from loopwright.serving.runtime import PredictionResult, ServingRuntime
from loopwright.settings import ServerSettings

__all__ = ["PredictionService", "log_entries"]

logger = logging.getLogger("loopwright.server")


class PredictionService:
    """Predicts with ``runtime``, logs to ``log`` (None: logging off) and counts in ``metrics``."""

    def __init__(
        self,
        runtime: ServingRuntime,
        log: PredictionLog | None,
        metrics: ServingMetrics,
        settings: ServerSettings,
    ) -> None:
        self.runtime = runtime
        self.log = log
        self.metrics = metrics
        self.settings = settings
        self.batcher = MicroBatcher(self, settings.max_batch_rows) if settings.max_batch_rows > 1 else None

    async def predict(
        self,
        deployment: str,
        inputs: Inputs,
        headers: Mapping[str, str] | None,
        *,
        probabilities: bool,
        started: float,
    ) -> PredictionResult:
        """The runtime's answer for ``inputs``, logged and counted. ``started`` (``time.perf_counter()``)
        is when the request reached its route, for the latency histogram."""
        if inputs.rows > self.settings.inline_rows:
            result = await run_in_threadpool(self.serve, deployment, inputs, headers, probabilities)
        elif self.batcher is not None:
            result = await self.batcher.predict(deployment, inputs, headers, probabilities)
        else:
            result = self.serve(deployment, inputs, headers, probabilities)
        self.observe(deployment, result, time.perf_counter() - started)
        return result

    def serve(
        self,
        deployment: str,
        inputs: Inputs,
        headers: Mapping[str, str] | None,
        probabilities: bool,
        routing_keys: Sequence[str | None] | None = None,
    ) -> PredictionResult:
        """Predict ``inputs`` in the calling thread and log the answers (before anyone sees them)."""
        result = self.runtime.predict(
            deployment,
            inputs.data,
            request_ids=inputs.request_ids,
            routing_keys=routing_keys,
            headers=headers,
            probabilities=probabilities,
        )
        if self.log is not None:
            self.log.append(log_entries(result, inputs.records()))
        return result

    def observe(self, deployment: str, result: PredictionResult, seconds: float) -> None:
        """Count an answered request: once per (version, variant) that served some of its rows."""
        versions, variants = result.versions, result.variants
        if len(variants) == 1 or variants.count(variants[0]) == len(variants):
            self.metrics.observe(deployment, versions[0], variants[0], rows=len(result), seconds=seconds)
            return
        counts: dict[tuple[int, str], int] = {}
        for version, variant in zip(versions, variants, strict=True):
            counts[version, variant] = counts.get((version, variant), 0) + 1
        for (version, variant), rows in counts.items():
            self.metrics.observe(deployment, version, variant, rows=rows, seconds=seconds)

    def log_shadow(self, result: PredictionResult, data: Any) -> None:
        """The runtime's shadow sink: log the shadow's answers (in the shadow thread), and count them."""
        self.metrics.observe(
            result.deployment,
            result.versions[0],
            result.variants[0],
            rows=len(result),
            seconds=result.latency_ms / 1000,
        )
        if self.log is not None:
            self.log.append(log_entries(result, _rows(data)))


def log_entries(result: PredictionResult, rows: Sequence[Any]) -> list[PredictionEntry]:
    """One prediction log entry per row of ``result``; ``rows`` are the request's rows, as JSON values."""
    predictions = result.predictions.tolist()
    probabilities = result.probabilities.tolist() if result.probabilities is not None else None
    entries = []
    for index, request_id in enumerate(result.request_ids):
        row = rows[index]
        outputs: dict[str, Any] = {"prediction": predictions[index]}
        if probabilities is not None:
            outputs["probabilities"] = probabilities[index]
        entries.append(
            PredictionEntry(
                request_id=request_id,
                deployment=result.deployment,
                model=result.model,
                version=result.versions[index],
                variant=result.variants[index],
                inputs=row if isinstance(row, dict) else {"input": row},
                outputs=outputs,
                latency_ms=result.latency_ms,
                timestamp=result.timestamp,
            )
        )
    return entries


def _rows(data: Any) -> list[Any]:
    """The rows of what the runtime predicted (a DataFrame, an array or a list), as JSON values."""
    to_dict = getattr(data, "to_dict", None)
    if callable(to_dict) and hasattr(data, "columns"):
        records: list[Any] = to_dict("records")
        return records
    tolist = getattr(data, "tolist", None)
    if callable(tolist):
        values: list[Any] = tolist()
        return values
    return list(data)
