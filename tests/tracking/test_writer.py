"""The metric writer: batching, flush semantics, back-pressure and failures, through a fake store seam."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Sequence

import pytest

from loopwright.errors import TrackingWriteError
from loopwright.settings import TrackingSettings
from loopwright.store.metadata import MetricRow
from loopwright.tracking.writer import MetricWriter


class FakeStore:
    """Records written batches; fails the next ``failures`` writes; can hold writes until released."""

    display_url = "fake://store"

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[MetricRow]] = []
        self.failures = failures
        self.release = threading.Event()
        self.release.set()

    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        self.release.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is down")
        self.batches.append(list(rows))

    @property
    def rows(self) -> list[MetricRow]:
        return [row for batch in self.batches for row in batch]


def _writer(store: FakeStore, **settings: float) -> MetricWriter:
    options = {"flush_interval_s": 30.0, **settings}
    return MetricWriter(store, TrackingSettings(**options))  # type: ignore[arg-type]


def _row(index: int) -> MetricRow:
    return ("run", "loss", float(index), index, 1_000 + index)


def test_flush_returns_once_everything_logged_before_it_is_written_in_order() -> None:
    store = FakeStore()
    writer = _writer(store, batch_size=100)
    for index in range(250):
        writer.add(_row(index))
    writer.add_many(_row(index) for index in range(250, 300))
    assert writer.pending == 300
    writer.flush()
    assert store.rows == [_row(index) for index in range(300)]
    assert [len(batch) for batch in store.batches] == [100, 100, 100]
    assert writer.pending == 0
    writer.close()


def test_points_are_written_within_the_flush_interval_without_a_flush() -> None:
    store = FakeStore()
    writer = _writer(store, flush_interval_s=0.05)
    writer.add(_row(0))
    deadline = time.monotonic() + 5
    while not store.rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.rows == [_row(0)]
    writer.close()


def test_a_failing_store_keeps_the_points_reports_and_retries() -> None:
    store = FakeStore(failures=2)
    writer = _writer(store)
    for index in range(10):
        writer.add(_row(index))

    with pytest.raises(TrackingWriteError) as caught:
        writer.flush()
    assert str(caught.value) == (
        "10 metric points could not be written to fake://store: database is down. They are kept in memory "
        "and the write is retried; fix the store (or free the lock) and flush again."
    )
    assert writer.pending == 10
    writer.add(_row(10))
    with pytest.raises(TrackingWriteError):
        writer.flush()
    writer.flush()  # the store recovered: everything arrives, in order, exactly once
    assert store.rows == [_row(index) for index in range(11)]
    writer.close()


def test_flush_times_out_when_the_store_hangs() -> None:
    store = FakeStore()
    store.release.clear()
    writer = _writer(store)
    writer.add(_row(0))
    with pytest.raises(
        TrackingWriteError, match="Flushing metrics timed out after 0.2 s with 1 points still"
    ):
        writer.flush(timeout=0.2)
    store.release.set()
    writer.flush()
    assert store.rows == [_row(0)]
    writer.close()


def test_a_full_buffer_makes_callers_wait_instead_of_dropping() -> None:
    store = FakeStore()
    store.release.clear()
    writer = _writer(store, max_buffered_points=1_000)
    done = threading.Event()

    def produce() -> None:
        for index in range(3_000):
            writer.add(_row(index))
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    assert not done.is_set()  # blocked by back-pressure while the store is stuck
    store.release.set()
    producer.join(timeout=10)
    assert done.is_set()
    writer.flush()
    assert store.rows == [_row(index) for index in range(3_000)]
    writer.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_an_empty_buffer_and_its_own_thread(tmp_path: object) -> None:
    store = FakeStore()
    writer = _writer(store)
    writer.add(_row(0))
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a process with threads; handling that case is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        try:
            child_store = FakeStore()
            writer._store = child_store  # type: ignore[assignment]
            pending_at_start = writer.pending
            writer.add(_row(1))
            writer.flush(timeout=5)
            message = f"{pending_at_start} {len(child_store.rows)}"
        except BaseException as error:
            message = f"error {error!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == "0 1"
    writer.flush()
    assert store.rows == [_row(0)]
    writer.close()


class PickyStore(FakeStore):
    """Refuses for good every batch that holds a point of the key 'bad' (like a deleted run)."""

    def log_metrics(self, rows: Sequence[MetricRow]) -> None:
        if any(row[1] == "bad" for row in rows):
            raise ValueError("value out of range for this column")
        super().log_metrics(rows)


def test_points_the_store_refuses_for_good_are_set_aside_and_reported_not_retried() -> None:
    store = PickyStore()
    writer = _writer(store)
    rows = [_row(0), ("run", "bad", 1.0, 1, 1), _row(2), ("other-run", "loss", 5.0, 0, 1)]
    writer.add_many(rows)
    with pytest.raises(TrackingWriteError) as caught:
        writer.flush()
    assert str(caught.value) == (
        "The store refused 1 metric point(s), e.g. 'bad' step 1 of run run: value out of range for this "
        "column. Everything else was written; the refused points are kept in writer.rejected."
    )
    assert sorted(store.rows) == sorted([_row(0), _row(2), ("other-run", "loss", 5.0, 0, 1)])
    assert [row for row, _ in writer.rejected] == [("run", "bad", 1.0, 1, 1)]
    writer.add(_row(3))
    writer.flush()  # later points are not held back, and the refusal is reported once
    assert _row(3) in store.rows
    writer.close()
