"""The workers ``loopwright server`` runs beside its endpoints: which ones, how they start and stop, and that
a failing tick is logged and retried rather than ending the worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopwright.client import Client
from loopwright.errors import InvalidInputError
from loopwright.server.background import SERVICES, BackgroundServices
from loopwright.settings import Settings, TrackingSettings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    opened = Client(Settings(workspace=tmp_path / "ws", tracking=TrackingSettings(capture_git=False)))
    yield opened
    opened.close()


def _workers() -> set[str]:
    return {thread.name for thread in threading.enumerate() if thread.name.startswith("loopwright-")}


def test_every_service_runs_in_its_own_thread_until_stopped(client: Client) -> None:
    services = BackgroundServices(client, interval=0.05)
    assert services.services == SERVICES
    assert not services.running
    services.start()
    try:
        assert services.running
        assert _workers() >= {"loopwright-scheduler", "loopwright-monitors", "loopwright-controller"}
    finally:
        services.stop()
    assert not services.running
    assert not _workers()


def test_services_can_be_turned_off_and_keep_their_order(client: Client) -> None:
    services = BackgroundServices(client, ["controller", "monitors", "controller"], interval=1)
    assert services.services == ("monitors", "controller")
    assert repr(services) == "BackgroundServices(services=('monitors', 'controller'), interval=1.0)"
    none = BackgroundServices(client, [])
    none.start()
    none.stop()
    assert none.services == ()


def test_a_failing_monitoring_tick_is_logged_and_tried_again(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def broken(*_args: Any, **_options: Any) -> Any:
        calls.append(time.monotonic())
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(client.monitors, "run", broken)
    services = BackgroundServices(client, ["monitors"], interval=0.02)
    services.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        services.stop()
    assert len(calls) >= 3
    assert "A monitoring tick failed; trying again in 0.02 s" in caplog.text


@pytest.mark.parametrize(
    ("services", "interval", "message"),
    [
        (
            ["scheduler", "alerts"],
            10.0,
            "The server's background services must be among 'scheduler', 'monitors', 'controller'. Got "
            "'alerts' instead.",
        ),
        (
            SERVICES,
            0,
            "The 'interval' of the server's background services must be a number of seconds above 0 and at "
            "most 3600. Got 0 instead.",
        ),
        (
            SERVICES,
            True,
            "The 'interval' of the server's background services must be a number of seconds above 0 and at "
            "most 3600. Got True instead.",
        ),
    ],
)
def test_bad_services_or_intervals_are_refused(
    client: Client, services: Any, interval: Any, message: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        BackgroundServices(client, services, interval=interval)
    assert raised.value.message == message
