"""Deployments and logged traffic with known values, for the monitor tests.

Entries go straight into the workspace's prediction log (as the server writes them), so each test states
exactly which predictions, inputs, outputs and times a monitor reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from loopwright.client import Client
from loopwright.serving.predictlog import PredictionEntry
from loopwright.store.deployments import DeploymentStore

HOUR = 3_600_000
T0 = round(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
"""The start of the tests' first hour of traffic."""
CITIES = ("lyon", "paris", "porto")


def deploy(client: Client, name: str = "fraud") -> None:
    """Deployment ``name`` of model ``fraud`` (never loaded: the tests log its answers themselves)."""
    DeploymentStore(client.store).create(
        name, {"model": "fraud", "alias": "production", "canary_weight": 0.0}, user=None, reason=None
    )


def reference_frame(rows: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """Training-like data: ``amount`` ~ N(100, 10) in [40, 160], ``city`` among :data:`CITIES`, and the
    ``label`` column a training set has (never an input)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": np.clip(rng.normal(100, 10, rows), 40, 160),
            "city": rng.choice(CITIES, rows),
            "label": rng.integers(0, 2, rows),
        }
    )


def hour_of_traffic(
    hour: int,
    rows: int = 300,
    *,
    shift: float = 0.0,
    cities: Sequence[str] = CITIES,
    seed: int | None = None,
    deployment: str = "fraud",
    variant: str = "production",
    version: int = 1,
    prefix: str | None = None,
    inputs: Sequence[dict[str, Any]] | None = None,
) -> list[PredictionEntry]:
    """``rows`` predictions spread over hour ``hour`` after :data:`T0` (one a second from its start):
    amounts ~ N(100 + shift, 10), the positive class's probability uniform, request ids
    ``<prefix>-<i>`` (prefix ``h<hour>``), latencies 1 … 7 ms."""
    rng = np.random.default_rng(hour if seed is None else seed)
    prefix = f"h{hour}" if prefix is None else prefix
    entries = []
    for index in range(rows):
        score = float(rng.random())
        row = (
            inputs[index]
            if inputs is not None
            else {"amount": float(rng.normal(100 + shift, 10)), "city": str(rng.choice(list(cities)))}
        )
        entries.append(
            PredictionEntry(
                request_id=f"{prefix}-{index}",
                deployment=deployment,
                model="fraud",
                version=version,
                variant=variant,
                inputs=row,
                outputs={"prediction": int(score > 0.5), "probabilities": [1 - score, score]},
                latency_ms=float(1 + index % 7),
                timestamp=T0 + hour * HOUR + index * 1000,
            )
        )
    return entries


def log(client: Client, entries: Sequence[PredictionEntry]) -> None:
    client.prediction_log.append(list(entries))
