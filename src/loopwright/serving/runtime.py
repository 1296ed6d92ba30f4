"""The serving runtime: the loaded models of every deployment, swapped in as deployments and aliases move.

:class:`ServingRuntime` holds, per deployment, an immutable snapshot: the deployment, its router and the
loaded model of each variant. :meth:`~ServingRuntime.refresh` asks the store one cheap question (has any
deployment or alias changed? a revision stamp) and, when something has, loads whatever new versions are
needed *first* and then swaps the snapshot reference. A request reads the reference once, so requests in
flight finish on the models they started with and the next ones use the new models; nothing waits on a
lock on the prediction path.

Shadow traffic is best-effort: a copy of each request goes to a bounded queue that one background thread
drains; when the queue is full the copy is dropped and ``shadow_dropped`` counts it. The shadow never
delays or changes a response.

>>> runtime = ServingRuntime(client)                                        # doctest: +SKIP
>>> result = runtime.predict("fraud", frame, request_ids=["r-1", "r-2"])    # doctest: +SKIP
>>> result.variants, result.versions                                        # doctest: +SKIP
(['production', 'canary'], [3, 4])
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.errors import (
    DeploymentUnavailableError,
    InvalidInputError,
    LoopwrightError,
    NotFoundError,
    PredictionError,
)
from loopwright.serving.deployments import Deployment, Deployments
from loopwright.serving.router import CANARY, PRODUCTION, SHADOW, Router

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.registry.format import LoadedModel
    from loopwright.registry.version import ModelVersion

__all__ = ["PredictionResult", "ServingRuntime", "ShadowSink"]

logger = logging.getLogger("loopwright.serving")

_RETRY_FAILED_S = 10.0  # how often a deployment that failed to load is tried again with nothing changed
_DROP_WARNING_S = 60.0  # at most one warning a minute about dropped shadow requests


@dataclass(frozen=True, slots=True)
class PredictionResult:
    """What a deployment answered for one request: per row, the prediction, the variant and the version.

    ``predictions`` (and ``probabilities``, when asked for and the model has them) hold one entry per row
    in the order of the request. ``latency_ms`` is the time spent in the runtime, model calls included;
    ``timestamp`` is when the request arrived (epoch milliseconds, UTC).
    """

    deployment: str
    model: str
    request_ids: list[str]
    predictions: np.ndarray[Any, Any]
    probabilities: np.ndarray[Any, Any] | None
    variants: list[str]
    versions: list[int]
    latency_ms: float
    timestamp: int

    def __len__(self) -> int:
        return len(self.request_ids)


ShadowSink = Callable[[PredictionResult, Any], None]
"""Called by the shadow thread with each shadow result and the request's data (e.g. to log it)."""


@dataclass(frozen=True, slots=True)
class _Variant:
    name: str
    version: ModelVersion
    number: int
    model: LoadedModel


@dataclass(frozen=True, slots=True)
class _Served:
    """One deployment, ready: never changed once built (a refresh builds a new one)."""

    deployment: Deployment
    router: Router
    production: _Variant
    canary: _Variant | None
    shadow: _Variant | None
    header: str | None  # the sticky header's name, lowercased
    field: str | None  # the sticky field


@dataclass(frozen=True, slots=True)
class _ShadowJob:
    served: _Served
    data: Any
    request_ids: list[str]
    probabilities: bool
    timestamp: int


