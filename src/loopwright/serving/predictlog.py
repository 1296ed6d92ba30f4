"""The prediction log: every prediction a deployment serves, appended cheaply, surviving ``kill -9``, and
compacted into Parquet partitions that DuckDB reads.

Layout under the log's folder (``<workspace>/predictions`` by default)::

    _log/<deployment>/<segment>.jsonl                                   segments: JSON lines
    deployment=<deployment>/date=<YYYY-MM-DD>/part-<segment>.parquet    compacted partitions (UTC dates)

**Writing.** :meth:`PredictionLog.append` turns a request's entries into JSON lines and hands them to the
operating system in one ``os.write`` on an ``O_APPEND`` descriptor; the server calls it before it sends
the response. Once ``write`` returns the bytes are in the kernel's page cache, so a ``kill -9`` of the
server cannot lose them and no ``fsync`` is needed for that (``fsync="always"`` adds one per append, for a
power loss). Each process writes its own segment per deployment and holds an exclusive ``flock`` on it
while it is open. A segment is closed (its lock released) at ``segment_bytes`` or ``segment_max_age_s``;
a killed process releases its locks as it dies. A write that fails raises
:class:`~loopwright.errors.PredictionLogError` (the request must not be acknowledged) and is counted.

**Compaction.** :meth:`PredictionLog.compact` takes every segment whose lock it can get (no process
writes it any more), streams it into one Parquet file per UTC date, ``part-<segment>.parquet``, each
written to a temporary file, flushed and renamed into place, and then deletes the segment. The deletion is
the commit point: while a segment exists readers ignore the part files named after it, and a compaction
cut short is simply done again, rewriting the same files with the same rows. Nothing is lost or counted
twice. A line that is not a whole entry (only a crash of the machine mid-write leaves one) is moved to
``_rejected/<deployment>/<segment>.jsonl`` and counted, never dropped silently.

**Reading.** :meth:`PredictionLog.query` opens the deployment's segments first (an open file stays
readable even if a compactor deletes it meanwhile), then lists the part files of the dates in range,
leaving out those of the segments it holds, and reads the part files with DuckDB.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError, PredictionLogError
from loopwright.serving import _segments
from loopwright.serving.deployments import validate_deployment_name
from loopwright.settings import PredictionLogSettings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CompactionReport", "LogLag", "PredictionEntry", "PredictionLog", "epoch_ms"]

logger = logging.getLogger("loopwright.serving")

_CHUNK_ROWS = 20_000  # segment lines parsed per Parquet row group while compacting: bounds its memory
_logs: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class PredictionEntry:
    """One logged prediction: one row of one request, as one variant served it.

    ``variant`` is ``production``, ``canary`` or ``shadow``; ``timestamp`` is epoch milliseconds (UTC);
    ``outputs`` holds the ``prediction`` and, where the model has them, the ``probabilities``.

    >>> PredictionEntry(
    ...     request_id="c0ffee-0", deployment="fraud", model="fraud", version=3, variant="production",
    ...     inputs={"amount": 12.5}, outputs={"prediction": 0}, latency_ms=0.4, timestamp=1767225600000,
    ... ).variant
    'production'
    """

    request_id: str
    deployment: str
    model: str
    version: int
    variant: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    latency_ms: float
    timestamp: int


@dataclass(frozen=True, slots=True)
class LogLag:
    """What is logged but not compacted yet: segments, whole entries and bytes (every process's)."""

    segments: int
    entries: int
    bytes: int


@dataclass(slots=True)
class CompactionReport:
    """What one :meth:`PredictionLog.compact` did: segments compacted, entries moved to Parquet, part
    files written, lines rejected (not whole entries), and the segments it could not compact."""

    segments: int = 0
    entries: int = 0
    files: list[Path] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Segment:
    descriptor: int
    path: Path
    deadline: float  # time.monotonic() at which the segment closes, however small
    size: int = 0


class PredictionLog:
    """An append-only log of predictions under ``folder``: segments, compacted into Parquet partitions.

    Counters for ``/metrics`` are plain attributes of this process: ``entries_written``,
    ``bytes_written``, ``write_errors``, ``entries_compacted``, ``segments_compacted``,
    ``compaction_errors`` and ``rejected_lines``; :meth:`lag` says what waits for compaction.

    >>> log = PredictionLog("/tmp/lw-doc/predictions")
    >>> log.append([entry])                       # doctest: +SKIP
    >>> log.compact()                             # doctest: +SKIP
    >>> log.query("fraud", start="2026-01-01")    # doctest: +SKIP
    """

    def __init__(self, folder: str | Path, settings: PredictionLogSettings | None = None) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.settings = settings or PredictionLogSettings()
        self.entries_written = 0
        self.bytes_written = 0
        self.write_errors = 0
        self.entries_compacted = 0
        self.segments_compacted = 0
        self.compaction_errors = 0
        self.rejected_lines = 0
        self._encode: Callable[[Sequence[PredictionEntry]], bytes] | None = None
        self._line_counts: dict[Path, tuple[int, int]] = {}  # segment → (bytes counted, lines in them)
        self._reset()
        _logs.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._compacting = threading.Lock()
        self._open: dict[str, _Segment] = {}
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PredictionLog({str(self.folder)!r})"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------------

    def append(self, entries: Sequence[PredictionEntry]) -> None:
        """Hand ``entries`` to the operating system: one ``os.write`` per deployment among them (a
        request's entries are one write). When this returns, the entries survive a ``kill -9``.

        Raises :class:`~loopwright.errors.PredictionLogError` when the write fails; the request they
        belong to must then not be acknowledged.
        """
        if not entries:
            return
        if self._encode is None:
            self._encode = _segments.encoder()
        deployment = entries[0].deployment
        if all(entry.deployment == deployment for entry in entries):
            self._write(deployment, self._encode(entries), len(entries))
            return
        groups: dict[str, list[PredictionEntry]] = {}
        for entry in entries:
            groups.setdefault(entry.deployment, []).append(entry)
        for name, group in groups.items():
            self._write(name, self._encode(group), len(group))

    def _write(self, deployment: str, payload: bytes, count: int) -> None:
        with self._lock:
            segment = self._open.get(deployment)
            if (
                segment is None
                or segment.size >= self.settings.segment_bytes
                or time.monotonic() >= segment.deadline
            ):
                segment = self._rotate(deployment)
            try:
                view = memoryview(payload)
                while view:  # a short write (disk nearly full) is followed by an error or the rest
                    view = view[os.write(segment.descriptor, view) :]
                if self.settings.fsync == "always":
                    os.fsync(segment.descriptor)
            except OSError as error:
                self.write_errors += 1
                # A partly written line must stay the last line of its segment: close it.
                self._close(deployment)
                raise _write_error(deployment, segment.path, count, error) from error
            segment.size += len(payload)
            self.entries_written += count
            self.bytes_written += len(payload)

    def _rotate(self, deployment: str) -> _Segment:
        self._close(deployment)
        folder = self.folder / "_log" / validate_deployment_name(deployment)
        stem = f"{time.time_ns() // 1_000_000:013d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Created under a hidden name and locked before it is renamed into view, so that a compactor
        # never takes a segment between its creation and its writer's lock.
        hidden = folder / f".{stem}.jsonl.new"
        path = folder / f"{stem}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
            descriptor = os.open(hidden, flags, 0o644)
            try:
                _lock(descriptor, wait=True)
                os.rename(hidden, path)
                if self.settings.fsync == "always":
                    _segments.fsync_folder(folder)
            except BaseException:
                os.close(descriptor)
                raise
        except OSError as error:
            self.write_errors += 1
            raise _write_error(deployment, path, None, error) from error
        segment = _Segment(descriptor, path, time.monotonic() + self.settings.segment_max_age_s)
        self._open[deployment] = segment
        return segment

    def _close(self, deployment: str) -> None:
        segment = self._open.pop(deployment, None)
        if segment is not None:
            os.close(segment.descriptor)  # releases the lock: the segment is the compactor's now

    def close(self, *, compact: bool = True) -> None:
        """Stop the background compactor, close this process's segments and (by default) compact them."""
        self._stop.set()
        if self._compactor is not None and self._compactor is not threading.current_thread():
            self._compactor.join()
            self._compactor = None
        with self._lock:
            for deployment in list(self._open):
                self._close(deployment)
        if compact:
            self.compact()

    # --- compaction ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Compact in a daemon thread every ``compact_interval_s`` until :meth:`close`."""
        if self._compactor is not None:
            return
        self._stop.clear()
        self._compactor = threading.Thread(target=self._compact_forever, name="loopwright-predictlog")
        self._compactor.daemon = True
        self._compactor.start()

    def _compact_forever(self) -> None:
        while not self._stop.wait(self.settings.compact_interval_s):
            try:
                self.compact()
            except Exception:  # the thread must outlive a bad day; compact() already counts its errors
                logger.exception("Compacting the prediction log in %s failed", self.folder)

    def compact(self) -> CompactionReport:
        """Close this process's segments that are due (size or age), then turn every closed segment of
        every process into Parquet partitions and delete it (see the module docstring). Safe to run in
        several processes at once, and after a crash."""
        report = CompactionReport()
        with self._lock:
            now = time.monotonic()
            for deployment, segment in list(self._open.items()):
                if now >= segment.deadline or segment.size >= self.settings.segment_bytes:
                    self._close(deployment)
        with self._compacting:
            for path in self._segment_paths():
                descriptor = _open_if_closed(path)
                if descriptor is None:
                    continue
                try:
                    self._compact_segment(path, descriptor, report)
                except Exception as error:  # pyarrow, OS: keep the segment for the next round
                    self.compaction_errors += 1
                    report.errors.append(f"{path}: {error}")
                    logger.error("Could not compact prediction log segment %s: %s", path, error)
                finally:
                    os.close(descriptor)
        return report

    def _compact_segment(self, path: Path, descriptor: int, report: CompactionReport) -> None:
        import pyarrow.parquet as pq

        deployment = path.parent.name
        writers: dict[int, tuple[Path, Path, Any]] = {}  # day → (temporary file, final file, writer)
        rejected: IO[bytes] | None = None
        entries = rejected_lines = 0
        try:
            with open(descriptor, "rb", closefd=False) as file:
                for batch, bad in _batches(_segments.read_lines(file, torn_tail=True)):
                    if bad:
                        if rejected is None:
                            rejected = self._rejected_file(deployment, path)
                        rejected.writelines(line if line.endswith(b"\n") else line + b"\n" for line in bad)
                        rejected_lines += len(bad)
                    for day, records in _by_day(batch).items():
                        if day not in writers:
                            partition = (
                                self.folder / f"deployment={deployment}" / f"date={_segments.day_text(day)}"
                            )
                            partition.mkdir(parents=True, exist_ok=True)
                            final = partition / f"part-{path.stem}.parquet"
                            temporary = partition / f".{final.name}.tmp"
                            writer = pq.ParquetWriter(temporary, _segments.SCHEMA, compression="zstd")
                            writers[day] = (temporary, final, writer)
                        writers[day][2].write_table(_segments.to_table(records))
                        entries += len(records)
            for temporary, final, writer in writers.values():
                writer.close()
                _fsync_file(temporary)
                os.replace(temporary, final)
                _segments.fsync_folder(final.parent)
                report.files.append(final)
            if rejected is not None:
                rejected.flush()
                os.fsync(rejected.fileno())
            if os.stat(path).st_ino != os.fstat(descriptor).st_ino:  # pragma: no cover - a rare race
                return  # another compactor finished it and a new segment took the name: not ours to delete
            os.unlink(path)  # the commit point
        finally:
            for temporary, _final, writer in writers.values():
                if writer.is_open:
                    writer.close()
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
            if rejected is not None:
                rejected.close()
        if rejected_lines:
            logger.error(
                "%d lines of prediction log segment %s were not whole entries (a crash mid-write); they are "
                "kept in %s",
                rejected_lines,
                path,
                self.folder / "_rejected" / deployment,
            )
        report.segments += 1
        report.entries += entries
        report.rejected += rejected_lines
        self.segments_compacted += 1
        self.entries_compacted += entries
        self.rejected_lines += rejected_lines

    def _rejected_file(self, deployment: str, segment: Path) -> IO[bytes]:
        folder = self.folder / "_rejected" / deployment
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / segment.name, "wb")

    def _segment_paths(self, deployment: str | None = None) -> list[Path]:
        root = self.folder / "_log"
        folders = [root / deployment] if deployment is not None else _folders(root)
        return sorted(
            path
            for folder in folders
            for path in _files(folder)
            if path.suffix == ".jsonl" and not path.name.startswith(".")
        )

    def lag(self) -> LogLag:
        """Segments, whole entries and bytes not compacted yet, of every process writing this log. Cheap
        to call often: only bytes appended since the last call are read (to count their lines)."""
        segments = entries = size = 0
        counts: dict[Path, tuple[int, int]] = {}
        for path in self._segment_paths():
            known_size, lines = self._line_counts.get(path, (0, 0))
            try:
                current = path.stat().st_size
                if current > known_size:
                    with open(path, "rb") as file:
                        file.seek(known_size)
                        tail = file.read(current - known_size)
                    complete = tail.rfind(b"\n") + 1  # count a line only once its newline is there
                    known_size, lines = known_size + complete, lines + tail.count(b"\n", 0, complete)
            except FileNotFoundError:  # compacted meanwhile
                continue
            counts[path] = (known_size, lines)
            segments, entries, size = segments + 1, entries + lines, size + current
        self._line_counts = counts
        return LogLag(segments=segments, entries=entries, bytes=size)

    # --- reading ---------------------------------------------------------------------------------------

    def query(
        self,
        deployment: str,
        start: datetime | date | str | int | None = None,
        end: datetime | date | str | int | None = None,
    ) -> pd.DataFrame:
        """The entries of ``deployment`` logged in ``[start, end)``, compacted or not, oldest first.

        ``start`` and ``end`` are datetimes (naive ones are UTC), dates, ISO text or epoch milliseconds.
        Columns: ``request_id``, ``deployment``, ``model``, ``version``, ``variant``, ``inputs`` and
        ``outputs`` (dicts), ``latency_ms`` and ``timestamp`` (UTC).

        >>> frame = log.query("fraud", start="2026-03-01", end="2026-03-02")  # doctest: +SKIP
        >>> frame.groupby("variant").latency_ms.median()                     # doctest: +SKIP
        """
        import pandas as pd

        validate_deployment_name(deployment)
        low, high = epoch_ms(start, "start"), epoch_ms(end, "end")
        if low is not None and high is not None and high <= low:
            raise InvalidInputError(
                f"The 'end' of a prediction log query must be after its 'start'. Got start={start!r} and "
                f"end={end!r} instead.",
                start=repr(start),
                end=repr(end),
            )
        parts, records = self._snapshot(deployment, low, high)
        frames = []
        if parts:
            where = " AND ".join(
                condition
                for condition, bound in (("timestamp >= ?", low), ("timestamp < ?", high))
                if bound is not None
            )
            connection = _duckdb()
            try:
                table = connection.sql(
                    f"SELECT * FROM read_parquet(?) {'WHERE ' + where if where else ''}",
                    params=[[str(part) for part in parts]]
                    + [_utc(bound) for bound in (low, high) if bound is not None],
                ).to_arrow_table()
            finally:
                connection.close()
            compacted = table.select(list(_segments.FIELDS)).to_pandas()
            for column in ("inputs", "outputs"):
                compacted[column] = [_segments.loads(text) for text in compacted[column]]
            frames.append(compacted)
        # Entries still in segments are parsed already: they go straight into the frame.
        live = [
            record
            for record in records
            if (low is None or record["timestamp"] >= low) and (high is None or record["timestamp"] < high)
        ]
        if live or not frames:
            frames.append(_frame(live))
        frame: pd.DataFrame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        frame["timestamp"] = frame["timestamp"].astype("datetime64[ms, UTC]")
        return frame.sort_values(["timestamp", "request_id", "variant"], kind="stable", ignore_index=True)

    def known_request_ids(self, deployment: str, request_ids: Iterable[str]) -> set[str]:
        """Which of ``request_ids`` the log holds for ``deployment`` (compacted or not)."""
        import pyarrow as pa

        validate_deployment_name(deployment)
        wanted = pa.table({"request_id": pa.array(list(dict.fromkeys(request_ids)), pa.string())})
        if not wanted.num_rows:
            return set()
        parts, records = self._snapshot(deployment, None, None)
        live = pa.table({"request_id": pa.array([record["request_id"] for record in records], pa.string())})
        connection = _duckdb()
        try:
            connection.register("wanted", wanted)
            connection.register("live", live)
            sources = ["SELECT request_id FROM live"]
            if parts:
                sources.append("SELECT request_id FROM read_parquet(?)")
            rows = connection.execute(
                f"SELECT DISTINCT request_id FROM ({' UNION ALL '.join(sources)}) "
                "WHERE request_id IN (SELECT request_id FROM wanted)",
                [[str(part) for part in parts]] if parts else [],
            ).fetchall()
        finally:
            connection.close()
        return {row[0] for row in rows}

    def _snapshot(
        self, deployment: str, low: int | None, high: int | None
    ) -> tuple[list[Path], list[dict[str, Any]]]:
        """The part files of ``deployment`` for days in range, and the entries of its segments, read so
        that a concurrent compaction neither hides nor doubles an entry (see the module docstring)."""
        files: dict[str, IO[bytes]] = {}
        try:
            for path in self._segment_paths(deployment):
                with contextlib.suppress(FileNotFoundError):  # compacted since listed: its parts are there
                    files[path.stem] = open(path, "rb")  # noqa: SIM115 - closed below
            parts = [
                part
                for part in self._part_paths(deployment, low, high)
                if part.name.removeprefix("part-").removesuffix(".parquet") not in files
            ]
            records = [
                record
                for file in files.values()
                for record, _line in _segments.read_lines(file, torn_tail=False)
                if record is not None
            ]
        finally:
            for file in files.values():
                file.close()
        return parts, records

    def _part_paths(self, deployment: str, low: int | None, high: int | None) -> list[Path]:
        first = None if low is None else low // _segments.DAY_MS
        last = None if high is None else (high - 1) // _segments.DAY_MS
        parts = []
        for folder in _folders(self.folder / f"deployment={deployment}"):
            try:
                day = date.fromisoformat(folder.name.removeprefix("date=")) - date(1970, 1, 1)
            except ValueError:
                continue
            if (first is None or day.days >= first) and (last is None or day.days <= last):
                parts += [
                    path
                    for path in _files(folder)
                    if path.name.startswith("part-") and path.suffix == ".parquet"
                ]
        return sorted(parts)


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Segment entries as a frame with the columns and types of a query over Parquet."""
    import pandas as pd

    if not records:
        empty: pd.DataFrame = _segments.SCHEMA.empty_table().to_pandas()
        return empty.astype({"inputs": object, "outputs": object})
    return pd.DataFrame(
        {
            "request_id": [record["request_id"] for record in records],
            "deployment": [str(record["deployment"]) for record in records],
            "model": [str(record["model"]) for record in records],
            "version": pd.array([record["version"] for record in records], dtype="int64"),
            "variant": [str(record["variant"]) for record in records],
            "inputs": pd.Series([record["inputs"] for record in records], dtype=object),
            "outputs": pd.Series([record["outputs"] for record in records], dtype=object),
            "latency_ms": pd.array(
                [_segments.number(record["latency_ms"]) for record in records], dtype="float64"
            ),
            "timestamp": pd.to_datetime([record["timestamp"] for record in records], unit="ms", utc=True),
        }
    )


def _write_error(deployment: str, path: Path, count: int | None, error: OSError) -> PredictionLogError:
    what = f"{count} prediction log entries" if count is not None else "A prediction log segment"
    verb = "could not be written to" if count is not None else "could not be created at"
    return PredictionLogError(
        f"{what} of deployment {deployment!r} {verb} {path}: {error.strerror or error}. The request must not "
        "be acknowledged; check the disk and the folder's permissions.",
        deployment=deployment,
        path=str(path),
    )


def _batches(
    lines: Iterator[tuple[dict[str, Any] | None, bytes]],
) -> Iterator[tuple[list[dict[str, Any]], list[bytes]]]:
    records: list[dict[str, Any]] = []
    bad: list[bytes] = []
    for record, line in lines:
        if record is None:
            bad.append(line)
        else:
            records.append(record)
        if len(records) + len(bad) >= _CHUNK_ROWS:
            yield records, bad
            records, bad = [], []
    if records or bad:
        yield records, bad


def _by_day(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    days: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        days.setdefault(record["timestamp"] // _segments.DAY_MS, []).append(record)
    return days


def _folders(root: Path) -> list[Path]:
    try:
        return [Path(entry.path) for entry in os.scandir(root) if entry.is_dir()]
    except FileNotFoundError:
        return []


def _files(folder: Path) -> list[Path]:
    try:
        return [Path(entry.path) for entry in os.scandir(folder) if entry.is_file()]
    except FileNotFoundError:
        return []


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


if sys.platform != "win32":
    import fcntl

    def _lock(descriptor: int, *, wait: bool) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

else:  # pragma: no cover - no flock: a segment counts as closed once this process closed it

    def _lock(descriptor: int, *, wait: bool) -> bool:
        return True


def _open_if_closed(path: Path) -> int | None:
    """A descriptor of segment ``path`` holding its lock, or ``None`` while a writer has it open."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    if _lock(descriptor, wait=False):
        return descriptor
    os.close(descriptor)
    return None


def epoch_ms(value: datetime | date | str | int | None, name: str) -> int | None:
    """``value`` (a datetime, a date, ISO text or epoch milliseconds; naive times are UTC) in epoch
    milliseconds; :class:`InvalidInputError` naming the field ``name`` otherwise."""
    if value is None:
        return None
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    if moment is None:
        raise InvalidInputError(
            f"'{name}' must be a datetime, a date, ISO text such as "
            f"'2026-03-01T12:00:00+00:00' or epoch milliseconds. Got {value!r} instead.",
            field=name,
            value=repr(value),
        )
    if moment.tzinfo is None:  # the log is in UTC; so are naive times given to it
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _utc(milliseconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)


def _duckdb() -> Any:
    import duckdb

    connection = duckdb.connect()
    # Queries scan a day's partitions; keep DuckDB's buffer pool small, and times in UTC as stored.
    connection.execute("SET memory_limit = '512MB'")
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _after_fork_in_child() -> None:
    # The parent's segments are the parent's: the child opens its own (closing its copies of the parent's
    # descriptors does not release the parent's locks, which belong to the open files, not descriptors).
    for log in list(_logs):
        for segment in log._open.values():
            with contextlib.suppress(OSError):
                os.close(segment.descriptor)
        log._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
