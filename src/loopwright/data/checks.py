"""Checks that stop bad data: schema skew, value skew and custom checks.

* **Schema skew** (blocking by default): missing or unexpected columns, wrong types, missing values where
  none are allowed, values out of range, unseen categories. Counted by DuckDB over the version's Parquet
  file (streamed, bounded memory); each failure names the column, how many rows, and example values.
* **Value skew** (a warning by default): a column's distribution moved against a reference version. Both
  sides come from the stored profiles (101 percentiles, or category counts), so the check never re-reads
  data: PSI over the reference's deciles (categories for text) and the two-sample Kolmogorov-Smirnov
  statistic with its asymptotic p-value, at a resolution of one percentile (so the p-value takes both
  sample sizes as at most 100: differences below a percentile are not evidence of drift).
* **Custom checks**: plain Python functions of a pandas DataFrame (decorate with :func:`data_check` to
  name them or set their severity), or pandera ``DataFrameSchema`` objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from loopwright.data.profile import _connect, scan
from loopwright.data.schema import DataSchema
from loopwright.errors import DataCheckError, InvalidInputError

__all__ = [
    "EXAMPLES",
    "CheckReport",
    "CheckResult",
    "DataCheckError",
    "custom_checks",
    "data_check",
    "schema_checks",
    "validate_checks",
    "value_skew_checks",
]

EXAMPLES = 5
"""How many example values (or row numbers) a failure shows."""

Severity = Literal["blocking", "warning"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check on one column (or on the whole table when ``column`` is None)."""

    name: str
    kind: str
    severity: str
    passed: bool
    message: str
    column: str | None = None
    failed_rows: int | None = None
    examples: list[Any] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)

    @property
    def blocking_failure(self) -> bool:
        """Whether this result stops the data."""
        return not self.passed and self.severity == "blocking"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check result of one dataset version."""

    dataset: str
    version: int
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        """True when no blocking check failed (warnings allowed)."""
        return not any(result.blocking_failure for result in self.results)

    @property
    def status(self) -> str:
        """``failed`` (a blocking check failed), ``warned`` (only warnings failed) or ``passed``."""
        if not self.passed:
            return "failed"
        return "warned" if any(not result.passed for result in self.results) else "passed"

    @property
    def failures(self) -> list[CheckResult]:
        """The results that did not pass, blocking first."""
        failed = [result for result in self.results if not result.passed]
        return sorted(failed, key=lambda result: result.severity != "blocking")

    def summary(self) -> str:
        """A readable report: one line per failure, or a one-line all-clear."""
        label = f"Dataset {self.dataset!r} version {self.version}"
        if not self.failures:
            return f"{label} passed {len(self.results)} checks."
        blocking = sum(result.blocking_failure for result in self.results)
        warnings = len(self.failures) - blocking
        lines = [f"{label}: {blocking} blocking check(s) failed, {warnings} warning(s)."]
        lines += [f"  [{result.severity}] {result.message}" for result in self.failures]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise :class:`DataCheckError` when a blocking check failed."""
        if not self.passed:
            raise DataCheckError(self)


def _examples(values: Sequence[Any]) -> str:
    # 12 significant digits: 463.575, not 463.57500000000005 (the stored examples keep every digit).
    return ", ".join(
        repr(float(f"{value:.12g}")) if isinstance(value, float) else repr(value)
        for value in values[:EXAMPLES]
    )


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


# --- schema skew -----------------------------------------------------------------------------------------


