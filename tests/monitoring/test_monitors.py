"""Monitors on SQLite and PostgreSQL: definitions checked when built, drift, data quality, schema
violations, prediction drift, operations, the cached reference profile, and alerts after a run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import scipy.stats

import loopwright as lw
from loopwright.client import Client
from loopwright.errors import MonitorDefinitionError, NotFoundError
from loopwright.monitoring import measure as measure_module
from loopwright.monitoring.monitors import Monitor, parse_reference
from loopwright.monitoring.profile import ReferenceProfile
from loopwright.settings import Settings
from loopwright.store.monitoring import MonitorCatalog
from tests.monitoring._traffic import HOUR, T0, deploy, hour_of_traffic, log, reference_frame


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    """A workspace with deployment 'fraud' and dataset 'tx' (version 1: 2,000 training rows)."""
    opened = lw.connect(settings)
    deploy(opened)
    opened.log_dataset("tx", reference_frame())
    yield opened
    opened.close()


def values(client: Client, name: str, metric: str, column: str | None = None) -> list[float | None]:
    frame = client.monitors.results(name, metric=metric)
    frame = frame[frame["column"] == column] if column is not None else frame[frame["column"].isna()]
    return [None if np.isnan(value) else float(value) for value in frame["value"]]


# --- definitions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"window": "1h", "rows": 100},
            "Monitor 'fraud' takes windows by time ('window') or by count ('rows'), not both. Got window='1h' "
            "and rows=100.",
        ),
        (
            {"window": "an hour"},
            "The 'window' of monitor 'fraud' must be a duration such as '30s', '15m', '1h', '1d' or '1w' (or "
            "milliseconds). Got 'an hour' instead.",
        ),
        ({"rows": 1}, "The 'rows' of monitor 'fraud' must be a whole number of at least 2. Got 1 instead."),
        (
            {"drift": {"amount": "anova"}},
            "Monitor 'fraud': The 'test' of column 'amount' must be one of ks, chisquare, z, wasserstein, "
            "jensenshannon, psi. Got 'anova' instead.",
        ),
        (
            {"drift": {"amount": {"test": "ks", "threshold": 5}}},
            "Monitor 'fraud': The 'threshold' of column 'amount' must be between 0 and 1 for the 'ks' test (a "
            "p-value). Got 5 instead.",
        ),
        (
            {"correction": "holm"},
            "The 'correction' of monitor 'fraud' must be one of 'bonferroni', 'benjamini-hochberg' or None. "
            "Got 'holm' instead.",
        ),
        (
            {"drift_share": 1.5},
            "The 'drift_share' of monitor 'fraud' must be above 0 and at most 1. Got 1.5 instead.",
        ),
        (
            {"task": "ranking"},
            "The 'task' of monitor 'fraud' must be 'classification', 'regression' or None (inferred). Got "
            "'ranking' instead.",
        ),
        (
            {"columns": "amount"},
            "The 'columns' of monitor 'fraud' must be a list of column names. Got 'amount' instead.",
        ),
        (
            {"name": "fraud drift"},
            "The 'name' of a monitor must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit. Got 'fraud drift' instead.",
        ),
    ],
)
def test_a_monitor_is_checked_when_built(options: dict[str, object], message: str) -> None:
    with pytest.raises(MonitorDefinitionError) as raised:
        Monitor("fraud", "tx:1", **options)  # type: ignore[arg-type]
    assert str(raised.value) == message
    assert raised.value.code == "invalid_input.monitor"


def test_references_are_dataset_versions_or_past_windows() -> None:
    assert parse_reference("tx:3") == {"kind": "dataset", "name": "tx", "version": 3}
    assert parse_reference("tx") == {"kind": "dataset", "name": "tx", "version": None}
    assert parse_reference("window:2026-01-01T00:00:00+00:00/2026-01-01T01:00:00+00:00") == {
        "kind": "window",
        "start_ms": T0,
        "end_ms": T0 + HOUR,
    }
    assert parse_reference(f"window:{T0}/{T0 + HOUR}") == parse_reference(
        "window:2026-01-01T00:00:00/2026-01-01T01:00:00"
    )
    with pytest.raises(MonitorDefinitionError) as raised:
        parse_reference(f"window:{T0 + HOUR}/{T0}", monitor="fraud")
    assert str(raised.value) == (
        "The 'reference' of monitor 'fraud' must be a dataset version (a DatasetVersion, 'name:VERSION' or "
        "'name' for the latest) or a past window of predictions, 'window:<start>/<end>' (ISO times or epoch "
        f"milliseconds). Got 'window:{T0 + HOUR}/{T0}' instead: the window must be '<start>/<end>' with the "
        "end after the start."
    )
    with pytest.raises(MonitorDefinitionError, match="the version after ':' must be a number"):
        parse_reference("tx:latest")


def test_creating_checks_the_deployment_and_reference_and_pins_the_latest_version(client: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        lw.monitor("nope", reference="tx")
    assert missing.value.kind == "deployment"
    with pytest.raises(MonitorDefinitionError, match="^The 'reference' of monitor 'fraud': "):
        lw.monitor("fraud", reference="transactions:1")
    with pytest.raises(MonitorDefinitionError) as unknown:
        lw.monitor("fraud", reference="tx", columns=["amount", "merchant"])
    assert str(unknown.value) == (
        "The 'columns' of monitor 'fraud' must be columns of its reference tx:1, whose columns are ['amount', "
        "'city', 'label']. Got ['merchant'] instead."
    )
    assert client.monitors.all() == []  # nothing was recorded by the failures

    lw.monitor("fraud", reference="tx", window="30m")
    client.log_dataset("tx", reference_frame(seed=1))
    record = client.monitors.get("fraud")
    assert (record.reference, record.window_ms, record.columns) == (
        {"kind": "dataset", "name": "tx", "version": 1},
        1_800_000,
        None,
    )

    lw.monitor("fraud", reference="tx:2", rows=500, drift={"amount": "psi"}, correction="bonferroni")
    changed = client.monitors.get("fraud")
    assert (changed.id, changed.reference["version"], changed.window_ms, changed.window_rows) == (
        record.id,
        2,
        None,
        500,
    )
    assert (changed.drift, changed.correction) == (
        {"amount": {"test": "psi", "threshold": None}},
        "bonferroni",
    )
    assert [monitor.name for monitor in client.monitors.all("fraud")] == ["fraud"]

    client.monitors.delete("fraud")
    assert client.monitors.all() == []


def test_a_numeric_test_on_a_categorical_column_is_refused_when_the_profile_is_built(client: Client) -> None:
    with pytest.raises(MonitorDefinitionError) as raised:
        lw.monitor("fraud", reference="tx", columns=["amount", "city"], drift={"city": "ks"})
    assert str(raised.value) == (
        "Monitor 'fraud': the test 'ks' of column 'city' needs numbers, and 'city' is categorical in the "
        "reference. Use chisquare, z, jensenshannon or psi."
    )
    assert client.monitors.all() == []


# --- a run ---------------------------------------------------------------------------------------------


def test_a_run_measures_drift_quality_and_operations_per_window(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1))
    drifted = hour_of_traffic(2, shift=40.0, cities=("lyon", "paris", "porto", "nice"))
    drifted[0] = replace(drifted[0], inputs={"city": "lyon"})  # amount missing
    log(client, drifted)
    lw.monitor("fraud", reference="tx:1")

    [report] = client.monitors.run(now=T0 + 3 * HOUR)

    assert (report.windows, report.failed, report.updated) == (3, 0, 0)
    assert report.summary() == "Monitor 'fraud': 3 new windows."
    assert values(client, "fraud", "drift_detected", "amount") == [0.0, 0.0, 1.0]
    assert values(client, "fraud", "drift_detected", "city") == [0.0, 0.0, 1.0]  # a quarter are unseen
    assert values(client, "fraud", "drift_share") == [0.0, 0.0, 1.0]
    assert values(client, "fraud", "dataset_drift") == [0.0, 0.0, 1.0]
    # The reference's label column is no input of the deployment: it is not watched.
    assert set(client.monitors.results("fraud", metric="drift_score")["column"]) == {"amount", "city"}

    # Scores are scipy's: 2,000 reference values make 'amount' a normalised Wasserstein distance.
    reference = reference_frame()["amount"].to_numpy()
    current = np.array([entry.inputs["amount"] for entry in drifted if "amount" in entry.inputs])
    expected = scipy.stats.wasserstein_distance(reference, current) / np.std(reference)
    [score] = values(client, "fraud", "drift_score", "amount")[2:]
    assert score == pytest.approx(expected, rel=1e-9)
    extra = client.monitors.results("fraud", metric="drift_score", column="amount")["extra"].iloc[2]
    assert (extra["test"], extra["threshold"], extra["drifted"]) == ("wasserstein", 0.1, True)

    # Data quality against the reference's range and categories.
    assert values(client, "fraud", "missing_share", "amount")[2] == pytest.approx(1 / 300)
    nice = sum(entry.inputs["city"] == "nice" for entry in drifted)
    assert values(client, "fraud", "unseen_category_share", "city") == [0.0, 0.0, pytest.approx(nice / 300)]
    high = sum(entry.inputs.get("amount", 0) > reference.max() for entry in drifted)
    assert values(client, "fraud", "out_of_range_share", "amount")[2] == pytest.approx(high / 299)

    # Operations: the latencies are 1 … 7 ms in turn.
    latencies = np.array([1 + index % 7 for index in range(300)], dtype=float)
    assert values(client, "fraud", "latency_p95_ms") == [pytest.approx(np.percentile(latencies, 95))] * 3
    assert values(client, "fraud", "predictions", "production:v1") == [300.0] * 3
    assert values(client, "fraud", "throughput_per_s") == [pytest.approx(300 / 3600)] * 3
    assert values(client, "fraud", "error_rate") == [0.0] * 3
    assert values(client, "fraud", "rows") == [300.0] * 3

    status = client.monitors.status("fraud")[0]
    assert (status.windows, status.failed, status.latest_window.start_ms) == (3, 0, T0 + 2 * HOUR)  # type: ignore[union-attr]
    assert status.value("drift_share") == 1.0


def test_the_reference_is_profiled_once_and_kept_as_an_artifact(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    log(client, hour_of_traffic(0))
    lw.monitor("fraud", reference="tx:1")
    client.monitors.run(now=T0 + HOUR)
    record = client.monitors.get("fraud")
    assert record.profile_artifact_id is not None
    artifact = client.store.get_artifact(record.profile_artifact_id)
    assert (artifact.kind, artifact.media_type, artifact.properties["role"]) == (
        "file",
        "application/x-npz",
        "reference_profile",
    )

    def no_reading(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the reference data was read again")

    monkeypatch.setattr(ReferenceProfile, "from_data", no_reading)
    log(client, hour_of_traffic(1))
    fresh = Client(client.settings)  # another process: only the stored profile is there
    try:
        [report] = fresh.monitors.run(now=T0 + 2 * HOUR)
    finally:
        fresh.close()
    assert (report.windows, report.failed) == (1, 0)


def test_prediction_drift_is_measured_against_a_reference_window(client: Client) -> None:
    log(client, hour_of_traffic(0))
    confident = hour_of_traffic(1)
    for position, entry in enumerate(confident):  # every prediction is now the positive class
        confident[position] = replace(entry, outputs={"prediction": 1, "probabilities": [0.05, 0.95]})
    log(client, confident)
    lw.monitor("fraud", reference=f"window:{T0}/{T0 + HOUR}")

    client.monitors.run(now=T0 + 2 * HOUR)

    drift = client.monitors.results("fraud", metric="prediction_drift_detected")
    assert list(zip(drift["column"], drift["value"], strict=True)) == [
        ("prediction", 0.0),
        ("score", 0.0),
        ("prediction", 1.0),
        ("score", 1.0),
    ]
    # The reference window compared with itself: nothing drifts.
    assert values(client, "fraud", "drift_share")[0] == 0.0


def test_schema_violations_come_from_the_data_checks(client: Client) -> None:
    schema = client.infer_schema("tx")
    client.save_schema("tx", schema)
    rows = [{"amount": 100.0, "city": "lyon"}] * 4 + [
        {"amount": -5.0, "city": "nice"},
        {"amount": "12", "city": "lyon"},
    ]
    log(client, hour_of_traffic(0, rows=6, inputs=rows))
    lw.monitor("fraud", reference="tx:1", columns=["amount", "city"])

    client.monitors.run(now=T0 + HOUR)

    assert values(client, "fraud", "schema_violations") == [2.0]
    found = client.monitors.results("fraud", metric="schema_violation_rows")
    checks = {(row.column, row.extra["check"]): row.value for row in found.itertuples()}
    assert checks == {("amount", "type"): 6.0, ("city", "categories"): 1.0}


def test_a_run_evaluates_the_alert_rules(client: Client) -> None:
    log(client, hour_of_traffic(0, shift=40.0))
    lw.monitor("fraud", reference="tx:1")
    lw.alert_rule("fraud-drift", monitor="fraud", when="drift_share > 0.3", severity="critical", channels=[])

    [report] = client.monitors.run(now=T0 + HOUR)

    assert [(event.event, event.rule.name) for event in report.alerts] == [("opened", "fraud-drift")]
    assert report.summary() == "Monitor 'fraud': 1 new window, 1 alert opened."


def test_a_window_that_fails_is_recorded_and_the_run_goes_on(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1))
    lw.monitor("fraud", reference="tx:1")
    calls = {"count": 0}
    original = measure_module.quality

    def flaky(*args: object, **kwargs: object) -> object:
        calls["count"] += 1
        if calls["count"] == 1:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(measure_module, "quality", flaky)

    [report] = client.monitors.run(now=T0 + 2 * HOUR)

    assert (report.windows, report.failed) == (2, 1)
    assert report.summary() == "Monitor 'fraud': 2 new windows (1 failed)."
    windows = MonitorCatalog(client.store).windows(client.monitors.get("fraud").id)
    assert [(window.status, window.error) for window in windows] == [
        ("failed", "RuntimeError: disk on fire"),
        ("ok", None),
    ]
    assert client.monitors.run(now=T0 + 2 * HOUR)[0].windows == 0  # a failed window is not retried …
    again = client.monitors.backfill("fraud", T0, T0 + HOUR)  # … until it is backfilled
    assert (again.windows, again.failed) == (1, 0)
    assert [window.status for window in MonitorCatalog(client.store).windows(windows[0].monitor_id)] == [
        "ok",
        "ok",
    ]


def test_changing_what_the_profile_is_made_of_profiles_the_reference_again(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1))
    lw.monitor("fraud", reference="tx:1", columns=["amount"])
    first = client.monitors.get("fraud").profile_artifact_id
    lw.monitor("fraud", reference="tx:1", columns=["amount"], drift_share=0.3)  # the profile still fits
    assert client.monitors.get("fraud").profile_artifact_id == first
    client.monitors.run(now=T0 + HOUR)

    lw.monitor("fraud", reference="tx:1", columns=["amount", "city"])  # profiled again, at once
    assert client.monitors.get("fraud").profile_artifact_id not in (None, first)
    client.monitors.run(now=T0 + 2 * HOUR)

    scored = client.monitors.results("fraud", metric="drift_score")
    assert list(
        zip(scored["window_start"].dt.as_unit("ms").astype("int64"), scored["column"], strict=True)
    ) == [
        (T0, "amount"),
        (T0 + HOUR, "amount"),
        (T0 + HOUR, "city"),
    ]
