"""Shadow traffic: a copy of each request, off the response path, with both answers logged."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import loopwright as lw
from tests.server.conftest import FEATURES, LARGE, SMALL, Slow, running


class Failing(lw.PythonModel):
    def predict(self, data: Any) -> Any:
        raise RuntimeError("the shadow fell over")


def test_a_slow_shadow_adds_no_latency_and_both_answers_are_logged(client: lw.Client) -> None:
    client.register_model("fraud", Slow(tag=7, delay=0.2), input_example=FEATURES.head())
    client.deploy("fraud", "fraud@production", shadow=3)
    with running(client) as live:
        live.predict({"records": LARGE})  # warm up the connection and the shadow thread
        started = time.perf_counter()
        answers = [live.predict({"records": [LARGE, SMALL]}).json()["predictions"] for _ in range(5)]
        elapsed = time.perf_counter() - started
        # On the response path, five requests would take at least 5 x 0.2 s.
        assert elapsed < 0.8, f"5 requests took {elapsed:.3f} s with a 0.2 s shadow"
        assert all([row["version"] for row in rows] == [1, 1] for rows in answers)
        assert all(row["variant"] == "production" for rows in answers for row in rows)
        assert live.app.state.runtime.wait_for_shadow(10)
    logged = client.predictions("fraud")
    ids = [row["request_id"] for rows in answers for row in rows]
    for request_id in ids:
        entries = logged[logged["request_id"] == request_id]
        by_variant = {entry.variant: entry for entry in entries.itertuples()}
        assert set(by_variant) == {"production", "shadow"}
        assert by_variant["shadow"].version == 3
        assert by_variant["shadow"].outputs == {"prediction": 7}
        assert by_variant["production"].outputs["prediction"] in (0, 1)
        assert by_variant["shadow"].inputs == by_variant["production"].inputs
    assert np.isclose(logged[logged["variant"] == "shadow"]["latency_ms"].min(), 200, atol=150)


def test_a_failing_shadow_never_reaches_the_caller(client: lw.Client) -> None:
    client.register_model("fraud", Failing(), input_example=FEATURES.head())
    client.deploy("fraud", "fraud@production", shadow=3)
    with running(client) as live:
        responses = [live.predict({"records": LARGE}) for _ in range(3)]
        assert [response.status_code for response in responses] == [200, 200, 200]
        assert live.app.state.runtime.wait_for_shadow(10)
        assert (
            live.sample("loopwright_shadow_requests", "loopwright_shadow_requests_total", outcome="failed")
            == 3
        )
    assert set(client.predictions("fraud")["variant"]) == {"production"}