def schema_checks(
    path: Path,
    columns: Sequence[dict[str, Any]],
    profile: dict[str, Any],
    schema: DataSchema,
    *,
    severity: Severity = "blocking",
) -> list[CheckResult]:
    """Compare a version (its Parquet file, column types and profile) with ``schema``."""
    num_rows = int(profile["rows"])
    actual = {column["name"]: column["type"] for column in columns}
    results: list[CheckResult] = []

    def fail(name: str, column: str | None, rows: int, message: str, examples: Sequence[Any] = ()) -> None:
        results.append(
            CheckResult(name, "schema", severity, False, message, column, rows, list(examples)[:EXAMPLES])
        )

    for name in schema.columns:
        if name not in actual:
            fail("missing_column", name, num_rows, f"Column {name!r} is missing (the schema requires it).")
    if not schema.allow_extra_columns:
        for name in actual:
            if name not in schema.columns:
                fail("unexpected_column", name, num_rows, f"Column {name!r} is not in the schema.")
    comparable: dict[str, Any] = {}
    for name, expected in schema.columns.items():
        if name not in actual:
            continue
        wrong_type = actual[name] != expected.type and not (
            expected.type == "float64" and actual[name] == "int64"
        )
        if wrong_type:
            fail(
                "type",
                name,
                num_rows,
                f"Column {name!r} has type {actual[name]}; the schema expects {expected.type}.",
            )
        missing = int(profile["columns"][name]["missing"])
        if not expected.nullable and missing:  # reported whatever the type: both need fixing
            fail(
                "nulls",
                name,
                missing,
                f"Column {name!r} has {_rows(missing)} with missing values; the schema allows none.",
            )
        if not wrong_type:
            comparable[name] = expected  # ranges and categories only make sense on the expected type

    expressions: list[str] = []
    parameters: list[Any] = []
    probes: list[tuple[str, str]] = []
    source, aliases = scan(list(actual))
    for name, expected in comparable.items():
        column = aliases[name]
        stats = profile["columns"][name]
        # The profile holds exact min / max and, for few values, the complete category list: data that
        # passes needs no scan; only a failure is counted (with examples) over the file.
        if (expected.min is not None or expected.max is not None) and not _within(
            stats, expected.min, expected.max
        ):
            low = -math.inf if expected.min is None else expected.min
            high = math.inf if expected.max is None else expected.max
            expressions.append(f"count(*) FILTER (WHERE {_outside(column, actual[name])})")
            parameters += [low, high]
            probes.append(("range", name))
        if (
            expected.categories is not None
            and actual[name] == "string"
            and not _known(stats, expected.categories)
        ):
            expressions.append(
                f"count(*) FILTER (WHERE {column} IS NOT NULL AND NOT list_contains(?, {column}))"
            )
            parameters.append(list(expected.categories))
            probes.append(("categories", name))
    if expressions:
        connection = _connect()
        try:
            counts = connection.execute(
                f"SELECT {', '.join(expressions)} FROM {source}", [*parameters, str(path)]
            ).fetchone()
            for (check, name), count in zip(probes, counts, strict=True):
                if not count:
                    continue
                expected = schema.columns[name]
                column = aliases[name]
                if check == "range":
                    low = -math.inf if expected.min is None else expected.min
                    high = math.inf if expected.max is None else expected.max
                    examples = [
                        row[0]
                        for row in connection.execute(
                            f"SELECT DISTINCT {column} FROM {source} "
                            f"WHERE {_outside(column, actual[name])} ORDER BY 1 LIMIT {EXAMPLES}",
                            [str(path), low, high],
                        ).fetchall()
                    ]
                    fail(
                        "range",
                        name,
                        int(count),
                        f"Column {name!r} has {_rows(int(count))} {_bounds(expected.min, expected.max)}, "
                        f"e.g. {_examples(examples)}.",
                        examples,
                    )
                else:
                    examples = [
                        row[0]
                        for row in connection.execute(
                            f"SELECT {column}, count(*) AS n FROM {source} "
                            f"WHERE {column} IS NOT NULL AND NOT list_contains(?, {column}) "
                            f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT {EXAMPLES}",
                            [str(path), list(expected.categories or [])],
                        ).fetchall()
                    ]
                    fail(
                        "categories",
                        name,
                        int(count),
                        f"Column {name!r} has {_rows(int(count))} with unseen categories, "
                        f"e.g. {_examples(examples)}.",
                        examples,
                    )
        finally:
            connection.close()
    if not results:
        results.append(
            CheckResult(
                "schema", "schema", severity, True, f"All {len(schema.columns)} columns match the schema."
            )
        )
    return results


def _within(stats: dict[str, Any], low: float | None, high: float | None) -> bool:
    """Whether the profile proves every value of a column lies in [low, high]."""
    smallest, largest = stats.get("min"), stats.get("max")
    if stats.get("count", 0) == 0:
        return True  # nothing but missing values (and NaN): nothing can be out of range
    if smallest is None or largest is None:
        return False
    return (low is None or smallest >= low) and (high is None or largest <= high)


def _known(stats: dict[str, Any], categories: Sequence[str]) -> bool:
    """Whether the profile proves every value of a text column is an allowed category."""
    if stats.get("count", 0) == 0:
        return True
    if not stats.get("categories_complete"):
        return False
    allowed = set(categories)
    return all(str(value) in allowed for value, _ in stats.get("top", []))


