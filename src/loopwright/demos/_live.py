"""The fraud demo's live side: a Loopwright server in a child process, and an HTTP client that sends it
transactions and, later, their labels.

The server is ``python -m loopwright.server`` on the demo's workspace, on 127.0.0.1 and a free port, its
background workers off (the demo ticks the monitors, the scheduler and the controller itself, so a run is
the same for a given seed). The client is the standard library's ``http.client`` on one keep-alive
connection: nothing to install beyond the ``server`` extra the server needs.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loopwright.errors import LoopwrightError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from loopwright.settings import Settings

__all__ = ["LiveServer", "Served"]

_START_TIMEOUT_S = 120.0  # a loaded machine takes its time importing the server and loading the model


@dataclass(frozen=True, slots=True)
class Served:
    """One row's answer: its request id, the prediction, and the version and variant that answered."""

    request_id: str
    prediction: int
    version: int
    variant: str


class LiveServer:
    """A Loopwright server in a child process on ``settings``' workspace; a context manager.

    >>> with LiveServer(client.settings) as server:          # doctest: +SKIP
    ...     server.predict("fraud", rows, ids)
    """

    def __init__(self, settings: Settings, *, refresh_interval_s: float = 0.2) -> None:
        server = settings.server.model_copy(
            update={"host": "127.0.0.1", "port": 0, "refresh_interval_s": refresh_interval_s}
        )
        self._request: dict[str, Any] = {
            "settings": settings.model_copy(update={"server": server}).model_dump(mode="json"),
            "background": [],  # the demo ticks the monitors, the scheduler and the controller itself
        }
        self._process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._connection: http.client.HTTPConnection | None = None
        self.url = ""

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    def start(self) -> str:
        """Start the server and wait until it listens; returns its URL."""
        process = subprocess.Popen(
            [sys.executable, "-m", "loopwright.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._process = process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(self._request))
        process.stdin.close()
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(_START_TIMEOUT_S)
        url = lines[0].strip() if lines else ""
        if not url.startswith("http://"):
            self.close()
            raise LoopwrightError(f"The demo's server did not start: {self.errors() or 'no output'}")
        self.url = url
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        return url

    def errors(self) -> str:
        """What the server wrote on standard error so far (its last 2,000 characters)."""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()[-2_000:].strip()

    def close(self) -> None:
        """Stop the server (SIGTERM: requests in flight finish, the prediction log is compacted)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
        self._stderr.close()

    # --- requests -------------------------------------------------------------------------------------

    def predict(
        self, deployment: str, rows: list[dict[str, Any]], request_ids: Sequence[str]
    ) -> list[Served]:
        """Predict ``rows`` (named ``request_ids``) with deployment ``deployment``."""
        body = self._call(
            "POST",
            f"/v1/deployments/{deployment}/predict",
            {"records": rows, "request_ids": list(request_ids)},
        )
        return [
            Served(
                str(item["request_id"]), int(item["prediction"]), int(item["version"]), str(item["variant"])
            )
            for item in body["predictions"]
        ]

    def feedback(self, deployment: str, labels: dict[str, int]) -> int:
        """Send ``labels`` by request id through the feedback endpoint; returns how many were recorded."""
        body = self._call("POST", f"/v1/deployments/{deployment}/feedback", {"feedback": labels})
        return int(body["recorded"])

    def serving(self, deployment: str) -> dict[str, int]:
        """The version each variant of ``deployment`` serves now, as the server reports it."""
        body = self._call("GET", f"/v1/deployments/{deployment}", None)
        return {str(key): int(value) for key, value in (body.get("serving") or {}).items()}

    def wait_until_serving(self, deployment: str, expected: dict[str, int], timeout_s: float = 30.0) -> None:
        """Wait until the server serves ``expected`` (it follows the workspace every refresh interval)."""
        deadline = time.monotonic() + timeout_s
        while self.serving(deployment) != expected:
            if time.monotonic() > deadline:
                raise LoopwrightError(
                    f"The demo's server did not switch deployment {deployment!r} to {expected} within "
                    f"{timeout_s:g} s; it serves {self.serving(deployment)}."
                )
            time.sleep(0.05)

    def _call(self, method: str, path: str, payload: Any) -> Any:
        if self._connection is None:
            raise LoopwrightError("The demo's server is not running.")
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # The server closes a keep-alive connection idle for a few seconds (while a model trains):
            # the request never reached it, so it is sent again on a new connection.
            self._connection.close()
            self._connection.request(method, path, body=body, headers=headers)
            response = self._connection.getresponse()
        text = response.read()
        if response.status != 200:
            raise LoopwrightError(
                f"The demo's server answered {method} {path} with HTTP {response.status}: "
                f"{text[:500].decode(errors='replace')}"
            )
        return json.loads(text)
