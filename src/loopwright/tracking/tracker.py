"""Starting runs and keeping track of which one is active in this process."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import traceback
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInputError
from loopwright.settings import Settings
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import RunArtifact, RunStatus
from loopwright.tracking.run import Run
from loopwright.tracking.system import system_info
from loopwright.tracking.validation import validate_key
from loopwright.tracking.writer import MetricWriter

__all__ = ["DEFAULT_EXPERIMENT", "Tracker"]

DEFAULT_EXPERIMENT = "default"

logger = logging.getLogger("loopwright.tracking")


class Tracker:
    """Creates runs in one workspace and holds the process's stack of active runs."""

    def __init__(self, store: MetadataStore, artifacts: ArtifactStore, settings: Settings) -> None:
        self.store = store
        self.artifacts = artifacts
        self.settings = settings
        self.writer = MetricWriter(store, settings.tracking)
        self._stack: list[Run] = []
        self._lock = threading.Lock()
        _trackers.add(self)

    def start_run(
        self,
        experiment: str | None = None,
        name: str | None = None,
        *,
        nested: bool = True,
        parent: Run | str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        kind: str = "run",
    ) -> Run:
        """Create a run and make it the active one. Inside another active run it becomes that run's child
        (and shares its experiment) unless ``nested=False``."""
        parent_id: str | None
        if isinstance(parent, Run):
            parent_id, parent_experiment = parent.id, parent.experiment
        elif isinstance(parent, str):
            record = self.store.get_run(parent)
            parent_id, parent_experiment = record.id, record.experiment
        elif nested and (active := self.active_run()) is not None:
            parent_id, parent_experiment = active.id, active.experiment
        else:
            parent_id, parent_experiment = None, None
        experiment_name = validate_key("experiment", experiment or parent_experiment or DEFAULT_EXPERIMENT)
        if name is not None:
            validate_key("run name", name)
        experiment_record = self.store.get_or_create_experiment(experiment_name)
        system = system_info(user=self.settings.user, capture_git=self.settings.tracking.capture_git)
        run_id = uuid.uuid4().hex
        run_name = name or f"run-{run_id[:8]}"
        self.store.create_run(
            experiment_record.id, run_name, run_id=run_id, parent_id=parent_id, kind=kind, system=system
        )
        run = Run(self, run_id, run_name, experiment_name)
        with self._lock:
            self._stack.append(run)
        if params:
            run.log_params(params)
        if tags:
            run.set_tags(tags)
        return run

    def active_run(self) -> Run | None:
        """The innermost run started in this process and not yet ended."""
        with self._lock:
            return self._stack[-1] if self._stack else None

    def pop(self, run: Run) -> None:
        """Forget an ended run (called by :meth:`Run.end`)."""
        with self._lock:
            if run in self._stack:
                self._stack.remove(run)

    def log_artifact_file(self, run_id: str, path: Path, name: str, *, kind: str = "file") -> RunArtifact:
        """Store a file and link it to the run as an output named ``name``."""
        blob = self.artifacts.put_file(path)
        return self._link(run_id, name, kind, blob.digest, blob.size, media_type=None)

    def log_artifact_bytes(self, run_id: str, data: bytes, name: str, *, media_type: str) -> RunArtifact:
        """Store bytes and link them to the run as an output named ``name``."""
        blob = self.artifacts.put_bytes(data)
        return self._link(run_id, name, "file", blob.digest, blob.size, media_type=media_type)

    def _link(
        self, run_id: str, name: str, kind: str, digest: str, size: int, *, media_type: str | None
    ) -> RunArtifact:
        if not name or name.startswith("/") or ".." in Path(name).parts:
            raise InvalidInputError(
                f"Artifact name {name!r} must be a relative path without '..'. Got {name!r} instead.",
                name=name,
            )
        record = self.store.record_artifact(kind, digest, size, media_type=media_type)
        self.store.link_artifact(run_id, record.id, "output", name)
        return RunArtifact(run_id=run_id, name=name, direction="output", artifact=record)


_trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()


def _end_runs_left_open() -> None:
    """At interpreter exit, end runs that were started without ``with`` and never ended.

    They end failed when the program is dying of an uncaught exception (the interpreter has set
    ``sys.last_value`` by then), finished otherwise. Registered after the metric writer's exit hook, so it
    runs first (``atexit`` is last-in, first-out) and the writer still flushes what these runs logged.
    """
    exception = getattr(sys, "last_value", None)
    for tracker in list(_trackers):
        for run in reversed(list(tracker._stack)):
            try:
                if exception is None:
                    run.end(RunStatus.FINISHED)
                else:
                    text = "".join(traceback.format_exception(exception))
                    run.end(RunStatus.FAILED, error=text)
            except Exception as error:  # at exit nobody can catch it: log instead
                logger.error("Could not end run %s at exit: %s", run.id, error)


atexit.register(_end_runs_left_open)
