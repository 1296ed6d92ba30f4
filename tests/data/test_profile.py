"""Profiles, against statistics computed independently with numpy and pandas on the same data.

Profiles are read back from the metadata store, so the tests that log data also check that the JSON
document survives SQLite and PostgreSQL unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import loopwright as lw
from loopwright.data.profile import HISTOGRAM_BINS, PERCENTILES, SAMPLE_ROWS, RowSample

ROWS = 5_000


@pytest.fixture
def columns() -> dict[str, Any]:
    """Numbers with NaN and missing values, text with few and many values, booleans, times."""
    rng = np.random.default_rng(2024)
    real = rng.normal(10.0, 3.0, ROWS)
    real[rng.choice(ROWS, 40, replace=False)] = np.nan
    real_missing = rng.random(ROWS) < 0.02
    whole = rng.integers(-50, 51, ROWS)
    whole_missing = rng.random(ROWS) < 0.05
    few = rng.choice(["grocery", "travel", "online", "fuel", "rent"], ROWS, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    few_missing = rng.random(ROWS) < 0.03
    many = np.array([f"user-{value:03d}" for value in rng.zipf(1.3, ROWS) % 400])
    return {
        "real": pa.array(real, mask=real_missing),
        "whole": pa.array(whole, mask=whole_missing),
        "few": pa.array(few, mask=few_missing),
        "many": pa.array(many),
        "flag": pa.array(rng.random(ROWS) < 0.3),
        "at": pa.array(
            rng.integers(1_700_000_000_000_000, 1_710_000_000_000_000, ROWS), pa.timestamp("us", tz="UTC")
        ),
        "day": pa.array(rng.integers(19_000, 19_500, ROWS).astype(np.int32), pa.date32()),
    }


def _finite(array: pa.Array) -> np.ndarray:
    values = array.to_numpy(zero_copy_only=False).astype(np.float64)
    return values[~np.isnan(values)]


def _top(values: list[Any]) -> list[list[Any]]:
    counts = pd.Series([value for value in values if value is not None]).value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [[value, int(count)] for value, count in ordered[:20]]


def _assert_numeric(stats: dict[str, Any], array: pa.Array) -> None:
    raw = array.to_numpy(zero_copy_only=False).astype(np.float64)
    values = _finite(array)
    nulls = array.null_count
    assert stats["count"] == len(values)
    assert stats["missing"] == nulls
    assert stats["nan"] == int(np.isnan(raw).sum()) - nulls
    assert stats["min"] == values.min()
    assert stats["max"] == values.max()
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    # Exact below the sample size: numpy's default (linear) quantiles of every value.
    assert stats["percentiles"] == pytest.approx(list(np.quantile(values, PERCENTILES)), rel=1e-12)
    width = (values.max() - values.min()) / HISTOGRAM_BINS
    edges = [values.min() + width * index for index in range(HISTOGRAM_BINS + 1)]
    assert stats["histogram"]["edges"] == edges
    counts, _ = np.histogram(values, bins=np.array(edges))  # the last bin is closed, as numpy's
    assert stats["histogram"]["counts"] == counts.tolist()
    assert sum(stats["histogram"]["counts"]) == len(values)


def test_profiles_match_numpy_and_pandas(client: lw.Client, columns: dict[str, Any]) -> None:
    version = client.log_dataset("payments", pa.table(columns))
    profile = version.profile
    assert profile["rows"] == ROWS
    assert list(profile["columns"]) == list(columns)
    stats = profile["columns"]

    assert (stats["real"]["type"], stats["real"]["kind"]) == ("float64", "numeric")
    _assert_numeric(stats["real"], columns["real"])
    assert stats["real"]["nan"] > 30  # NaN are counted apart from the missing values
    assert (stats["whole"]["type"], stats["whole"]["kind"]) == ("int64", "numeric")
    _assert_numeric(stats["whole"], columns["whole"])
    assert abs(stats["whole"]["distinct"] - 101) <= 5  # HyperLogLog: approximate

    few = columns["few"].to_pylist()
    assert stats["few"] == {
        "type": "string",
        "kind": "categorical",
        "count": sum(value is not None for value in few),
        "missing": few.count(None),
        "distinct": 5,
        "top": _top(few),
        "categories_complete": True,
    }
    many = columns["many"].to_pylist()
    assert stats["many"]["top"] == _top(many)
    assert stats["many"]["categories_complete"] is False
    exact = len(set(many))
    assert exact > 100
    assert abs(stats["many"]["distinct"] - exact) <= 0.05 * exact
    flags = columns["flag"].to_pylist()
    assert stats["flag"] == {
        "type": "bool",
        "kind": "categorical",
        "count": ROWS,
        "missing": 0,
        "distinct": 2,
        "top": [[False, flags.count(False)], [True, flags.count(True)]],
        "categories_complete": True,
    }
    times = columns["at"].to_pylist()
    assert stats["at"] == {
        "type": "timestamp[us, tz=UTC]",
        "kind": "temporal",
        "count": ROWS,
        "missing": 0,
        "distinct": stats["at"]["distinct"],
        "min": min(times).isoformat(),
        "max": max(times).isoformat(),
    }
    assert abs(stats["at"]["distinct"] - len(set(times))) <= 0.05 * ROWS
    days = columns["day"].to_pylist()
    assert (stats["day"]["type"], stats["day"]["min"], stats["day"]["max"]) == (
        "date32[day]",
        min(days).isoformat(),
        max(days).isoformat(),
    )


def test_the_same_data_always_has_the_same_profile(client: lw.Client, columns: dict[str, Any]) -> None:
    first = client.log_dataset("one", pa.table(columns))
    second = client.log_dataset("two", pl.from_arrow(pa.table(columns)))
    assert first.content_hash == second.content_hash
    assert first.profile == second.profile


def test_histograms_put_edge_values_in_the_upper_bin_and_the_maximum_in_the_last(client: lw.Client) -> None:
    values = list(range(101))  # width 5: 0..4 in bin 0, 5..9 in bin 1, ..., 95..100 in bin 19
    stats = client.log_dataset("ramp", pd.DataFrame({"n": values})).profile["columns"]["n"]
    assert stats["histogram"] == {
        "edges": [5.0 * index for index in range(21)],
        "counts": [5] * 19 + [6],
    }
    assert stats["histogram"]["counts"] == np.histogram(values, bins=20, range=(0, 100))[0].tolist()
    assert stats["percentiles"] == pytest.approx(list(np.quantile(values, PERCENTILES)), rel=1e-12)


def test_degenerate_columns(client: lw.Client) -> None:
    frame = pd.DataFrame(
        {
            "constant": [7.0, 7.0, 7.0],
            "single": [None, 2.0, None],
            "empty": pd.array([None, None, None], dtype="Int64"),
            "text": [None, None, None],
        }
    )
    stats = client.log_dataset("odd", frame).profile["columns"]
    constant = stats["constant"]
    assert (constant["min"], constant["max"], constant["mean"], constant["std"]) == (7.0, 7.0, 7.0, 0.0)
    assert constant["percentiles"] == [7.0] * 101
    assert constant["histogram"] == {"edges": [7.0 + index for index in range(21)], "counts": [3] + [0] * 19}
    single = stats["single"]
    assert (single["count"], single["missing"], single["std"], single["percentiles"]) == (
        1,
        2,
        None,
        [2.0] * 101,
    )
    assert stats["empty"] == {
        "type": "int64",
        "kind": "numeric",
        "count": 0,
        "missing": 3,
        "distinct": 0,
        "nan": 0,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "percentiles": [],
    }
    assert stats["text"] == {
        "type": "string",
        "kind": "categorical",
        "count": 0,
        "missing": 3,
        "distinct": 0,
        "top": [],
        "categories_complete": True,
    }


def test_nan_is_counted_apart_and_left_out_of_the_statistics(client: lw.Client) -> None:
    nan = float("nan")
    table = pa.table(
        {
            "with_missing": pa.array([1.0, nan, 3.0, None, 5.0, nan]),
            # Without missing values the Parquet statistics say 1..5 and nothing of NaN, which DuckDB must
            # not take as proof that there is none.
            "without_missing": pa.array([1.0, nan, 3.0, 3.0, 5.0, nan]),
        }
    )
    stats = client.log_dataset("nan", table).profile["columns"]
    with_missing = stats["with_missing"]
    assert (with_missing["count"], with_missing["nan"], with_missing["missing"]) == (3, 2, 1)
    assert (with_missing["min"], with_missing["max"], with_missing["mean"], with_missing["std"]) == (
        1.0,
        5.0,
        3.0,
        2.0,
    )
    assert with_missing["percentiles"] == pytest.approx(
        list(np.quantile([1.0, 3.0, 5.0], PERCENTILES)), rel=1e-12
    )
    assert with_missing["histogram"]["counts"] == [1] + [0] * 9 + [1] + [0] * 8 + [1]
    without_missing = stats["without_missing"]
    assert (without_missing["count"], without_missing["nan"], without_missing["missing"]) == (4, 2, 0)
    assert (without_missing["min"], without_missing["max"], without_missing["mean"]) == (1.0, 5.0, 3.0)
    assert without_missing["std"] == pytest.approx(np.std([1.0, 3.0, 3.0, 5.0], ddof=1), rel=1e-12)
    assert without_missing["histogram"]["counts"] == [1] + [0] * 9 + [2] + [0] * 8 + [1]


def test_infinite_values_bound_the_percentiles(client: lw.Client) -> None:
    values = [1.0, 3.0, float("inf"), 2.0]
    stats = client.log_dataset("inf", pd.DataFrame({"x": values})).profile["columns"]["x"]
    assert (stats["min"], stats["max"], stats["count"]) == (1.0, float("inf"), 4)
    # Sorted: 1, 2, 3, inf. Up to the 66th percentile the interpolation stays between 1 and 3 (as if the
    # infinity were 4); past it, it reaches towards the infinity.
    percentiles = stats["percentiles"]
    assert percentiles[:67] == pytest.approx(
        list(np.quantile([1.0, 2.0, 3.0, 4.0], PERCENTILES[:67])), rel=1e-12
    )
    assert percentiles[67:] == [float("inf")] * 34
    assert "histogram" not in stats


@pytest.fixture
def new_york() -> Iterator[None]:
    """The process's local time zone is New York for the test (DuckDB defaults to it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        assert time.tzname == ("EST", "EDT")
        yield
    time.tzset()


