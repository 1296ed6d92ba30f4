"""Two-sample statistics on sorted samples and count tables: the kernels behind
:mod:`loopwright.monitoring.stats`.

Numeric columns arrive sorted (the reference once, in its profile; a window once per test); categorical
columns and few-valued numeric ones as counts over the union of both samples' keys. Each function
computes what scipy computes on the raw values, in the same floating-point steps where that is cheap, so
the results agree to rounding (the tests hold them to 1e-9).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopwright.monitoring._columns import FloatArray, IntArray

__all__ = [
    "EXACT_KS_VALUES",
    "aligned",
    "chi_square",
    "jensen_shannon",
    "ks",
    "psi",
    "psi_numeric",
    "sturges_counts",
    "value_counts",
    "wasserstein",
    "z_test",
]

EXACT_KS_VALUES = 10_000
"""Up to this many values a side the KS p-value is exact (scipy's ``method="auto"``)."""


def merged(reference: FloatArray, current: FloatArray) -> tuple[FloatArray, IntArray]:
    """Both sorted samples merged: the values, and at each position how many reference values are at or
    before it. A stable argsort of two sorted runs is a linear merge, cheaper than scipy's
    ``searchsorted`` of every value into both samples; at the last of equal values the count is exactly
    ``searchsorted(side="right")``, and only there do KS and Wasserstein read it."""
    joined = np.concatenate((reference, current))
    order = np.argsort(joined, kind="stable")
    values = joined[order]
    del joined
    below: IntArray = np.cumsum(order < reference.size, dtype=np.int64)
    return values, below


def ks(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """``(D, p-value)`` as ``scipy.stats.ks_2samp(method="auto")``: exact up to 10,000 values a side."""
    from scipy import stats

    n, m = reference.size, current.size
    if max(n, m) <= EXACT_KS_VALUES:
        joined = np.concatenate((reference, current))
        below_reference = np.searchsorted(reference, joined, side="right")
        below_current = np.searchsorted(current, joined, side="right")
        statistic = float(np.max(np.abs(below_reference / n - below_current / m)))
        exact = exact_ks(n, m, statistic)
        if exact is None:  # scipy's helper moved: ask the public function (it sorts again)
            found = stats.ks_2samp(reference, current)
            return float(found.statistic), float(found.pvalue)
        success, statistic, p_value = exact
        if success:
            return statistic, float(np.clip(p_value, 0.0, 1.0))
        # scipy falls back to the asymptotic p-value (with a warning) and keeps the rounded statistic.
    else:
        values, below = merged(reference, current)
        last = np.flatnonzero(np.append(values[1:] != values[:-1], True))
        from_reference = below[last]
        statistic = float(np.max(np.abs(from_reference / n - (last + 1 - from_reference) / m)))
    larger, smaller = float(max(n, m)), float(min(n, m))
    effective = np.round(larger * smaller / (larger + smaller))
    return statistic, float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


def exact_ks(n: int, m: int, statistic: float) -> tuple[bool, float, float] | None:
    """scipy's exact two-sided p-value (``ks_2samp(method="exact")``), or ``None`` if its private helper
    is not there; it rounds the statistic to a multiple of 1/lcm(n, m), as ``ks_2samp`` reports it."""
    try:
        from scipy.stats._stats_py import _attempt_exact_2kssamp

        success, rounded, p_value = _attempt_exact_2kssamp(n, m, math.gcd(n, m), statistic, "two-sided")
    except (ImportError, TypeError):
        return None
    return bool(success), float(rounded), float(p_value)


def wasserstein(reference: FloatArray, current: FloatArray, std: float) -> float:
    """``scipy.stats.wasserstein_distance`` over ``max(std, 0.001)`` (Evidently's normalisation)."""
    n, m = reference.size, current.size
    values, below = merged(reference, current)
    # |F_reference - F_current| between consecutive values, in place: below/n - (k - below)/m.
    gaps = below[:-1] * (1.0 / n + 1.0 / m)
    del below
    gaps -= np.arange(1, values.size, dtype=np.float64) * (1.0 / m)
    np.abs(gaps, out=gaps)
    # Not np.dot: a BLAS dot of this length wakes OpenBLAS's threads, which costs more than it saves.
    gaps *= np.diff(values)
    return float(gaps.sum()) / max(std, 0.001)


def psi(expected: FloatArray, actual: FloatArray) -> float:
    """The population stability index of two vectors of shares."""
    # Empty bins count as 0.01% (as the value-skew data checks), or one empty bin would make PSI infinite.
    expected = np.clip(expected, 1e-4, None)
    actual = np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_numeric(reference: FloatArray, current: FloatArray, bins: int) -> float:
    """PSI over the reference's quantiles (``bins`` bins, numpy's linear quantiles; equal edges merge),
    right-closed: a value equal to an edge belongs to the bin below it."""
    edges = np.unique(np.quantile(reference, np.arange(1, bins) / bins))
    expected = np.diff(np.concatenate(([0], np.searchsorted(reference, edges, "right"), [reference.size])))
    actual = np.diff(np.concatenate(([0], np.searchsorted(current, edges, "right"), [current.size])))
    return psi(expected / reference.size, actual / current.size)


def sturges_counts(reference: FloatArray, current: FloatArray) -> tuple[IntArray, IntArray]:
    """Counts over ``np.histogram_bin_edges`` of both samples with ``bins="sturges"`` (Evidently's bins
    for Jensen-Shannon on a numeric column), read off the sorted samples."""
    low, high = min(reference[0], current[0]), max(reference[-1], current[-1])
    first, last = (low - 0.5, high + 0.5) if low == high else (low, high)
    width = (high - low) / (np.log2(reference.size + current.size) + 1.0)
    count = int(np.ceil((last - first) / width)) if width else 1
    edges = np.linspace(first, last, count + 1, endpoint=True)

    def histogram(values: FloatArray) -> IntArray:
        below = np.concatenate(
            (np.searchsorted(values, edges[:-1], "left"), np.searchsorted(values, edges[-1:], "right"))
        )
        return np.diff(below)

    return histogram(reference), histogram(current)


def jensen_shannon(expected: FloatArray, actual: FloatArray) -> float:
    """``scipy.spatial.distance.jensenshannon`` (natural logarithm), computed the same way."""
    from scipy.special import rel_entr

    expected = expected / np.sum(expected)
    actual = actual / np.sum(actual)
    middle = (expected + actual) / 2.0
    divergence = np.sum(rel_entr(expected, middle)) + np.sum(rel_entr(actual, middle))
    return float(np.sqrt(divergence / 2.0))


def chi_square(expected: IntArray, actual: IntArray) -> tuple[float, float, float]:
    """``(statistic, p-value, Cramér's V)`` of the 2 x k table; V from the uncorrected statistic."""
    from scipy import stats

    table = np.vstack((expected, actual))
    if table.shape[1] < 2:
        return 0.0, 1.0, 0.0
    found = stats.chi2_contingency(table)
    plain = found.statistic
    if table.shape[1] == 2:  # Yates' correction applied: V is defined on the plain statistic
        plain = stats.chi2_contingency(table, correction=False).statistic
    return float(found.statistic), float(found.pvalue), float(math.sqrt(plain / table.sum()))


def z_test(expected: IntArray, actual: IntArray) -> tuple[float, float, float]:
    """``(|z|, p-value, Cohen's h)`` for two categories (Evidently's pooled z-test)."""
    from scipy import stats

    if expected.size < 2:
        return 0.0, 1.0, 0.0
    n, m = int(expected.sum()), int(actual.sum())
    first, second = expected[1] / n, actual[1] / m
    pooled = (expected[1] + actual[1]) / (n + m)
    if pooled in (0.0, 1.0):
        return 0.0, 1.0, 0.0
    z = abs(first - second) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    h = abs(2 * math.asin(math.sqrt(first)) - 2 * math.asin(math.sqrt(second)))
    return float(z), float(2 * stats.norm.sf(z)), h


def value_counts(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values of a sorted array and how often each occurs."""
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(np.append(starts, values.size))


def aligned(
    reference_keys: Any, reference_counts: IntArray, current_keys: Any, current_counts: IntArray
) -> tuple[IntArray, IntArray]:
    """Both samples' counts over the union of their (sorted, distinct) keys."""
    keys = np.union1d(reference_keys, current_keys)
    expected = np.zeros(keys.size, dtype=np.int64)
    actual = np.zeros(keys.size, dtype=np.int64)
    expected[np.searchsorted(keys, reference_keys)] = reference_counts
    actual[np.searchsorted(keys, current_keys)] = current_counts
    return expected, actual
