"""The model-serving measurement shared by both sides of ``registry.py`` (standard library only, so the
Loopwright venv's Python and the MLflow venv's Python import the same code).

Each side gets the same shared folder, written by the driver: ``<name>.pkl`` (the trained scikit-learn
models, plain pickles), ``one_row.parquet``, ``batch.parquet`` and ``example.parquet``. It saves every
model with its own tool, loads it back, checks that the loaded model predicts what the raw one does, and
times the raw model and its own loaded model *interleaved* (raw, tool, tool, raw, …), so that a noisy
neighbour slows both series alike and the ratio stays meaningful.
"""

from __future__ import annotations

import gc
import pickle
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import _common

__all__ = ["describe", "interleaved", "measure_models"]

Saver = Callable[[Any, Path, Any], None]
"""``(model, folder, input example) -> None``: save with the tool under test."""
Loader = Callable[[Path], Any]
"""``folder -> object with .predict``: load with the tool under test."""


def describe(values: list[float]) -> dict[str, Any]:
    """Median, spread and count of many timings (the individual values are left out: thousands)."""
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p10": ordered[len(ordered) // 10],
        "p90": ordered[(len(ordered) * 9) // 10],
        "min": ordered[0],
        "n": len(ordered),
    }


def interleaved(calls: Mapping[str, Callable[[], Any]], repeats: int, warmup: int) -> dict[str, Any]:
    """Seconds per call of each of ``calls``, alternating their order every round."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    gc.collect()
    timings: dict[str, list[float]] = {label: [] for label in calls}
    items = list(calls.items())
    for repeat in range(repeats):
        for label, call in items if repeat % 2 == 0 else reversed(items):
            start = time.perf_counter()
            call()
            timings[label].append(time.perf_counter() - start)
    return {label: describe(values) for label, values in timings.items()}


def measure_models(
    tool: str, workdir: Path, config: Mapping[str, Any], save: Saver, load: Loader
) -> dict[str, Any]:
    """Save, load, check and time every model named in ``config["models"]`` (see the module docstring)."""
    import numpy as np
    import pandas as pd

    shared = Path(config["shared"])
    one_row = pd.read_parquet(shared / "one_row.parquet")
    batch = pd.read_parquet(shared / "batch.parquet")
    example = pd.read_parquet(shared / "example.parquet")
    results: dict[str, Any] = {}
    for name in config["models"]:
        with (shared / f"{name}.pkl").open("rb") as handle:
            raw = pickle.load(handle)
        folder = workdir / name
        start = time.perf_counter()
        save(raw, folder, example)
        save_s = time.perf_counter() - start
        loads = []
        for _ in range(int(config["load_repeats"])):
            start = time.perf_counter()
            loaded = load(folder)
            loads.append(time.perf_counter() - start)
        if not np.array_equal(np.asarray(loaded.predict(batch)), raw.predict(batch)):
            raise RuntimeError(f"{tool}'s loaded {name} model predicts differently from the raw model.")
        _common.progress(
            f"{tool} {name}: saved in {save_s * 1000:,.0f} ms, loaded in {loads[0] * 1000:,.0f} ms"
        )
        one, many = _time_predicts(tool, name, raw, loaded, one_row, batch, config)
        results[name] = {
            "save_s": save_s,
            "load_first_s": loads[0],
            "load_s": describe(loads[1:] or loads),
            "one_row": one,
            "batch": many,
            "batch_rows": len(batch),
        }
    return results


def _time_predicts(
    tool: str, name: str, raw: Any, loaded: Any, one_row: Any, batch: Any, config: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One-row and batch predict timings of ``raw`` and ``loaded``, interleaved."""
    one = interleaved(
        {"raw": lambda: raw.predict(one_row), tool: lambda: loaded.predict(one_row)},
        int(config["repeats"]),
        int(config["warmup"]),
    )
    _common.progress(
        f"{tool} {name} one-row predict: raw {one['raw']['median'] * 1e6:,.0f} µs, "
        f"{tool} {one[tool]['median'] * 1e6:,.0f} µs"
    )
    many = interleaved(
        {"raw": lambda: raw.predict(batch), tool: lambda: loaded.predict(batch)},
        int(config["batch_repeats"]),
        1,
    )
    _common.progress(
        f"{tool} {name} {len(batch):,}-row predict: raw {many['raw']['median'] * 1000:,.1f} ms, "
        f"{tool} {many[tool]['median'] * 1000:,.1f} ms"
    )
    return one, many