def _bounds(low: float | None, high: float | None) -> str:
    if low is None:
        return f"above the maximum {high}"
    if high is None:
        return f"below the minimum {low}"
    return f"outside [{low}, {high}]"


def _outside(column: str, type_name: str) -> str:
    # DuckDB orders NaN above every number, but the profile (and so an inferred range) leaves NaN out.
    test = f"({column} < ? OR {column} > ?)"
    return f"{test} AND NOT isnan({column})" if type_name == "float64" else test


# --- value skew ------------------------------------------------------------------------------------------


def _step_cdf(quantiles: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.searchsorted(quantiles, points, side="right") / len(quantiles)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.clip(expected, 1e-4, None)
    actual = np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


_RESOLUTION = 100


def kolmogorov_p_value(statistic: float, n: int, m: int) -> float:
    """Asymptotic p-value of the two-sample Kolmogorov-Smirnov statistic (Kolmogorov's series)."""
    if statistic <= 0 or n == 0 or m == 0:
        return 1.0
    effective = math.sqrt(n * m / (n + m))
    argument = (effective + 0.12 + 0.11 / effective) * statistic
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * argument * argument) for k in range(1, 101))
    return float(min(1.0, max(0.0, 2 * total)))


def value_skew_checks(
    profile: dict[str, Any],
    reference: dict[str, Any],
    *,
    psi_threshold: float = 0.2,
    severity: Severity = "warning",
    columns: Sequence[str] | None = None,
) -> list[CheckResult]:
    """Compare each column's distribution with the reference profile; drift when PSI >= ``psi_threshold``."""
    results = []
    for name, stats in profile["columns"].items():
        if columns is not None and name not in columns:
            continue
        before = reference["columns"].get(name)
        if before is None or before["kind"] != stats["kind"] or stats["kind"] == "temporal":
            continue
        if stats["kind"] == "numeric":
            if not stats.get("percentiles") or not before.get("percentiles"):
                continue
            current = np.asarray(stats["percentiles"], dtype=float)
            previous = np.asarray(before["percentiles"], dtype=float)
            edges = np.unique(previous[10:100:10])
            points = np.concatenate([edges, [math.inf]])
            expected = np.diff(np.concatenate([[0.0], _step_cdf(previous, points)]))
            actual = np.diff(np.concatenate([[0.0], _step_cdf(current, points)]))
            grid = np.union1d(previous, current)
            ks = float(np.max(np.abs(_step_cdf(previous, grid) - _step_cdf(current, grid))))
            statistics = {
                "psi": _psi(expected, actual),
                "ks": ks,
                # The statistic is read off 101 percentiles and cannot resolve differences finer than
                # one percentile: sizes are capped at that resolution, or any large pair would "differ".
                "p_value": kolmogorov_p_value(
                    ks, min(int(before["count"]), _RESOLUTION), min(int(stats["count"]), _RESOLUTION)
                ),
            }
        else:
            counts_now = {str(value): count for value, count in stats.get("top", [])}
            counts_then = {str(value): count for value, count in before.get("top", [])}
            categories = sorted(set(counts_now) | set(counts_then))
            total_now, total_then = max(stats["count"], 1), max(before["count"], 1)
            actual = np.array([counts_now.get(value, 0) / total_now for value in categories] + [0.0])
            expected = np.array([counts_then.get(value, 0) / total_then for value in categories] + [0.0])
            actual[-1] = max(0.0, 1 - actual[:-1].sum())
            expected[-1] = max(0.0, 1 - expected[:-1].sum())
            statistics = {"psi": _psi(expected, actual)}
        drifted = statistics["psi"] >= psi_threshold
        detail = ", ".join(f"{key} {value:.4g}" for key, value in statistics.items())
        message = (
            f"Column {name!r} drifted from the reference ({detail}; PSI threshold {psi_threshold})."
            if drifted
            else f"Column {name!r} is stable ({detail})."
        )
        results.append(
            CheckResult("value_skew", "value", severity, not drifted, message, name, statistics=statistics)
        )
    return results


# --- custom checks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CheckSpec:
    name: str
    severity: Severity
    columns: tuple[str, ...] | None


