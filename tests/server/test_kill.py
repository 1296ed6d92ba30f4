"""Nothing acknowledged is lost: ``loopwright server`` killed with SIGKILL under concurrent load, then
restarted, still has every prediction it answered in its log, and compacts it without doubling any."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import loopwright as lw
from loopwright.serving.predictlog import PredictionLog
from tests.server.conftest import FEATURES, LARGE, fraud_model, make_settings

pytestmark = pytest.mark.slow

_CLIENTS = 4
_ACKNOWLEDGED_BEFORE_KILL = 400
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace with scikit-learn model 'fraud' registered and deployed as 'fraud' (then closed: the
    server processes own it)."""
    folder = tmp_path / "ws"
    client = lw.Client(make_settings(folder))
    client.register_model("fraud", fraud_model(), input_example=FEATURES.head())
    client.set_alias("fraud", "production", 1)
    client.deploy("fraud", "fraud@production")
    client.close()
    return folder


@pytest.fixture
def start_server(workspace: Path) -> Iterator[type[_Server]]:
    started: list[_Server] = []

    class Started(_Server):
        def __init__(self) -> None:
            super().__init__(workspace)
            started.append(self)

    yield Started
    for server in started:
        server.stop(signal.SIGKILL)


class _Server:
    """``loopwright server --port 0`` in a process of its own, and its URL once it listens."""

    def __init__(self, workspace: Path) -> None:
        script = Path(sys.executable).with_name("loopwright")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "loopwright.cli"]
        environment = {key: value for key, value in os.environ.items() if not key.startswith("LOOPWRIGHT_")}
        environment.update(NO_COLOR="1", COLUMNS="200", LOOPWRIGHT_TRACKING__CAPTURE_GIT="false")
        self.process = subprocess.Popen(
            [*command, "--workspace", str(workspace), "server", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self.output: list[str] = []
        self.url = self._wait_until_listening()

    def _wait_until_listening(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.process.stdout:  # ends when the process exits
            self.output.append(line)
            found = _LISTENING.search(line)
            if found:
                # Keep draining its output so that the server never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return found.group(1)
            if time.monotonic() > deadline:
                break
        self.stop(signal.SIGKILL)
        raise AssertionError("loopwright server did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self, how: signal.Signals) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        code = self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def _load(url: str, acknowledged: set[str], stop: threading.Event, errors: list[str]) -> None:
    """Send one-row predictions on a keep-alive connection until ``stop`` or the server goes away;
    remember the request id of every answered one."""
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            try:
                response = http.post("/v1/deployments/fraud/predict", json={"records": [LARGE]})
            except httpx.TransportError:
                return  # killed: this request was never acknowledged
            if response.status_code != 200:
                errors.append(f"{response.status_code}: {response.text}")
                return
            acknowledged.add(response.json()["predictions"][0]["request_id"])


def test_every_acknowledged_prediction_survives_a_sigkill_of_the_server(
    workspace: Path, start_server: type[_Server]
) -> None:
    server = start_server()
    acknowledged: set[str] = set()
    errors: list[str] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=_load, args=(server.url, acknowledged, stop, errors)) for _ in range(_CLIENTS)
    ]
    for thread in clients:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < _ACKNOWLEDGED_BEFORE_KILL and not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL  # mid-load: the clients are still sending
    stop.set()
    for thread in clients:
        thread.join(30)
    assert errors == []
    assert len(acknowledged) >= _ACKNOWLEDGED_BEFORE_KILL

    restarted = start_server()
    with httpx.Client(base_url=restarted.url, timeout=30) as http:
        # The restarted server serves, and knows every acknowledged request (feedback checks its log).
        assert http.post("/v1/deployments/fraud/predict", json={"records": [LARGE]}).status_code == 200
        labels = http.post(
            "/v1/deployments/fraud/feedback", json={"feedback": dict.fromkeys(acknowledged, 1)}
        )
        assert labels.status_code == 200
        assert labels.json()["unknown"] == []
        assert labels.json()["recorded"] == len(acknowledged)
    log = PredictionLog(workspace / "predictions")
    logged = log.query("fraud")
    assert acknowledged <= set(logged["request_id"])

    # A graceful stop compacts every segment, the dead server's included: each entry once, in Parquet.
    restarted.stop(signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
    assert log.lag().segments == 0
    compacted = log.query("fraud")
    assert acknowledged <= set(compacted["request_id"])
    assert compacted["request_id"].is_unique
    assert set(compacted["variant"]) == {"production"}
