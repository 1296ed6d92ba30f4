"""The one place where errors become HTTP responses.

Routes never build error responses: they raise, and the handlers installed by :func:`install` answer.
A :class:`~loopwright.errors.LoopwrightError` gets the status its ``code`` maps to (the longest matching
prefix in :data:`STATUS`) and a body in the shape of the protocol the request used:

==================  ==========================================================================
protocol (path)     error body
==================  ==========================================================================
``/v2/...``         ``{"error": "<message>", "code": ..., "details": {...}}`` (Open Inference
                    Protocol: ``error`` is the message)
``/invocations``    ``{"error_code": ..., "message": ..., "details": {...}}`` (MLflow's shape)
anything else       ``{"error": {"code": ..., "message": ..., "details": {...}}}``
==================  ==========================================================================

Bad input is always a 4xx naming the field: a model that raises ``ValueError`` or ``TypeError`` on a
request (a missing value it cannot handle, an unknown category) is answered 422, as the input's fault.
Anything unexpected is a 500 with a generic message; its traceback goes to the server's log, not to the
client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from loopwright.errors import LoopwrightError, PredictionError

__all__ = ["INTERNAL_CODE", "STATUS", "error_body", "install", "protocol_of", "status_for"]

logger = logging.getLogger("loopwright.server")

STATUS: dict[str, int] = {
    "invalid_input.payload.malformed": 400,
    "invalid_input.payload.too_large": 413,
    "invalid_input": 422,
    "not_found": 404,
    "conflict": 409,
    "permission_denied": 403,
    "promotion": 409,
    "data_check": 422,
    "serving.unavailable": 503,
    "serving.prediction": 500,
    "store.unavailable": 503,
    "store.prediction_log": 503,
}
"""HTTP status by error code; the longest prefix (whole dotted parts) of an error's code wins, and a code
with none is a 500."""

INTERNAL_CODE = "internal"
"""The code of an unexpected failure (a bug): answered 500 without details."""

_MODEL_INPUT_FAULTS = (ValueError, TypeError)


def status_for(error: LoopwrightError) -> int:
    """The HTTP status for ``error``.

    >>> from loopwright.errors import PayloadTooLargeError, SignatureError
    >>> status_for(SignatureError("x")), status_for(PayloadTooLargeError("x"))
    (422, 413)
    """
    if isinstance(error, PredictionError) and isinstance(error.__cause__, _MODEL_INPUT_FAULTS):
        return 422  # the model refused this input (NaN, unseen category): the caller's to fix
    code = error.code
    while True:
        status = STATUS.get(code)
        if status is not None:
            return status
        code, dot, _ = code.rpartition(".")
        if not dot:
            return 500


def protocol_of(path: str) -> str:
    """``oip``, ``mlflow`` or ``loopwright``: whose error shape a request at ``path`` expects."""
    if path.startswith("/v2/") or path == "/v2":
        return "oip"
    if path.endswith("/invocations"):
        return "mlflow"
    return "loopwright"


def error_body(protocol: str, code: str, message: str, details: Mapping[str, Any] | None = None) -> bytes:
    """The JSON error body for ``protocol`` (see the module docstring)."""
    facts = dict(details or {})
    if protocol == "oip":
        document: dict[str, Any] = {"error": message, "code": code, "details": facts}
    elif protocol == "mlflow":
        document = {"error_code": code, "message": message, "details": facts}
    else:
        document = {"error": {"code": code, "message": message, "details": facts}}
    return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS)


def _code(error: LoopwrightError) -> str:
    specific = getattr(error, "specific_code", None)  # not_found.deployment rather than not_found
    return specific if isinstance(specific, str) else error.code


ErrorObserver = Callable[[Request, LoopwrightError | None, int], None]
"""Told of every error answered (the error, or None for an unexpected one, and the status): metrics."""


def install(app: FastAPI, observe: ErrorObserver | None = None) -> None:
    """Install the handlers that turn every exception into a JSON error response."""

    async def loopwright_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, LoopwrightError)
        status = status_for(error)
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, error, exc_info=error)
        if observe is not None:
            observe(request, error, status)
        body = error_body(protocol_of(request.url.path), _code(error), error.message, error.details)
        return Response(body, status_code=status, media_type="application/json")

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "not_found.route", 405: "method_not_allowed"}.get(error.status_code, "http")
        message = str(error.detail)
        if error.status_code == 404:
            message = f"There is no endpoint at {request.url.path}."
        elif error.status_code == 405:
            message = f"{request.url.path} does not accept {request.method}."
        body = error_body(protocol_of(request.url.path), code, message)
        return Response(
            body, status_code=error.status_code, media_type="application/json", headers=error.headers
        )

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=error)
        if observe is not None:
            observe(request, None, 500)
        message = "The server failed on this request; the error is in the server's log."
        body = error_body(protocol_of(request.url.path), INTERNAL_CODE, message)
        return Response(body, status_code=500, media_type="application/json")

    app.add_exception_handler(LoopwrightError, loopwright_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
