"""The server application: :func:`create_app` builds it, :func:`serve` runs it with uvicorn.

The app owns three long-lived pieces, built when it is created so that a bad workspace or a broken model
fails at startup rather than on the first request: the serving runtime (the deployments' loaded models),
the prediction log, and the feedback store. While the app runs, two daemon threads work beside it: the
runtime's refresher (every ``refresh_interval_s``: one cheap query, and new models loaded *before* they
are swapped in, so a moved alias never drops a request) and the log's compactor. Both stop when the app
shuts down, and the log's open segments are closed and compacted then.

>>> app = create_app(lw.connect())   # doctest: +SKIP
>>> serve(lw.connect())              # doctest: +SKIP   (what `loopwright server` runs)
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

import loopwright
from loopwright.errors import InvalidInputError, LoopwrightError
from loopwright.server import errors
from loopwright.server.background import BackgroundServices
from loopwright.server.metrics import ServingMetrics
from loopwright.server.routes import build_router
from loopwright.server.service import PredictionService
from loopwright.serving.runtime import PredictionResult, ServingRuntime
from loopwright.settings import ServerSettings

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["LOOPBACK_NAMES", "check_host", "create_app", "listening_socket", "serve"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
"""Host names accepted as loopback besides loopback addresses (127.0.0.0/8, ::1)."""


def create_app(
    client: Client,
    settings: ServerSettings | None = None,
    *,
    background: BackgroundServices | None = None,
) -> FastAPI:
    """The FastAPI app serving every deployment of ``client``'s workspace.

    ``settings`` default to ``client.settings.server``; the prediction log lives where
    ``client.settings.prediction_log`` says (default ``<workspace>/predictions``). ``background``
    (the scheduler, monitors and promotion controller) runs while the app does.
    """
    settings = settings or client.settings.server
    log = client.prediction_log if settings.log_predictions else None
    service: PredictionService | None = None

    def on_shadow(result: PredictionResult, data: Any) -> None:
        if service is not None:
            service.log_shadow(result, data)

    runtime = ServingRuntime(client, on_shadow=on_shadow, shadow_queue_size=settings.shadow_queue_size)
    metrics = ServingMetrics(runtime, log, client.store)
    service = PredictionService(runtime, log, metrics, settings)
    feedback = client.feedback  # checks ids against the log, written by this server or not

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start(settings.refresh_interval_s)
        if log is not None:
            log.start()
        if background is not None:
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.stop()
            runtime.close()
            if log is not None:
                log.close()

    app = FastAPI(
        title="Loopwright",
        version=loopwright.__version__,
        summary="Predictions from Loopwright deployments: Loopwright's own API, MLflow's scoring format and "
        "the Open Inference Protocol v2.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.log = log
    app.state.service = service
    app.include_router(build_router(service, feedback))
    errors.install(app, _error_observer(runtime, metrics))
    return app


def _error_observer(runtime: ServingRuntime, metrics: ServingMetrics) -> errors.ErrorObserver:
    def observe(request: Request, error: LoopwrightError | None, status: int) -> None:
        name = request.path_params.get("name", "")
        if not (
            request.url.path.startswith("/v1/deployments/") or request.url.path.startswith("/v2/models/")
        ):
            return
        if name not in runtime.names():  # an unknown name never becomes a label
            name = ""
        details = error.details if error is not None else {}
        version = details.get("version")
        variant = details.get("variant")
        code = errors.INTERNAL_CODE if error is None else getattr(error, "specific_code", error.code)
        metrics.observe_error(
            name,
            str(code),
            version=version if isinstance(version, int) else None,
            variant=variant if isinstance(variant, str) else None,
        )

    return observe


def check_host(host: str) -> str:
    """``host`` if it is a loopback address or name, else :class:`InvalidInputError`: the server has no
    authentication yet, so it must not be reachable from other machines.

    >>> check_host("127.0.0.1")
    '127.0.0.1'
    """
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.lower() in LOOPBACK_NAMES
    if not loopback:
        raise InvalidInputError(
            f"The server's 'host' must be a loopback address (127.0.0.1, ::1 or localhost). Got {host!r} "
            "instead. Loopwright's server has no authentication yet, so it refuses to listen where other "
            "machines can reach it; put an authenticating reverse proxy in front of it on this machine.",
            field="host",
            expected="a loopback address",
            received=host,
        )
    return host


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (``port`` 0: a free port) and listening, for uvicorn."""
    check_host(host)
    address = host.strip("[]")
    if address.lower() in LOOPBACK_NAMES:
        address = "127.0.0.1"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose
    # protocol says TCP, and with it on, a keep-alive response written in two parts (headers, body) waits
    # for the client's delayed ACK: 40 ms per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        raise InvalidInputError(
            f"The server cannot listen on {host}:{port}: {error.strerror}. Choose another --port (0: any "
            "free port).",
            field="port",
            expected="a free port",
            received=str(port),
        ) from error
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: FastAPI, settings: ServerSettings) -> Any:
    """uvicorn's configuration for the app: httptools, no access log (it would cost more than a small
    model's prediction), and keep-alive connections."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def serve(
    client: Client,
    settings: ServerSettings | None = None,
    *,
    on_listening: Callable[[str], None] | None = None,
    background: BackgroundServices | None = None,
) -> None:
    """Run the server until interrupted (Ctrl-C or SIGTERM: requests in flight finish first).

    ``on_listening`` is called with the server's URL once its socket is bound (port 0 picks a free one);
    ``background`` services run beside the endpoints until the server stops.
    """
    import uvicorn

    settings = settings or client.settings.server
    sock = listening_socket(settings.host, settings.port)
    try:
        app = create_app(client, settings, background=background)
        host, port = sock.getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        if on_listening is not None:
            on_listening(url)
        server = uvicorn.Server(uvicorn_config(app, settings))
        with _signals_end_the_server():
            server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def _signals_end_the_server() -> Iterator[None]:
    """Make Ctrl-C and SIGTERM end :func:`serve` normally. uvicorn shuts down gracefully on them and then
    raises the signal again for the handler it found installed; with Python's defaults that kills the
    process (SIGTERM) or raises KeyboardInterrupt (Ctrl-C) before the caller can close the workspace. A
    handler that does nothing is installed for uvicorn to find, and the real ones are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # uvicorn installs no handlers outside the main thread either
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda *_: None) for number in stops}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
