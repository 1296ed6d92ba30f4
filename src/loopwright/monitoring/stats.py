"""Drift statistics: per-column tests against a reference profile, corrections and dataset drift.

Each test gives the value scipy gives on the same data (the tests compare them to 1e-9):

============== =========================================================== ============= ==========
test           statistic                                                   kind          threshold
============== =========================================================== ============= ==========
``ks``         two-sample Kolmogorov-Smirnov, ``scipy.stats.ks_2samp``    p-value       0.05
               (exact p-value up to 10,000 values a side, else asymptotic)
``chisquare``  chi-squared test of homogeneity of the 2 x k table of       p-value       0.05
               counts, ``scipy.stats.chi2_contingency`` (its defaults)
``z``          two-proportion z-test (pooled), for two categories         p-value       0.05
``wasserstein`` ``scipy.stats.wasserstein_distance`` / std(reference)     distance      0.1
               (Evidently's normalisation; std floored at 0.001)
``jensenshannon`` ``scipy.spatial.distance.jensenshannon``, natural log    distance      0.1
               (Evidently's choice, so at most sqrt(ln 2) = 0.83)
``psi``        population stability index over the reference's deciles   distance      0.2
============== =========================================================== ============= ==========

A p-value test drifts when its p-value (adjusted, with a correction) is below the threshold; a distance
when it is at least the threshold. The default test follows Evidently's table, decided from the reference
alone so a column's test never changes from one window to the next: a numeric column with more than five
distinct values gets ``ks`` when the reference has at most 1,000 values, else ``wasserstein``; other
columns get ``z`` (at most two categories) or ``chisquare`` up to 1,000 values, else ``jensenshannon``::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> reference = {"amount": rng.normal(size=5_000), "city": rng.choice(["a", "b", "c"], 5_000)}
    >>> current = {"amount": rng.normal(0.5, size=5_000), "city": rng.choice(["a", "b", "c"], 5_000)}
    >>> report = detect_drift(reference, current)
    >>> [(result.column, result.test, result.drifted) for result in report.columns]
    [('amount', 'wasserstein', True), ('city', 'jensenshannon', False)]
    >>> report.share
    0.5
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from loopwright.errors import InvalidInputError
from loopwright.monitoring import _twosample as twosample
from loopwright.monitoring._columns import (
    FloatArray,
    Source,
    category_counts,
    numeric_values,
    open_source,
)
from loopwright.monitoring.profile import ColumnProfile, ReferenceProfile

__all__ = [
    "CORRECTIONS",
    "DISTANCE_TESTS",
    "P_VALUE_TESTS",
    "TESTS",
    "ColumnTest",
    "DatasetDrift",
    "DriftResult",
    "MultivariateDrift",
    "ReferenceProfile",
    "adjust_p_values",
    "column_drift",
    "default_test",
    "detect_drift",
]

P_VALUE_TESTS = ("ks", "chisquare", "z")
DISTANCE_TESTS = ("wasserstein", "jensenshannon", "psi")
TESTS = (*P_VALUE_TESTS, *DISTANCE_TESTS)
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.2,  # as the value-skew data checks (Evidently uses 0.1)
}
CATEGORICAL_TESTS = ("chisquare", "z", "jensenshannon", "psi")
"""Tests that read counts, so they work on any column (a numeric column's distinct values are its
categories); ``ks`` and ``wasserstein`` need numbers."""
CORRECTIONS = ("bonferroni", "benjamini-hochberg")
SMALL_REFERENCE = 1_000
"""Up to this many reference values the default tests are p-value tests (Evidently's switch)."""
PARALLEL_ROWS = 50_000
"""From this many current rows, columns are compared on several threads (below, starting threads costs
more than it saves)."""

_T = TypeVar("_T")
_R = TypeVar("_R")


# --- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One column's test. ``statistic`` is the test's own (D, chi-squared, \\|z\\|, or the distance);
    ``effect_size`` is comparable across sizes (D; Cramér's V; Cohen's h; the distance itself).
    ``p_value`` is ``None`` for a distance, ``adjusted_p_value`` set when a correction was applied.
    ``detail`` says why a column was not tested (no values on one side); its statistic is then NaN.
    ``reference_values`` and ``current_values`` count the values tested (missing ones left out)."""

    column: str
    test: str
    statistic: float
    p_value: float | None
    effect_size: float
    threshold: float
    drifted: bool
    reference_values: int
    current_values: int
    current_missing: int = 0
    adjusted_p_value: float | None = None
    detail: str | None = None

    @property
    def tested(self) -> bool:
        """Whether the test ran (both sides had values)."""
        return self.detail is None

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able values (NaN where no statistic was computed)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MultivariateDrift:
    """The PCA reconstruction test (:mod:`loopwright.monitoring.multivariate`): the window's mean
    reconstruction error (``statistic``) against the reference's (``reference``), with the band
    ``[lower, upper]`` of ``threshold`` standard errors around it; ``effect_size`` is the difference in
    reference standard deviations of the error, ``p_value`` two-sided (normal)."""

    statistic: float
    reference: float
    lower: float
    upper: float
    p_value: float
    effect_size: float
    threshold: float
    drifted: bool
    components: int
    explained_variance: float
    current_rows: int
    method: str = "pca_reconstruction"

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able values."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DatasetDrift:
    """Every column's :class:`DriftResult`, the share of tested columns that drifted, the dataset verdict
    (``share >= drift_share``, Evidently's rule) and the multivariate result (or ``None``)."""

    columns: tuple[DriftResult, ...]
    drifted_columns: int
    tested_columns: int
    share: float
    drift_share: float
    drifted: bool
    correction: str | None
    multivariate: MultivariateDrift | None
    current_rows: int

    def __getitem__(self, column: str) -> DriftResult:
        for result in self.columns:
            if result.column == column:
                return result
        raise InvalidInputError(
            f"The drift report has no column {column!r}. Its columns are "
            f"{[result.column for result in self.columns]}.",
            field="column",
            value=column,
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        return {
            "columns": [result.to_dict() for result in self.columns],
            "drifted_columns": self.drifted_columns,
            "tested_columns": self.tested_columns,
            "share": self.share,
            "drift_share": self.drift_share,
            "drifted": self.drifted,
            "correction": self.correction,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "current_rows": self.current_rows,
        }


# --- choosing tests --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnTest:
    """A column's override: a test, a threshold, or both (``None`` keeps the default)."""

    test: str | None = None
    threshold: float | None = None

    @classmethod
    def parse(cls, column: str, override: Any) -> ColumnTest:
        """Read an override as users write it: ``"psi"``, ``0.01`` (threshold only),
        ``{"test": "ks", "threshold": 0.01}`` or a :class:`ColumnTest`; checked here, not when used."""
        if isinstance(override, ColumnTest):
            test, threshold = override.test, override.threshold
        elif isinstance(override, str):
            test, threshold = override, None
        elif isinstance(override, int | float) and not isinstance(override, bool):
            test, threshold = None, override
        elif isinstance(override, Mapping) and set(override) <= {"test", "threshold"} and override:
            test, threshold = override.get("test"), override.get("threshold")
        else:
            raise InvalidInputError(
                f"The drift override of column {column!r} must be a test name, a threshold or "
                f"{{'test': ..., 'threshold': ...}}. Got {override!r} instead.",
                field="drift",
                column=column,
                value=repr(override),
            )
        if test is not None and test not in TESTS:
            raise InvalidInputError(
                f"The 'test' of column {column!r} must be one of {', '.join(TESTS)}. Got {test!r} instead.",
                field="test",
                column=column,
                value=repr(test),
            )
        if threshold is not None:
            _check_threshold(column, test, threshold)
        return cls(test, float(threshold) if threshold is not None else None)


def _check_threshold(column: str, test: str | None, threshold: Any) -> None:
    """A p-value test's threshold is in (0, 1); a distance's is any positive number (checked again once
    the default test of a threshold-only override is known)."""
    number = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    if test in P_VALUE_TESTS:
        if not number or not 0 < threshold < 1:
            raise InvalidInputError(
                f"The 'threshold' of column {column!r} must be between 0 and 1 for the {test!r} test (a "
                f"p-value). Got {threshold!r} instead.",
                field="threshold",
                column=column,
                value=repr(threshold),
            )
    elif not number or not 0 < threshold < math.inf:
        kind = f"for the {test!r} test (a distance)" if test else "(a p-value or a distance)"
        raise InvalidInputError(
            f"The 'threshold' of column {column!r} must be a positive number {kind}. Got {threshold!r} "
            "instead.",
            field="threshold",
            column=column,
            value=repr(threshold),
        )


def default_test(column: ColumnProfile) -> str:
    """The test a column gets unless overridden (Evidently's rule, from the reference alone)."""
    if column.kind == "numeric" and column.unique > 5:
        return "ks" if column.count <= SMALL_REFERENCE else "wasserstein"
    if column.count <= SMALL_REFERENCE:
        return "z" if column.unique <= 2 else "chisquare"
    return "jensenshannon"


def _resolve(column: ColumnProfile, override: ColumnTest | None) -> tuple[str, float]:
    test = override.test if override and override.test else default_test(column)
    if column.kind == "categorical" and test not in CATEGORICAL_TESTS:
        raise InvalidInputError(
            f"The test {test!r} of column {column.name!r} needs a numeric column; {column.name!r} is "
            f"categorical. Use one of {', '.join(CATEGORICAL_TESTS)}.",
            field="test",
            column=column.name,
            value=test,
        )
    threshold = override.threshold if override and override.threshold is not None else None
    if threshold is None:
        return test, DEFAULT_THRESHOLDS[test]
    _check_threshold(column.name, test, threshold)
    return test, threshold


# --- one column ------------------------------------------------------------------------------------------


def _compare(
    column: ColumnProfile, raw: Any, role: str, test: str, threshold: float, bins: int
) -> DriftResult:
    """Test one column of the current data against its reference profile."""
    current_values: FloatArray | None = None
    if column.kind == "numeric":
        values, missing = numeric_values(raw, column.name, role)
        current_values = np.sort(values)
        size = current_values.size
    else:
        labels, label_counts, missing = category_counts(raw, column.name, role)
        size = int(label_counts.sum())

    def result(statistic: float, p_value: float | None, effect: float, used: str = test) -> DriftResult:
        drifted = p_value < threshold if p_value is not None else statistic >= threshold
        return DriftResult(
            column.name,
            used,
            statistic,
            p_value,
            effect,
            threshold,
            bool(drifted),
            column.count,
            size,
            missing,
        )

    if column.count == 0 or size == 0:
        side = "reference" if column.count == 0 else "current data"
        return DriftResult(
            column.name, test, math.nan, None, math.nan, threshold, False, column.count, size, missing,
            detail=f"no values in the {side}",
        )  # fmt: skip
    if current_values is not None:
        reference = column.values
        if test == "ks":
            statistic, p_value = twosample.ks(reference, current_values)
            return result(statistic, p_value, statistic)
        if test == "wasserstein":
            distance = twosample.wasserstein(reference, current_values, column.std or 0.0)
            return result(distance, None, distance)
        if test == "psi":
            distance = twosample.psi_numeric(reference, current_values, bins)
            return result(distance, None, distance)
        if test == "jensenshannon" and column.unique > 20:
            expected, actual = twosample.sturges_counts(reference, current_values)
            distance = twosample.jensen_shannon(expected / reference.size, actual / current_values.size)
            return result(distance, None, distance)
        expected, actual = twosample.aligned(
            *twosample.value_counts(reference), *twosample.value_counts(current_values)
        )
    else:
        expected, actual = twosample.aligned(column.categories, column.counts, labels, label_counts)
    if test == "jensenshannon":
        distance = twosample.jensen_shannon(expected / column.count, actual / size)
        return result(distance, None, distance)
    if test == "psi":
        distance = twosample.psi(expected / column.count, actual / size)
        return result(distance, None, distance)
    if test == "z" and expected.size <= 2:
        z, p_value, effect = twosample.z_test(expected, actual)
        return result(z, p_value, effect)
    # chisquare, or a z-test whose column now holds more than two categories (it cannot run)
    statistic, p_value, effect = twosample.chi_square(expected, actual)
    return result(statistic, p_value, effect, "chisquare")


# --- corrections and the dataset -------------------------------------------------------------------------


def adjust_p_values(p_values: Sequence[float] | FloatArray, method: str) -> FloatArray:
    """p-values adjusted for multiple testing: ``bonferroni`` (times the number of tests, at most 1) or
    ``benjamini-hochberg`` (equal to ``scipy.stats.false_discovery_control(method="bh")``)."""
    values = np.asarray(p_values, dtype=np.float64)
    if method not in CORRECTIONS:
        raise InvalidInputError(
            f"The 'correction' must be one of {', '.join(CORRECTIONS)} or None. Got {method!r} instead.",
            field="correction",
            value=repr(method),
        )
    count = values.size
    if count == 0:
        return values.copy()
    if method == "bonferroni":
        return np.minimum(values * count, 1.0)
    order = np.argsort(values)
    ranked = values[order] * (count / np.arange(1, count + 1))
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty_like(values)
    adjusted[order] = ranked
    return np.clip(adjusted, 0.0, 1.0)


def _corrected(results: list[DriftResult], method: str | None) -> list[DriftResult]:
    if method is None:
        return results
    positions = [index for index, result in enumerate(results) if result.p_value is not None]
    adjusted = adjust_p_values([results[index].p_value or 0.0 for index in positions], method)
    corrected = list(results)
    for index, value in zip(positions, adjusted.tolist(), strict=True):
        old = results[index]
        corrected[index] = DriftResult(
            old.column, old.test, old.statistic, old.p_value, old.effect_size, old.threshold,
            value < old.threshold, old.reference_values, old.current_values, old.current_missing,
            adjusted_p_value=value, detail=old.detail,
        )  # fmt: skip
    return corrected


def _multivariate(profile: ReferenceProfile, source: Source, threshold: float) -> MultivariateDrift | None:
    from scipy import stats

    model = profile.multivariate
    if model is None:
        return None
    missing = [name for name in model.features if name not in source.names]
    if missing:
        return None
    mean, _, rows = model.error_stats(source)
    if rows == 0:
        return None
    error = model.error_std / math.sqrt(rows)
    z = (mean - model.error_mean) / error if error > 0 else (0.0 if mean == model.error_mean else math.inf)
    return MultivariateDrift(
        statistic=mean,
        reference=model.error_mean,
        lower=model.error_mean - threshold * error,
        upper=model.error_mean + threshold * error,
        p_value=float(2 * stats.norm.sf(abs(z))),
        effect_size=(mean - model.error_mean) / model.error_std if model.error_std > 0 else 0.0,
        threshold=threshold,
        drifted=bool(abs(z) > threshold),
        components=int(model.components.shape[1]),
        explained_variance=model.explained,
        current_rows=rows,
    )


def _map(function: Callable[[_T], _R], items: Iterable[_T], workers: int) -> list[_R]:
    if workers <= 1:
        return [function(item) for item in items]
    # numpy's sorts and pyarrow's kernels release the GIL, so columns run side by side on threads.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loopwright-drift") as pool:
        return list(pool.map(function, items))


def detect_drift(
    reference: ReferenceProfile | Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    drift: Mapping[str, Any] | None = None,
    correction: str | None = None,
    drift_share: float = 0.5,
    multivariate: bool = True,
    multivariate_threshold: float = 3.0,
    psi_bins: int = 10,
    categorical: Sequence[str] = (),
    workers: int | None = None,
) -> DatasetDrift:
    """Test every column of ``current`` against ``reference`` (a :class:`ReferenceProfile`, or data to
    profile first, with the ``categorical`` columns named) and decide dataset drift.

    ``columns`` limits the test to those columns (default: every profiled column); ``drift`` overrides a
    column's test or threshold (:meth:`ColumnTest.parse`); ``correction`` adjusts the p-values of the
    p-value tests (``bonferroni``, ``benjamini-hochberg``); the dataset drifts when at least
    ``drift_share`` of the tested columns drift. ``multivariate`` adds the PCA reconstruction test when
    the profile has its model. ``workers`` threads compare columns side by side (default: one per CPU, up
    to 8, for large data).
    """
    if not isinstance(reference, ReferenceProfile):
        reference = ReferenceProfile.from_data(
            reference, columns=columns, categorical=categorical, multivariate=multivariate
        )
    if correction is not None and correction not in CORRECTIONS:
        adjust_p_values([], correction)  # raises the error naming the choices
    if isinstance(drift_share, bool) or not isinstance(drift_share, int | float) or not 0 < drift_share <= 1:
        raise InvalidInputError(
            f"The 'drift_share' must be above 0 and at most 1. Got {drift_share!r} instead.",
            field="drift_share",
            value=repr(drift_share),
        )
    if isinstance(psi_bins, bool) or not isinstance(psi_bins, int) or psi_bins < 2:
        raise InvalidInputError(
            f"The 'psi_bins' must be a whole number of at least 2. Got {psi_bins!r} instead.",
            field="psi_bins",
            value=repr(psi_bins),
        )
    if columns is not None and (
        isinstance(columns, str) or not all(isinstance(name, str) for name in columns)
    ):
        raise InvalidInputError(
            f"The 'columns' to test must be a list of column names. Got {columns!r} instead.",
            field="columns",
            value=repr(columns),
        )
    names = list(reference.columns) if columns is None else [reference[name].name for name in columns]
    overrides = {str(name): ColumnTest.parse(str(name), value) for name, value in (drift or {}).items()}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise InvalidInputError(
            f"The drift overrides name columns that are not tested: {unknown}. The tested columns are "
            f"{names}.",
            field="drift",
            value=repr(unknown),
        )
    plans = [(reference[name], *_resolve(reference[name], overrides.get(name))) for name in names]
    source = open_source(current, "current")
    absent = [name for name in names if name not in source.names]
    if absent:
        raise InvalidInputError(
            f"The current data has no column {absent[0]!r} (missing: {absent}). Its columns are "
            f"{source.names}.",
            field="columns",
            value=repr(absent),
        )
    if workers is None:
        workers = min(os.cpu_count() or 1, 8, len(plans)) if source.rows >= PARALLEL_ROWS else 1

    def run(plan: tuple[ColumnProfile, str, float]) -> DriftResult:
        column, test, threshold = plan
        return _compare(column, source.column(column.name), "current", test, threshold, psi_bins)

    results = _corrected(_map(run, plans, workers), correction)
    tested = [result for result in results if result.tested]
    drifted = sum(result.drifted for result in tested)
    share = drifted / len(tested) if tested else 0.0
    return DatasetDrift(
        columns=tuple(results),
        drifted_columns=drifted,
        tested_columns=len(tested),
        share=share,
        drift_share=float(drift_share),
        drifted=bool(tested) and share >= drift_share,
        correction=correction,
        multivariate=_multivariate(reference, source, multivariate_threshold) if multivariate else None,
        current_rows=source.rows,
    )


def column_drift(
    reference: Any,
    current: Any,
    *,
    test: str | None = None,
    threshold: float | None = None,
    categorical: bool = False,
    psi_bins: int = 10,
) -> DriftResult:
    """Test one column: ``reference`` and ``current`` are arrays (or lists, Series, Arrow arrays).

    >>> column_drift([1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0], test="ks").statistic
    0.5
    """
    name = "value"
    report = detect_drift(
        {name: reference},
        {name: current},
        drift={name: ColumnTest(test, threshold)},
        categorical=[name] if categorical else (),
        multivariate=False,
        psi_bins=psi_bins,
        workers=1,
    )
    return report.columns[0]
