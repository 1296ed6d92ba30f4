"""Micro-batching: requests that arrive together share one model call, each keeps its own answer, id,
routing and error."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

import loopwright as lw
from loopwright.server.app import create_app
from loopwright.settings import ServerSettings
from tests.server.conftest import LARGE, SMALL


def gather(
    client: lw.Client, requests: list[dict[str, Any]], settings: ServerSettings | None = None
) -> tuple[list[httpx.Response], Any]:
    """Send ``requests`` (keyword arguments of ``httpx.post``) all at once to an in-process app: their
    handlers all run before the batch is flushed, so they share one model call."""
    app = create_app(client, settings or ServerSettings())

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await asyncio.gather(*(http.post(**request) for request in requests))

    responses = asyncio.run(send())
    app.state.runtime.close()
    return responses, app.state.service.batcher


def test_concurrent_requests_share_a_call_and_keep_their_own_answers(client: lw.Client) -> None:
    requests = [
        {
            "url": "/v1/deployments/fraud/predict",
            "json": {"records": [LARGE, SMALL], "request_ids": ["a1", "a2"]},
        },
        {
            "url": "/v1/deployments/fraud/predict",
            "json": {"records": SMALL},
            "headers": {"X-Request-ID": "b1"},
        },
        {"url": "/v1/deployments/fraud/predict", "json": {"records": [LARGE]}},
    ]
    responses, batcher = gather(client, requests)
    assert batcher.calls == 1
    rows = [
        [(row["prediction"], row["version"]) for row in response.json()["predictions"]]
        for response in responses
    ]
    assert rows == [[(1, 1), (0, 1)], [(0, 1)], [(1, 1)]]
    ids = [[row["request_id"] for row in response.json()["predictions"]] for response in responses]
    assert ids[:2] == [["a1", "a2"], ["b1"]]
    assert len(ids[2][0]) == 32
    assert sorted(client.predictions("fraud")["request_id"]) == sorted(["a1", "a2", "b1", ids[2][0]])


def test_a_bad_request_in_a_batch_fails_alone(client: lw.Client) -> None:
    good = {"url": "/v1/deployments/fraud/predict", "json": {"records": LARGE}}
    bad = {"url": "/v1/deployments/fraud/predict", "json": {"records": {"amount": "x", "age": 1}}}
    responses, _ = gather(client, [good, bad, good])
    assert [response.status_code for response in responses] == [200, 422, 200]
    assert responses[1].json()["error"]["details"] == {
        "column": "amount",
        "expected": "float64",
        "received": "string",
    }
    assert len(client.predictions("fraud")) == 2


def test_sticky_routing_holds_within_a_batch(client: lw.Client) -> None:
    client.deploy("fraud", "fraud@production", canary=2, canary_weight=0.5, sticky="header:X-Customer")
    requests = [
        {
            "url": "/v1/deployments/fraud/predict",
            "json": {"records": LARGE},
            "headers": {"X-Customer": f"c-{index}"},
        }
        for index in range(30)
    ]
    first, batcher = gather(client, requests)
    second, _ = gather(client, requests)
    assert batcher.calls == 1
    versions = [response.json()["predictions"][0]["version"] for response in first]
    assert versions == [response.json()["predictions"][0]["version"] for response in second]
    assert set(versions) == {1, 2}  # 2**-29 to fail by chance


def test_batching_off_calls_the_model_per_request(client: lw.Client) -> None:
    responses, batcher = gather(
        client,
        [{"url": "/v1/deployments/fraud/invocations", "json": {"instances": [LARGE]}}] * 3,
        ServerSettings(max_batch_rows=0),
    )
    assert batcher is None
    assert [response.json() for response in responses] == [{"predictions": [1]}] * 3
