"""The prediction log: one write per request, entries that survive kill -9, compaction into Parquet
partitions that never loses or doubles an entry (even cut short), and queries over both."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from loopwright.errors import InvalidInputError, PredictionLogError
from loopwright.serving import predictlog as predictlog_module
from loopwright.serving.predictlog import LogLag, PredictionEntry, PredictionLog
from loopwright.settings import PredictionLogSettings, Settings

DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
"""A midnight (UTC), so entries a few hours apart fall on known dates."""


def entry(
    number: int, *, at: int = T0, deployment: str = "fraud", variant: str = "production"
) -> PredictionEntry:
    return PredictionEntry(
        request_id=f"req-{number}",
        deployment=deployment,
        model="fraud",
        version=3 if variant != "canary" else 4,
        variant=variant,
        inputs={"amount": number * 1.5, "country": "DE"},
        outputs={"prediction": number % 2, "probabilities": {"0": 0.25, "1": 0.75}},
        latency_ms=0.5,
        timestamp=at + number,
    )


def ids(frame: Any) -> list[str]:
    return list(frame["request_id"])


@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    return PredictionLog(tmp_path / "predictions")


def segments(log: PredictionLog, deployment: str = "fraud") -> list[Path]:
    return sorted((log.folder / "_log" / deployment).glob("*.jsonl"))


def parts(log: PredictionLog, deployment: str = "fraud") -> list[Path]:
    return sorted((log.folder / f"deployment={deployment}").glob("date=*/part-*.parquet"))


# --- writing -----------------------------------------------------------------------------------------


def test_a_request_is_one_write_of_one_line_per_entry(
    log: PredictionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[bytes] = []
    real_write = os.write

    def counting_write(descriptor: int, data: Any) -> int:
        writes.append(bytes(data))
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", counting_write)
    log.append([entry(1), entry(1, variant="shadow"), entry(2)])

    assert len(writes) == 1
    assert writes[0].count(b"\n") == 3
    assert (log.entries_written, log.bytes_written, log.write_errors) == (3, len(writes[0]), 0)
    assert segments(log)[0].read_bytes() == writes[0]


def test_entries_of_several_deployments_go_to_their_own_segments(log: PredictionLog) -> None:
    log.append([entry(1), entry(2, deployment="churn"), entry(3)])

    assert ids(log.query("fraud")) == ["req-1", "req-3"]
    assert ids(log.query("churn")) == ["req-2"]
    assert len(segments(log, "churn")) == 1


def test_query_returns_every_field_as_logged(log: PredictionLog) -> None:
    log.append([entry(7)])

    row = log.query("fraud").iloc[0].to_dict()

    assert row == {
        "request_id": "req-7",
        "deployment": "fraud",
        "model": "fraud",
        "version": 3,
        "variant": "production",
        "inputs": {"amount": 10.5, "country": "DE"},
        "outputs": {"prediction": 1, "probabilities": {"0": 0.25, "1": 0.75}},
        "latency_ms": 0.5,
        "timestamp": datetime(2026, 1, 1, 0, 0, 0, 7000, tzinfo=UTC),
    }


def test_numpy_values_and_keys_are_logged_as_plain_json(log: PredictionLog) -> None:
    log.append(
        [
            PredictionEntry(
                request_id="np",
                deployment="fraud",
                model="fraud",
                version=1,
                variant="production",
                inputs={"count": np.int64(3), "score": np.float32(0.5), "when": date(2026, 1, 2)},
                outputs={"prediction": np.int64(1), "probabilities": {np.int64(0): 0.5, np.int64(1): 0.5}},
                latency_ms=0.1,
                timestamp=T0,
            )
        ]
    )

    row = log.query("fraud").iloc[0]

    assert row["inputs"] == {"count": 3, "score": 0.5, "when": "2026-01-02"}
    assert row["outputs"] == {"prediction": 1, "probabilities": {"0": 0.5, "1": 0.5}}


def test_a_failed_write_raises_is_counted_and_closes_the_segment(
    log: PredictionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append([entry(1)])
    first = segments(log)[0]

    def full_disk(descriptor: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(PredictionLogError) as raised:
        log.append([entry(2), entry(3)])
    monkeypatch.undo()

    assert str(raised.value) == (
        f"2 prediction log entries of deployment 'fraud' could not be written to {first}: No space left on "
        "device. The request must not be acknowledged; check the disk and the folder's permissions."
    )
    assert raised.value.code == "store.prediction_log"
    assert (log.write_errors, log.entries_written) == (1, 1)
    log.append([entry(4)])  # into a new segment: a torn line could only ever end a closed one
    assert len(segments(log)) == 2
    assert ids(log.query("fraud")) == ["req-1", "req-4"]


def test_a_segment_that_cannot_be_created_raises_and_is_counted(tmp_path: Path) -> None:
    (tmp_path / "predictions").write_text("not a folder")
    log = PredictionLog(tmp_path / "predictions")

    with pytest.raises(
        PredictionLogError, match=r"^A prediction log segment of deployment 'fraud' could not be created at "
    ):
        log.append([entry(1)])
    assert log.write_errors == 1


def test_a_deployment_name_that_is_not_a_folder_name_is_refused(log: PredictionLog) -> None:
    with pytest.raises(InvalidInputError) as raised:
        log.append([entry(1, deployment="../escape")])

    assert str(raised.value) == (
        "The name of a deployment must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or "
        "digit (it appears in URLs and file paths). Got '../escape' instead."
    )
    assert not (log.folder / "escape").exists()


def test_segments_close_at_their_size_and_age(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = PredictionLog(tmp_path / "p", PredictionLogSettings(segment_bytes=64 * 1024, segment_max_age_s=60))
    big = PredictionEntry("big", "fraud", "fraud", 1, "production", {"text": "x" * 70_000}, {}, 0.1, T0)
    log.append([big])
    log.append([entry(1)])
    assert len(segments(log)) == 2  # the first passed 64 KiB

    clock = [time.monotonic()]
    monkeypatch.setattr(predictlog_module.time, "monotonic", lambda: clock[0])
    log.append([entry(2)])
    clock[0] += 61
    log.append([entry(3)])
    assert len(segments(log)) == 3  # the second reached its age
    assert ids(log.query("fraud")) == ["big", "req-1", "req-2", "req-3"]


# --- kill -9 -----------------------------------------------------------------------------------------

_WRITER = """
import sys, time
from loopwright.serving.predictlog import PredictionEntry, PredictionLog