def test_times_are_profiled_in_utc_whatever_the_local_time_zone(client: lw.Client, new_york: None) -> None:
    at = pd.to_datetime(["2024-01-01 10:00", "2024-03-01 12:30"]).tz_localize("Asia/Tokyo")
    frame = pd.DataFrame({"at": at, "naive": at.tz_localize(None)})
    stats = client.log_dataset("times", frame).profile["columns"]
    assert (stats["at"]["type"], stats["at"]["min"], stats["at"]["max"]) == (
        "timestamp[us, tz=Asia/Tokyo]",
        "2024-01-01T01:00:00+00:00",
        "2024-03-01T03:30:00+00:00",
    )
    assert (stats["naive"]["min"], stats["naive"]["max"]) == ("2024-01-01T10:00:00", "2024-03-01T12:30:00")


def test_percentiles_of_long_data_come_from_a_sample_close_to_the_exact_ones(client: lw.Client) -> None:
    rows = 250_000  # more than twice SAMPLE_ROWS, so the sample is thinned
    rng = np.random.default_rng(5)
    values = rng.lognormal(3.0, 0.6, rows)
    version = client.log_dataset("long", pa.table({"x": values}))
    stats = version.profile["columns"]["x"]
    exact = np.quantile(values, PERCENTILES)
    sampled = np.array(stats["percentiles"])
    assert (sampled[0], sampled[-1]) == (values.min(), values.max())
    # Within a small share of the spread between the 1st and 99th percentiles (10k+ rows per percent).
    spread = exact[99] - exact[1]
    assert np.max(np.abs(sampled[1:100] - exact[1:100])) < 0.01 * spread
    assert not np.array_equal(sampled, exact)  # a sample, not every row
    assert bool(np.all(np.diff(sampled) >= 0))
    # The other statistics stay exact.
    assert (stats["count"], stats["mean"]) == (rows, pytest.approx(values.mean(), rel=1e-12))
    assert (
        stats["histogram"]["counts"]
        == np.histogram(values, bins=np.array(stats["histogram"]["edges"]))[0].tolist()
    )
    assert client.log_dataset("again", pa.table({"x": values})).profile == version.profile


