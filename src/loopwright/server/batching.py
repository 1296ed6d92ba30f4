"""Adaptive micro-batching: small requests that arrive together share one model call.

For a small model most of a prediction's cost is per call, not per row (building a DataFrame, the
framework's input checks), so four one-row requests cost nearly four times one four-row request. The
batcher never waits for company: a request joins the batch of its deployment and the batch is flushed by
``loop.call_soon``, that is, as soon as the event loop has run every request handler that was already
ready. A lone request is predicted at once (one turn of the loop later); under load, the requests whose
bytes arrived in the same turn share a call. So it adds no latency at low load and saves most of the
per-call cost at high load.

A batch holds requests with the same deployment, probabilities wanted and :meth:`Inputs.batch_key
<loopwright.serving.protocols.Inputs.batch_key>` (same layout and columns). Rows keep the routing they
would have had alone: per-row request ids, and the sticky header of each request as its rows' routing
keys. If the merged call fails, each request is retried alone, so one bad request gets its own error and
never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from loopwright.serving.protocols import Inputs, concat
from loopwright.serving.runtime import PredictionResult

if TYPE_CHECKING:
    from loopwright.server.service import PredictionService

__all__ = ["MicroBatcher", "split_result"]

logger = logging.getLogger("loopwright.server")


@dataclass(slots=True)
class _Waiting:
    inputs: Inputs
    headers: Mapping[str, str] | None
    future: asyncio.Future[PredictionResult]


class MicroBatcher:
    """Coalesces concurrent small requests per deployment into model calls of at most ``max_rows`` rows
    (see the module docstring). Used from the event loop only."""

    def __init__(self, service: PredictionService, max_rows: int) -> None:
        self._service = service
        self._max_rows = max_rows
        self._pending: dict[tuple[Any, ...], list[_Waiting]] = {}
        self.calls = 0
        """Model calls made for batches of more than one request (for tests and curiosity)."""

    async def predict(
        self, deployment: str, inputs: Inputs, headers: Mapping[str, str] | None, probabilities: bool
    ) -> PredictionResult:
        """The answer for ``inputs``, predicted together with whatever else arrived meanwhile."""
        loop = asyncio.get_running_loop()
        key = (deployment, probabilities, *inputs.batch_key())
        waiting = self._pending.get(key)
        if waiting is None:
            waiting = self._pending[key] = []
            loop.call_soon(self._flush, key, deployment, probabilities)
        future: asyncio.Future[PredictionResult] = loop.create_future()
        waiting.append(_Waiting(inputs, headers, future))
        return await future

    def _flush(self, key: tuple[Any, ...], deployment: str, probabilities: bool) -> None:
        waiting = self._pending.pop(key, [])
        group: list[_Waiting] = []
        rows = 0
        for item in waiting:
            if group and rows + item.inputs.rows > self._max_rows:
                self._run(group, deployment, probabilities)
                group, rows = [], 0
            group.append(item)
            rows += item.inputs.rows
        if group:
            self._run(group, deployment, probabilities)

    def _run(self, group: list[_Waiting], deployment: str, probabilities: bool) -> None:
        if len(group) > 1:
            try:
                results = self._together(group, deployment, probabilities)
            except Exception:  # one request's fault, most likely: let each hear its own outcome
                logger.debug(
                    "A batch of %d requests to %r failed; retrying them one by one", len(group), deployment
                )
            else:
                for item, result in zip(group, results, strict=True):
                    if not item.future.done():
                        item.future.set_result(result)
                return
        for item in group:
            try:
                result = self._service.serve(deployment, item.inputs, item.headers, probabilities)
            except Exception as error:
                if not item.future.done():
                    item.future.set_exception(error)
            else:
                if not item.future.done():
                    item.future.set_result(result)

    def _together(
        self, group: list[_Waiting], deployment: str, probabilities: bool
    ) -> list[PredictionResult]:
        parts = [
            item.inputs
            if item.inputs.request_ids is not None
            else replace(item.inputs, request_ids=tuple(uuid.uuid4().hex for _ in range(item.inputs.rows)))
            for item in group
        ]
        merged = concat(parts)
        sticky = self._service.runtime.deployment(deployment).sticky
        keys: list[str | None] | None = None
        if sticky is not None and sticky.startswith("header:"):
            header = sticky.partition(":")[2]
            keys = []
            for item in group:
                value = item.headers.get(header) if item.headers is not None else None
                keys.extend([value] * item.inputs.rows)
        result = self._service.serve(deployment, merged, None, probabilities, routing_keys=keys)
        self.calls += 1
        return split_result(result, [part.rows for part in parts])


def split_result(result: PredictionResult, rows: list[int]) -> list[PredictionResult]:
    """``result`` cut into consecutive parts of ``rows`` rows each, one per request of a batch."""
    parts = []
    start = 0
    for count in rows:
        end = start + count
        parts.append(
            PredictionResult(
                deployment=result.deployment,
                model=result.model,
                request_ids=result.request_ids[start:end],
                predictions=result.predictions[start:end],
                probabilities=None if result.probabilities is None else result.probabilities[start:end],
                variants=result.variants[start:end],
                versions=result.versions[start:end],
                latency_ms=result.latency_ms,
                timestamp=result.timestamp,
            )
        )
        start = end
    return parts
