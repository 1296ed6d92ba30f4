"""``loopwright monitor run --watch``: the monitors run until Ctrl-C, printing only runs that did something."""

from __future__ import annotations

from typing import Any

import pytest

from loopwright.client import Client
from tests.cli.conftest import Invoker, plain


def test_watch_runs_until_interrupted(
    invoke: Invoker, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> Any:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt  # what Ctrl-C does
        return None

    monkeypatch.setattr("loopwright.cli.monitor.time.sleep", sleep)
    result = invoke("monitor", "run", "--watch", "--interval", "5")
    assert result.exit_code == 0, result.output
    assert plain(result.output) == "Running the monitors every 5 s. Stop with Ctrl-C.\nStopped.\n"
    assert sleeps == [5.0, 5.0]


def test_watch_refuses_a_fixed_time(invoke: Invoker, client: Client) -> None:
    result = invoke("monitor", "run", "--watch", "--now", "2026-01-01T00:00:00Z")
    assert result.exit_code == 2
    assert "--now and --watch cannot be combined: a watch runs at the current time." in result.output
