"""The five step functions of the pipelines benchmark and its timing loop, shared by both sides.

Plain functions on pandas and NumPy only, so the Loopwright venv and the Prefect venv run the very same code:
each side wraps them (``lw.step(make)``, ``prefect.task(make)``) the way a user wraps notebook functions.
They are deliberately cheap at the default size (a few hundred rows), so that what a run costs beyond
:func:`run_direct` is the orchestrator's own overhead.

The graph::

    make(n, seed) -> transform -> aggregate -> fit
                         \\________________________> score(model, frame)
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from _common import progress, summarize

__all__ = [
    "BINS",
    "Timed",
    "aggregate",
    "fit",
    "make",
    "run_direct",
    "score",
    "time_rounds",
    "transform",
]

BINS = 20
"""Groups that ``aggregate`` reduces the rows to (the "fit" runs on the group means)."""


def make(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of a noisy line ``y = 2x + 1``; the seed makes every run's data (and cache key) new."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=n)
    return pd.DataFrame({"x": x, "y": 2.0 * x + 1.0 + rng.normal(0.0, 0.1, size=n)})


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds a feature and the bin of each row."""
    bins = np.minimum(((frame["x"] + 1.0) * (BINS / 2.0)).astype("int64"), BINS - 1)
    return frame.assign(x2=frame["x"] ** 2, bin=bins)


def aggregate(frame: pd.DataFrame) -> pd.DataFrame:
    """The row count and the mean of ``x`` and ``y`` per bin (NumPy: pandas' groupby costs ~10 ms here)."""
    bins = frame["bin"].to_numpy()
    rows = np.bincount(bins, minlength=BINS)
    kept = rows > 0
    means = {
        column: np.bincount(bins, frame[column].to_numpy(), minlength=BINS)[kept] / rows[kept]
        for column in ("x", "y")
    }
    return pd.DataFrame({"bin": np.flatnonzero(kept), **means, "rows": rows[kept]})


def fit(summary: pd.DataFrame) -> dict[str, float]:
    """A least-squares line through the bin means (a stand-in for training; NumPy only)."""
    slope, intercept = np.polyfit(summary["x"].to_numpy(), summary["y"].to_numpy(), 1)
    return {"slope": float(slope), "intercept": float(intercept)}


def score(model: dict[str, float], frame: pd.DataFrame) -> float:
    """The mean squared error of ``model`` on every row."""
    predicted = model["slope"] * frame["x"] + model["intercept"]
    return float(((frame["y"] - predicted) ** 2).mean())


def run_direct(n: int, seed: int) -> float:
    """The five steps called directly, as plain functions: the baseline every overhead is net of."""
    frame = transform(make(n, seed))
    return score(fit(aggregate(frame)), frame)


# --- the timing loop ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One thing to time: ``call(seed)``. ``reuse`` names an earlier entry whose seed it takes (a re-run of
    the same inputs, i.e. a cache hit); otherwise every call gets a seed never used before (all misses)."""

    label: str
    call: Callable[[int], object]
    reuse: str | None = None


def time_rounds(timed: Sequence[Timed], repeats: int, tool: str, rows: int) -> dict[str, Any]:
    """Time every entry once per round, interleaved (so load changes hit all alike), over one warm-up round
    and ``repeats`` timed ones. Returns ``{label: summary}`` of the timed rounds and ``first_s``: the
    warm-up round's times (imports, first queries, a server's start-up)."""
    seeds = itertools.count(1_000)
    values: dict[str, list[float]] = {entry.label: [] for entry in timed}
    first: dict[str, float] = {}
    for round_ in range(repeats + 1):
        used: dict[str, int] = {}
        for entry in timed:
            seed = used[entry.reuse] if entry.reuse else next(seeds)
            used[entry.label] = seed
            gc.collect()
            start = time.perf_counter()
            entry.call(seed)
            elapsed = time.perf_counter() - start
            if round_ == 0:
                first[entry.label] = elapsed
            else:
                values[entry.label].append(elapsed)
        latest = first if round_ == 0 else {label: found[-1] for label, found in values.items()}
        shown = ", ".join(f"{label} {seconds * 1000:,.1f}" for label, seconds in latest.items())
        which = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
        progress(f"{tool}, {rows:,} rows, {which} (ms): {shown}")
    return {**{label: summarize(found) for label, found in values.items()}, "first_s": first}
