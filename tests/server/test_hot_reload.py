"""Moving an alias or changing a deployment while clients send requests: no failed request, and the new
version is served after the next refresh, without a restart."""

from __future__ import annotations

import threading
import time

import httpx

import loopwright as lw
from tests.server.conftest import LARGE, LiveServer

CLIENTS = 3


def _send_until(live: LiveServer, stop: threading.Event, seen: list[tuple[int, int]]) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        while not stop.is_set():
            response = http.post("/v1/deployments/fraud/predict", json={"records": LARGE})
            version = response.json()["predictions"][0]["version"] if response.status_code == 200 else -1
            seen.append((response.status_code, version))


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_moving_the_alias_under_load_drops_no_request(server: LiveServer) -> None:
    stop = threading.Event()
    seen: list[list[tuple[int, int]]] = [[] for _ in range(CLIENTS)]
    threads = [threading.Thread(target=_send_until, args=(server, stop, mine)) for mine in seen]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: all(len(mine) >= 5 for mine in seen))
        server.client.set_alias("fraud", "production", 2)
        moved = time.monotonic()
        _wait_for(lambda: all(mine and mine[-1][1] == 2 for mine in seen))
        switched_in = time.monotonic() - moved
        counts = [len(mine) for mine in seen]
        _wait_for(lambda: all(len(mine) >= count + 5 for mine, count in zip(seen, counts, strict=True)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert switched_in < 5  # refresh_interval_s is 0.1 in these tests
    for mine in seen:
        assert {status for status, _ in mine} == {200}
        versions = [version for _, version in mine]
        switch = versions.index(2)
        assert set(versions[:switch]) == {1}
        assert set(versions[switch:]) == {2}  # never back to the old one


def test_a_deployment_change_takes_effect_without_a_restart(server: LiveServer) -> None:
    def answer() -> tuple[int, str]:
        row = server.predict({"records": LARGE}).json()["predictions"][0]
        return row["version"], row["variant"]

    assert answer() == (1, "production")
    server.client.deploy("fraud", "fraud@production", canary=2, canary_weight=1.0)
    _wait_for(lambda: answer() == (2, "canary"))
    server.client.deploy("fraud", "fraud@production")
    _wait_for(lambda: answer() == (1, "production"))
    revisions = [event.revision for event in server.client.deployments.history("fraud")]
    assert revisions == [1, 2, 3]


def test_a_deployment_created_while_running_is_served(server: LiveServer, client: lw.Client) -> None:
    assert server.predict({"records": LARGE}, deployment="fraud-v2").status_code == 404
    client.deploy("fraud-v2", ("fraud", 2))
    response = server.predict({"records": LARGE}, deployment="fraud-v2")
    assert response.status_code == 200  # looked up on a miss, before the next periodic refresh
    assert response.json()["predictions"][0]["version"] == 2