def data_check(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    severity: Severity = "blocking",
    columns: Sequence[str] | None = None,
) -> Any:
    """Mark a function as a data check (optional: any function of a DataFrame works as one).

    The function receives the version as a pandas DataFrame (only ``columns`` if given) and returns
    ``True`` / ``False``, or a boolean Series marking the rows that pass::

        @lw.data_check(severity="warning", columns=["amount"])
        def amounts_are_rounded(frame):
            return (frame["amount"] * 100) % 1 == 0
    """
    if severity not in ("blocking", "warning"):
        raise ValueError(f"severity must be 'blocking' or 'warning'. Got {severity!r} instead.")

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        target.__loopwright_check__ = _CheckSpec(  # type: ignore[attr-defined]
            name or target.__name__, severity, tuple(columns) if columns is not None else None
        )
        return target

    return mark(function) if function is not None else mark


def custom_checks(checks: Sequence[Any], load: Callable[[list[str] | None], Any]) -> list[CheckResult]:
    """Run custom checks; ``load(columns)`` gives the data as a pandas DataFrame."""
    results = []
    cache: dict[tuple[str, ...] | None, Any] = {}

    def frame_for(columns: tuple[str, ...] | None) -> Any:
        if columns not in cache:
            cache[columns] = load(list(columns) if columns is not None else None)
        return cache[columns]

    for check in checks:
        if type(check).__module__.startswith("pandera"):
            results.extend(_pandera(check, frame_for(None)))
            continue
        spec = getattr(check, "__loopwright_check__", None) or _CheckSpec(check.__name__, "blocking", None)
        frame = frame_for(spec.columns)
        try:
            results.append(_custom_result(spec, check(frame), frame))
        except Exception as error:  # a broken check fails (and is recorded); it never leaves data unchecked
            results.append(
                CheckResult(
                    spec.name, "custom", spec.severity, False, f"Check {spec.name!r} raised {error!r}."
                )
            )
    return results


def validate_checks(checks: Sequence[Any]) -> None:
    """Refuse anything that is neither a function nor a pandera schema, before any data is stored."""
    for check in checks:
        if not callable(check) and not type(check).__module__.startswith("pandera"):
            raise InvalidInputError(
                f"A data check must be a function or a pandera schema. Got {check!r} instead.",
                check=repr(check),
            )


def _custom_result(spec: _CheckSpec, outcome: Any, frame: Any) -> CheckResult:
    if isinstance(outcome, bool | np.bool_):
        passed = bool(outcome)
        message = f"Check {spec.name!r} {'passed' if passed else 'failed'}."
        return CheckResult(spec.name, "custom", spec.severity, passed, message)
    if hasattr(outcome, "dtype") and hasattr(outcome, "__len__"):
        mask = np.asarray(outcome, dtype=bool)
        failing = np.flatnonzero(~mask)
        column = spec.columns[0] if spec.columns and len(spec.columns) == 1 else None
        if column is not None:
            examples = [_plain(value) for value in frame[column].to_numpy()[failing[:EXAMPLES]]]
        else:
            examples = [int(row) for row in failing[:EXAMPLES]]
        what = "values" if column is not None else "rows"
        message = (
            f"Check {spec.name!r} failed on {_rows(len(failing))}"
            + (f" of column {column!r}" if column else "")
            + f", e.g. {what} {_examples(examples)}."
            if len(failing)
            else f"Check {spec.name!r} passed on all {_rows(len(mask))}."
        )
        return CheckResult(
            spec.name, "custom", spec.severity, not len(failing), message, column, len(failing), examples
        )
    raise TypeError(
        f"Check {spec.name!r} returned {type(outcome).__name__}; a check returns True / False or a boolean "
        "Series of the rows that pass."
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _pandera(schema: Any, frame: Any) -> list[CheckResult]:
    import pandera.errors

    name = getattr(schema, "name", None) or "pandera"
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        results = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
            examples = [_plain(value) for value in group["failure_case"].head(EXAMPLES)]
            column_name = (
                None if column is None or (isinstance(column, float) and math.isnan(column)) else str(column)
            )
            results.append(
                CheckResult(
                    f"{name}:{check}",
                    "custom",
                    "blocking",
                    False,
                    f"pandera check {check} failed on {_rows(len(group))}"
                    + (f" of column {column_name!r}" if column_name else "")
                    + f", e.g. {_examples(examples)}.",
                    column_name,
                    len(group),
                    examples,
                )
            )
        return results
    return [CheckResult(name, "custom", "blocking", True, f"pandera schema {name!r} passed.")]
