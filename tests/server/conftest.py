"""A real server for the HTTP tests: uvicorn on 127.0.0.1 on a free port, in a background thread, serving a
workspace whose scikit-learn model ``fraud`` is deployed.

``fraud`` predicts from ``amount`` (float) and ``age`` (int). Version 1 says 1 (fraud) for large amounts;
version 2 was trained on the opposite labels, so a response tells which version answered: for
``{"amount": 90.0, "age": 40}`` version 1 predicts 1 and version 2 predicts 0. Deployment ``fraud`` serves
``fraud@production``, which starts on version 1.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from loopwright.server.app import create_app, listening_socket, uvicorn_config
from loopwright.settings import PredictionLogSettings, ServerSettings, Settings, TrackingSettings

FEATURES = pd.DataFrame(
    {
        "amount": np.linspace(0.0, 100.0, 200),
        "age": np.tile(np.arange(20, 60, dtype="int64"), 5),
    }
)
LARGE = {"amount": 90.0, "age": 40}
"""A row version 1 calls fraud (1) and version 2 does not (0)."""
SMALL = {"amount": 5.0, "age": 30}
"""A row version 1 calls not fraud (0) and version 2 fraud (1)."""


def fraud_model(inverted: bool = False) -> LogisticRegression:
    labels = (FEATURES["amount"] > 50).astype("int64")
    return LogisticRegression().fit(FEATURES, 1 - labels if inverted else labels)


class Slow(lw.PythonModel):
    """Answers ``tag`` for every row after sleeping ``delay`` seconds (a shadow that must not slow
    anyone down)."""

    def __init__(self, tag: int, delay: float) -> None:
        self.tag = tag
        self.delay = delay

    def predict(self, data: Any) -> Any:
        time.sleep(self.delay)
        return np.full(len(data), self.tag, dtype="int64")


@dataclass
class LiveServer:
    """A running server: its URL, a keep-alive HTTP client on it, the app and the workspace's client."""

    url: str
    http: httpx.Client
    app: FastAPI
    client: lw.Client

    def predict(self, payload: Any, deployment: str = "fraud", **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/v1/deployments/{deployment}/predict", json=payload, **kwargs)

    def metrics(self) -> dict[str, list[Any]]:
        """The samples of ``/metrics`` by metric family name, parsed by Prometheus' own parser."""
        response = self.http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return {family.name: family.samples for family in text_string_to_metric_families(response.text)}

    def sample(self, family: str, name: str | None = None, **labels: str) -> float:
        """The value of one sample of ``/metrics`` (0 when it is absent)."""
        for sample in self.metrics().get(family, []):
            if (name is None or sample.name == name) and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return float(sample.value)
        return 0.0


def make_settings(folder: Path, **server: Any) -> Settings:
    return Settings(
        workspace=folder,
        user="tester",
        tracking=TrackingSettings(capture_git=False),
        prediction_log=PredictionLogSettings(compact_interval_s=3600),
        server=ServerSettings(refresh_interval_s=0.1, **server),
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``fraud`` workspace, built once per session (fitting, registering and migrating take seconds)
    and copied for each test."""
    folder = tmp_path_factory.mktemp("template") / "ws"
    opened = lw.Client(make_settings(folder))
    opened.register_model("fraud", fraud_model(), input_example=FEATURES.head())
    opened.register_model("fraud", fraud_model(inverted=True), input_example=FEATURES.head())
    opened.set_alias("fraud", "production", 1)
    opened.deploy("fraud", "fraud@production")
    opened.close()
    return folder


@pytest.fixture
def client(template: Path, workspace: Path) -> Iterator[lw.Client]:
    """The workspace with ``fraud`` versions 1 and 2 registered, production on 1, deployed as ``fraud``."""
    shutil.copytree(template, workspace)
    opened = lw.Client(make_settings(workspace))
    yield opened
    opened.close()


@contextlib.contextmanager
def running(client: lw.Client, settings: ServerSettings | None = None) -> Iterator[LiveServer]:
    """Start the app of ``client`` under uvicorn in a thread; stop it (and its threads) on exit."""
    settings = settings or client.settings.server
    app = create_app(client, settings)
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield LiveServer(url, http, app, client)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def server(client: lw.Client) -> Iterator[LiveServer]:
    """A live server on the ``fraud`` workspace."""
    with running(client) as live:
        yield live
