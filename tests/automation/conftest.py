"""Fixtures of the automation tests: a workspace on each metadata backend whose deployment ``fraud``
serves ``Cut(55)`` (version 1, alias ``production``), with three other versions to roll out, and a way to
write live traffic into its prediction log at chosen times.

Versions of model ``fraud``: 1 ``Cut(55)`` (production), 2 ``Cut(50)`` (better), 3 ``Cut(50, invert=True)``
(as many positives, always wrong), 4 ``Cut(90)`` (far fewer positives). Time is passed in: ``T0`` and
minutes after it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest

import loopwright as lw
from loopwright.serving.predictlog import PredictionEntry
from loopwright.settings import Settings
from tests.automation.flows import EXAMPLE, Cut
from tests.data.conftest import database_url, module_postgres_url  # noqa: F401 - fixtures, reused

T0 = 1_767_225_600_000
"""2026-01-01T00:00:00Z, in epoch milliseconds."""

MINUTE = 60_000

MODELS = {1: Cut(55), 2: Cut(50), 3: Cut(50, invert=True), 4: Cut(90)}

_counter = itertools.count()


@pytest.fixture
def client(settings: Settings) -> Iterator[lw.Client]:
    """A client as user ``tester`` with model ``fraud`` (versions 1 to 4) and deployment ``fraud``
    following ``fraud@production`` (version 1)."""
    opened = lw.connect(settings.model_copy(update={"user": "tester"}))
    for number in sorted(MODELS):
        opened.register_model("fraud", MODELS[number], input_example=EXAMPLE)
    opened.set_alias("fraud", "production", 1)
    opened.deploy("fraud", "fraud@production")
    yield opened
    opened.close()


def request_amounts(requests: int, rng: np.random.Generator | int) -> np.ndarray:
    """The amounts of ``requests`` requests drawn by ``rng`` (or a seed), as :func:`traffic` draws them."""
    generator = np.random.default_rng(rng) if isinstance(rng, int) else rng
    return generator.uniform(0, 100, requests).round(2)


def accuracy(version: int, requests: int, seed: int = 0) -> float:
    """How often version ``version`` is right on the requests :func:`traffic` writes with ``seed`` when
    every request goes to it."""
    amounts = request_amounts(requests, seed)
    return float(np.mean([MODELS[version].one(amount) == int(amount > 50) for amount in amounts]))


def traffic(
    client: lw.Client,
    start_ms: int,
    requests: int,
    *,
    candidate: int | None = None,
    variant: str = "shadow",
    share: float = 0.5,
    latency: tuple[float, float] = (2.0, 2.0),
    labels: bool = True,
    production: int = 1,
    seed: int = 0,
) -> list[str]:
    """Log ``requests`` requests to deployment ``fraud`` one second apart from ``start_ms``: production
    (version ``production``) answers; a ``shadow`` candidate predicts a copy of each, a ``canary`` answers
    ``share`` of them instead. ``latency`` is (production's, the candidate's) in ms. With ``labels``, the
    true label of each request is recorded as feedback. Returns the request ids."""
    rng = np.random.default_rng(seed)
    amounts = request_amounts(requests, rng)
    entries, truth = [], {}
    for position, amount in enumerate(amounts):
        request_id = f"r{next(_counter)}"
        moment = start_ms + position * 1000
        truth[request_id] = int(amount > 50)
        inputs = {"amount": float(amount)}
        if candidate is not None and variant == "canary" and rng.random() < share:
            served = [(candidate, "canary", latency[1])]
        else:
            served = [(production, "production", latency[0])]
        if candidate is not None and variant == "shadow":
            served.append((candidate, "shadow", latency[1]))
        for version, kind, took in served:
            outputs = {"prediction": MODELS[version].one(float(amount))}
            entries.append(
                PredictionEntry(request_id, "fraud", "fraud", version, kind, inputs, outputs, took, moment)
            )
    client.prediction_log.append(entries)
    if labels:
        client.log_feedback("fraud", truth, on_unknown="raise")
    return list(truth)
