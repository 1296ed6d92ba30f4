"""Drift statistics against scipy (to 1e-9), the default test choice, overrides, corrections, the dataset
verdict, the reference profile (inputs, serialisation) and the multivariate method."""

from __future__ import annotations

import collections
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from loopwright.errors import DataInputError, InvalidInputError
from loopwright.monitoring.profile import ColumnProfile, ReferenceProfile
from loopwright.monitoring.stats import (
    ColumnTest,
    adjust_p_values,
    column_drift,
    default_test,
    detect_drift,
)

TOLERANCE = {"rel": 1e-9, "abs": 1e-12}


def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of varied sizes and shapes: continuous, with ties, constant, shifted, with NaN and inf."""
    rng = np.random.default_rng(seed)
    shape = seed % 6
    n, m = (int(rng.integers(1, 60)), int(rng.integers(1, 60))) if seed % 3 == 0 else (0, 0)
    if not n:
        n, m = int(rng.integers(50, 3_000)), int(rng.integers(50, 3_000))
    if shape == 0:
        reference, current = rng.normal(size=n), rng.normal(0.1, 1.2, size=m)
    elif shape == 1:  # many ties
        reference, current = rng.integers(0, 8, n).astype(float), rng.integers(0, 9, m).astype(float)
    elif shape == 2:  # rounded values, heavy tail
        reference, current = np.round(rng.lognormal(2, 1, n), 1), np.round(rng.lognormal(2.1, 1, m), 1)
    elif shape == 3:  # a constant reference
        reference, current = np.full(n, 3.0), rng.normal(3, 0.5, m)
    elif shape == 4:  # identical samples
        reference = rng.normal(size=n)
        current = reference.copy()
    else:  # missing and infinite values mixed in
        reference, current = rng.normal(size=n), rng.normal(0.3, size=m)
        reference[rng.random(n) < 0.1] = np.nan
        current[rng.random(m) < 0.1] = np.nan
        current[: min(2, m)] = np.inf
    return reference, current


def _ks_scipy(reference: np.ndarray, current: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's "exact calculation unsuccessful"
        return stats.ks_2samp(_finite(reference), _finite(current))


# --- each statistic against scipy ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_ks_equals_scipy(seed: int) -> None:
    reference, current = _samples(seed)
    if not _finite(reference).size or not _finite(current).size:
        pytest.skip("a side without values (covered by test_a_side_without_values_is_not_tested)")
    expected = _ks_scipy(reference, current)
    found = column_drift(reference, current, test="ks")
    assert found.test == "ks"
    assert found.statistic == pytest.approx(float(expected.statistic), **TOLERANCE)
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)
    assert found.effect_size == found.statistic
    assert found.drifted == (float(expected.pvalue) < 0.05)
    assert (found.reference_values, found.current_values) == (_finite(reference).size, _finite(current).size)


@pytest.mark.parametrize(
    ("n", "m", "shift", "ties"),
    [(12_000, 15_000, 0.0, False), (20_000, 11_000, 0.03, False), (10_001, 9_000, 0.1, True)],
)
def test_ks_on_large_samples_uses_scipys_asymptotic_p_value(n: int, m: int, shift: float, ties: bool) -> None:
    rng = np.random.default_rng(n + m)
    reference, current = rng.normal(size=n), rng.normal(shift, size=m)
    if ties:
        reference, current = np.round(reference, 1), np.round(current, 1)
    expected = stats.ks_2samp(reference, current)  # max(n, m) > 10,000: scipy's "auto" is asymptotic
    found = column_drift(reference, current, test="ks")
    assert found.statistic == pytest.approx(float(expected.statistic), **TOLERANCE)
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)


@pytest.mark.parametrize("seed", range(60))
def test_normalised_wasserstein_equals_scipy(seed: int) -> None:
    reference, current = _samples(seed)
    if not _finite(reference).size or not _finite(current).size:
        pytest.skip("a side without values")
    clean = _finite(reference)
    # Evidently's normalisation: the distance over the reference's standard deviation, at least 0.001.
    expected = stats.wasserstein_distance(clean, _finite(current)) / max(float(np.std(clean)), 0.001)
    found = column_drift(reference, current, test="wasserstein")
    assert found.statistic == pytest.approx(expected, **TOLERANCE)
    assert found.p_value is None
    assert found.drifted == (expected >= 0.1)


def test_wasserstein_on_large_samples_equals_scipy() -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.lognormal(size=200_000), np.round(rng.lognormal(0.05, size=150_000), 2)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert column_drift(reference, current).statistic == pytest.approx(expected, **TOLERANCE)


def _table(reference: list[Any], current: list[Any]) -> np.ndarray:
    """The 2 x k table of counts, built independently (None is missing and left out)."""
    before = collections.Counter(value for value in reference if value is not None)
    after = collections.Counter(value for value in current if value is not None)
    keys = sorted(set(before) | set(after))
    return np.array([[before[key] for key in keys], [after[key] for key in keys]])


def _categories(seed: int) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    levels = [f"level-{index}" for index in range(int(rng.integers(1, 12)))]
    n, m = int(rng.integers(5, 2_000)), int(rng.integers(5, 2_000))
    weights = rng.dirichlet(np.ones(len(levels)))
    reference: list[Any] = list(rng.choice(levels, n, p=weights))
    current: list[Any] = list(rng.choice(levels, m, p=rng.dirichlet(np.ones(len(levels)))))
    if seed % 4 == 0:
        current[: m // 10] = ["unseen"] * (m // 10)  # a category the reference never saw
    if seed % 5 == 0:
        reference[:3] = [None] * 3  # missing values are left out
        current[-2:] = [None] * 2
    return reference, current


@pytest.mark.parametrize("seed", range(40))
def test_chisquare_equals_scipys_chi2_contingency(seed: int) -> None:
    reference, current = _categories(seed)
    table = _table(reference, current)
    found = column_drift(reference, current, test="chisquare")
    if table.shape[1] == 1:  # one category on both sides: nothing can differ
        assert (found.statistic, found.p_value, found.effect_size) == (0.0, 1.0, 0.0)
        return
    expected = stats.chi2_contingency(table)  # Yates' correction for two categories, as scipy's default
    assert found.statistic == pytest.approx(float(expected.statistic), **TOLERANCE)
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)
    cramer = stats.contingency.association(table, method="cramer")
    assert found.effect_size == pytest.approx(cramer, **TOLERANCE)
    assert found.current_missing == sum(value is None for value in current)


@pytest.mark.parametrize("seed", range(30))
def test_z_test_equals_the_uncorrected_two_by_two_chi2(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 1_500)), int(rng.integers(2, 1_500))
    reference = list(rng.choice(["no", "yes"], n, p=[0.7, 0.3]))
    share = rng.uniform(0.5, 0.95)
    current = list(rng.choice(["no", "yes"], m, p=[share, 1 - share]))
    table = _table(reference, current)
    found = column_drift(reference, current, test="z")
    assert found.test == "z"
    if table.shape[1] < 2:  # one value on both sides
        assert found.p_value == 1.0
        return
    expected = stats.chi2_contingency(table, correction=False)  # z**2 is this statistic
    assert found.statistic**2 == pytest.approx(float(expected.statistic), **TOLERANCE)
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)
    first, second = table[0, 1] / table[0].sum(), table[1, 1] / table[1].sum()
    cohen_h = abs(2 * math.asin(math.sqrt(first)) - 2 * math.asin(math.sqrt(second)))
    assert found.effect_size == pytest.approx(cohen_h, **TOLERANCE)


def test_z_test_of_one_value_on_both_sides_finds_no_drift() -> None:
    found = column_drift(["a"] * 10, ["a"] * 7, test="z")
    assert (found.statistic, found.p_value, found.drifted) == (0.0, 1.0, False)


def test_z_test_falls_back_to_chisquare_when_a_third_category_appears() -> None:
    found = column_drift(["a", "b"] * 50, ["a", "b", "c"] * 30, test="z")
    expected = stats.chi2_contingency(np.array([[50, 50, 0], [30, 30, 30]]))
    assert found.test == "chisquare"
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)


@pytest.mark.parametrize("seed", range(30))
def test_jensen_shannon_of_categories_equals_scipy_with_natural_log(seed: int) -> None:
    reference, current = _categories(seed)
    table = _table(reference, current).astype(float)
    expected = jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum())  # base e, as Evidently
    found = column_drift(reference, current, test="jensenshannon")
    assert found.statistic == pytest.approx(float(expected), **TOLERANCE)
    assert found.drifted == (expected >= 0.1)


@pytest.mark.parametrize("seed", range(30))
def test_jensen_shannon_of_numbers_uses_evidentlys_bins(seed: int) -> None:
    reference, current = _samples(seed)
    clean_reference, clean_current = _finite(reference), _finite(current)
    if not clean_reference.size or not clean_current.size:
        pytest.skip("a side without values")
    if np.unique(clean_reference).size > 20:  # Sturges bins over both samples, counted with np.histogram
        edges = np.histogram_bin_edges(np.concatenate((clean_reference, clean_current)), bins="sturges")
        expected_counts = np.histogram(clean_reference, edges)[0], np.histogram(clean_current, edges)[0]
    else:  # few values: one bin per value
        keys = np.union1d(clean_reference, clean_current)
        expected_counts = (
            np.array([np.sum(clean_reference == key) for key in keys]),
            np.array([np.sum(clean_current == key) for key in keys]),
        )
    expected = jensenshannon(
        expected_counts[0] / clean_reference.size, expected_counts[1] / clean_current.size
    )
    found = column_drift(reference, current, test="jensenshannon")
    assert found.statistic == pytest.approx(float(expected), **TOLERANCE)


def _psi_reference_implementation(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    # np.digitize(right=True) puts x in bin i when edges[i-1] < x <= edges[i]: right-closed bins.
    expected = np.bincount(np.digitize(reference, edges, right=True), minlength=edges.size + 1)
    actual = np.bincount(np.digitize(current, edges, right=True), minlength=edges.size + 1)
    e = np.clip(expected / reference.size, 1e-4, None)
    a = np.clip(actual / current.size, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@pytest.mark.parametrize("seed", range(30))
def test_psi_over_reference_quantiles(seed: int) -> None:
    reference, current = _samples(seed)
    clean_reference, clean_current = _finite(reference), _finite(current)
    if not clean_reference.size or not clean_current.size:
        pytest.skip("a side without values")
    bins = 10 if seed % 2 else 5
    found = column_drift(reference, current, test="psi", psi_bins=bins)
    assert found.statistic == pytest.approx(
        _psi_reference_implementation(clean_reference, clean_current, bins), **TOLERANCE
    )
    assert found.drifted == (found.statistic >= 0.2)


def test_psi_by_hand() -> None:
    # Deciles of 1..100 are 10.9, 20.8, ...: each bin holds 10 reference values. The current sample puts 30
    # values in the first bin and 70/9 nowhere near evenly: 30 in bin 1, 70 in bin 10.
    reference = np.arange(1.0, 101.0)
    current = np.concatenate((np.full(30, 1.0), np.full(70, 100.0)))
    expected = 0.1 * np.ones(10)
    actual = np.full(10, 1e-4)
    actual[0], actual[-1] = 0.3, 0.7
    by_hand = float(np.sum((actual - expected) * np.log(actual / expected)))
    assert column_drift(reference, current, test="psi").statistic == pytest.approx(by_hand, rel=1e-12)


def test_psi_of_categories() -> None:
    found = column_drift(["a"] * 50 + ["b"] * 50, ["a"] * 80 + ["c"] * 20, test="psi")
    expected = np.array([0.5, 0.5, 1e-4])
    actual = np.array([0.8, 1e-4, 0.2])
    assert found.statistic == pytest.approx(float(np.sum((actual - expected) * np.log(actual / expected))))


# --- missing values, empty and constant columns ----------------------------------------------------------


def test_missing_and_infinite_values_are_left_out_and_counted() -> None:
    reference = [1.0, 2.0, None, 3.0, np.nan, 4.0]
    current = [2.0, np.inf, 3.0, -np.inf, None, 5.0, 6.0]
    found = column_drift(reference, current, test="ks")
    expected = stats.ks_2samp([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 5.0, 6.0])
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)
    assert (found.reference_values, found.current_values, found.current_missing) == (4, 4, 3)


def test_a_side_without_values_is_not_tested() -> None:
    report = detect_drift(
        {"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]},
        {"x": [np.nan, np.nan], "y": [5.0, 6.0]},
        drift={"y": "wasserstein"},
        multivariate=False,
    )
    untested = report["x"]
    assert untested.detail == "no values in the current data"
    assert math.isnan(untested.statistic)
    assert (untested.drifted, untested.tested, untested.current_missing) == (False, False, 2)
    assert (report.tested_columns, report.drifted_columns, report.share) == (1, 1, 1.0)
    assert column_drift([None, None], ["a"], categorical=True).detail == "no values in the reference"


def test_constant_columns() -> None:
    same = column_drift(np.full(50, 2.0), np.full(40, 2.0), test="ks")
    assert (same.statistic, same.p_value, same.drifted) == (0.0, 1.0, False)
    moved = column_drift(np.full(2_000, 2.0), np.full(2_000, 2.5), test="wasserstein")
    assert moved.statistic == pytest.approx(0.5 / 0.001)  # the standard deviation is floored at 0.001
    assert column_drift(np.full(2_000, 1.0), np.full(2_000, 1.0), test="jensenshannon").statistic == 0.0


# --- the default test ------------------------------------------------------------------------------------


def _profile(values: Any, categorical: bool = False) -> ColumnProfile:
    return ReferenceProfile.from_data(
        {"x": values}, categorical=["x"] if categorical else (), multivariate=False
    )["x"]


@pytest.mark.parametrize(
    ("values", "categorical", "test"),
    [
        (np.arange(1_000.0), False, "ks"),
        (np.arange(1_001.0), False, "wasserstein"),
        (np.append(np.arange(1_000.0), [np.nan] * 50), False, "ks"),  # missing values do not count
        (np.arange(1_000) % 5, False, "chisquare"),  # five distinct numbers are categories
        (np.arange(1_000) % 2, False, "z"),
        (np.arange(5_000) % 5, False, "jensenshannon"),
        (np.arange(5_000) % 6, False, "wasserstein"),
        (["a", "b", "c"] * 300, False, "chisquare"),
        (["a", "b"] * 500, False, "z"),
        ([True, False] * 400, False, "z"),
        (["a", "b", "c"] * 400, False, "jensenshannon"),
        (np.arange(300.0), True, "chisquare"),  # numbers declared categorical
    ],
)
def test_default_test_follows_evidentlys_table(values: Any, categorical: bool, test: str) -> None:
    assert default_test(_profile(values, categorical)) == test


def test_default_tests_in_a_report() -> None:
    rng = np.random.default_rng(1)
    small = {"amount": rng.normal(size=500), "city": rng.choice(["a", "b", "c"], 500)}
    large = {"amount": rng.normal(size=5_000), "city": rng.choice(["a", "b", "c"], 5_000)}
    tests = [result.test for result in detect_drift(small, small, multivariate=False).columns]
    assert tests == ["ks", "chisquare"]
    tests = [result.test for result in detect_drift(large, small, multivariate=False).columns]
    assert tests == ["wasserstein", "jensenshannon"]


# --- overrides -------------------------------------------------------------------------------------------


def test_overrides_in_every_form() -> None:
    rng = np.random.default_rng(2)
    data = {name: rng.normal(size=2_000) for name in ("a", "b", "c", "d")}
    report = detect_drift(
        data,
        data,
        drift={
            "a": "psi",
            "b": 0.3,
            "c": {"test": "ks", "threshold": 0.01},
            "d": ColumnTest("jensenshannon"),
        },
        multivariate=False,
    )
    assert [(result.test, result.threshold) for result in report.columns] == [
        ("psi", 0.2),
        ("wasserstein", 0.3),
        ("ks", 0.01),
        ("jensenshannon", 0.1),
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "kolmogorov",
            "The 'test' of column 'amount' must be one of ks, chisquare, z, wasserstein, jensenshannon, psi. "
            "Got 'kolmogorov' instead.",
        ),
        (
            {"test": "ks", "threshold": 1.5},
            "The 'threshold' of column 'amount' must be between 0 and 1 for the 'ks' test (a p-value). Got 1.5 "
            "instead.",
        ),
        (
            {"test": "psi", "threshold": -0.2},
            "The 'threshold' of column 'amount' must be a positive number for the 'psi' test (a distance). Got "
            "-0.2 instead.",
        ),
        (
            True,
            "The drift override of column 'amount' must be a test name, a threshold or {'test': ..., "
            "'threshold': ...}. Got True instead.",
        ),
        (
            {"test": "ks", "alpha": 0.1},
            "The drift override of column 'amount' must be a test name, a threshold or {'test': ..., "
            "'threshold': ...}. Got {'test': 'ks', 'alpha': 0.1} instead.",
        ),
    ],
)
def test_bad_overrides_are_refused_when_parsed(override: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ColumnTest.parse("amount", override)
    assert str(caught.value) == message
    assert caught.value.details["column"] == "amount"


def test_a_threshold_only_override_is_checked_against_the_default_test() -> None:
    with pytest.raises(InvalidInputError) as caught:
        column_drift(np.arange(100.0), np.arange(100.0), threshold=2.0)  # the default test is ks
    assert str(caught.value) == (
        "The 'threshold' of column 'value' must be between 0 and 1 for the 'ks' test (a p-value). Got 2.0 "
        "instead."
    )


def test_a_numeric_test_on_a_categorical_column_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        detect_drift({"city": ["a", "b"]}, {"city": ["a"]}, drift={"city": "ks"})
    assert str(caught.value) == (
        "The test 'ks' of column 'city' needs a numeric column; 'city' is categorical. Use one of chisquare, z, "
        "jensenshannon, psi."
    )


def test_overrides_of_untested_columns_are_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        detect_drift({"a": [1.0, 2.0]}, {"a": [1.0]}, drift={"b": "psi"})
    assert str(caught.value) == (
        "The drift overrides name columns that are not tested: ['b']. The tested columns are ['a']."
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"correction": "holm"},
            "The 'correction' must be one of bonferroni, benjamini-hochberg or None. Got 'holm' instead.",
        ),
        ({"drift_share": 1.5}, "The 'drift_share' must be above 0 and at most 1. Got 1.5 instead."),
        ({"psi_bins": 1}, "The 'psi_bins' must be a whole number of at least 2. Got 1 instead."),
        ({"columns": "a"}, "The 'columns' to test must be a list of column names. Got 'a' instead."),
        ({"columns": ["z"]}, "The reference profile has no column 'z'. Its columns are ['a']."),
    ],
)
def test_bad_arguments_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        detect_drift(ReferenceProfile.from_data({"a": [1.0, 2.0]}), {"a": [1.0]}, **arguments)
    assert str(caught.value) == message


# --- corrections and the dataset verdict -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_benjamini_hochberg_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p_values = rng.uniform(0, 0.2, size=int(rng.integers(1, 40)))
    p_values[: seed % 3] = p_values[-1]  # ties
    expected = stats.false_discovery_control(p_values, method="bh")
    np.testing.assert_allclose(adjust_p_values(p_values, "benjamini-hochberg"), expected, rtol=1e-12)


def test_bonferroni() -> None:
    np.testing.assert_allclose(adjust_p_values([0.01, 0.2, 0.5], "bonferroni"), [0.03, 0.6, 1.0], rtol=1e-15)
    assert adjust_p_values([], "bonferroni").size == 0


def test_corrections_change_verdicts_of_p_value_tests_only() -> None:
    rng = np.random.default_rng(3)
    reference = {f"x{index}": rng.normal(size=400) for index in range(8)}
    current = {name: values + 0.19 for name, values in reference.items()}  # each p near 0.01-0.05
    current["x7"] = reference["x7"] + 5  # an obvious shift survives any correction
    drift = {"x6": "wasserstein"}  # a distance is never corrected
    plain = detect_drift(reference, current, drift=drift, multivariate=False)
    assert all(result.adjusted_p_value is None for result in plain.columns)
    for method in ("bonferroni", "benjamini-hochberg"):
        corrected = detect_drift(reference, current, drift=drift, correction=method, multivariate=False)
        tested = [result for result in corrected.columns if result.p_value is not None]
        adjusted = adjust_p_values([result.p_value for result in tested], method)
        for result, value in zip(tested, adjusted, strict=True):
            assert result.adjusted_p_value == pytest.approx(value)
            assert result.drifted == (value < 0.05)
        assert corrected["x6"] == plain["x6"]
        assert corrected["x7"].drifted
        assert corrected.drifted_columns < plain.drifted_columns


def test_dataset_drift_share() -> None:
    rng = np.random.default_rng(4)
    reference = {f"x{index}": rng.normal(size=3_000) for index in range(4)}
    current = {name: rng.normal(size=3_000) for name in reference}
    current["x0"] = current["x0"] + 1
    current["x1"] = current["x1"] + 1
    report = detect_drift(reference, current, multivariate=False)
    assert (report.drifted_columns, report.tested_columns, report.share) == (2, 4, 0.5)
    assert report.drifted  # share >= drift_share, Evidently's rule
    assert not detect_drift(reference, current, drift_share=0.6, multivariate=False).drifted
    assert report.to_dict()["columns"][0]["column"] == "x0"


# --- the reference profile -------------------------------------------------------------------------------


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3 + shift, 1, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    city = rng.choice(["berlin", "lagos", "lima", "oslo"], rows).astype(object)
    city[rng.random(rows) < 0.05] = None
    return pd.DataFrame(
        {
            "amount": amount,
            "items": rng.poisson(3 + shift, rows),
            "city": city,
            "flag": rng.random(rows) < 0.3 + shift / 10,
        }
    )


def _summary(report: Any) -> list[tuple[Any, ...]]:
    return [(result.column, result.test, result.statistic, result.p_value) for result in report.columns]


def test_every_input_type_gives_the_same_report(tmp_path: Path) -> None:
    reference, current = _frame(3_000, 1), _frame(2_000, 2, shift=0.2)
    expected = _summary(detect_drift(reference, current))
    path = tmp_path / "current.parquet"
    pq.write_table(pa.Table.from_pandas(current, preserve_index=False), path)
    inputs = [
        pa.Table.from_pandas(current, preserve_index=False),
        pl.from_pandas(current),
        {name: current[name].to_numpy() for name in current.columns},
        path,
        str(path),
    ]
    for data in inputs:
        assert _summary(detect_drift(reference, data)) == expected
    reference_path = tmp_path / "reference.parquet"
    pq.write_table(pa.Table.from_pandas(reference, preserve_index=False), reference_path)
    assert _summary(detect_drift(ReferenceProfile.from_data(reference_path), current)) == expected


def test_the_profile_round_trips_through_bytes() -> None:
    reference, current = _frame(3_000, 1), _frame(2_000, 2, shift=0.3)
    profile = ReferenceProfile.from_data(reference)
    data = profile.to_bytes()
    restored = ReferenceProfile.from_bytes(data)
    assert restored.summary() == profile.summary()
    before, after = detect_drift(profile, current), detect_drift(restored, current)
    assert _summary(after) == _summary(before)
    assert after.multivariate == before.multivariate
    with np.load(__import__("io").BytesIO(data), allow_pickle=False) as stored:  # no pickled objects
        assert "header" in stored.files


def test_profile_summary() -> None:
    profile = ReferenceProfile.from_data({"amount": [3.0, 1.0, None, 2.0], "city": ["b", "a", None, "a"]})
    assert profile.summary() == {
        "rows": 4,
        "columns": {
            "amount": {
                "kind": "numeric",
                "rows": 4,
                "missing": 1,
                "unique": 3,
                "mean": 2.0,
                "std": pytest.approx(math.sqrt(2 / 3)),
                "minimum": 1.0,
                "maximum": 3.0,
            },
            "city": {
                "kind": "categorical",
                "rows": 4,
                "missing": 1,
                "unique": 2,
                "categories": {"a": 2, "b": 1},
            },
        },
    }
    assert profile["amount"].missing_share == 0.25


def test_bytes_that_are_not_a_profile_are_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        ReferenceProfile.from_bytes(b"not a profile")
    assert str(caught.value).startswith("The bytes are not a Loopwright reference profile (")


def test_categories_are_matched_across_dtypes() -> None:
    # 3 and 3.0 are one category whatever the column's dtype (pandas turns integers with gaps into floats).
    found = column_drift(
        np.array([1, 2, 3, 3]), np.array([1.0, 3.0, np.nan]), categorical=True, test="chisquare"
    )
    expected = stats.chi2_contingency(np.array([[1, 1, 2], [1, 0, 1]]))
    assert found.p_value == pytest.approx(float(expected.pvalue), **TOLERANCE)


def test_unreadable_input_is_refused() -> None:
    with pytest.raises(DataInputError) as caught:
        detect_drift({"a": [1.0]}, 42)
    assert str(caught.value) == (
        "Drift detection reads a pandas or polars DataFrame, an Arrow table, a mapping of column names to arrays "
        "or the path of a Parquet file. Got int as the current data instead."
    )


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "current.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataInputError) as caught:
        detect_drift({"a": [1.0]}, path)
    assert str(caught.value).startswith(f"The current data {str(path)!r} could not be read as Parquet: ")


def test_a_column_of_mixed_types_is_refused() -> None:
    with pytest.raises(DataInputError) as caught:
        ReferenceProfile.from_data({"a": np.array([1, "x"], dtype=object)})
    assert str(caught.value).startswith(
        "The column 'a' of the reference data mixes types or holds values that are neither numbers nor text ("
    )


def test_text_where_the_reference_has_numbers_is_refused() -> None:
    with pytest.raises(DataInputError) as caught:
        detect_drift({"amount": [1.0, 2.0]}, {"amount": ["a", "b"]})
    assert str(caught.value) == (
        "The column 'amount' is numeric in the reference but holds string values in the current data."
    )


def test_a_missing_current_column_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        detect_drift({"a": [1.0], "b": [2.0]}, {"a": [1.0]})
    assert str(caught.value) == "The current data has no column 'b' (missing: ['b']). Its columns are ['a']."


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(DataInputError) as caught:
        ReferenceProfile.from_data({"a": [1.0, 2.0], "b": [1.0]})
    assert str(caught.value) == (
        "The columns of the reference data must all have the same length. Got lengths {'a': 2, 'b': 1} instead."
    )


def test_dates_are_refused_with_a_way_out() -> None:
    with pytest.raises(DataInputError) as caught:
        ReferenceProfile.from_data({"day": pa.array([1, 2], type=pa.date32())})
    assert str(caught.value) == (
        "The column 'day' of the reference data has type date32[day]; drift is measured on numeric and "
        "categorical (text, boolean) columns. Leave it out with columns=[...]."
    )


# --- multivariate ----------------------------------------------------------------------------------------


def _correlated(rows: int, seed: int, broken: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = (rng.normal(size=rows) if broken else x) + rng.normal(scale=0.3, size=rows)
    return {"x": x, "y": y, "z": rng.normal(size=rows), "city": rng.choice(["a", "b", "c"], rows)}


def test_multivariate_drift_finds_a_broken_correlation_that_univariate_tests_miss() -> None:
    profile = ReferenceProfile.from_data(_correlated(20_000, 1))
    broken = detect_drift(profile, _correlated(5_000, 2, broken=True))
    assert broken.drifted_columns == 0  # each column keeps its distribution
    assert broken.multivariate is not None
    assert broken.multivariate.drifted
    assert broken.multivariate.statistic > broken.multivariate.upper
    assert 0 < broken.multivariate.components < 4
    same = detect_drift(profile, _correlated(5_000, 3))
    assert same.multivariate is not None
    assert not same.multivariate.drifted
    assert same.multivariate.lower <= same.multivariate.statistic <= same.multivariate.upper


def test_multivariate_needs_two_columns() -> None:
    assert ReferenceProfile.from_data({"x": np.arange(10.0)}).multivariate is None
    assert detect_drift({"x": np.arange(10.0)}, {"x": np.arange(5.0)}).multivariate is None