log = PredictionLog(sys.argv[1])
number = 0
while True:
    request = [
        PredictionEntry(f"req-{number}", "fraud", "fraud", 3, variant, {"n": number}, {"prediction": 0}, 0.1,
                        1767225600000 + number)
        for variant in ("production", "shadow")
    ]
    log.append(request)
    print(number, flush=True)  # the acknowledgement: sent only after append returned
    number += 1
"""


def test_every_acknowledged_entry_survives_kill_9_and_compacts(tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WRITER), str(folder)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        acknowledged = [writer.stdout.readline() for _ in range(2_000)]
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        acknowledged += writer.stdout.readlines()  # acknowledgements already in the pipe
    numbers = {int(line) for line in acknowledged if line.strip()}
    assert len(numbers) >= 2_000

    log = PredictionLog(folder)
    logged = log.query("fraud")
    assert {f"req-{number}" for number in numbers} <= set(logged["request_id"])
    assert logged.groupby("request_id").size().eq(2).all()  # production and shadow, no torn request

    # The dead writer's lock died with it: its segment compacts, and nothing is lost or doubled.
    report = log.compact()
    assert (report.segments, report.entries, report.rejected, report.errors) == (1, len(logged), 0, [])
    assert segments(log) == []
    assert log.query("fraud").equals(logged)


# --- compaction --------------------------------------------------------------------------------------


def test_compaction_writes_a_partition_per_utc_date_and_queries_read_the_same(log: PredictionLog) -> None:
    log.append([entry(1, at=T0 - 3_600_000)])  # 2025-12-31T23:00Z
    log.append([entry(2), entry(3, at=T0 + 3_600_000)])
    before = log.query("fraud")
    log.close(compact=False)
    stem = segments(log)[0].stem

    report = log.compact()

    assert (report.segments, report.entries, report.rejected) == (1, 3, 0)
    assert [path.relative_to(log.folder).as_posix() for path in parts(log)] == [
        f"deployment=fraud/date=2025-12-31/part-{stem}.parquet",
        f"deployment=fraud/date=2026-01-01/part-{stem}.parquet",
    ]
    assert pq.read_table(parts(log)[1]).num_rows == 2
    assert segments(log) == []
    assert log.query("fraud").equals(before)
    assert (log.segments_compacted, log.entries_compacted) == (1, 3)


def test_an_open_segment_is_not_compacted_until_it_closes(tmp_path: Path) -> None:
    writer = PredictionLog(tmp_path / "p")
    writer.append([entry(1)])
    compactor = PredictionLog(tmp_path / "p")  # another writer's segment: locked by it

    assert compactor.compact().segments == 0
    assert len(segments(writer)) == 1

    writer.close(compact=False)
    assert compactor.compact().segments == 1
    assert ids(compactor.query("fraud")) == ["req-1"]


def test_compaction_cut_short_loses_and_doubles_nothing(
    log: PredictionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append([entry(1, at=T0 - 3_600_000), entry(2), entry(3)])
    log.close(compact=False)
    real_replace = os.replace
    replaced: list[str] = []

    def crash_on_second_partition(source: Any, target: Any) -> None:
        if replaced:
            raise OSError(errno.EIO, "Input/output error")
        replaced.append(str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_second_partition)
    report = log.compact()
    monkeypatch.undo()

    # One partition is in place, the segment is still there: readers take the segment, not the part.
    assert report.segments == 0
    assert report.errors[0].endswith("Input/output error")
    assert log.compaction_errors == 1
    assert len(parts(log)) == 1
    assert len(segments(log)) == 1
    assert not list(log.folder.rglob("*.tmp"))
    assert ids(log.query("fraud")) == ["req-1", "req-2", "req-3"]

    assert log.compact().segments == 1
    assert ids(log.query("fraud")) == ["req-1", "req-2", "req-3"]
    assert len(parts(log)) == 2


def test_a_crash_between_the_parts_and_the_deletion_is_finished_by_the_next_compaction(
    log: PredictionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append([entry(1), entry(2)])
    log.close(compact=False)
    monkeypatch.setattr(os, "unlink", lambda path: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    log.compact()
    monkeypatch.undo()
    assert (len(parts(log)), len(segments(log))) == (1, 1)

    assert ids(log.query("fraud")) == ["req-1", "req-2"]
    assert log.known_request_ids("fraud", ["req-1", "req-2"]) == {"req-1", "req-2"}
    assert log.compact().entries == 2
    assert (len(parts(log)), len(segments(log))) == (1, 0)
    assert ids(log.query("fraud")) == ["req-1", "req-2"]


def test_lines_that_are_not_whole_entries_are_kept_aside_and_counted(log: PredictionLog) -> None:
    log.append([entry(1), entry(4, at=10**17)])  # a damaged timestamp that still parses
    log.close(compact=False)
    segment = segments(log)[0]
    damaged = segment.read_bytes().splitlines(keepends=True)[1]
    with segment.open("ab") as file:  # what a power loss mid-write can leave
        file.write(b'{"request_id": "req-2"}\n{"request_id": "req-3", "deploym')

    report = log.compact()

    assert (report.entries, report.rejected) == (1, 3)
    assert log.rejected_lines == 3
    assert (log.folder / "_rejected" / "fraud" / segment.name).read_bytes() == (
        damaged + b'{"request_id": "req-2"}\n{"request_id": "req-3", "deploym\n'
    )
    assert ids(log.query("fraud")) == ["req-1"]


def test_a_line_still_being_written_is_not_read_before_it_ends(log: PredictionLog) -> None:
    log.append([entry(1)])
    with segments(log)[0].open("ab") as file:
        file.write(b'{"request_id": "req-2", "deploym')

    assert ids(log.query("fraud")) == ["req-1"]
    assert log.lag() == LogLag(segments=1, entries=1, bytes=segments(log)[0].stat().st_size)


def test_lag_counts_what_waits_for_compaction(log: PredictionLog) -> None:
    assert log.lag() == LogLag(segments=0, entries=0, bytes=0)
    log.append([entry(1), entry(2)])
    log.append([entry(3)])
    assert log.lag() == LogLag(segments=1, entries=3, bytes=log.bytes_written)
    log.append([entry(4)])
    assert log.lag().entries == 4

    log.close()

    assert log.lag() == LogLag(segments=0, entries=0, bytes=0)


def test_the_background_compactor_moves_closed_segments_to_parquet(tmp_path: Path) -> None:
    settings = PredictionLogSettings(segment_max_age_s=0.05, compact_interval_s=0.05)
    log = PredictionLog(tmp_path / "p", settings)
    log.start()
    log.append([entry(1)])
    deadline = time.monotonic() + 20
    while not parts(log) and time.monotonic() < deadline:
        time.sleep(0.02)
    log.close()

    assert len(parts(log)) == 1
    assert ids(log.query("fraud")) == ["req-1"]


def test_writers_and_a_compactor_in_threads_lose_and_double_nothing(tmp_path: Path) -> None:
    settings = PredictionLogSettings(segment_bytes=64 * 1024, compact_interval_s=0.01)
    log = PredictionLog(tmp_path / "p", settings)
    log.start()

    def write(thread: int) -> None:
        for number in range(1_500):
            log.append([entry(thread * 10_000 + number)])

    threads = [threading.Thread(target=write, args=(thread,)) for thread in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    during = log.query("fraud")
    log.close()

    assert len(during) == 4_500
    assert during["request_id"].is_unique
    assert log.query("fraud").equals(during)
    assert log.segments_compacted > 1


# --- reading -----------------------------------------------------------------------------------------


def test_query_reads_a_half_open_time_range_across_parquet_and_segments(log: PredictionLog) -> None:
    log.append([entry(1, at=T0 - DAY_MS), entry(2, at=T0), entry(3, at=T0 + DAY_MS)])
    log.close()  # all three in Parquet, one per date
    log.append([entry(4, at=T0 + DAY_MS)])  # and one in a segment

    assert ids(log.query("fraud", start="2026-01-01")) == ["req-2", "req-3", "req-4"]
    assert ids(log.query("fraud", end=date(2026, 1, 2))) == ["req-1", "req-2"]
    assert ids(log.query("fraud", start=datetime(2026, 1, 1), end=T0 + DAY_MS + 4)) == ["req-2", "req-3"]
    assert ids(log.query("fraud", start=T0 + DAY_MS + 4)) == ["req-4"]
    nobody = log.query("nobody")
    assert nobody.empty
    assert nobody.dtypes.equals(log.query("fraud").dtypes)


def test_query_refuses_bad_bounds(log: PredictionLog) -> None:
    with pytest.raises(InvalidInputError) as raised:
        log.query("fraud", start="yesterday")
    assert str(raised.value) == (
        "'start' must be a datetime, a date, ISO text such as '2026-03-01T12:00:00+00:00' or epoch "
        "milliseconds. Got 'yesterday' instead."
    )
    with pytest.raises(InvalidInputError) as raised:
        log.query("fraud", start="2026-01-02", end="2026-01-01")
    assert str(raised.value) == (
        "The 'end' of a prediction log query must be after its 'start'. Got start='2026-01-02' and "
        "end='2026-01-01' instead."
    )


def test_known_request_ids_looks_in_parquet_and_segments(log: PredictionLog) -> None:
    log.append([entry(1), entry(2)])
    log.close()
    log.append([entry(3)])

    assert log.known_request_ids("fraud", ["req-1", "req-3", "req-9"]) == {"req-1", "req-3"}
    assert log.known_request_ids("churn", ["req-1"]) == set()
    assert log.known_request_ids("fraud", []) == set()


def test_a_forked_child_writes_its_own_segment(log: PredictionLog) -> None:
    log.append([entry(1)])
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            log.append([entry(2)])
        except BaseException:
            code = 1
        os._exit(code)
    _pid, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert len(segments(log)) == 2
    log.append([entry(3)])
    assert ids(log.query("fraud")) == ["req-1", "req-2", "req-3"]


def test_fsync_always_flushes_every_append_and_each_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path / "p", PredictionLogSettings(fsync="always"))
    flushed: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: flushed.append(descriptor) or real_fsync(descriptor))

    log.append([entry(1)])
    log.append([entry(2)])

    segment = log._open["fraud"].descriptor
    assert flushed.count(segment) == 2
    assert len(flushed) == 3  # and the segment's folder, once, so that the new file's name is durable too


def test_the_log_lives_in_the_workspace_unless_settings_say_otherwise(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    assert Settings(workspace=workspace).resolved_prediction_log_folder() == workspace / "predictions"
    elsewhere = Settings(workspace=workspace, prediction_log=PredictionLogSettings(folder=tmp_path / "fast"))
    assert elsewhere.resolved_prediction_log_folder() == tmp_path / "fast"


def test_compaction_streams_a_segment_in_bounded_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictlog_module, "_CHUNK_ROWS", 500)

    def compaction_peak(count: int) -> int:
        log = PredictionLog(tmp_path / f"p{count}")
        log.append([entry(number) for number in range(count)])
        log.close(compact=False)
        tracemalloc.start()
        try:
            assert log.compact().entries == count
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    compaction_peak(100)  # imports and caches the first compaction pays for
    small, large = compaction_peak(2_000), compaction_peak(8_000)

    assert large < 2 * small  # four times the entries, about the same memory
    assert pq.ParquetFile(parts(PredictionLog(tmp_path / "p8000"))[0]).metadata.num_row_groups == 16
