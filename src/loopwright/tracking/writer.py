"""The background writer that makes ``log_metric`` cost microseconds.

``log_metric`` appends a tuple to an in-memory buffer under a lock and returns. One daemon thread per
process wakes every half ``flush_interval_s`` (or sooner when the buffer fills, or when someone calls
:meth:`MetricWriter.flush`), takes the whole buffer and writes it in large transactions. So:

* a ``kill -9`` loses at most the points of the last interval (plus the write in progress);
* nothing is dropped: when the store fails, the points go back to the front of the buffer and the write is
  retried with back-off; :meth:`flush` reports the failure as :class:`TrackingWriteError`;
* memory is bounded: past ``max_buffered_points`` callers wait for the writer (back-pressure).

The writer survives ``fork``: a child process starts with an empty buffer and its own thread.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterable

from loopwright.errors import TrackingWriteError
from loopwright.settings import TrackingSettings
from loopwright.store.metadata import MetadataStore, MetricRow

__all__ = ["MetricWriter"]

logger = logging.getLogger("loopwright.tracking")

_MAX_BACKOFF_S = 30.0
_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Buffers metric points in memory and writes them to ``store`` in batches from a daemon thread."""

    def __init__(self, store: MetadataStore, settings: TrackingSettings | None = None) -> None:
        self._store = store
        self._settings = settings or TrackingSettings()
        self._reset()
        _writers.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._has_room = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._pending: list[MetricRow] = []
        self._appended = 0
        self._written = 0
        self._error: BaseException | None = None
        self._failures = 0
        self._rejected: list[tuple[MetricRow, BaseException]] = []
        self._reported = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- producer side (the training loop) ----------------------------------------------------------

    def add(self, row: MetricRow) -> None:
        """Buffer one point. Returns at once unless the buffer is full (then waits for the writer)."""
        if self._thread is None:
            self._start()
        with self._lock:
            self._pending.append(row)
            self._appended += 1
            if len(self._pending) >= self._settings.max_buffered_points:
                self._wait_for_room()

    def add_many(self, rows: Iterable[MetricRow]) -> None:
        """Buffer several points at once."""
        if self._thread is None:
            self._start()
        with self._lock:
            before = len(self._pending)
            self._pending.extend(rows)
            self._appended += len(self._pending) - before
            if len(self._pending) >= self._settings.max_buffered_points:
                self._wait_for_room()

    def _wait_for_room(self) -> None:
        # Called with the lock held. Back-pressure, never a drop.
        self._wake.set()
        while len(self._pending) >= self._settings.max_buffered_points and not self._closed:
            self._has_room.wait(timeout=1.0)

    @property
    def pending(self) -> int:
        """Points buffered but not yet written."""
        with self._lock:
            return self._appended - self._written

    def flush(self, timeout: float | None = None) -> None:
        """Return once every point buffered before this call is committed to the store.

        Raises :class:`TrackingWriteError` if the store keeps failing (the points stay buffered and the
        writer keeps retrying) or if ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._appended
            failures_at_start = self._failures
        if self._thread is None and target > self._written:
            self._start()
        self._wake.set()
        with self._lock:
            while self._written < target:
                if self._error is not None and self._failures > failures_at_start:
                    raise TrackingWriteError(
                        f"{self._appended - self._written} metric points could not be written to "
                        f"{self._store.display_url}: {self._error}. They are kept in memory and the write "
                        "is retried; fix the store (or free the lock) and flush again.",
                        pending=self._appended - self._written,
                    ) from self._error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TrackingWriteError(
                        f"Flushing metrics timed out after {timeout} s with "
                        f"{target - self._written} points still to write to {self._store.display_url}.",
                        pending=target - self._written,
                    )
                self._progress.wait(timeout=0.1 if remaining is None else min(0.1, remaining))
            if len(self._rejected) > self._reported:
                new = self._rejected[self._reported :]
                self._reported = len(self._rejected)
                (run_id, key, _value, step, _at), reason = new[0]
                raise TrackingWriteError(
                    f"The store refused {len(new)} metric point(s), e.g. {key!r} step {step} of run "
                    f"{run_id}: {reason}. Everything else was written; the refused points are kept in "
                    "writer.rejected.",
                    refused=len(new),
                ) from reason

    def close(self, timeout: float | None = 60.0) -> None:
        """Flush and stop the thread. Called at interpreter exit for every writer."""
        try:
            self.flush(timeout=timeout)
        finally:
            self._closed = True
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5.0)

    # --- consumer side (the writer thread) ----------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._closed = False
            self._thread = threading.Thread(target=self._loop, name="loopwright-metric-writer", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            # Let the process's signals (SIGTERM, SIGINT) reach a thread that can run their Python
            # handlers: one delivered here would wait for a main thread that may be blocked in a lock.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        # Waking twice per interval keeps the promise "a kill -9 loses at most one interval" even counting
        # the batch being written when the process dies, as long as a write takes under half an interval.
        period = self._settings.flush_interval_s / 2
        backoff = 0.0
        while True:
            self._wake.wait(timeout=max(period, backoff))
            self._wake.clear()
            ok = self._drain()
            backoff = 0.0 if ok else min(_MAX_BACKOFF_S, max(0.1, backoff * 2))
            with self._lock:
                if self._closed and (not self._pending or not ok):
                    self._thread = None  # a later add() after close() starts a new thread
                    return

    def _drain(self) -> bool:
        with self._lock:
            batch, self._pending = self._pending, []
            self._has_room.notify_all()
        size = self._settings.batch_size
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            try:
                self._store.log_metrics(chunk)
            except Exception as error:
                if not _transient(error):
                    # The store refuses these points (e.g. their run was deleted): write every point it
                    # accepts, set the refused ones aside (reported by flush, never retried, never
                    # silently dropped) so they cannot hold back what is logged after them.
                    self._isolate(chunk)
                    continue
                # The store is down or locked: keep the points, report, retry.
                with self._lock:
                    self._pending[0:0] = batch[start:]
                    self._error = error
                    self._failures += 1
                    self._progress.notify_all()
                logger.warning(
                    "Writing %d metric points failed (%s); they are kept and retried.",
                    len(batch) - start,
                    error,
                )
                return False
            with self._lock:
                self._written += len(chunk)
                self._error = None
                self._progress.notify_all()
        return True

    def _isolate(self, chunk: list[MetricRow]) -> None:
        groups: dict[str, list[MetricRow]] = {}
        for row in chunk:
            groups.setdefault(row[0], []).append(row)
        refused: list[tuple[MetricRow, BaseException]] = []
        for rows in groups.values():
            try:
                self._store.log_metrics(rows)
            except Exception:
                for row in rows:
                    try:
                        self._store.log_metrics([row])
                    except Exception as refusal:
                        refused.append((row, refusal))
        with self._lock:
            self._rejected.extend(refused)
            self._written += len(chunk)
            self._progress.notify_all()
        for (run_id, key, _value, step, _at), reason in refused[:3]:
            logger.error("The store refused metric %r step %d of run %s: %s", key, step, run_id, reason)

    @property
    def rejected(self) -> list[tuple[MetricRow, BaseException]]:
        """Points the store refused for good, with the reason (kept here, reported by :meth:`flush`)."""
        with self._lock:
            return list(self._rejected)


def _transient(error: BaseException) -> bool:
    """Whether a failed write may succeed later (store down, locked, connection lost)."""
    from sqlalchemy import exc

    if isinstance(error, exc.DBAPIError):
        return isinstance(error, exc.OperationalError | exc.InterfaceError) or error.connection_invalidated
    return isinstance(error, ConnectionError | TimeoutError | OSError | exc.DisconnectionError)


def _close_all() -> None:
    for writer in list(_writers):
        try:
            writer.close(timeout=30.0)
        except Exception as error:  # at exit there is no caller left to raise to: say it loudly
            logger.error("Loopwright could not write buffered metrics before exit: %s", error)


def _after_fork_in_child() -> None:
    # The parent's thread does not exist in the child and its lock may be held: start afresh. The
    # parent still owns (and will write) the points it buffered before the fork.
    for writer in list(_writers):
        writer._reset()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
