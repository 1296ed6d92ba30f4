"""The value formats and column choices every table shares."""

from __future__ import annotations

import pytest

from loopwright.cli._render import ColumnSpec, format_duration, format_metric, format_size, lower_is_better
from loopwright.errors import InvalidInputError


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.0, "0.00s"), (0.421, "0.42s"), (12.34, "12.3s"), (125.0, "2m 05s"), (3720.0, "1h 02m")],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.9123456, "0.9123"),
        (1234567.0, "1.235e+06"),
        (1.0, "1"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
    ],
)
def test_metrics_show_four_significant_digits(value: float | None, text: str) -> None:
    assert format_metric(value) == text


@pytest.mark.parametrize(
    ("size", "text"), [(5, "5 B"), (2048, "2.0 KiB"), (5 * 1024**2, "5.0 MiB"), (3 * 1024**3, "3.0 GiB")]
)
def test_sizes_use_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("loss", True),
        ("val_loss", True),
        ("test_log_loss", True),
        ("rmse", True),
        ("error_rate", True),
        ("latency_ms", True),
        ("accuracy", False),
        ("roc_auc", False),
        ("f1", False),
        ("r2", False),
    ],
)
def test_which_metrics_are_better_low(metric: str, lower: bool) -> None:
    assert lower_is_better(metric) is lower


def test_columns_parse_families_aliases_and_attributes() -> None:
    assert ColumnSpec.parse("metrics.val.loss") == ColumnSpec("metrics", "val.loss")
    assert ColumnSpec.parse("param.C") == ColumnSpec("params", "C")
    assert ColumnSpec.parse("user") == ColumnSpec("attributes", "user")
    assert ColumnSpec.parse("attributes.host") == ColumnSpec("attributes", "host")
    with pytest.raises(InvalidInputError, match="Unknown column 'attributes.colour'"):
        ColumnSpec.parse("attributes.colour")
    with pytest.raises(InvalidInputError, match="Unknown column 'metrics.'"):
        ColumnSpec.parse("metrics.")
