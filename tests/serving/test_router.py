"""Routing between production and the canary: weights hold statistically, sticky keys stay put."""

from __future__ import annotations

import math

import pytest

from loopwright.errors import InvalidInputError
from loopwright.serving.router import Router, StickyKey, parse_sticky, route_point

ROWS = 10_000


def within_five_sigma(count: int, rows: int, weight: float) -> bool:
    sigma = math.sqrt(rows * weight * (1 - weight))
    return abs(count - rows * weight) <= 5 * sigma


@pytest.mark.parametrize("weight", [0.2, 0.05, 0.5])
def test_rows_without_a_key_go_to_the_canary_at_the_weight(weight: float) -> None:
    router = Router("fraud", weight)
    chosen = router.assign(ROWS)
    assert len(chosen) == ROWS
    assert within_five_sigma(sum(chosen), ROWS, weight), sum(chosen)
    # one row at a time as well (the single-row fast path draws separately)
    assert within_five_sigma(sum(router.is_canary() for _ in range(ROWS)), ROWS, weight)


def test_a_sticky_key_always_gets_the_same_variant_and_keys_split_by_weight() -> None:
    router = Router("fraud", 0.2, parse_sticky("field:customer_id", deployment="fraud"))
    keys = [f"customer-{index}" for index in range(ROWS)]
    first = router.assign(ROWS, keys)
    assert within_five_sigma(sum(first), ROWS, 0.2), sum(first)
    assert router.assign(ROWS, keys) == first
    assert [router.is_canary(key) for key in keys[:500]] == first[:500]
    # a new router (another process, a restart) routes every key the same way
    assert Router("fraud", 0.2).assign(ROWS, keys) == first


def test_raising_the_weight_only_moves_keys_to_the_canary() -> None:
    keys = [f"customer-{index}" for index in range(ROWS)]
    low = Router("fraud", 0.1).assign(ROWS, keys)
    high = Router("fraud", 0.3).assign(ROWS, keys)
    assert all(later for earlier, later in zip(low, high, strict=True) if earlier)
    assert within_five_sigma(sum(high), ROWS, 0.3)


def test_deployments_split_the_same_keys_independently() -> None:
    keys = [f"customer-{index}" for index in range(ROWS)]
    fraud = Router("fraud", 0.5).assign(ROWS, keys)
    churn = Router("churn", 0.5).assign(ROWS, keys)
    both = sum(a and b for a, b in zip(fraud, churn, strict=True))
    assert within_five_sigma(both, ROWS, 0.25), both  # independent: a quarter are canary in both


def test_one_key_for_the_whole_request_sends_every_row_one_way() -> None:
    router = Router("fraud", 0.5, parse_sticky("header:X-Customer", deployment="fraud"))
    for key in (f"customer-{index}" for index in range(50)):
        chosen = router.assign(7, key)
        assert chosen == [router.is_canary(key)] * 7


def test_weights_zero_and_one_are_exact() -> None:
    assert Router("fraud", 0.0).assign(1000) == [False] * 1000
    assert not Router("fraud", 0.0).splits
    assert Router("fraud", 1.0).assign(1000, ["k"] * 1000) == [True] * 1000


def test_route_points_are_uniform_fractions() -> None:
    points = [route_point(f"key-{index}", b"salt") for index in range(ROWS)]
    assert all(0.0 <= point < 1.0 for point in points)
    assert within_five_sigma(sum(point < 0.5 for point in points), ROWS, 0.5)
    assert route_point("key-1", b"salt") != route_point("key-1", b"pepper")


def test_sticky_keys_parse_and_bad_ones_are_named() -> None:
    assert parse_sticky("header:X-Customer", deployment="fraud") == StickyKey("header", "X-Customer")
    assert str(parse_sticky("field:customer_id", deployment="fraud")) == "field:customer_id"
    for bad in ("cookie:session", "header:", "header:X Customer", "field:", "customer_id", 7):
        with pytest.raises(InvalidInputError) as caught:
            parse_sticky(bad, deployment="fraud")
        assert str(caught.value) == (
            "The 'sticky' key of deployment 'fraud' must be 'header:NAME' (an HTTP header, e.g. "
            "header:X-Customer) or 'field:NAME' (a field of each row, e.g. field:customer_id). Got "
            f"{bad!r} instead."
        )


def test_one_key_per_row_must_match_the_rows() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Router("fraud", 0.5).assign(3, ["a", "b"])
    assert str(caught.value) == "Routing needs one key per row: 3 row(s) but 2 key(s)."


def test_rows_without_a_key_among_keyed_rows_are_drawn_at_random() -> None:
    router = Router("fraud", 0.5)
    chosen = router.assign(ROWS, [None] * ROWS)
    assert within_five_sigma(sum(chosen), ROWS, 0.5)
