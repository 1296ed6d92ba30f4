"""Pipelines the tests run, at module level so process workers can import their steps.

Tests that must edit a step's code generate their own module in ``tmp_path`` instead (see
``tests/pipelines/test_cache.py``); everything here stays fixed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

import loopwright as lw

# --- a small training pipeline ------------------------------------------------------------------------


@lw.step
def load(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "y": [i % 3 for i in range(n)]})


@lw.step
def split(frame: pd.DataFrame, fraction: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * fraction)
    return frame.iloc[cut:], frame.iloc[:cut]


@lw.step(ignore=["verbose"])
def fit(train: pd.DataFrame, alpha: float, verbose: bool = False) -> dict[str, Any]:
    lw.log_metric("rows", len(train))
    return {"mean": float(train["x"].mean()), "alpha": alpha}


@lw.step
def score(model: dict[str, Any], test: pd.DataFrame) -> float:
    return model["mean"] - float(test["x"].mean())


@lw.pipeline
def training(n: int = 20, alpha: float = 0.1, verbose: bool = False) -> Any:
    """Load, split, fit and score."""
    frame = load(n)
    train, test = split(frame)
    model = fit(train, alpha, verbose=verbose)
    return score(model, test)


# --- data inputs --------------------------------------------------------------------------------------


@lw.step
def count_rows(frame: pd.DataFrame) -> int:
    return len(frame)


@lw.step
def constant_rows(n: int) -> int:
    return n


@lw.step
def report(rows: int, expected: int) -> str:
    return f"{rows}/{expected}"


@lw.pipeline
def on_transactions(expected: int = 3) -> Any:
    return report(count_rows(lw.latest("transactions")), constant_rows(expected))


# --- parallel execution -------------------------------------------------------------------------------


@lw.step
def slow(label: str, seconds: float, folder: str, patience: float = 60.0) -> str:
    """Sleep, then wait for the other ``slow`` step to have started too (files in ``folder`` mark who
    started): two of these can only both finish if they ran at the same time."""
    # When it really ran, and where: the store's start of a step is when it was handed to the executor.
    began = time.time()
    Path(folder, label).touch()
    time.sleep(seconds)
    while not all(Path(folder, name).exists() for name in ("a", "b")):
        if time.time() - began > patience:
            raise TimeoutError(f"step {label!r} ran alone: the other one did not start meanwhile")
        time.sleep(0.01)
    lw.log_metrics({"began": began, "ended": time.time(), "pid": os.getpid()})
    return label.upper()


@lw.step
def join(left: str, right: str) -> str:
    return f"{left}+{right}"


@lw.pipeline(executor="process", max_workers=2)
def parallel(folder: str, seconds: float = 0.5) -> Any:
    return join(slow("a", seconds, folder), slow("b", seconds, folder))


# --- resumption ---------------------------------------------------------------------------------------


@lw.step
def prepare(n: int) -> list[int]:
    return list(range(n))


@lw.step
def flaky(values: list[int], flag: str) -> int:
    if not Path(flag).exists():
        raise RuntimeError(f"no flag file at {flag}")
    return sum(values)


@lw.step
def finish(total: int) -> str:
    return f"total={total}"


@lw.pipeline
def resumable(flag: str, n: int = 4) -> Any:
    return finish(flaky(prepare(n), flag))


# --- outputs by materializer --------------------------------------------------------------------------


class Thing:
    """Neither JSON nor a table nor an array: stored pickled."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thing) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


@lw.step
def make_pandas() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])


@lw.step
def make_polars() -> pl.DataFrame:
    return pl.DataFrame({"a": [1.5, 2.5], "b": [True, False]})


@lw.step
def make_array() -> np.ndarray:
    return np.arange(6, dtype=np.float32).reshape(2, 3)


@lw.step
def make_json() -> dict[str, Any]:
    return {"name": "fraud", "weights": [0.5, 1.0], "nested": {"ok": True, "none": None}}


@lw.step
def make_object() -> Thing:
    return Thing(7)


@lw.step
def make_pair() -> tuple[list[int], str]:
    return [1, 2], "two"


@lw.step
def describe(
    frame: pd.DataFrame, table: pl.DataFrame, array: np.ndarray, document: dict[str, Any], thing: Thing
) -> str:
    return f"{len(frame)}|{table.height}|{array.shape}|{document['name']}|{thing.value}"


@lw.pipeline
def materials() -> Any:
    first, second = make_pair()
    return describe(make_pandas(), make_polars(), make_array(), make_json(), make_object()), first, second


# --- metrics logged inside steps ----------------------------------------------------------------------


@lw.step
def noisy(n: int) -> int:
    for step in range(n):
        lw.log_metric("loss", 1 / (step + 1), step=step)
    return n


@lw.pipeline
def metered(n: int = 3) -> Any:
    return noisy(n)
