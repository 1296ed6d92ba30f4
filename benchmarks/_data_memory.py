"""Resident memory of the current process, for the data benchmark's measurement scripts (stdlib only).

:class:`PeakMemory` measures the peak resident set size (RSS) reached *during* a block. On Linux it resets
the kernel's high-water mark (``VmHWM``) by writing ``5`` to ``/proc/self/clear_refs`` before the block
and reads it after, which is exact and costs nothing. Where that is refused, a thread samples
``/proc/self/statm`` every few milliseconds instead (it can miss a spike shorter than the interval).
Everything the process holds counts: Python objects, Arrow and DuckDB buffers, numpy arrays.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PeakMemory", "process_peak_mb", "rss_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MB = 1024 * 1024


def rss_mb() -> float:
    """The process's resident memory now, in MiB (0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * _PAGE / _MB


def process_peak_mb() -> float:
    """The process's peak resident memory since it started (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024


def _high_water_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """``with PeakMemory() as memory: ...`` then ``memory.before_mb``, ``memory.peak_mb``, ``memory.added_mb``
    (peak minus the RSS just before the block) and ``memory.method`` (``VmHWM`` or ``sampled``)."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.before_mb = 0.0
        self.peak_mb = 0.0
        self.after_mb = 0.0
        self.method = "VmHWM"
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        self.before_mb = rss_mb()
        if not _reset_high_water() or _high_water_mb() is None:
            self.method = "sampled"
            self._sampled = self.before_mb
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled = max(self._sampled, rss_mb())
            time.sleep(self.interval_s)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.after_mb = rss_mb()
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self._sampled, self.after_mb)
        else:
            self.peak_mb = max(_high_water_mb() or 0.0, self.after_mb)

    @property
    def added_mb(self) -> float:
        """How far the block raised resident memory above where it started."""
        return max(0.0, self.peak_mb - self.before_mb)

    def to_json(self) -> dict[str, Any]:
        """The figures, rounded to 0.1 MiB."""
        return {
            "before_mb": round(self.before_mb, 1),
            "peak_mb": round(self.peak_mb, 1),
            "added_mb": round(self.added_mb, 1),
            "after_mb": round(self.after_mb, 1),
            "method": self.method,
        }