class ServingRuntime:
    """Serves the deployments of one workspace from memory, following their changes.

    ``on_shadow`` receives each shadow result (from the shadow thread); ``shadow_queue_size`` bounds the
    requests waiting for their shadow. Call :meth:`start` to follow changes in the background (else call
    :meth:`refresh` yourself), and :meth:`close` when done.
    """

    def __init__(
        self,
        client: Client,
        *,
        on_shadow: ShadowSink | None = None,
        shadow_queue_size: int = 1024,
        load: bool = True,
    ) -> None:
        if (
            isinstance(shadow_queue_size, bool)
            or not isinstance(shadow_queue_size, int)
            or shadow_queue_size < 1
        ):
            raise InvalidInputError(
                f"The 'shadow_queue_size' of a serving runtime must be a positive integer. Got "
                f"{shadow_queue_size!r} instead.",
                field="shadow_queue_size",
            )
        self.deployments = Deployments(client.registry)
        self._on_shadow = on_shadow
        self._served: dict[str, _Served] = {}
        self._models: dict[str, LoadedModel] = {}
        self._stamp: tuple[int, ...] | None = None
        self._failed_at = 0.0
        self.errors: dict[str, str] = {}
        """Why each deployment that could not be (re)loaded at the last refresh failed, by name."""
        self._refresh_lock = threading.Lock()
        self._shadow_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._counts = {
            "refreshes": 0,
            "reloads": 0,
            "refresh_errors": 0,
            "shadow_done": 0,
            "shadow_dropped": 0,
            "shadow_errors": 0,
        }
        self._shadow_queue: queue.Queue[_ShadowJob | None] = queue.Queue(maxsize=shadow_queue_size)
        self._shadow_thread: threading.Thread | None = None
        self._dropped_warned_at = -_DROP_WARNING_S
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        if load:
            self.refresh()

    def __repr__(self) -> str:
        return f"<ServingRuntime serving {', '.join(sorted(self._served)) or 'nothing'}>"

    # --- following changes -----------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Pick up changed deployments and moved aliases: one query when nothing changed. Returns whether
        the served snapshot was rebuilt. New models load before the swap, so no request waits for one."""
        with self._refresh_lock:
            stamp = self.deployments.store.stamp()
            retry = bool(self.errors) and time.monotonic() - self._failed_at >= _RETRY_FAILED_S
            if stamp == self._stamp and not force and not retry:
                return False
            current = self._served
            served: dict[str, _Served] = {}
            errors: dict[str, str] = {}
            models: dict[str, LoadedModel] = {}
            for deployment in self.deployments.all():
                try:
                    served[deployment.name] = self._build(deployment, current.get(deployment.name), models)
                except Exception as error:  # one broken deployment must not stop the others
                    errors[deployment.name] = _describe(error)
                    logger.warning(
                        "Deployment %r cannot be loaded: %s", deployment.name, errors[deployment.name]
                    )
                    previous = current.get(deployment.name)
                    if previous is not None:
                        served[deployment.name] = previous  # keep serving what worked
                        for variant in _variants(previous):
                            models[variant.version.id] = variant.model
            self._served = served  # the swap: one reference, read once per request
            self._models = models
            self._stamp = stamp
            self.errors = errors
            self._failed_at = time.monotonic() if errors else 0.0
            self._count("refreshes")
            return True

    def _build(
        self, deployment: Deployment, previous: _Served | None, models: dict[str, LoadedModel]
    ) -> _Served:
        if (
            previous is not None
            and previous.deployment.revision == deployment.revision
            and deployment.alias is None
        ):
            for variant in _variants(previous):  # a pinned deployment that did not change: reuse it as is
                models[variant.version.id] = variant.model
            return previous
        resolved = self.deployments.resolve(deployment)
        sticky = deployment.sticky_key
        return _Served(
            deployment=deployment,
            router=Router(deployment.name, deployment.canary_weight if resolved.canary else 0.0, sticky),
            production=self._variant(PRODUCTION, resolved.production, models),
            canary=None if resolved.canary is None else self._variant(CANARY, resolved.canary, models),
            shadow=None if resolved.shadow is None else self._variant(SHADOW, resolved.shadow, models),
            header=sticky.name.lower() if sticky is not None and sticky.source == "header" else None,
            field=sticky.name if sticky is not None and sticky.source == "field" else None,
        )

    def _variant(self, name: str, version: ModelVersion, models: dict[str, LoadedModel]) -> _Variant:
        model = models.get(version.id) or self._models.get(version.id)
        if model is None:
            model = version.load()
            self._count("reloads")
        models[version.id] = model
        return _Variant(name, version, version.version, model)

    def start(self, interval_s: float = 1.0) -> None:
        """Refresh every ``interval_s`` seconds in a background thread, until :meth:`close`."""
        if (
            isinstance(interval_s, bool)
            or not isinstance(interval_s, int | float)
            or not 0 < interval_s <= 3600
        ):
            raise InvalidInputError(
                f"The refresh 'interval_s' of a serving runtime must be between 0 and 3600 seconds. Got "
                f"{interval_s!r} instead.",
                field="interval_s",
            )
        if self._watcher is not None:
            return
        self._watcher = threading.Thread(
            target=self._watch, args=(float(interval_s),), name="loopwright-serving-refresh", daemon=True
        )
        self._watcher.start()

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # the store may be down for a while: keep serving, keep trying
                self._count("refresh_errors")
                logger.warning("Refreshing the served deployments failed; retrying.", exc_info=True)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the refresh thread and the shadow thread (shadow requests still queued are dropped)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
        thread = self._shadow_thread
        if thread is not None:
            while True:  # make room for the stop signal
                try:
                    self._shadow_queue.put_nowait(None)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self._shadow_queue.get_nowait()
            thread.join(timeout)

    def __enter__(self) -> ServingRuntime:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    # --- what is served --------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The deployments being served, by name."""
        return sorted(self._served)

    def deployment(self, name: str) -> Deployment:
        """Deployment ``name`` as it is being served now."""
        return self._lookup(name).deployment

    def versions(self, name: str) -> dict[str, int]:
        """The version each variant of deployment ``name`` serves now, e.g. ``{"production": 3}``."""
        served = self._lookup(name)
        return {variant.name: variant.number for variant in _variants(served)}

    def stats(self) -> dict[str, int]:
        """Counters: ``refreshes``, ``reloads`` (models loaded), ``refresh_errors``, ``shadow_done``,
        ``shadow_dropped`` (queue full), ``shadow_errors``, and ``shadow_queued`` now."""
        with self._counts_lock:
            counts = dict(self._counts)
        counts["shadow_queued"] = self._shadow_queue.qsize()
        return counts

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount

    def _lookup(self, name: str) -> _Served:
        served = self._served.get(name)
        if served is not None:
            return served
        self.refresh()  # created since the last refresh? One cheap query says.
        served = self._served.get(name)
        if served is not None:
            return served
        if name in self.errors:
            raise DeploymentUnavailableError(
                f"Deployment {name!r} cannot serve: {self.errors[name]}", deployment=name
            )
        self.deployments.get(name)  # NotFoundError naming the known deployments
        raise NotFoundError(  # pragma: no cover - it exists but was neither served nor failed
            f"Deployment {name!r} is not served yet.", kind="deployment", key=name
        )

    # --- predicting ------------------------------------------------------------------------------------

    def predict(
        self,
        deployment: str,
        data: Any,
        *,
        request_ids: Sequence[str] | None = None,
        routing_keys: str | Sequence[str | None] | None = None,
        headers: Mapping[str, str] | None = None,
        probabilities: bool = False,
    ) -> PredictionResult:
        """Predict ``data`` (a DataFrame, records, a dict of columns or an array; one row or many) with
        deployment ``deployment``.

        Each row goes to production or the canary (see :mod:`loopwright.serving.router`). The routing key
        is ``routing_keys`` when given (one for the request, or one per row), else the sticky header from
        ``headers`` or the sticky field of each row. ``request_ids`` name the rows (one each; default:
        random ids). With a shadow, a copy of the request is queued for it after the answer is ready.
        The runtime keeps a reference to ``data`` for the shadow: do not change it afterwards.
        """
        started = time.perf_counter()
        timestamp = time.time_ns() // 1_000_000
        served = self._served.get(deployment) or self._lookup(deployment)
        data = _as_rows(data)
        rows = _num_rows(data)
        if rows == 0:
            raise InvalidInputError(
                f"A prediction request to deployment {deployment!r} needs at least one row. Got 0 rows.",
                deployment=deployment,
            )
        ids = _request_ids(request_ids, rows, deployment)
        production = served.production
        canary = served.canary
        if canary is None or not served.router.splits:
            predictions, probas = _call(served, production, data, rows, probabilities)
            variants = [PRODUCTION] * rows
            versions = [production.number] * rows
        else:
            keys = routing_keys if routing_keys is not None else _routing_keys(served, data, rows, headers)
            chosen = served.router.assign(rows, keys)
            if all(chosen) or not any(chosen):
                variant = canary if chosen[0] else production
                predictions, probas = _call(served, variant, data, rows, probabilities)
                variants = [variant.name] * rows
                versions = [variant.number] * rows
            else:
                predictions, probas = _split_call(served, data, chosen, probabilities)
                variants = [CANARY if flag else PRODUCTION for flag in chosen]
                versions = [canary.number if flag else production.number for flag in chosen]
        result = PredictionResult(
            deployment=deployment,
            model=served.deployment.model,
            request_ids=ids,
            predictions=predictions,
            probabilities=probas,
            variants=variants,
            versions=versions,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            timestamp=timestamp,
        )
        if served.shadow is not None:
            self._queue_shadow(_ShadowJob(served, data, ids, probabilities, timestamp))
        return result

    # --- shadow ----------------------------------------------------------------------------------------

    def _queue_shadow(self, job: _ShadowJob) -> None:
        if self._stop.is_set():
            return
        if self._shadow_thread is None:
            self._start_shadow_thread()
        try:
            self._shadow_queue.put_nowait(job)
        except queue.Full:
            self._count("shadow_dropped")
            now = time.monotonic()
            if now - self._dropped_warned_at >= _DROP_WARNING_S:
                self._dropped_warned_at = now
                logger.warning(
                    "The shadow queue of deployment %r is full (%d requests): shadow traffic is best-effort, "
                    "so copies are being dropped (shadow_dropped counts them).",
                    job.served.deployment.name,
                    self._shadow_queue.maxsize,
                )

    def _start_shadow_thread(self) -> None:
        with self._shadow_lock:
            if self._shadow_thread is None:
                thread = threading.Thread(
                    target=self._shadow_loop, name="loopwright-serving-shadow", daemon=True
                )
                thread.start()
                self._shadow_thread = thread

    def _shadow_loop(self) -> None:
        while True:
            job = self._shadow_queue.get()
            try:
                if job is None:
                    return
                self._run_shadow(job)
            finally:
                self._shadow_queue.task_done()

    def _run_shadow(self, job: _ShadowJob) -> None:
        shadow = job.served.shadow
        assert shadow is not None
        started = time.perf_counter()
        rows = len(job.request_ids)
        try:
            predictions, probas = _call(job.served, shadow, job.data, rows, job.probabilities)
            result = PredictionResult(
                deployment=job.served.deployment.name,
                model=job.served.deployment.model,
                request_ids=job.request_ids,
                predictions=predictions,
                probabilities=probas,
                variants=[SHADOW] * rows,
                versions=[shadow.number] * rows,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                timestamp=job.timestamp,
            )
            if self._on_shadow is not None:
                self._on_shadow(result, job.data)
        except Exception as error:  # best-effort: a failing shadow never reaches a caller
            self._count("shadow_errors")
            logger.warning(
                "Shadow version %s of deployment %r failed: %s",
                shadow.number,
                job.served.deployment.name,
                _describe(error),
            )
            return
        self._count("shadow_done")

    def wait_for_shadow(self, timeout: float = 10.0) -> bool:
        """Wait until every queued shadow request is done (for tests and orderly shutdowns); whether
        it finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._shadow_queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


# --- helpers ---------------------------------------------------------------------------------------------


def _variants(served: _Served) -> list[_Variant]:
    return [variant for variant in (served.production, served.canary, served.shadow) if variant is not None]


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, LoopwrightError) else f"{type(error).__name__}: {error}"


def _as_rows(data: Any) -> Any:
    """``data`` in a form whose rows can be counted and taken: DataFrames and arrays as they are,
    records, dicts of columns and polars frames as pandas."""
    kind = type(data).__name__
    if kind in ("DataFrame", "ndarray") and type(data).__module__.split(".", 1)[0] in ("pandas", "numpy"):
        return data
    from loopwright.registry.inputs import as_model_input

    converted = as_model_input(data)
    if isinstance(converted, list | tuple):
        return converted
    if not hasattr(converted, "__len__") or isinstance(converted, str | bytes | Mapping):
        raise InvalidInputError(
            "Prediction data must be a pandas or polars DataFrame, a list of records, a dict of columns or "
            f"an array. Got {type(data).__name__} instead.",
            received=type(data).__name__,
        )
    return converted


def _num_rows(data: Any) -> int:
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) > 0 else len(data)


def _take(data: Any, indices: list[int]) -> Any:
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if isinstance(data, np.ndarray):
        return data[indices]
    return [data[index] for index in indices]


def _request_ids(request_ids: Sequence[str] | None, rows: int, deployment: str) -> list[str]:
    if request_ids is None:
        return [uuid.uuid4().hex for _ in range(rows)]
    ids = list(request_ids)
    if len(ids) != rows or not all(isinstance(item, str) and item for item in ids):
        raise InvalidInputError(
            f"The 'request_ids' of a request to deployment {deployment!r} must be one non-empty text per "
            f"row: {rows} row(s). Got {len(ids)} id(s) instead.",
            deployment=deployment,
            field="request_ids",
        )
    return ids


def _routing_keys(
    served: _Served, data: Any, rows: int, headers: Mapping[str, str] | None
) -> str | list[str | None] | None:
    if served.header is not None:
        if headers is None:
            return None
        value = headers.get(served.header)
        if value is None:
            value = next((text for name, text in headers.items() if name.lower() == served.header), None)
        return value
    columns = getattr(data, "columns", None)
    if served.field is None or columns is None or served.field not in columns:
        return None
    position = columns.get_loc(served.field)
    if rows == 1 and isinstance(position, int):
        values = [data.iat[0, position]]  # a whole column costs ~50 µs in pandas; one cell, ~8
    else:
        values = data[served.field].tolist()
    return [None if _missing(value) else str(value) for value in values]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _call(
    served: _Served, variant: _Variant, data: Any, rows: int, probabilities: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """The variant's predictions (and probabilities) for ``data``, checked to be one per row."""
    model = variant.model
    try:
        predictions = _array(model.predict(data))
        probas = _array(model.predict_proba(data)) if probabilities and model.has_predict_proba else None
    except LoopwrightError:
        raise  # bad input (a signature mismatch) is the caller's to hear about as it is
    except Exception as error:
        raise _failed(served, variant, f"it raised {type(error).__name__}: {error}") from error
    for name, values in (("predictions", predictions), ("probabilities", probas)):
        if values is not None and (values.ndim == 0 or values.shape[0] != rows):
            got = "a single value" if values.ndim == 0 else f"{values.shape[0]}"
            raise _failed(served, variant, f"it returned {got} {name} for {rows} row(s)")
    return predictions, probas


