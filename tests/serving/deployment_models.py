"""Models and fixtures shared by the deployment, runtime and batch tests.

:class:`Tagged` answers every row with its own tag, so a prediction says which version produced it: the
``fraud`` model's version N is ``Tagged(N)``. The ``client`` fixture (import ``client_with_models``) runs on each metadata backend, on an
empty, fully migrated database (the data tests' fixtures, reused).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.settings import Settings
from tests.data.conftest import database_url, module_postgres_url  # noqa: F401 - fixtures, reused

EXAMPLE = pd.DataFrame({"amount": [12.5, 3.0], "customer": ["c-1", "c-2"]})


class Tagged(lw.PythonModel):
    """Predicts ``tag`` for every row (after ``delay`` seconds)."""

    def __init__(self, tag: int, delay: float = 0.0) -> None:
        self.tag = tag
        self.delay = delay

    def predict(self, data: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
        return np.full(len(data), self.tag, dtype="int64")


class Broken(lw.PythonModel):
    """Raises on every call, or answers with one row too few."""

    def __init__(self, short: bool = False) -> None:
        self.short = short

    def predict(self, data: Any) -> Any:
        if self.short:
            return np.zeros(len(data) - 1)
        raise RuntimeError("the model fell over")


@pytest.fixture(name="client")
def client_with_models(settings: Settings) -> Iterator[lw.Client]:
    """A client as user ``tester`` whose model ``fraud`` has versions 1 to 3 (``Tagged(1..3)``), version 1
    in production."""
    opened = lw.connect(settings.model_copy(update={"user": "tester"}))
    for tag in (1, 2, 3):
        opened.register_model("fraud", Tagged(tag), input_example=EXAMPLE)
    opened.set_alias("fraud", "production", 1)
    yield opened
    opened.close()
