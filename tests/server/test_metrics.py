"""``/metrics`` in Prometheus' text format, read back with prometheus_client's own parser."""

from __future__ import annotations

import loopwright as lw
from loopwright.settings import ServerSettings
from tests.server.conftest import FEATURES, LARGE, SMALL, LiveServer, Slow, running

PRODUCTION_1 = {"deployment": "fraud", "version": "1", "variant": "production"}


def test_requests_rows_errors_and_latency_per_deployment_version_and_variant(server: LiveServer) -> None:
    for _ in range(3):
        assert server.predict({"records": LARGE}).status_code == 200
    assert server.predict({"records": [LARGE, SMALL]}).status_code == 200
    assert server.predict({"records": [{"amount": "x", "age": 1}]}).status_code == 422
    assert server.predict({"records": LARGE}, deployment="scanner-probe").status_code == 404
    assert server.http.post("/v1/deployments/fraud/predict", content=b"{").status_code == 400

    assert server.sample("loopwright_requests", "loopwright_requests_total", **PRODUCTION_1) == 4
    assert server.sample("loopwright_predictions", "loopwright_predictions_total", **PRODUCTION_1) == 5
    errors = {
        (sample.labels["deployment"], sample.labels["code"]): sample.value
        for sample in server.metrics()["loopwright_request_errors"]
        if sample.name == "loopwright_request_errors_total"
    }
    # The unknown deployment's name is not a label: scanners must not grow the series.
    assert errors == {
        ("fraud", "invalid_input.signature"): 1,
        ("", "not_found.deployment"): 1,
        ("fraud", "invalid_input.payload.malformed"): 1,
    }

    histogram = [
        sample
        for sample in server.metrics()["loopwright_request_latency_seconds"]
        if all(sample.labels.get(key) == value for key, value in PRODUCTION_1.items())
    ]
    by_name = {(sample.name, sample.labels.get("le")): sample.value for sample in histogram}
    assert by_name["loopwright_request_latency_seconds_count", None] == 4
    assert by_name["loopwright_request_latency_seconds_bucket", "+Inf"] == 4
    assert 0 < by_name["loopwright_request_latency_seconds_sum", None] < 10
    buckets = [sample.value for sample in histogram if sample.name.endswith("_bucket")]
    assert buckets == sorted(buckets)


def test_the_prediction_log_lag_and_what_is_served(server: LiveServer) -> None:
    server.predict({"records": [LARGE, SMALL, LARGE]})
    assert server.sample("loopwright_prediction_log_lag_entries") == 3  # not compacted yet
    assert server.sample("loopwright_prediction_log_lag_segments") == 1
    assert server.sample("loopwright_prediction_log_lag_bytes") > 0
    assert server.sample("loopwright_prediction_log_entries", "loopwright_prediction_log_entries_total") == 3
    assert (
        server.sample(
            "loopwright_prediction_log_write_errors", "loopwright_prediction_log_write_errors_total"
        )
        == 0
    )
    assert server.sample("loopwright_deployment_serving", **PRODUCTION_1) == 1
    assert server.sample("loopwright_model_reloads", "loopwright_model_reloads_total") == 1
    server.client.prediction_log.close()  # closes the segment and compacts it
    assert server.sample("loopwright_prediction_log_lag_entries") == 0


def test_a_request_split_by_a_canary_counts_for_each_variant(server: LiveServer) -> None:
    server.client.deploy("fraud", "fraud@production", canary=2, canary_weight=0.5)
    server.app.state.runtime.refresh()
    server.predict({"records": [LARGE] * 40})  # all 40 rows on one side: 2**-39
    canary = {"deployment": "fraud", "version": "2", "variant": "canary"}
    assert server.sample("loopwright_requests", "loopwright_requests_total", **PRODUCTION_1) == 1
    assert server.sample("loopwright_requests", "loopwright_requests_total", **canary) == 1
    rows = server.sample(
        "loopwright_predictions", "loopwright_predictions_total", **PRODUCTION_1
    ) + server.sample("loopwright_predictions", "loopwright_predictions_total", **canary)
    assert rows == 40


def test_shadow_copies_dropped_when_the_queue_is_full_are_counted(client: lw.Client) -> None:
    client.register_model("fraud", Slow(tag=7, delay=0.3), input_example=FEATURES.head())
    client.deploy("fraud", "fraud@production", shadow=3)
    with running(client, ServerSettings(shadow_queue_size=1)) as live:
        for _ in range(6):
            assert live.predict({"records": LARGE}).status_code == 200
        dropped = live.sample(
            "loopwright_shadow_requests", "loopwright_shadow_requests_total", outcome="dropped"
        )
        assert dropped >= 1
        assert dropped == live.app.state.runtime.stats()["shadow_dropped"]
        assert live.app.state.runtime.wait_for_shadow(10)
        done = live.sample("loopwright_shadow_requests", "loopwright_shadow_requests_total", outcome="done")
        assert done + dropped == 6
        assert (
            live.sample(
                "loopwright_requests", "loopwright_requests_total", deployment="fraud", variant="shadow"
            )
            == done
        )
