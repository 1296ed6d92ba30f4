"""The HTTP endpoints: three prediction protocols, feedback, deployments, health and metrics.

Prediction routes read the raw body (no pydantic model on the hot path), parse it with
:mod:`loopwright.serving.protocols`, hand it to the :class:`~loopwright.server.service.PredictionService`
and write the answer with orjson. They raise on bad input; :mod:`loopwright.server.errors` answers.

=========================================  ===================================================================
endpoint                                   what
=========================================  ===================================================================
``POST /v1/deployments/{name}/predict``    Loopwright's own: records or columns in; per row the request id,
                                           prediction, probabilities, version and variant out
``POST /v1/deployments/{name}/invocations``  MLflow's scoring format (``mlflow models serve`` clients)
``POST /v1/deployments/{name}/feedback``   labels or outcomes by request id
``GET /v1/deployments[/{name}]``           the deployments and the versions each variant serves
``GET /v2``, ``/v2/health/live|ready``,    Open Inference Protocol v2 (KServe, Triton clients): server and
``/v2/models/{name}[/ready]``,             model metadata, health, and inference
``POST /v2/models/{name}/infer``
``GET /metrics``                           Prometheus metrics
``GET /ping``, ``/health``                 liveness, as ``mlflow models serve`` answers it
=========================================  ===================================================================

A one-row request may name its row with an ``X-Request-ID`` header (any protocol); the response of a
one-row request carries the row's id in ``X-Request-ID``, so clients of MLflow's format, whose responses
hold only predictions, can still send feedback.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import loopwright
from loopwright.errors import MalformedPayloadError, NotFoundError, PayloadTooLargeError
from loopwright.registry.signature import Signature
from loopwright.server.metrics import CONTENT_TYPE
from loopwright.serving.protocols import (
    PROBA_OUTPUT,
    Inputs,
    check_request_id,
    inference_response,
    loopwright_response,
    mlflow_response,
    model_metadata,
    oip_datatype,
    parse_feedback,
    parse_inference_request,
    parse_loopwright,
    parse_mlflow,
)

if TYPE_CHECKING:
    from loopwright.server.service import PredictionService
    from loopwright.serving.feedback import FeedbackStore
    from loopwright.serving.runtime import PredictionResult

__all__ = ["build_router", "read_body"]

JSON = "application/json"


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, or :class:`PayloadTooLargeError` as soon as it is known to exceed ``limit``
    bytes: from ``Content-Length`` before reading anything, else while streaming it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise MalformedPayloadError(
                f"The Content-Length header must be a number of bytes. Got {declared!r} instead.",
                field="Content-Length",
                expected="a number of bytes",
                received=declared,
            ) from None
        if length > limit:
            raise _too_large(limit, f"{length} bytes")
        return await request.body()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, received: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body must be at most {limit} bytes (the server's max_body_bytes). Got {received} "
        "instead. Send the rows in several requests, or score them in batch with `loopwright predict`.",
        field="body",
        expected=f"at most {limit} bytes",
        received=received,
    )


def _named_by_header(inputs: Inputs, request: Request) -> Inputs:
    """A one-row request's id from its ``X-Request-ID`` header, unless the body named the row."""
    header = request.headers.get("x-request-id")
    if header is None or inputs.request_ids is not None:
        return inputs
    if inputs.rows != 1:
        return inputs  # one header cannot name several rows; they get ids of their own
    return replace(inputs, request_ids=(check_request_id(header, "X-Request-ID header"),))


def _answer(body: bytes, result: PredictionResult) -> Response:
    headers = {"x-request-id": result.request_ids[0]} if len(result.request_ids) == 1 else None
    return Response(body, media_type=JSON, headers=headers)


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document, default=str), status_code=status, media_type=JSON)


