"""Windows: durations, the time grid, windows by count, incremental runs and backfills, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import loopwright as lw
from loopwright.client import Client
from loopwright.errors import InvalidInputError, MonitorDefinitionError
from loopwright.monitoring.windows import Window, format_duration, parse_duration, row_windows, time_windows
from loopwright.settings import Settings
from loopwright.store.monitoring import MonitorCatalog, WindowRecord
from tests.monitoring._traffic import HOUR, T0, deploy, hour_of_traffic, log, reference_frame


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = lw.connect(settings)
    deploy(opened)
    opened.log_dataset("tx", reference_frame())
    yield opened
    opened.close()


def windows(client: Client, name: str = "fraud") -> list[WindowRecord]:
    return MonitorCatalog(client.store).windows(client.monitors.get(name).id)


def spans(client: Client, name: str = "fraud") -> list[tuple[int, int, int, str]]:
    """(start hour, end in ms after T0, rows, status) of every processed window."""
    return [
        ((window.start_ms - T0) // HOUR, window.end_ms - T0, window.rows, window.status)
        for window in windows(client, name)
    ]


# --- pure functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        ("250ms", 250),
        ("30s", 30_000),
        ("15m", 900_000),
        ("1h", HOUR),
        ("2d", 2 * 86_400_000),
        ("1w", 604_800_000),
    ],
)
def test_durations_read_and_print_back(text: str, milliseconds: int) -> None:
    assert parse_duration(text) == milliseconds
    assert format_duration(milliseconds) == text


@pytest.mark.parametrize("value", ["1 hour", "1.5h", "", "h", True, 0, "0s"])
def test_a_bad_duration_names_the_field(value: object) -> None:
    with pytest.raises(MonitorDefinitionError) as raised:
        parse_duration(value, "label_horizon", "fraud")  # type: ignore[arg-type]
    assert str(raised.value).startswith("The 'label_horizon' of monitor 'fraud' must be ")
    assert raised.value.details["field"] == "label_horizon"


def test_time_windows_lie_on_a_grid_aligned_to_the_epoch() -> None:
    assert time_windows(T0 + 1_000, T0 + 3 * HOUR + 5, HOUR) == [
        Window(T0, T0 + HOUR),
        Window(T0 + HOUR, T0 + 2 * HOUR),
        Window(T0 + 2 * HOUR, T0 + 3 * HOUR),
    ]
    assert time_windows(T0, T0 + HOUR - 1, HOUR) == []  # the first window has not ended


def test_windows_by_count_never_split_a_millisecond_and_wait_for_it_to_pass() -> None:
    stamps = np.array([1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9], dtype=np.int64)
    assert row_windows(stamps, 3) == [Window(1, 4), Window(4, 7), Window(7, 10)]
    assert row_windows(stamps, 4) == [Window(1, 4), Window(4, 8)]  # 5 rows: the 3s stay together
    assert row_windows(stamps, 3, complete_by=9) == [Window(1, 4), Window(4, 7)]  # 9 may still grow
    assert row_windows(stamps[:2], 3) == []


# --- incremental runs ----------------------------------------------------------------------------------


def test_each_run_computes_only_the_windows_that_ended_since_the_last(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1))
    lw.monitor("fraud", reference="tx:1", window="1h")

    first = client.monitors.run(now=T0 + 2 * HOUR + 10)
    before = windows(client)
    log(client, hour_of_traffic(2))
    again = client.monitors.run(now=T0 + 2 * HOUR + 20)  # hour 2 has not ended
    later = client.monitors.run(now=T0 + 3 * HOUR)
    idle = client.monitors.run(now=T0 + 3 * HOUR + 5)

    assert [report.windows for report in (*first, *again, *later, *idle)] == [2, 0, 1, 0]
    assert spans(client) == [(0, HOUR, 300, "ok"), (1, 2 * HOUR, 300, "ok"), (2, 3 * HOUR, 300, "ok")]
    assert windows(client)[:2] == before  # computed once: not touched by later runs
    assert len(client.monitors.results("fraud", metric="drift_share")) == 3


def test_the_first_window_starts_at_the_first_prediction_and_quiet_hours_are_empty(client: Client) -> None:
    log(client, hour_of_traffic(2) + hour_of_traffic(4))
    lw.monitor("fraud", reference="tx:1")

    client.monitors.run(now=T0 + 5 * HOUR)

    assert spans(client) == [
        (2, 3 * HOUR, 300, "ok"),
        (3, 4 * HOUR, 0, "empty"),
        (4, 5 * HOUR, 300, "ok"),
    ]
    empty = client.monitors.results("fraud", start=T0 + 3 * HOUR, end=T0 + 4 * HOUR)
    assert list(zip(empty["metric"], empty["value"], strict=True)) == [("rows", 0.0), ("predictions", 0.0)]


def test_a_start_moves_the_first_window(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1) + hour_of_traffic(2))
    lw.monitor("fraud", reference="tx:1", start=T0 + HOUR + 30_000)

    client.monitors.run(now=T0 + 3 * HOUR)

    assert [start for start, *_ in spans(client)] == [1, 2]


def test_windows_by_count_are_incremental_too(client: Client) -> None:
    log(client, hour_of_traffic(0, rows=500))
    lw.monitor("fraud", reference="tx:1", rows=200)

    [first] = client.monitors.run(now=T0 + HOUR)
    log(client, hour_of_traffic(1, rows=100))
    [second] = client.monitors.run(now=T0 + 2 * HOUR)

    assert (first.windows, second.windows) == (2, 1)
    # 500 + 100 predictions: three windows of 200, none left over.
    assert [(window.start_ms - T0, window.end_ms - T0, window.rows) for window in windows(client)] == [
        (0, 199_001, 200),
        (200_000, 399_001, 200),
        (400_000, HOUR + 99_001, 200),
    ]


def test_a_backfill_recomputes_a_range_with_the_current_definition(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1) + hour_of_traffic(2))
    lw.monitor("fraud", reference="tx:1")
    client.monitors.run(now=T0 + 3 * HOUR)
    first_computed = [window.computed_ms for window in windows(client)]

    lw.monitor("fraud", reference="tx:1", drift={"amount": "psi"})
    report = client.monitors.backfill("fraud", T0 + HOUR, T0 + 3 * HOUR, now=T0 + 3 * HOUR)

    assert (report.windows, report.failed) == (2, 0)
    assert report.summary() == "Monitor 'fraud': 2 windows recomputed."
    tests = list(client.monitors.results("fraud", metric="drift_score", column="amount")["extra"])
    assert [extra["test"] for extra in tests] == ["wasserstein", "psi", "psi"]
    after = [window.computed_ms for window in windows(client)]
    assert after[0] == first_computed[0]
    assert len(client.monitors.results("fraud", metric="drift_share")) == 3  # replaced, not added


def test_a_backfill_reaches_before_the_first_window(client: Client) -> None:
    log(client, hour_of_traffic(0) + hour_of_traffic(1))
    lw.monitor("fraud", reference="tx:1", start=T0 + HOUR)
    client.monitors.run(now=T0 + 2 * HOUR)
    assert [start for start, *_ in spans(client)] == [1]

    client.monitors.backfill("fraud", "2026-01-01T00:00:00+00:00", T0 + HOUR)

    assert [start for start, *_ in spans(client)] == [0, 1]


def test_a_backfill_range_must_be_ordered(client: Client) -> None:
    lw.monitor("fraud", reference="tx:1")
    with pytest.raises(InvalidInputError) as raised:
        client.monitors.backfill("fraud", T0 + HOUR, T0)
    assert str(raised.value) == (
        f"The 'end' of a backfill of monitor 'fraud' must be after its 'start'. Got start={T0 + HOUR} and "
        f"end={T0} instead."
    )
