"""A live run: the handle a training script logs through.

Parameters and tags are written at once (they are few, and a conflicting parameter must fail at the call
that causes it); metrics go through the process's :class:`~loopwright.tracking.writer.MetricWriter`.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError, NotFoundError, RunStateError, TrackingWriteError
from loopwright.store.records import RunArtifact, RunRecord, RunStatus
from loopwright.tracking.validation import mapping, metric_value, text_value, validate_key

if TYPE_CHECKING:
    from loopwright.tracking.tracker import Tracker

__all__ = ["Run"]


class Run:
    """A run in progress. Use it as a context manager (``with lw.start_run(...) as run:``); on exit it is
    flushed and marked finished, failed (with the exception) or killed (Ctrl-C, ``SystemExit``)."""

    def __init__(self, tracker: Tracker, run_id: str, name: str, experiment: str) -> None:
        self._tracker = tracker
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self._writer = tracker.writer
        self._ended = False
        self._params: dict[str, str] = {}
        self._metric_keys: set[str] = set()
        self._steps: dict[str, int] = {}

    def __repr__(self) -> str:
        state = "ended" if self._ended else "running"
        return f"<Run {self.name!r} ({self.id[:8]}) in {self.experiment!r}, {state}>"

    # --- metrics ---------------------------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp: float | None = None
    ) -> None:
        """Buffer one metric point; returns in microseconds. ``step`` defaults to the key's last step + 1.

        ``timestamp`` is seconds since the epoch (default: now). NaN and +/-inf are stored as such.
        """
        if key not in self._metric_keys:
            self._first_use_of_metric(key)
        number = value if type(value) is float else metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int or not _LOWEST <= step <= _HIGHEST:
            step = _step(key, step)
        milliseconds = time.time_ns() // 1_000_000 if timestamp is None else _milliseconds(key, timestamp)
        self._steps[key] = step
        self._writer.add((self.id, key, number, step, milliseconds))

    def log_metrics(
        self, values: Mapping[str, float], step: int | None = None, *, timestamp: float | None = None
    ) -> None:
        """Buffer several metrics at the same step. Every value is checked before any is buffered."""
        values = mapping("log_metrics() values", values)
        milliseconds = (
            time.time_ns() // 1_000_000 if timestamp is None else _milliseconds(", ".join(values), timestamp)
        )
        rows = []
        for key, value in values.items():
            if key not in self._metric_keys:
                self._first_use_of_metric(key)
            number = value if type(value) is float else metric_value(key, value)
            point_step = (self._steps.get(key, -1) + 1) if step is None else _step(key, step)
            rows.append((self.id, key, number, point_step, milliseconds))
        for row in rows:
            self._steps[row[1]] = row[3]
        self._writer.add_many(rows)

    def _first_use_of_metric(self, key: str) -> None:
        self._check_open()
        validate_key("metric", key)
        self._metric_keys.add(key)

    # --- parameters and tags ---------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record one parameter (stored as text). Logging it again with another value is an error."""
        self.log_params({key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        """Record parameters; all are checked, and none is written if one conflicts."""
        self._check_open()
        values = mapping("log_params() values", values)
        texts = {validate_key("param", key): text_value("param", key, value) for key, value in values.items()}
        self._tracker.store.log_params(self.id, texts)
        self._params.update(texts)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (tags, unlike parameters, can change)."""
        self.set_tags({key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        """Set several tags."""
        self._check_open()
        values = mapping("set_tags() values", values)
        texts = {validate_key("tag", key): text_value("tag", key, value) for key, value in values.items()}
        self._tracker.store.set_tags(self.id, texts)

    # --- artifacts -------------------------------------------------------------------------------------

    def log_artifact(self, path: str | Path, name: str | None = None, *, kind: str = "file") -> RunArtifact:
        """Store a local file as an output of this run, under ``name`` (default: the file name)."""
        self._check_open()
        source = Path(path)
        if source.is_dir():
            raise InvalidInputError(
                f"log_artifact takes a file; {str(source)!r} is a folder. Use run.log_artifacts(folder).",
                path=str(source),
            )
        return self._tracker.log_artifact_file(self.id, source, name or source.name, kind=kind)

    def log_artifacts(self, folder: str | Path, prefix: str = "") -> list[RunArtifact]:
        """Store every file under ``folder``, named by its path relative to the folder."""
        self._check_open()
        root = Path(folder)
        if not root.is_dir():
            raise NotFoundError(f"The folder {str(root)!r} does not exist.", kind="folder", key=str(root))
        logged = []
        for file in sorted(item for item in root.rglob("*") if item.is_file()):
            name = (
                (Path(prefix) / file.relative_to(root)).as_posix()
                if prefix
                else file.relative_to(root).as_posix()
            )
            logged.append(self._tracker.log_artifact_file(self.id, file, name, kind="file"))
        return logged

    def log_input(self, item: Any, name: str | None = None) -> None:
        """Record in lineage that this run used ``item``: a dataset version (anything with a
        ``lineage_ref()`` giving ``(artifact id, default name)``) or an artifact id with a ``name``."""
        self._check_open()
        if hasattr(item, "lineage_ref"):
            artifact_id, default_name = item.lineage_ref()
        elif isinstance(item, str) and name is not None:
            artifact_id, default_name = item, name
        else:
            raise InvalidInputError(
                "run.log_input() takes a dataset version, or an artifact id and a name. "
                f"Got {item!r} instead.",
                item=repr(item),
            )
        self._tracker.store.link_artifact(self.id, artifact_id, "input", name or default_name)

    def log_text(self, text: str, name: str) -> RunArtifact:
        """Store ``text`` (UTF-8) as an output named ``name``."""
        self._check_open()
        return self._tracker.log_artifact_bytes(self.id, text.encode("utf-8"), name, media_type="text/plain")

    def log_dict(self, value: Mapping[str, Any], name: str) -> RunArtifact:
        """Store a JSON-able mapping as an output named ``name``."""
        self._check_open()
        data = json.dumps(value, indent=2, sort_keys=True, default=str).encode("utf-8")
        return self._tracker.log_artifact_bytes(self.id, data, name, media_type="application/json")

    # --- life cycle ------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Return only when everything logged so far (by any run of this process) is in the store."""
        self._writer.flush(timeout=timeout)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, *, error: str | None = None) -> None:
        """Flush, then record the end time and ``status``. Ending twice is a no-op."""
        if self._ended:
            return
        refused: TrackingWriteError | None = None
        try:
            self._writer.flush()
        except TrackingWriteError as failure:
            if "refused" not in failure.details:
                raise  # the store is down: the points are kept, and the run cannot be ended there either
            refused = failure  # the rest is written: end the run, then say what the store refused
        self._tracker.store.end_run(self.id, RunStatus(status), error=error)
        self._ended = True
        self._metric_keys.clear()  # the fast path of log_metric checks the run is open only for new keys
        self._tracker.pop(self)
        if refused is not None:
            raise refused

    @property
    def info(self) -> RunRecord:
        """What the store holds for this run now (flushes first, so metrics are current)."""
        self._writer.flush()
        return self._tracker.store.get_run(self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt | SystemExit):
            self.end(RunStatus.KILLED, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        else:
            self.end(RunStatus.FAILED, error="".join(traceback.format_exception(exc_type, exc, tb)))

    def _check_open(self) -> None:
        if self._ended:
            raise RunStateError(
                f"Run {self.name!r} ({self.id}) has ended; nothing more can be logged to it. Start a new "
                "run with lw.start_run().",
                run_id=self.id,
            )


# Steps and times are stored as 64-bit integers: a value outside that range must fail at the call, not
# later in the writer, where it would hold back every point behind it.
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


def _step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if float(step).is_integer() and not isinstance(step, str | bool):
                step = int(step)
        except (TypeError, ValueError, OverflowError):
            pass
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInputError(
            f"The step of metric {key!r} must be an integer. Got {step!r} of type {type(step).__name__} "
            "instead.",
            key=key,
            step=repr(step),
        )
    if not _LOWEST <= step <= _HIGHEST:
        raise InvalidInputError(
            f"The step of metric {key!r} must fit in 64 bits (between -2**63 and 2**63 - 1). Got {step} "
            "instead.",
            key=key,
            step=repr(step),
        )
    return step


def _milliseconds(key: str, timestamp: Any) -> int:
    """A metric timestamp (seconds since the epoch) as stored: whole milliseconds in 64 bits."""
    try:
        seconds = float(timestamp)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if isinstance(timestamp, bool) or not math.isfinite(seconds) or not 0 <= seconds * 1000 <= _HIGHEST:
        raise InvalidInputError(
            f"The timestamp of metric {key!r} must be a finite number of seconds since the epoch (e.g. "
            f"time.time()). Got {timestamp!r} instead.",
            key=key,
            timestamp=repr(timestamp),
        )
    return int(seconds * 1000)
