"""Synthetic card transactions for the fraud demo: a realistic base rate, fraud that follows patterns, and a
shift that brings a new pattern the first model never saw.

Each transaction has an id (``t000123``, never a model input), the card holder (``customer_id``, which the
canary split sticks to), the features a card issuer scores — ``amount``, ``merchant_category``,
``country``, ``hour``, ``device``, ``distance_km`` (from the holder's home), ``velocity_1h`` (the card's
transactions in the last hour), ``customer_age``, ``account_age_days`` — and the label ``is_fraud``.

* **Before the shift** about 2% of transactions are fraud, mostly *card-not-present theft*: large amounts
  at night, far from home, online, in electronics and travel, with several transactions an hour. Each
  sign shows on most fraud, not all, and some genuine transactions show them too, so no model is perfect.
* **After the shift** (``shifted=True``) the inputs move — a new mobile app takes a large share of the
  payments, amounts rise, more payments come from abroad — and a new pattern appears: *card testing
  through the app*, bursts of tiny payments close to home in the daytime, another 3% of transactions.
  A model that learnt only the first pattern misses most of it.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same rows.

>>> frame = transactions(1_000, seed=0)
>>> list(frame.columns)[:4]
['transaction_id', 'customer_id', 'amount', 'merchant_category']
>>> round(float(frame["is_fraud"].mean()), 2)
0.02
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.data.schema import ColumnSchema, DataSchema

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "LABEL",
    "NUMERIC",
    "ROUTING_KEY",
    "schema",
    "transactions",
]

LABEL = "is_fraud"
"""The label column (1: fraud)."""

ROUTING_KEY = "customer_id"
"""The input field canary traffic sticks to: a card holder sees one model throughout a step."""

NUMERIC = ("amount", "hour", "distance_km", "velocity_1h", "customer_age", "account_age_days")
"""The numeric features."""

CATEGORICAL = ("merchant_category", "country", "device")
"""The categorical features."""

FEATURES = (*NUMERIC, *CATEGORICAL)
"""Every feature a model reads (the ids are inputs too, but no model reads them)."""

_CATEGORIES = (
    "grocery",
    "fuel",
    "restaurant",
    "pharmacy",
    "entertainment",
    "online_retail",
    "electronics",
    "travel",
)
_CATEGORY_P = (0.26, 0.14, 0.18, 0.08, 0.08, 0.14, 0.06, 0.06)
_COUNTRIES = ("US", "CA", "GB", "DE", "FR", "MX", "BR", "NG")
_COUNTRY_P = (0.80, 0.05, 0.04, 0.03, 0.03, 0.02, 0.02, 0.01)
_COUNTRY_P_SHIFTED = (0.64, 0.06, 0.06, 0.05, 0.05, 0.06, 0.06, 0.02)
_DEVICES = ("chip", "contactless", "online", "mobile_app")
_DEVICE_P = (0.42, 0.30, 0.22, 0.06)
_DEVICE_P_SHIFTED = (0.25, 0.22, 0.18, 0.35)
_HOUR_P = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 5, 6, 6.5, 7, 8, 7.5, 7, 7, 7.5, 8, 8, 7, 5.5, 4, 3, 2], dtype=float
)
_HOUR_P /= _HOUR_P.sum()

_BASE_RATE = 0.02  # card-not-present theft, before and after the shift
_TESTING_RATE = 0.03  # card testing through the app, after the shift only
_CUSTOMERS = 20_000


def transactions(rows: int, *, seed: int, shifted: bool = False, first_id: int = 0) -> pd.DataFrame:
    """``rows`` transactions drawn with ``seed``, before or after the shift; ids count from ``first_id``.

    >>> transactions(3, seed=1, first_id=10)["transaction_id"].tolist()
    ['t000010', 't000011', 't000012']
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = np.arange(first_id, first_id + rows)
    frame: dict[str, Any] = {
        "transaction_id": [f"t{index:06d}" for index in ids],
        "customer_id": [f"c{index:05d}" for index in rng.integers(0, _CUSTOMERS, rows)],
    }
    amount = rng.lognormal(3.4, 0.9, rows) * (1.25 if shifted else 1.0)
    category = rng.choice(len(_CATEGORIES), rows, p=_CATEGORY_P)
    country = rng.choice(len(_COUNTRIES), rows, p=_COUNTRY_P_SHIFTED if shifted else _COUNTRY_P)
    device = rng.choice(len(_DEVICES), rows, p=_DEVICE_P_SHIFTED if shifted else _DEVICE_P)
    hour = rng.choice(24, rows, p=_HOUR_P)
    distance = rng.exponential(12.0, rows)
    velocity = rng.poisson(0.8, rows)
    age = np.clip(rng.normal(44, 15, rows), 18, 92).round()
    account_age = rng.exponential(1_100, rows).round()

    # Card-not-present theft: each sign on most of the fraud, so models learn a blend, not one rule.
    theft = rng.random(rows) < _BASE_RATE
    count = int(theft.sum())
    signs = rng.random((count, 6)) < np.array([0.75, 0.65, 0.7, 0.6, 0.55, 0.5])
    amount[theft] = np.where(signs[:, 0], rng.lognormal(5.6, 0.7, count), amount[theft])
    hour[theft] = np.where(signs[:, 1], rng.integers(0, 6, count), hour[theft])
    distance[theft] = np.where(signs[:, 2], rng.exponential(600.0, count) + 80, distance[theft])
    device[theft] = np.where(signs[:, 3], 2, device[theft])  # online
    category[theft] = np.where(signs[:, 4], rng.choice([6, 7], count), category[theft])
    velocity[theft] = np.where(signs[:, 5], rng.poisson(4.0, count) + 2, velocity[theft])
    country[theft] = np.where(rng.random(count) < 0.35, rng.choice([5, 6, 7], count), country[theft])
    account_age[theft] = np.where(
        rng.random(count) < 0.4, rng.exponential(60, count).round(), account_age[theft]
    )

    fraud = theft.copy()
    if shifted:
        # Card testing: tiny payments through the app, near home, in the daytime.
        testing = ~theft & (rng.random(rows) < _TESTING_RATE / (1 - _BASE_RATE))
        count = int(testing.sum())
        amount[testing] = rng.uniform(0.5, 4.0, count)
        device[testing] = np.where(rng.random(count) < 0.9, 3, device[testing])  # mobile_app
        velocity[testing] = rng.poisson(1.5, count) + 1
        category[testing] = rng.choice([4, 5], count)  # entertainment, online_retail
        hour[testing] = rng.integers(9, 20, count)
        fraud |= testing

    frame.update(
        {
            "amount": amount.round(2),
            "merchant_category": np.asarray(_CATEGORIES, dtype=object)[category],
            "country": np.asarray(_COUNTRIES, dtype=object)[country],
            "hour": hour.astype("int64"),
            "device": np.asarray(_DEVICES, dtype=object)[device],
            "distance_km": distance.round(1),
            "velocity_1h": velocity.astype("int64"),
            "customer_age": age.astype("int64"),
            "account_age_days": account_age.astype("int64"),
            LABEL: fraud.astype("int64"),
        }
    )
    return pd.DataFrame(frame)


def schema() -> DataSchema:
    """What a transactions dataset must look like: the checks its versions pass when logged."""
    text = ColumnSchema(type="string", nullable=False)
    columns = {
        "transaction_id": text,
        "customer_id": text,
        "amount": ColumnSchema(type="float64", nullable=False, min=0.0, max=100_000.0),
        "merchant_category": ColumnSchema(type="string", nullable=False, categories=list(_CATEGORIES)),
        "country": ColumnSchema(type="string", nullable=False, categories=list(_COUNTRIES)),
        "hour": ColumnSchema(type="int64", nullable=False, min=0, max=23),
        "device": ColumnSchema(type="string", nullable=False, categories=list(_DEVICES)),
        "distance_km": ColumnSchema(type="float64", nullable=False, min=0.0, max=20_000.0),
        "velocity_1h": ColumnSchema(type="int64", nullable=False, min=0, max=1_000),
        "customer_age": ColumnSchema(type="int64", nullable=False, min=18, max=120),
        "account_age_days": ColumnSchema(type="int64", nullable=False, min=0, max=40_000),
        LABEL: ColumnSchema(type="int64", nullable=False, min=0, max=1),
    }
    return DataSchema(dataset="transactions", columns=columns)
