"""Models and a training pipeline the automation tests register, deploy and retrain, at module level so the
registry and the pipeline runner can import them.

The world is simple on purpose: each request has an ``amount`` between 0 and 100, and its true label is
whether ``amount > 50``. :class:`Cut` predicts ``amount > cut`` (inverted with ``invert``): ``Cut(50)`` is
right every time, ``Cut(55)`` on 95% of requests, ``Cut(50, invert=True)`` never, yet predicts the same
share of each class, and ``Cut(90)`` predicts far fewer positives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import loopwright as lw

EXAMPLE = pd.DataFrame({"amount": [12.5, 80.0]})


class Cut(lw.PythonModel):
    """Predicts ``int(amount > cut)``, or its opposite."""

    def __init__(self, cut: float, invert: bool = False) -> None:
        self.cut = cut
        self.invert = invert

    def predict(self, data: Any) -> Any:
        above = np.asarray(data["amount"], dtype=np.float64) > self.cut
        return (~above if self.invert else above).astype("int64")

    def predict_proba(self, data: Any) -> Any:
        positive = self.predict(data).astype("float64")
        return np.column_stack([1.0 - positive, positive])

    def one(self, amount: float) -> int:
        """The prediction for one amount (how the tests fill the prediction log)."""
        return int((amount > self.cut) != self.invert)


@lw.step
def fit_cut(data: lw.DatasetVersion, target: str) -> Cut:
    """The cut halfway between the largest negative and the smallest positive amount."""
    frame = data.to_pandas()
    positives = frame.loc[frame[target] == 1, "amount"]
    negatives = frame.loc[frame[target] == 0, "amount"]
    return Cut(float((negatives.max() + positives.min()) / 2))


@lw.pipeline
def train(data: lw.DatasetVersion, target: str = "label") -> Any:
    """Train a :class:`Cut` on ``data``."""
    return fit_cut(data, target)


@lw.step
def fixed_cut(cut: float) -> Cut:
    return Cut(cut)


@lw.pipeline
def train_fixed(cut: float = 90.0) -> Any:
    """Return ``Cut(cut)`` whatever the data (a deliberately bad retraining)."""
    return fixed_cut(cut)
