"""The serving runtime: routing per row, hot reload without dropping requests, best-effort shadows."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.errors import DeploymentUnavailableError, InvalidInputError, NotFoundError, PredictionError
from loopwright.serving.runtime import PredictionResult, ServingRuntime
from tests.serving.deployment_models import (  # noqa: F401 - fixtures
    EXAMPLE,
    Broken,
    Tagged,
    client_with_models,
    database_url,
    module_postgres_url,
)


def frame(rows: int, customers: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {"amount": np.arange(rows, dtype="float64"), "customer": [f"c-{i % customers}" for i in range(rows)]}
    )


def test_production_answers_every_row_with_its_version(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production")
    with ServingRuntime(client) as runtime:
        result = runtime.predict("fraud", frame(3), request_ids=["a", "b", "c"])
        assert isinstance(result, PredictionResult)
        assert (result.deployment, result.model, len(result)) == ("fraud", "fraud", 3)
        assert result.request_ids == ["a", "b", "c"]
        assert result.predictions.tolist() == [1, 1, 1]
        assert result.probabilities is None
        assert (result.variants, result.versions) == (["production"] * 3, [1, 1, 1])
        assert result.latency_ms > 0
        assert abs(result.timestamp - time.time() * 1000) < 60_000
        generated = runtime.predict("fraud", [{"amount": 1.0, "customer": "c-1"}]).request_ids
        assert [len(request_id) for request_id in generated] == [32]
        assert runtime.versions("fraud") == {"production": 1}
        assert runtime.names() == ["fraud"]


def test_refresh_is_a_no_op_until_a_deployment_or_an_alias_changes(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production")
    lw.deploy("pinned", "fraud/1")
    with ServingRuntime(client) as runtime:
        assert runtime.refresh() is False
        client.set_alias("fraud", "production", 2)
        assert runtime.predict("fraud", frame(1)).versions == [1]  # not picked up before a refresh
        assert runtime.refresh() is True
        assert runtime.predict("fraud", frame(1)).versions == [2]
        assert runtime.refresh() is False
        client.deployments.update("pinned", model="fraud/3")
        assert runtime.refresh() is True
        assert runtime.predict("pinned", frame(1)).versions == [3]
        assert runtime.stats()["reloads"] == 3  # versions 1, 2 and 3, each loaded once


def test_in_flight_predictions_finish_on_the_old_model_while_the_new_one_takes_over(
    settings: lw.Settings,
) -> None:
    client = lw.connect(settings)
    try:
        client.register_model("fraud", Tagged(1, delay=0.5), input_example=EXAMPLE)
        client.register_model("fraud", Tagged(2), input_example=EXAMPLE)
        client.set_alias("fraud", "production", 1)
        lw.deploy("fraud", "fraud@production")
        with ServingRuntime(client) as runtime:
            slow: list[PredictionResult] = []
            in_flight = threading.Thread(target=lambda: slow.append(runtime.predict("fraud", frame(2))))
            in_flight.start()
            time.sleep(0.1)  # the request is inside version 1's predict now
            client.set_alias("fraud", "production", 2)
            assert runtime.refresh() is True
            fresh = runtime.predict("fraud", frame(2))
            assert (fresh.versions, fresh.predictions.tolist()) == ([2, 2], [2, 2])
            assert in_flight.is_alive()  # the new model answered while the old one was still busy
            in_flight.join()
            assert (slow[0].versions, slow[0].predictions.tolist()) == ([1, 1], [1, 1])
    finally:
        client.close()


def test_predictions_in_a_loop_never_fail_while_aliases_and_deployments_keep_changing(
    client: lw.Client,
) -> None:
    lw.deploy("fraud", "fraud@production")
    stop = threading.Event()
    seen: list[list[int]] = []
    failures: list[BaseException] = []

    def keep_predicting() -> None:
        versions: list[int] = []
        try:
            while not stop.is_set():
                result = runtime.predict("fraud", frame(4))
                assert result.predictions.tolist() == result.versions  # each row answered by its version
                versions.append(result.versions[0])
        except BaseException as error:  # reported below
            failures.append(error)
        seen.append(versions)

    with ServingRuntime(client) as runtime:
        threads = [threading.Thread(target=keep_predicting) for _ in range(3)]
        for thread in threads:
            thread.start()
        for step, version in enumerate([2, 3, 1, 2, 3]):
            time.sleep(0.05)
            client.set_alias("fraud", "production", version)
            if step == 2:
                client.deployments.update("fraud", canary=1, canary_weight=0.5)
            assert runtime.refresh() is True
        time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert all(len(versions) > 0 for versions in seen)
    assert {version for versions in seen for version in versions} >= {2, 3}


def test_canary_rows_are_answered_by_the_canary_and_kept_in_request_order(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production", canary=2, canary_weight=0.3, sticky="field:customer")
    with ServingRuntime(client) as runtime:
        data = frame(2000, customers=400)
        result = runtime.predict("fraud", data)
        assert result.predictions.tolist() == result.versions
        assert [2 if variant == "canary" else 1 for variant in result.variants] == result.versions
        by_customer: dict[str, set[str]] = {}
        for customer, variant in zip(data["customer"], result.variants, strict=True):
            by_customer.setdefault(customer, set()).add(variant)
        assert all(len(variants) == 1 for variants in by_customer.values())  # sticky
        canary_customers = sum(variants == {"canary"} for variants in by_customer.values())
        assert abs(canary_customers - 400 * 0.3) <= 5 * (400 * 0.3 * 0.7) ** 0.5
        # one row at a time, the same customers go the same way
        for position in range(0, 2000, 97):
            one = runtime.predict("fraud", data.iloc[[position]])
            assert one.variants == [result.variants[position]]


def test_a_sticky_header_routes_the_whole_request(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production", canary=2, canary_weight=0.5, sticky="header:X-Customer")
    with ServingRuntime(client) as runtime:
        outcomes = {}
        for customer in (f"customer-{index}" for index in range(40)):
            first = runtime.predict("fraud", frame(5), headers={"x-customer": customer})
            again = runtime.predict("fraud", frame(5), headers={"X-Customer": customer})
            assert len(set(first.variants)) == 1
            assert first.variants == again.variants
            outcomes[customer] = first.variants[0]
        assert set(outcomes.values()) == {"production", "canary"}
        explicit = runtime.predict("fraud", frame(5), routing_keys="customer-0")
        assert explicit.variants == [outcomes["customer-0"]] * 5


def test_the_shadow_gets_a_copy_and_never_answers(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production", shadow=3)
    shadows: list[tuple[PredictionResult, Any]] = []
    with ServingRuntime(client, on_shadow=lambda result, data: shadows.append((result, data))) as runtime:
        data = frame(4)
        answer = runtime.predict("fraud", data, request_ids=["a", "b", "c", "d"])
        assert answer.variants == ["production"] * 4
        assert answer.predictions.tolist() == [1] * 4
        assert runtime.wait_for_shadow()
        [(shadow, shadow_data)] = shadows
        assert (shadow.variants, shadow.versions, shadow.request_ids) == (
            ["shadow"] * 4,
            [3] * 4,
            ["a", "b", "c", "d"],
        )
        assert shadow.predictions.tolist() == [3] * 4
        assert shadow.timestamp == answer.timestamp
        assert shadow_data is data
        assert runtime.stats()["shadow_done"] == 1


def test_a_full_shadow_queue_drops_and_counts_instead_of_waiting(
    settings: lw.Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = lw.connect(settings)
    try:
        client.register_model("fraud", Tagged(1), input_example=EXAMPLE)
        client.register_model("fraud", Tagged(2, delay=0.3), input_example=EXAMPLE)
        client.set_alias("fraud", "production", 1)
        lw.deploy("fraud", "fraud@production", shadow=2)
        with ServingRuntime(client, shadow_queue_size=1) as runtime:
            started = time.perf_counter()
            for _ in range(10):
                assert runtime.predict("fraud", frame(1)).versions == [1]
            assert time.perf_counter() - started < 0.3  # never waited for the slow shadow
            stats = runtime.stats()
            assert stats["shadow_dropped"] >= 8
            warnings = [
                record.getMessage() for record in caplog.records if "shadow queue" in record.getMessage()
            ]
            assert warnings == [  # once, not once per dropped request
                "The shadow queue of deployment 'fraud' is full (1 requests): shadow traffic is best-effort, so "
                "copies are being dropped (shadow_dropped counts them)."
            ]
            assert runtime.wait_for_shadow()
            stats = runtime.stats()
            assert stats["shadow_done"] + stats["shadow_dropped"] == 10
    finally:
        client.close()


def test_a_failing_shadow_is_counted_and_never_reaches_the_caller(settings: lw.Settings) -> None:
    client = lw.connect(settings)
    try:
        client.register_model("fraud", Tagged(1), input_example=EXAMPLE)
        client.register_model("fraud", Broken(), input_example=EXAMPLE)
        client.set_alias("fraud", "production", 1)
        lw.deploy("fraud", "fraud@production", shadow=2)
        with ServingRuntime(client) as runtime:
            assert runtime.predict("fraud", frame(2)).predictions.tolist() == [1, 1]
            assert runtime.wait_for_shadow()
            assert runtime.stats()["shadow_errors"] == 1
    finally:
        client.close()


def test_a_failing_model_is_a_prediction_error_naming_the_variant(settings: lw.Settings) -> None:
    client = lw.connect(settings)
    try:
        client.register_model("fraud", Broken(), input_example=EXAMPLE)
        client.register_model("fraud", Broken(short=True), input_example=EXAMPLE)
        lw.deploy("raises", "fraud/1")
        lw.deploy("short", "fraud/2")
        with ServingRuntime(client) as runtime:
            with pytest.raises(PredictionError) as raised:
                runtime.predict("raises", frame(2))
            assert str(raised.value) == (
                "The production model of deployment 'raises' (model 'fraud' version 1) failed on this request: "
                "it raised RuntimeError: the model fell over."
            )
            assert raised.value.details == {
                "deployment": "raises",
                "model": "fraud",
                "version": 1,
                "variant": "production",
            }
            with pytest.raises(PredictionError) as short:
                runtime.predict("short", frame(3))
            assert str(short.value) == (
                "The production model of deployment 'short' (model 'fraud' version 2) failed on this request: "
                "it returned 2 predictions for 3 row(s)."
            )
    finally:
        client.close()


def test_bad_requests_are_invalid_input(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production")
    with ServingRuntime(client) as runtime:
        with pytest.raises(InvalidInputError) as empty:
            runtime.predict("fraud", frame(0))
        assert (
            str(empty.value)
            == "A prediction request to deployment 'fraud' needs at least one row. Got 0 rows."
        )
        with pytest.raises(InvalidInputError) as ids:
            runtime.predict("fraud", frame(2), request_ids=["only-one"])
        assert str(ids.value) == (
            "The 'request_ids' of a request to deployment 'fraud' must be one non-empty text per row: 2 row(s). "
            "Got 1 id(s) instead."
        )
        with pytest.raises(lw.errors.SignatureError):
            runtime.predict("fraud", pd.DataFrame({"other": [1.0]}))


def test_deployments_created_later_are_served_and_unknown_ones_are_named(client: lw.Client) -> None:
    with ServingRuntime(client) as runtime:
        with pytest.raises(NotFoundError) as unknown:
            runtime.predict("fraud", frame(1))
        assert str(unknown.value) == (
            "Deployment 'fraud' does not exist. Known deployments: none yet. Create one with "
            "lw.deploy('fraud', model='NAME@production')."
        )
        lw.deploy("fraud", "fraud/2")
        assert runtime.predict("fraud", frame(1)).versions == [2]  # looked up on first use


def test_a_deployment_that_cannot_load_keeps_serving_what_worked_and_does_not_stop_others(
    client: lw.Client,
) -> None:
    lw.deploy("fraud", "fraud@production")
    lw.deploy("other", "fraud/3")
    with ServingRuntime(client) as runtime:
        client.registry.remove_alias("fraud", "production")
        assert runtime.refresh() is True
        assert "fraud" in runtime.errors
        assert runtime.predict("fraud", frame(1)).versions == [1]  # still the last good snapshot
        assert runtime.predict("other", frame(1)).versions == [3]
    with ServingRuntime(client) as fresh:
        assert fresh.names() == ["other"]
        with pytest.raises(DeploymentUnavailableError) as unavailable:
            fresh.predict("fraud", frame(1))
        assert str(unavailable.value).startswith(
            "Deployment 'fraud' cannot serve: Model 'fraud' has no alias 'production'."
        )


def test_the_background_watcher_picks_up_changes(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production")
    with ServingRuntime(client) as runtime:
        runtime.start(interval_s=0.05)
        client.set_alias("fraud", "production", 3)
        deadline = time.monotonic() + 10
        while runtime.versions("fraud") != {"production": 3} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runtime.versions("fraud") == {"production": 3}
        with pytest.raises(InvalidInputError):
            runtime.start(interval_s=0)
