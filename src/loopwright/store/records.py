"""Plain, immutable records that the store returns. They carry data only; actions live elsewhere."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "RUN_COLUMNS",
    "ArtifactRecord",
    "Experiment",
    "Metric",
    "RunArtifact",
    "RunRecord",
    "RunStatus",
    "from_ms",
]

RUN_COLUMNS = (
    "run_id",
    "experiment",
    "name",
    "status",
    "start_time",
    "end_time",
    "duration_s",
    "parent_id",
    "user",
    "git_commit",
)
"""The columns every run has in a :func:`loopwright.search_runs` DataFrame, before metrics / params / tags."""


def from_ms(milliseconds: int | None) -> datetime | None:
    """Epoch milliseconds (as stored) to an aware UTC datetime."""
    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


class RunStatus(enum.StrEnum):
    """Where a run is in its life. ``killed`` means interrupted (Ctrl-C, SIGTERM, ``SystemExit``)."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs."""

    id: int
    name: str
    description: str | None
    created_at: datetime
    run_count: int = 0
    last_run_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One logged point of a metric series."""

    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything recorded about one run: attributes, parameters, tags and the latest value of each metric."""

    id: str
    experiment_id: int
    experiment: str
    name: str
    kind: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parent_id: str | None = None
    error: str | None = None
    user: str | None = None
    host: str | None = None
    pid: int | None = None
    source: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, or ``None`` while the run is still going."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def to_row(self) -> dict[str, Any]:
        """A flat dict in the column scheme of :func:`loopwright.search_runs` DataFrames."""
        values = (
            self.id,
            self.experiment,
            self.name,
            str(self.status),
            self.start_time,
            self.end_time,
            self.duration_s,
            self.parent_id,
            self.user,
            self.git_commit,
        )
        row: dict[str, Any] = dict(zip(RUN_COLUMNS, values, strict=True))
        row.update({f"metrics.{key}": value for key, value in self.metrics.items()})
        row.update({f"params.{key}": value for key, value in self.params.items()})
        row.update({f"tags.{key}": value for key, value in self.tags.items()})
        return row


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """An immutable, content-addressed blob known to the metadata store."""

    id: str
    kind: str
    digest: str
    size: int
    media_type: str | None
    created_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunArtifact:
    """A lineage edge: an artifact used (``input``) or produced (``output``) by a run under ``name``."""

    run_id: str
    name: str
    direction: str
    artifact: ArtifactRecord
