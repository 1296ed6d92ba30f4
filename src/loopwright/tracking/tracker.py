"""Starting runs and keeping track of which one is active in this process."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
import uuid
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from loopwright.errors import InvalidInputError
from loopwright.settings import Settings
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import RunArtifact, RunStatus
from loopwright.tracking.run import Run
from loopwright.tracking.system import system_info
from loopwright.tracking.validation import mapping, text_value, validate_key
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
        # Each thread has its own stack of active runs, so runs trained in parallel threads do not nest
        # under each other. A thread with no run of its own sees the main thread's (a data-loader thread
        # logging to the run that started it).
        self._stacks: dict[int, list[Run]] = {}
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
        # Everything the caller passed is checked before a run exists, so bad input leaves no run behind.
        checked_params = {
            validate_key("param", key): text_value("param", key, value)
            for key, value in mapping("start_run() params", params or {}).items()
        }
        checked_tags = {
            validate_key("tag", key): text_value("tag", key, value)
            for key, value in mapping("start_run() tags", tags or {}).items()
        }
        experiment_record = self.store.get_or_create_experiment(experiment_name)
        system = system_info(user=self.settings.user, capture_git=self.settings.tracking.capture_git)
        run_id = uuid.uuid4().hex
        run_name = name or f"run-{run_id[:8]}"
        self.store.create_run(
            experiment_record.id, run_name, run_id=run_id, parent_id=parent_id, kind=kind, system=system
        )
        run = Run(self, run_id, run_name, experiment_name)
        with self._lock:
            self._stacks.setdefault(threading.get_ident(), []).append(run)
        _handle_sigterm()
        try:
            run.log_params(checked_params)
            run.set_tags(checked_tags)
        except BaseException as error:
            run.end(RunStatus.FAILED, error=f"{type(error).__name__}: {error}")
            raise
        return run

    @contextlib.contextmanager
    def attached(self, run_id: str, name: str, experiment: str) -> Iterator[Run]:
        """Make an existing run (created elsewhere, e.g. a pipeline step started by its parent process)
        the active one of this thread while the block runs; flush what it logged at the end. The run is
        not ended here: whoever created it ends it."""
        run = Run(self, run_id, name, experiment)
        with self._lock:
            self._stacks.setdefault(threading.get_ident(), []).append(run)
        try:
            yield run
        finally:
            self.pop(run)
            self.writer.flush()

    def active_run(self) -> Run | None:
        """The innermost run of this thread not yet ended; else the main thread's; else ``None``."""
        with self._lock:
            stack = self._stacks.get(threading.get_ident()) or self._stacks.get(
                threading.main_thread().ident or 0
            )
            return stack[-1] if stack else None

    def open_runs(self) -> list[Run]:
        """Every run of this process that has not ended, most recently started last."""
        with self._lock:
            return [run for stack in self._stacks.values() for run in stack]

    def pop(self, run: Run) -> None:
        """Forget an ended run (called by :meth:`Run.end`)."""
        with self._lock:
            for ident, stack in list(self._stacks.items()):
                if run in stack:
                    stack.remove(run)
                if not stack:
                    del self._stacks[ident]

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
                f"An artifact name must be a relative path without '..'. Got {name!r} instead.",
                name=name,
            )
        record = self.store.record_artifact(kind, digest, size, media_type=media_type)
        self.store.link_artifact(run_id, record.id, "output", name)
        return RunArtifact(run_id=run_id, name=name, direction="output", artifact=record)


_trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()


def _end_runs_left_open() -> None:
    """At interpreter exit, end runs that were started without ``with`` and never ended.

    They end killed after SIGTERM or Ctrl-C, failed when the program is dying of another uncaught
    exception (the interpreter has set ``sys.last_value`` by then), finished otherwise. Registered after
    the metric writer's exit hook, so it runs first (``atexit`` is last-in, first-out) and the writer
    still flushes what these runs logged.
    """
    exception = getattr(sys, "last_value", None)
    for tracker in list(_trackers):
        for run in reversed(tracker.open_runs()):
            try:
                if _terminated or isinstance(exception, KeyboardInterrupt):
                    run.end(RunStatus.KILLED, error="SIGTERM" if _terminated else "KeyboardInterrupt")
                elif exception is None:
                    run.end(RunStatus.FINISHED)
                else:
                    text = "".join(traceback.format_exception(exception))
                    run.end(RunStatus.FAILED, error=text)
            except Exception as error:  # at exit nobody can catch it: log instead
                logger.error("Could not end run %s at exit: %s", run.id, error)


atexit.register(_end_runs_left_open)

_terminated = False
_sigterm_installed = False


def _on_sigterm(signum: int, frame: object) -> None:
    global _terminated
    open_runs = any(tracker.open_runs() for tracker in list(_trackers))
    if sys.is_finalizing() or not open_runs:
        # Nothing to save (a pool worker between tasks, or an interpreter already shutting down): die as
        # SIGTERM's default action would, without raising into atexit callbacks.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _terminated = True
    # SystemExit unwinds every `with lw.start_run()` (marking the run killed) and lets atexit flush the
    # buffered metrics, which the default action of SIGTERM (die at once) would lose.
    raise SystemExit(128 + signum)


def _forget_sigterm_in_child() -> None:
    # A forked worker (multiprocessing.Pool) is stopped with SIGTERM by its parent: it must die quietly,
    # as by default, unless it starts runs of its own (then the handler is installed again).
    global _sigterm_installed
    if _sigterm_installed and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _sigterm_installed = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_sigterm_in_child)


def _handle_sigterm() -> None:
    """Make SIGTERM end runs as killed, if nobody else handles SIGTERM and we are in the main thread."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    from multiprocessing import parent_process

    if parent_process() is not None:
        # A multiprocessing worker: its parent stops it with SIGTERM (Pool.terminate) and must not wait
        # on a handler; runs it leaves open stay "running", as after kill -9.
        _sigterm_installed = True
        return
    _sigterm_installed = True
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
