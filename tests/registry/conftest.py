"""Fixtures of the model-registry tests: a client on each metadata backend, and small trained models.

The PostgreSQL database is created and migrated once per module and emptied before each test (the data
tests' fixtures, reused), so every test starts from an empty, fully migrated database on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy

import loopwright as lw
from loopwright.settings import Settings
from tests.data.conftest import database_url, module_postgres_url  # noqa: F401 - fixtures, reused

FEATURES = ["amount", "age"]


@pytest.fixture
def client(settings: Settings) -> Iterator[lw.Client]:
    settings = settings.model_copy(update={"user": "tester"})
    opened = lw.connect(settings)
    yield opened
    opened.close()


def fraud_frame(rows: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a region and a binary label that depends on the features (with noise)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.normal(size=rows),
            "age": rng.normal(size=rows),
            "region": rng.choice(["EU", "US", "APAC"], size=rows),
        }
    )
    frame["label"] = (frame["amount"] + 0.5 * frame["age"] + rng.normal(scale=0.7, size=rows) > 0).astype(
        "int64"
    )
    return frame


def fit(frame: pd.DataFrame, c: float = 1.0) -> object:
    """A logistic regression on the features of ``frame``."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(frame[FEATURES], frame["label"])


def count_rows(client: lw.Client, table: str) -> int:
    """How many rows a metadata table holds (to show that nothing was written)."""
    engine = sqlalchemy.create_engine(client.store.url, poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sqlalchemy.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def set_times(client: lw.Client, table: str, column: str, values: dict[object, int], key: str = "id") -> None:
    """Overwrite stored times (``values``: row key → epoch milliseconds) so tests can pin dates."""
    engine = sqlalchemy.create_engine(client.store.url, poolclass=sqlalchemy.NullPool)
    try:
        with engine.begin() as connection:
            for row_key, moment in values.items():
                connection.execute(
                    sqlalchemy.text(f"UPDATE {table} SET {column} = :moment WHERE {key} = :key"),
                    {"moment": moment, "key": row_key},
                )
    finally:
        engine.dispose()
