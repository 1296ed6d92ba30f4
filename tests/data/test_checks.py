"""Checks that stop bad data: schema skew, value skew and custom checks, and what is stored of them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pytest
import scipy.stats

import loopwright as lw
from loopwright.data.checks import CheckReport, CheckResult, kolmogorov_p_value
from loopwright.data.schema import ColumnSchema, DataSchema
from loopwright.errors import DataCheckError, InvalidInputError, NotFoundError

ROWS = 200


def _orders() -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "amount": np.round(rng.uniform(1, 99, ROWS), 1),
            "category": rng.choice(["grocery", "travel", "online"], ROWS),
            "note": [None if index % 4 == 0 else "ok" for index in range(ROWS)],
        }
    )


def _schema(**changes: Any) -> DataSchema:
    columns = {
        "id": ColumnSchema(type="int64", nullable=False, min=0, max=ROWS - 1),
        "amount": ColumnSchema(type="float64", nullable=False, min=0.0, max=100.0),
        "category": ColumnSchema(type="string", nullable=False, categories=["grocery", "online", "travel"]),
        "note": ColumnSchema(type="string"),
    }
    columns.update(changes.pop("columns", {}))
    return DataSchema(columns=columns, **changes)


def _only(report: CheckReport) -> CheckResult:
    (result,) = report.results
    return result


# --- schema skew ---------------------------------------------------------------------------------------


def test_data_that_matches_its_schema_passes_and_the_result_is_stored(client: lw.Client) -> None:
    version = client.log_dataset("orders", _orders(), schema=_schema())
    assert (version.version, version.check_status) == (1, "passed")
    (stored,) = version.checks()
    assert (stored.name, stored.kind, stored.severity, stored.passed) == (
        "schema",
        "schema",
        "blocking",
        True,
    )
    assert (stored.column, stored.failed_rows, stored.schema_id, stored.reference_id, stored.run_id) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert stored.details == {"message": "All 4 columns match the schema.", "examples": [], "statistics": {}}
    assert stored.created_at is not None


def test_a_missing_column_fails(client: lw.Client) -> None:
    client.log_dataset("orders", _orders().drop(columns=["note"]))
    report = client.check_dataset("orders", schema=_schema())
    assert _only(report) == CheckResult(
        "missing_column",
        "schema",
        "blocking",
        False,
        "Column 'note' is missing (the schema requires it).",
        "note",
        ROWS,
        [],
    )
    assert report.status == "failed"


def test_an_unexpected_column_fails_unless_extra_columns_are_allowed(client: lw.Client) -> None:
    client.log_dataset("orders", _orders().assign(extra=1))
    report = client.check_dataset("orders", schema=_schema())
    assert _only(report) == CheckResult(
        "unexpected_column",
        "schema",
        "blocking",
        False,
        "Column 'extra' is not in the schema.",
        "extra",
        ROWS,
    )
    assert client.check_dataset("orders", 1, schema=_schema(allow_extra_columns=True)).status == "passed"


def test_a_wrong_type_fails_but_integers_are_accepted_as_floats(client: lw.Client) -> None:
    frame = _orders().assign(id=lambda frame: frame["id"].astype(str))
    client.log_dataset("orders", frame)
    assert _only(client.check_dataset("orders", schema=_schema())) == CheckResult(
        "type",
        "schema",
        "blocking",
        False,
        "Column 'id' has type string; the schema expects int64.",
        "id",
        ROWS,
    )
    client.log_dataset("whole", _orders().assign(amount=lambda frame: frame["amount"].round().astype(int)))
    report = client.check_dataset("whole", schema=_schema())
    assert report.status == "passed"
    # The range of an integer column checked as float64 still applies.
    tight = _schema(columns={"amount": ColumnSchema(type="float64", min=0.0, max=50.0)})
    result = _only(client.check_dataset("whole", schema=tight))
    assert (result.name, result.column) == ("range", "amount")
    assert result.failed_rows == int((_orders()["amount"].round() > 50).sum())


def test_missing_values_fail_where_none_are_allowed(client: lw.Client) -> None:
    client.log_dataset("orders", _orders())
    schema = _schema(columns={"note": ColumnSchema(type="string", nullable=False)})
    assert _only(client.check_dataset("orders", schema=schema)) == CheckResult(
        "nulls",
        "schema",
        "blocking",
        False,
        "Column 'note' has 50 rows with missing values; the schema allows none.",
        "note",
        50,
    )


def test_values_out_of_range_fail_with_counts_and_examples(client: lw.Client) -> None:
    frame = _orders()
    frame.loc[[5, 6, 7, 8, 9, 10, 11], "amount"] = [-5.0, -1.0, 101.0, 150.0, 200.0, -1.0, 300.0]
    client.log_dataset("orders", frame)
    result = _only(client.check_dataset("orders", schema=_schema()))
    assert result == CheckResult(
        "range",
        "schema",
        "blocking",
        False,
        "Column 'amount' has 7 rows outside [0.0, 100.0], e.g. -5.0, -1.0, 101.0, 150.0, 200.0.",
        "amount",
        7,
        [-5.0, -1.0, 101.0, 150.0, 200.0],
    )
    only_low = _schema(columns={"amount": ColumnSchema(type="float64", min=0.0)})
    assert _only(client.check_dataset("orders:1", schema=only_low)).message == (
        "Column 'amount' has 3 rows below the minimum 0.0, e.g. -5.0, -1.0."
    )


def test_nan_is_not_out_of_range(client: lw.Client) -> None:
    # NaN is counted apart in the profile and left out of min / max, so an inferred range must accept it.
    version = client.log_dataset("ratios", pa.table({"x": [1.0, float("nan"), 3.0, 2.0]}))
    assert version.profile["columns"]["x"]["nan"] == 1
    schema = client.infer_schema("ratios")
    assert schema.columns["x"] == ColumnSchema(type="float64", nullable=False, min=1.0, max=3.0)
    assert client.check_dataset("ratios", schema=schema).status == "passed"
    tighter = _only(
        client.check_dataset(
            "ratios", schema=DataSchema(columns={"x": ColumnSchema(type="float64", max=2.0)})
        )
    )
    assert (tighter.failed_rows, tighter.examples) == (1, [3.0])


def test_unseen_categories_fail_with_the_most_frequent_first(client: lw.Client) -> None:
    frame = _orders()
    frame.loc[0:5, "category"] = ["fuel", "rent", "fuel", "cash", "fuel", "rent"]
    frame.loc[6, "category"] = "aaa"
    client.log_dataset("orders", frame)
    assert _only(client.check_dataset("orders", schema=_schema())) == CheckResult(
        "categories",
        "schema",
        "blocking",
        False,
        "Column 'category' has 7 rows with unseen categories, e.g. 'fuel', 'rent', 'aaa', 'cash'.",
        "category",
        7,
        ["fuel", "rent", "aaa", "cash"],
    )


def test_every_schema_failure_is_reported_together(client: lw.Client) -> None:
    frame = _orders().drop(columns=["note"]).assign(extra="x")
    frame.loc[0, "amount"] = -1.0
    frame.loc[1, "category"] = "fuel"
    frame.loc[2, "id"] = 1_000
    version = client.log_dataset("orders", frame, schema=_schema(), raise_on_failure=False)
    assert version.check_status == "failed"
    report = client.check_dataset(version, schema=_schema(), record=False)
    assert report.summary() == (
        "Dataset 'orders' version 1: 5 blocking check(s) failed, 0 warning(s).\n"
        "  [blocking] Column 'note' is missing (the schema requires it).\n"
        "  [blocking] Column 'extra' is not in the schema.\n"
        "  [blocking] Column 'id' has 1 row outside [0.0, 199.0], e.g. 1000.\n"
        "  [blocking] Column 'amount' has 1 row outside [0.0, 100.0], e.g. -1.0.\n"
        "  [blocking] Column 'category' has 1 row with unseen categories, e.g. 'fuel'."
    )
    assert [(record.name, record.column, record.failed_rows) for record in version.checks()] == [
        ("missing_column", "note", ROWS),
        ("unexpected_column", "extra", ROWS),
        ("range", "id", 1),
        ("range", "amount", 1),
        ("categories", "category", 1),
    ]
    (record,) = [record for record in version.checks() if record.column == "category"]
    assert record.details == {
        "message": "Column 'category' has 1 row with unseen categories, e.g. 'fuel'.",
        "examples": ["fuel"],
        "statistics": {},
    }


# --- value skew ----------------------------------------------------------------------------------------


def _sample(
    seed: int, shift: float = 0.0, weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(50 + shift, 10, 4_000),
            "channel": rng.choice(["web", "store", "phone"], 4_000, p=list(weights)),
            "at": pd.date_range("2024-01-01", periods=4_000, freq="min", unit="us"),
        }
    )


def test_a_shifted_distribution_warns_while_a_fresh_sample_passes(client: lw.Client) -> None:
    reference = _sample(seed=1)
    fresh = _sample(seed=2)
    shifted = _sample(seed=3, shift=6.0, weights=(0.2, 0.3, 0.5))
    client.log_dataset("visits", reference)
    stable = client.log_dataset("visits", fresh, reference=1)
    assert stable.check_status == "passed"
    amount, channel = client.check_dataset(stable, reference=1, record=False).results
    assert (amount.name, amount.kind, amount.severity, amount.column, amount.passed) == (
        "value_skew",
        "value",
        "warning",
        "amount",
        True,
    )
    exact = scipy.stats.ks_2samp(reference["amount"], fresh["amount"])
    assert amount.statistics["ks"] == pytest.approx(exact.statistic, abs=0.02)
    assert amount.statistics["psi"] < 0.05
    assert amount.message == (
        f"Column 'amount' is stable (psi {amount.statistics['psi']:.4g}, ks {amount.statistics['ks']:.4g}, "
        f"p_value {amount.statistics['p_value']:.4g})."
    )
    assert (channel.column, channel.passed, list(channel.statistics)) == ("channel", True, ["psi"])

    drifted = client.log_dataset("visits", shifted, reference=1)
    assert drifted.check_status == "warned"
    assert client.dataset("visits") == drifted  # a warning does not hide a version
    amount, channel = client.check_dataset(drifted, reference="visits:1", record=False).results
    exact = scipy.stats.ks_2samp(reference["amount"], shifted["amount"])
    assert amount.statistics["ks"] == pytest.approx(exact.statistic, abs=0.02)
    # Sizes are capped at the percentile resolution (100), so even a clear shift gives a modest p-value.
    assert amount.statistics["p_value"] < 0.01
    assert amount.statistics["psi"] >= 0.2
    assert not amount.passed
    assert amount.message == (
        f"Column 'amount' drifted from the reference (psi {amount.statistics['psi']:.4g}, ks "
        f"{amount.statistics['ks']:.4g}, p_value {amount.statistics['p_value']:.4g}; PSI threshold 0.2)."
    )
    before = reference["channel"].value_counts(normalize=True)
    after = shifted["channel"].value_counts(normalize=True)
    psi = sum(
        (after[key] - before[key]) * np.log(after[key] / before[key]) for key in ["web", "store", "phone"]
    )
    assert channel.statistics["psi"] == pytest.approx(psi, rel=1e-9)
    assert channel.statistics["psi"] > 0.2
    assert not channel.passed
    # Temporal columns are not compared; the threshold is adjustable.
    assert {result.column for result in client.check_dataset(drifted, reference=1).results} == {
        "amount",
        "channel",
    }
    loose = client.check_dataset(drifted, reference=1, psi_threshold=10.0, record=False)
    assert loose.status == "passed"
    # Stored with the version, pointing at the reference.
    reference_id = client.dataset("visits", 1).id
    stored = [record for record in drifted.checks() if record.kind == "value"]
    assert {(record.column, record.reference_id, record.passed) for record in stored} == {
        ("amount", reference_id, False),
        ("channel", reference_id, False),
    }


def test_the_kolmogorov_p_value_matches_scipy_asymptotically() -> None:
    for statistic, n, m in [(0.05, 4_000, 4_000), (0.02, 10_000, 5_000), (0.1, 500, 800)]:
        exact = scipy.stats.kstwobign.sf(statistic * np.sqrt(n * m / (n + m)))
        assert kolmogorov_p_value(statistic, n, m) == pytest.approx(exact, rel=0.15, abs=1e-3)
    assert kolmogorov_p_value(0.0, 10, 10) == 1.0
    assert kolmogorov_p_value(0.5, 0, 10) == 1.0


# --- custom checks -------------------------------------------------------------------------------------


def test_custom_checks_of_every_form(client: lw.Client) -> None:
    frame = _orders()
    frame.loc[[3, 17], "amount"] = [1.25, 3.333]

    def has_rows(data: pd.DataFrame) -> bool:
        return len(data) > 0

    def ids_are_unique(data: pd.DataFrame) -> Any:
        return np.bool_(data["id"].is_unique)

    def notes_are_short(data: pd.DataFrame) -> pd.Series:
        return data["note"].isna() | (data["note"].str.len() < 2)

    @lw.data_check(severity="warning", columns=["amount"])
    def amounts_are_tenths(data: pd.DataFrame) -> pd.Series:
        assert list(data.columns) == ["amount"]
        return ((data["amount"] * 10).round(6) % 1) == 0

    @lw.data_check(name="explodes")
    def broken(data: pd.DataFrame) -> bool:
        raise ValueError("no such thing")

    rules = pandera.DataFrameSchema(
        {"amount": pandera.Column(float, pandera.Check.le(50.0)), "id": pandera.Column(int)}, name="rules"
    )
    version = client.log_dataset(
        "orders",
        frame,
        checks=[has_rows, ids_are_unique, notes_are_short, amounts_are_tenths, broken, rules],
        raise_on_failure=False,
    )
    report = client.check_dataset(
        version,
        checks=[has_rows, ids_are_unique, notes_are_short, amounts_are_tenths, broken, rules],
        record=False,
    )
    results = {result.name: result for result in report.results}
    assert list(results) == [
        "has_rows",
        "ids_are_unique",
        "notes_are_short",
        "amounts_are_tenths",
        "explodes",
        "rules:less_than_or_equal_to(50.0)",
    ]
    assert results["has_rows"] == CheckResult(
        "has_rows", "custom", "blocking", True, "Check 'has_rows' passed."
    )
    assert results["ids_are_unique"].passed
    failing_notes = [index for index in range(ROWS) if index % 4 != 0][:5]
    assert results["notes_are_short"] == CheckResult(
        "notes_are_short",
        "custom",
        "blocking",
        False,
        f"Check 'notes_are_short' failed on 150 rows, e.g. rows {', '.join(map(str, failing_notes))}.",
        None,
        150,
        failing_notes,
    )
    assert results["amounts_are_tenths"] == CheckResult(
        "amounts_are_tenths",
        "custom",
        "warning",
        False,
        "Check 'amounts_are_tenths' failed on 2 rows of column 'amount', e.g. values 1.25, 3.333.",
        "amount",
        2,
        [1.25, 3.333],
    )
    assert results["explodes"] == CheckResult(
        "explodes", "custom", "blocking", False, "Check 'explodes' raised ValueError('no such thing')."
    )
    high = frame["amount"][frame["amount"] > 50.0]
    assert results["rules:less_than_or_equal_to(50.0)"] == CheckResult(
        "rules:less_than_or_equal_to(50.0)",
        "custom",
        "blocking",
        False,
        f"pandera check less_than_or_equal_to(50.0) failed on {len(high)} rows of column 'amount', e.g. "
        f"{', '.join(map(repr, high.head(5).tolist()))}.",
        "amount",
        len(high),
        high.head(5).tolist(),
    )
    assert version.check_status == report.status == "failed"
    # Blocking failures come first in a report, in the order the checks ran.
    assert [result.name for result in report.failures] == [
        "notes_are_short",
        "explodes",
        "rules:less_than_or_equal_to(50.0)",
        "amounts_are_tenths",
    ]
    assert (
        report.summary().splitlines()[0]
        == "Dataset 'orders' version 1: 3 blocking check(s) failed, 1 warning(s)."
    )
    assert [record.name for record in version.checks()] == list(results)
    (stored,) = [record for record in version.checks() if record.name == "amounts_are_tenths"]
    assert (stored.severity, stored.failed_rows, stored.details["examples"]) == ("warning", 2, [1.25, 3.333])


def test_passing_custom_checks_and_a_passing_pandera_schema(client: lw.Client) -> None:
    rules = pandera.DataFrameSchema({"amount": pandera.Column(float, pandera.Check.ge(0.0))})

    def positive(data: pd.DataFrame) -> pd.Series:
        return data["amount"] > 0

    version = client.log_dataset("orders", _orders(), checks=[rules, positive])
    assert version.check_status == "passed"
    assert [(record.name, record.passed, record.details["message"]) for record in version.checks()] == [
        ("pandera", True, "pandera schema 'pandera' passed."),
        ("positive", True, f"Check 'positive' passed on all {ROWS} rows."),
    ]


def test_only_warnings_make_a_version_warned(client: lw.Client) -> None:
    @lw.data_check(severity="warning")
    def never(data: pd.DataFrame) -> bool:
        return False

    version = client.log_dataset("orders", _orders(), checks=[never])
    assert version.check_status == "warned"
    report = client.check_dataset(version, checks=[never], record=False)
    assert (report.passed, report.status) == (True, "warned")
    assert report.summary() == (
        "Dataset 'orders' version 1: 0 blocking check(s) failed, 1 warning(s).\n  [warning] Check 'never' failed."
    )
    report.raise_for_failures()  # warnings do not raise


def test_bad_checks_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^severity must be 'blocking' or 'warning'. Got 'fatal' instead.$"):
        lw.data_check(severity="fatal")  # type: ignore[arg-type]


def test_a_check_returning_something_else_fails_and_a_non_check_is_refused(client: lw.Client) -> None:
    version = client.log_dataset("orders", _orders())

    def vague(data: pd.DataFrame) -> str:
        return "fine"

    (result,) = client.check_dataset(version, checks=[vague]).results
    assert (result.name, result.passed, result.severity) == ("vague", False, "blocking")
    assert result.message == (
        "Check 'vague' raised TypeError(\"Check 'vague' returned str; a check returns True / False or a "
        'boolean Series of the rows that pass.").'
    )
    assert client.dataset("orders", 1).check_status == "failed"
    with pytest.raises(InvalidInputError) as caught:
        client.check_dataset(version, checks=[42])
    assert str(caught.value) == "A data check must be a function or a pandera schema. Got 42 instead."
    with pytest.raises(InvalidInputError):
        client.log_dataset("orders", _orders().head(3), checks=[42])
    assert [item.version for item in client.dataset_versions("orders")] == [1]


# --- blocking failures and the versions people get ------------------------------------------------------


def test_a_blocking_failure_is_recorded_raised_and_skipped_as_latest(client: lw.Client) -> None:
    good = client.log_dataset("orders", _orders(), schema=_schema())
    bad_frame = _orders().assign(amount=-1.0)
    with pytest.raises(DataCheckError) as caught:
        client.log_dataset("orders", bad_frame, schema=_schema())
    assert str(caught.value) == (
        "Dataset 'orders' version 2: 1 blocking check(s) failed, 0 warning(s).\n"
        f"  [blocking] Column 'amount' has {ROWS} rows outside [0.0, 100.0], e.g. -1.0."
    )
    assert caught.value.code == "data_check.failed"
    assert caught.value.details == {"dataset": "orders", "version": 2}
    assert caught.value.report.status == "failed"
    bad = client.dataset("orders", 2)
    assert (bad.check_status, bad.parent_version) == ("failed", 1)
    assert [(record.name, record.failed_rows) for record in bad.checks()] == [("range", ROWS)]
    # Latest skips the failed version unless asked for; by number it is always there.
    assert client.dataset("orders") == good
    assert lw.dataset("orders") == good
    assert client.dataset("orders", include_failed=True) == bad
    assert lw.dataset("orders", include_failed=True) == bad
    assert client.dataset("orders:2") == bad
    assert [version.check_status for version in client.dataset_versions("orders")] == ["passed", "failed"]


def test_a_dataset_whose_every_version_failed_has_no_latest(client: lw.Client) -> None:
    client.log_dataset("orders", _orders().assign(amount=-1.0), schema=_schema(), raise_on_failure=False)
    with pytest.raises(NotFoundError) as caught:
        client.dataset("orders")
    assert str(caught.value) == (
        "Dataset 'orders' has no version that passed its blocking checks (failed: 1). Ask for one explicitly "
        "with version=N, or include_failed=True."
    )
    assert client.dataset("orders", include_failed=True).version == 1


def test_a_saved_schema_checks_every_later_version(client: lw.Client) -> None:
    before = client.log_dataset("orders", _orders())
    assert before.check_status == "unchecked"
    saved = client.save_schema("orders", _schema())
    with lw.start_run(experiment="ingest") as run, pytest.raises(DataCheckError):
        lw.log_dataset("orders", _orders().assign(category="fuel"))
    failed = client.dataset("orders", 2)
    assert failed.check_status == "failed"
    (record,) = failed.checks()
    assert (record.name, record.schema_id, record.run_id, record.failed_rows) == (
        "categories",
        saved.id,
        run.id,
        ROWS,
    )
    passing = client.log_dataset("orders", _orders().iloc[:100])
    assert (passing.version, passing.check_status, passing.parent_version) == (3, "passed", 2)
    assert [record.schema_id for record in passing.checks()] == [saved.id]
    # Checking an earlier version uses the saved schema too.
    assert client.check_dataset("orders", 1).status == "passed"
    assert client.dataset("orders", 1).check_status == "passed"
    assert client.dataset("orders") == passing


def test_a_check_is_recorded_again_each_time_it_runs(client: lw.Client) -> None:
    version = client.log_dataset("orders", _orders())
    client.check_dataset(version, schema=_schema())
    client.check_dataset(
        version, schema=_schema(columns={"note": ColumnSchema(type="string", nullable=False)})
    )
    assert [(record.name, record.passed) for record in version.checks()] == [
        ("schema", True),
        ("nulls", False),
    ]
    assert client.dataset("orders", 1).check_status == "failed"
    client.check_dataset(version, schema=_schema(), record=False)
    assert len(version.checks()) == 2


def test_logging_failed_content_again_fails_again(client: lw.Client) -> None:
    bad = _orders().assign(amount=-1.0)
    with pytest.raises(DataCheckError):
        client.log_dataset("orders", bad, schema=_schema())
    try:
        again = client.log_dataset("orders", bad, schema=_schema())
    except DataCheckError:
        return
    raise AssertionError(f"returned {again!r} without raising")


def test_columns_whose_names_differ_only_in_case_are_checked_apart(client: lw.Client) -> None:
    frame = pd.DataFrame({"A": [1, 2, 3], "a": [10, 20, 30], "B": ["x", "y", "x"], "b": ["p", "q", "q"]})
    version = client.log_dataset("names", frame)
    schema = client.infer_schema(version)
    assert client.check_dataset(version, schema=schema).status == "passed"
    tight = DataSchema(
        columns={
            "A": ColumnSchema(type="int64", max=2),
            "a": ColumnSchema(type="int64", max=25),
            "B": ColumnSchema(type="string", categories=["x"]),
            "b": ColumnSchema(type="string", categories=["p", "q"]),
        }
    )
    assert client.check_dataset(version, schema=tight).summary() == (
        "Dataset 'names' version 1: 3 blocking check(s) failed, 0 warning(s).\n"
        "  [blocking] Column 'A' has 1 row above the maximum 2.0, e.g. 3.\n"
        "  [blocking] Column 'a' has 1 row above the maximum 25.0, e.g. 30.\n"
        "  [blocking] Column 'B' has 1 row with unseen categories, e.g. 'y'."
    )


def test_an_unknown_reference_is_refused_before_anything_is_logged(client: lw.Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.log_dataset("visits", _sample(seed=1), reference=1)
    assert str(caught.value) == (
        "Dataset 'visits' does not exist. Known datasets: none yet. Log one with lw.log_dataset()."
    )
    assert client.list_datasets() == []
    client.log_dataset("visits", _sample(seed=1))
    with pytest.raises(NotFoundError) as caught:
        client.log_dataset("visits", _sample(seed=2), reference=5)
    assert str(caught.value) == "Dataset 'visits' has no version 5. Its versions: 1."
    assert [version.version for version in client.dataset_versions("visits")] == [1]


def test_a_column_of_the_wrong_type_with_missing_values_reports_both(client: lw.Client) -> None:
    frame = pd.DataFrame({"amount": ["1", None, "3"]})
    version = client.log_dataset("orders", frame)
    schema = DataSchema(columns={"amount": ColumnSchema(type="float64", nullable=False, min=0.0)})
    report = client.check_dataset(version, schema=schema)
    assert [(result.name, result.column, result.failed_rows) for result in report.failures] == [
        ("type", "amount", 3),
        ("nulls", "amount", 1),
    ]
