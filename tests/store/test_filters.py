"""The filter language's errors: each names the offending token and points at it."""

from __future__ import annotations

import pytest

from loopwright.errors import FilterSyntaxError, InvalidInputError
from loopwright.store.filters import OrderKey, compile_filter, parse_order_by


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        (
            "metrics.accuracy >> 0.9",
            "Unexpected '>' at position 18 in filter 'metrics.accuracy >> 0.9': expected a number or a "
            "quoted text.",
            18,
        ),
        (
            "metrics.accuracy > 0.9 and",
            "Unexpected end of the filter at position 26 in filter 'metrics.accuracy > 0.9 and': expected "
            "a field such as metrics.accuracy, params.model, tags.team or status.",
            26,
        ),
        (
            "metrics.accuracy > 0.9 params.model = 'lr'",
            "Unexpected 'params.model' at position 23 in filter \"metrics.accuracy > 0.9 params.model = 'lr'\": "
            "expected 'and', 'or' or the end of the filter.",
            23,
        ),
        (
            "metrics.accuracy > 'high'",
            "Metric 'accuracy' is compared with the text 'high' at position 19: metrics compare with numbers, "
            "e.g. metrics.accuracy > 0.9.",
            19,
        ),
        (
            "params.lr > 0.1",
            "'>' at position 10 orders numbers, but parameters are text: use =, !=, like, ilike, in on "
            "params.lr.",
            10,
        ),
        (
            "metric.loss like '0.%'",
            "'like' at position 12 compares text, but metric 'loss' is a number: use =, !=, <, <=, >, >=, in.",
            12,
        ),
        (
            "metricz.loss < 1",
            "Unknown field prefix 'metricz' at position 0: expected metrics., params., tags. or attributes.",
            0,
        ),
        (
            "attributes.colour = 'red'",
            "Unknown attribute 'colour' at position 0: expected one of end_time, git_commit, host, id, kind, "
            "name, parent_id, run_id, run_name, start_time, status, user.",
            0,
        ),
        (
            "metrics.loss < 1 ; drop",
            "Unexpected character ';' at position 17 in 'metrics.loss < 1 ; drop'.",
            17,
        ),
        (
            "(metrics.loss < 1",
            "Unexpected end of the filter at position 17 in filter '(metrics.loss < 1': expected ')'.",
            17,
        ),
        (
            "start_time > 'yesterday'",
            "The time 'yesterday' at position 13 is not ISO-8601 (e.g. '2026-11-27' or "
            "'2026-11-27T14:30:00+00:00') nor a number of milliseconds since the epoch.",
            13,
        ),
        (
            "tags.team is 'x'",
            "Unexpected \"'x'\" at position 13 in filter \"tags.team is 'x'\": expected 'null'.",
            13,
        ),
    ],
)
def test_syntax_errors_point_at_the_token(expression: str, message: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        compile_filter(expression)
    error = caught.value
    assert error.message == f"{message}\n    {expression}\n    {' ' * position}^"
    assert error.position == position
    assert error.code == "invalid_input.filter"
    assert isinstance(error, InvalidInputError)
    assert isinstance(error, ValueError)


def test_an_empty_filter_keeps_everything() -> None:
    assert str(compile_filter(None)) == "true"
    assert str(compile_filter("   ")) == "true"


def test_order_by_items() -> None:
    assert parse_order_by(["metrics.accuracy desc", "params.model", "start_time ASC", "tags.`a b` desc"]) == [
        OrderKey("metric", "accuracy", True),
        OrderKey("param", "model", False),
        OrderKey("attribute", "start_time", False),
        OrderKey("tag", "a b", True),
    ]
    with pytest.raises(FilterSyntaxError, match="expected 'asc', 'desc' or nothing"):
        parse_order_by(["metrics.accuracy downward"])
    with pytest.raises(FilterSyntaxError, match="must start with a field"):
        parse_order_by(["'accuracy'"])


def test_a_filter_nested_too_deeply_is_refused_not_a_crash() -> None:
    with pytest.raises(FilterSyntaxError, match="nests parentheses or 'not' more than 64 levels deep"):
        compile_filter("(" * 600 + "metrics.loss < 1" + ")" * 600)
    compile_filter("(" * 60 + "metrics.loss < 1" + ")" * 60)  # deep but fine