def test_the_row_sample_is_uniform_bounded_and_deterministic() -> None:
    schema = pa.schema([pa.field("x", pa.float64()), pa.field("label", pa.string())])
    rows = 5 * SAMPLE_ROWS
    values = np.arange(rows, dtype=np.float64)
    samples = []
    for chunk in (rows, 70_000):
        sample = RowSample(schema)
        for start in range(0, rows, chunk):
            part = values[start : start + chunk]
            sample.update(pa.record_batch([pa.array(part), pa.array(["a"] * len(part))], schema=schema))
        samples.append(sample.column("x"))
    taken = samples[0]
    assert np.array_equal(taken, samples[1])  # independent of batching
    assert 0.9 * SAMPLE_ROWS <= len(taken) <= 2 * SAMPLE_ROWS
    assert len(np.unique(taken)) == len(taken)
    # Uniform over the rows: each fifth of the data holds about a fifth of the sample.
    shares = np.histogram(taken, bins=5, range=(0, rows))[0] / len(taken)
    assert np.max(np.abs(shares - 0.2)) < 0.01
    assert RowSample(schema).column("label").size == 0
    short = RowSample(schema)
    short.update(pa.record_batch([pa.array([1.0, None, 3.0]), pa.array(["a", "b", "c"])], schema=schema))
    assert np.array_equal(short.column("x"), [1.0, np.nan, 3.0], equal_nan=True)


def test_columns_are_profiled_by_position_whatever_their_names(client: lw.Client) -> None:
    # DuckDB matches identifiers case-insensitively; "A" and "a" must still be two columns.
    frame = pd.DataFrame(
        {
            "A": [1, 2, 3],
            "a": [10, 20, 30],
            "B": ["x", "y", "x"],
            "b": ["p", "q", "q"],
            'say "hi"': [0.5, 1.5, 2.5],
            "select": [7, 8, 9],
            "n": ["u", "u", "v"],
        }
    )
    stats = client.log_dataset("names", frame).profile["columns"]
    assert list(stats) == list(frame.columns)
    assert [(stats[name]["min"], stats[name]["max"]) for name in ("A", "a", 'say "hi"', "select")] == [
        (1.0, 3.0),
        (10.0, 30.0),
        (0.5, 2.5),
        (7.0, 9.0),
    ]
    assert stats["a"]["histogram"]["edges"][:2] == [10.0, 11.0]
    assert [stats[name]["top"] for name in ("B", "b", "n")] == [
        [["x", 2], ["y", 1]],
        [["q", 2], ["p", 1]],
        [["u", 2], ["v", 1]],
    ]