def _split_call(
    served: _Served, data: Any, chosen: list[bool], probabilities: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """Predict the rows of each variant with its model, and put the answers back in request order."""
    assert served.canary is not None
    canary_rows = [index for index, flag in enumerate(chosen) if flag]
    production_rows = [index for index, flag in enumerate(chosen) if not flag]
    parts = []
    for variant, indices in ((served.production, production_rows), (served.canary, canary_rows)):
        parts.append((indices, *_call(served, variant, _take(data, indices), len(indices), probabilities)))
    predictions = _merge([(indices, values) for indices, values, _ in parts], len(chosen))
    probas = None
    if all(probas_part is not None for _, _, probas_part in parts):
        probas = _merge(
            [(indices, values) for indices, _, values in parts if values is not None], len(chosen)
        )
    return predictions, probas


def _merge(parts: list[tuple[list[int], np.ndarray[Any, Any]]], rows: int) -> np.ndarray[Any, Any]:
    first = parts[0][1]
    shapes = {values.shape[1:] for _, values in parts}
    dtype = np.result_type(*(values.dtype for _, values in parts))
    if len(shapes) != 1:  # variants disagree on the output's shape: keep each row's own answer
        merged: np.ndarray[Any, Any] = np.empty(rows, dtype=object)
        for indices, values in parts:
            for index, value in zip(indices, values, strict=True):
                merged[index] = value
        return merged
    merged = np.empty((rows, *first.shape[1:]), dtype=dtype)
    for indices, values in parts:
        merged[indices] = values
    return merged


def _array(values: Any) -> np.ndarray[Any, Any]:
    if isinstance(values, np.ndarray):
        return values
    to_numpy = getattr(values, "to_numpy", None)
    if callable(to_numpy):
        return np.asarray(to_numpy())
    return np.asarray(values)


def _failed(served: _Served, variant: _Variant, what: str) -> PredictionError:
    deployment = served.deployment
    return PredictionError(
        f"The {variant.name} model of deployment {deployment.name!r} (model {deployment.model!r} version "
        f"{variant.number}) failed on this request: {what}.",
        deployment=deployment.name,
        model=deployment.model,
        version=variant.number,
        variant=variant.name,
    )
