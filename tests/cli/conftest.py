"""Fixtures of the CLI tests: a real SQLite workspace in a temporary folder, and a runner invoking the app.

Runs with known ids, times, params and metrics are written through the store, so tables and JSON can be
pinned exactly (golden output). Rich sees a wide, colourless terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner, Result

from loopwright.cli import app
from loopwright.client import Client
from loopwright.settings import Settings, TrackingSettings
from loopwright.store.records import RunStatus
from loopwright.store.schema import runs

# A wide terminal without colour, and no LOOPWRIGHT_* settings leaking in from the machine running the tests.
ENVIRONMENT: dict[str, str | None] = {
    "COLUMNS": "200",
    "LINES": "50",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "LOOPWRIGHT_WORKSPACE": None,
    "LOOPWRIGHT_DATABASE_URL": None,
    "LOOPWRIGHT_ARTIFACT_URI": None,
}

T0_MS = 1_700_000_000_000
"""Start of the first seeded run: 2023-11-14T22:13:20Z."""


def local_time(milliseconds: int) -> str:
    """How the CLI prints a stored time (local time zone), for expected output."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def plain(text: str) -> str:
    """Output without the trailing spaces Rich pads table lines with."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@dataclass
class Invoker:
    """Runs ``loopwright --workspace <folder> <arguments>`` in-process."""

    workspace: Path
    environment: dict[str, str | None] = field(default_factory=lambda: dict(ENVIRONMENT))

    def __call__(
        self, *arguments: str, workspace: bool = True, env: Mapping[str, str | None] | None = None
    ) -> Result:
        options = ["--workspace", str(self.workspace)] if workspace else []
        return CliRunner().invoke(
            app, [*options, *arguments], env={**self.environment, **(env or {})}, prog_name="loopwright"
        )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The folder of the test's workspace (not created yet)."""
    return tmp_path / "ws"


@pytest.fixture
def invoke(workspace: Path) -> Invoker:
    """Invoke the CLI on the test's workspace."""
    return Invoker(workspace)


@pytest.fixture
def client(workspace: Path) -> Iterator[Client]:
    """A client on the test's workspace (creating it), to record runs the CLI then reads."""
    client = Client(
        Settings(
            workspace=workspace,
            tracking=TrackingSettings(flush_interval_s=0.2, capture_git=False),
        )
    )
    yield client
    client.close()


@dataclass(frozen=True)
class SeededRun:
    """A run written with known values."""

    id: str
    name: str
    start_ms: int
    end_ms: int | None


def seed_run(
    client: Client,
    run_id: str,
    name: str,
    *,
    experiment: str = "golden",
    params: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    status: RunStatus = RunStatus.FINISHED,
    start_ms: int = T0_MS,
    duration_ms: int | None = 1_500,
    parent_id: str | None = None,
    error: str | None = None,
) -> SeededRun:
    """Record a run with exactly these values (the store stamps end times with the clock, so the end
    time is then set directly in the database)."""
    store = client.store
    experiment_id = store.get_or_create_experiment(experiment).id
    store.create_run(experiment_id, name, run_id=run_id, parent_id=parent_id, start_ms=start_ms)
    store.log_params(run_id, dict(params or {}))
    store.log_metrics([(run_id, key, value, 0, start_ms) for key, value in (metrics or {}).items()])
    end_ms = None
    if duration_ms is not None:
        store.end_run(run_id, status, error=error)
        end_ms = start_ms + duration_ms
        engine = sqlalchemy.create_engine(store.url, poolclass=sqlalchemy.NullPool)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.update(runs).where(runs.c.id == run_id).values(end_ms=end_ms))
        engine.dispose()
    return SeededRun(run_id, name, start_ms, end_ms)


@pytest.fixture
def golden_runs(client: Client) -> list[SeededRun]:
    """Three finished-or-failed runs of experiment ``golden`` with overlapping params and metrics."""
    return [
        seed_run(
            client,
            "aaaa1111" + "0" * 24,
            "lr-C0.1",
            params={"model": "lr", "C": "0.1"},
            metrics={"accuracy": 0.91, "loss": 0.3123456},
            start_ms=T0_MS,
            duration_ms=1_500,
        ),
        seed_run(
            client,
            "bbbb2222" + "0" * 24,
            "lr-C1",
            params={"model": "lr", "C": "1"},
            metrics={"accuracy": 0.93, "loss": 0.25},
            start_ms=T0_MS + 60_000,
            duration_ms=12_500,
        ),
        seed_run(
            client,
            "cccc3333" + "0" * 24,
            "forest",
            params={"model": "rf", "max_depth": "4"},
            metrics={"accuracy": 0.93, "f1": 0.9},
            status=RunStatus.FAILED,
            error="ValueError: the forest caught fire",
            start_ms=T0_MS + 120_000,
            duration_ms=125_000,
        ),
    ]
