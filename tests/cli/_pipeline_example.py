"""The pipeline the CLI tests run: four steps over small JSON-able values, so every output is exact.

``fit`` fails on a negative ``alpha``: a failing step on demand.
"""

from __future__ import annotations

import loopwright as lw


@lw.step
def load(n: int) -> list[int]:
    return list(range(n))


@lw.step
def split(values: list[int], test_share: float = 0.25) -> tuple[list[int], list[int]]:
    cut = int(len(values) * test_share)
    return values[cut:], values[:cut]


@lw.step
def fit(train: list[int], alpha: float) -> dict[str, float]:
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    return {"mean": sum(train) / len(train), "alpha": alpha}


@lw.step
def score(model: dict[str, float], test: list[int]) -> float:
    return model["mean"] - sum(test) / len(test)


@lw.pipeline
def train(n: int = 8, alpha: float = 0.5) -> float:
    """Split 0..n-1, fit a mean, score it on the held-out part."""
    values = load(n)
    train_part, test_part = split(values)
    model = fit(train_part, alpha)
    return score(model, test_part)