def build_router(service: PredictionService, feedback: FeedbackStore) -> APIRouter:
    """The server's routes, bound to ``service`` (predictions) and ``feedback``."""
    router = APIRouter()
    runtime = service.runtime
    limit = service.settings.max_body_bytes

    # --- Loopwright's own protocol -------------------------------------------------------------------

    async def predict(request: Request) -> Response:
        """Predict one row or many: ``{"records": [...]}``, ``{"columns": {...}}`` or
        ``{"dataframe_split": {...}}``, optionally with ``"request_ids"``."""
        started = time.perf_counter()
        inputs = _named_by_header(parse_loopwright(await read_body(request, limit)), request)
        name = request.path_params["name"]
        result = await service.predict(name, inputs, request.headers, probabilities=True, started=started)
        probabilities = result.probabilities.tolist() if result.probabilities is not None else None
        body = loopwright_response(
            result.deployment,
            result.request_ids,
            result.predictions.tolist(),
            probabilities,
            result.model,
            result.versions,
            result.variants,
        )
        return _answer(body, result)

    # --- MLflow scoring ------------------------------------------------------------------------------

    async def invocations(request: Request) -> Response:
        """MLflow's scoring format: ``dataframe_split``, ``dataframe_records``, ``instances`` or
        ``inputs`` (JSON), or CSV; answers ``{"predictions": [...]}``."""
        started = time.perf_counter()
        body = await read_body(request, limit)
        inputs = _named_by_header(parse_mlflow(body, request.headers.get("content-type")), request)
        name = request.path_params["name"]
        result = await service.predict(name, inputs, request.headers, probabilities=False, started=started)
        return _answer(mlflow_response(result.predictions.tolist()), result)

    # --- Open Inference Protocol v2 ------------------------------------------------------------------

    async def infer(request: Request) -> Response:
        """Open Inference Protocol v2 inference: input tensors in, ``predict`` (and ``predict_proba``)
        tensors out; ``parameters`` holds each row's request id, version and variant."""
        started = time.perf_counter()
        inputs = _named_by_header(parse_inference_request(await read_body(request, limit)), request)
        name = request.path_params["name"]
        probabilities = inputs.outputs is None or PROBA_OUTPUT in inputs.outputs
        result = await service.predict(
            name, inputs, request.headers, probabilities=probabilities, started=started
        )
        versions = sorted(set(result.versions))
        body = inference_response(
            name,
            ",".join(map(str, versions)),
            inputs.id,
            result.predictions,
            result.probabilities,
            outputs=inputs.outputs,
            parameters={
                "request_ids": result.request_ids,
                "versions": result.versions,
                "variants": result.variants,
            },
        )
        return _answer(body, result)

    # The prediction routes are plain Starlette routes: FastAPI's parameter solving and response handling
    # cost about 80 µs a request, which these routes (raw body in, bytes out) do not use. They are described
    # in docs/serving.md rather than in the OpenAPI schema.
    router.add_route("/v1/deployments/{name}/predict", predict, methods=["POST"])
    router.add_route("/v1/deployments/{name}/invocations", invocations, methods=["POST"])
    router.add_route("/v2/models/{name}/infer", infer, methods=["POST"])

    @router.get("/v2", tags=["open inference protocol"])
    async def server_metadata() -> Response:
        """The server's name, version and protocol extensions."""
        return _json({"name": "loopwright", "version": loopwright.__version__, "extensions": []})

    @router.get("/v2/health/live", tags=["open inference protocol"])
    async def live() -> Response:
        """The server is running."""
        return _json({"live": True})

    @router.get("/v2/health/ready", tags=["open inference protocol"])
    async def ready() -> Response:
        """The server is ready: its deployments were loaded (each one's own state is at
        ``/v2/models/{name}/ready``)."""
        return _json({"ready": True})

    @router.get("/v2/models/{name}", tags=["open inference protocol"])
    def metadata(name: str) -> Response:
        """A deployment as an Open Inference Protocol model: its versions, platform, inputs and outputs."""
        versions = runtime.versions(name)
        deployment = runtime.deployment(name)
        production = runtime.deployments.registry.resolve(deployment.model, versions["production"])
        model = _production_model(runtime, name)
        signature = Signature.from_dict(production.signature) if production.signature else None
        document = model_metadata(
            name,
            [str(version) for version in dict.fromkeys(versions.values())],
            f"loopwright_{production.flavor}",
            signature,
            classifier=bool(model.has_predict_proba),
            prediction_datatype=_label_datatype(model),
        )
        return _json(document)

    @router.get("/v2/models/{name}/ready", tags=["open inference protocol"])
    def model_ready(name: str) -> Response:
        """200 when the deployment serves, 503 when it exists but cannot (the reason is in the body)."""
        if name in runtime.names():
            return _json({"name": name, "ready": True})
        runtime.refresh()
        if name in runtime.names():
            return _json({"name": name, "ready": True})
        runtime.deployments.get(name)  # NotFoundError for a deployment that does not exist
        return _json({"name": name, "ready": False, "error": runtime.errors.get(name)}, status=503)

    # --- feedback and deployments --------------------------------------------------------------------

    @router.post("/v1/deployments/{name}/feedback", tags=["feedback"])
    async def record_feedback(request: Request) -> Response:
        """Labels or outcomes by request id: ``{"feedback": {"<request id>": <value>, ...}}`` or
        ``{"feedback": [{"request_id": ..., "value": ...}, ...]}``. Ids not in the prediction log are
        reported in ``unknown`` and not recorded; with ``?on_unknown=raise``, nothing is recorded then
        (404)."""
        labels = parse_feedback(await read_body(request, limit))
        on_unknown = request.query_params.get("on_unknown", "report")
        name = request.path_params["name"]
        report = await run_in_threadpool(feedback.record, name, labels, on_unknown=on_unknown)  # type: ignore[arg-type]
        return _json(
            {
                "deployment": report.deployment,
                "recorded": report.recorded,
                "replaced": report.replaced,
                "unknown": list(report.unknown),
                "message": report.summary(),
            }
        )

    @router.get("/v1/deployments", tags=["deployments"])
    def deployments() -> Response:
        """Every deployment, with what each variant serves now (or why it cannot serve)."""
        return _json(
            {
                "deployments": [
                    _describe(runtime, item.name, item.to_dict()) for item in runtime.deployments.all()
                ]
            }
        )

    @router.get("/v1/deployments/{name}", tags=["deployments"])
    def deployment(name: str) -> Response:
        """One deployment, with what each variant serves now."""
        return _json(_describe(runtime, name, runtime.deployments.get(name).to_dict()))

    # --- operations ----------------------------------------------------------------------------------

    @router.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @router.get("/ping", tags=["operations"])
    @router.get("/health", tags=["operations"])
    async def ping() -> Response:
        """200 while the server runs (what ``mlflow models serve`` answers on these paths)."""
        return Response(b"\n", media_type=JSON)

    return router


def _describe(runtime: Any, name: str, document: dict[str, Any]) -> dict[str, Any]:
    served = name in runtime.names()
    document["serving"] = runtime.versions(name) if served else None
    document["status"] = "serving" if served else "unavailable"
    if not served:
        document["error"] = runtime.errors.get(name, "not loaded yet")
    return document


def _label_datatype(model: Any) -> str | None:
    """The datatype of a classifier's predictions, from its class labels (scikit-learn's ``classes_``)."""
    classes = getattr(model.raw, "classes_", None)
    return oip_datatype(classes) if classes is not None else None


def _production_model(runtime: Any, name: str) -> Any:
    """The loaded production model of deployment ``name`` (for its probabilities), if served."""
    served = getattr(runtime, "_served", {}).get(name)
    if served is None:
        raise NotFoundError(f"Deployment {name!r} is not served.", kind="deployment", key=name)
    return served.production.model
