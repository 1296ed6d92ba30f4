"""Loopwright's own endpoints over real HTTP: predict, feedback and the deployments list."""

from __future__ import annotations

import re

import pytest

from loopwright.settings import ServerSettings
from tests.server.conftest import LARGE, SMALL, LiveServer, running

HEX_ID = re.compile(r"[0-9a-f]{32}\Z")


def test_records_get_one_answer_per_row_with_id_version_and_variant(server: LiveServer) -> None:
    response = server.predict({"records": [LARGE, SMALL]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["deployment"] == "fraud"
    rows = document["predictions"]
    assert [row["prediction"] for row in rows] == [1, 0]
    assert [(row["model"], row["version"], row["variant"]) for row in rows] == [
        ("fraud", 1, "production")
    ] * 2
    assert all(HEX_ID.match(row["request_id"]) for row in rows)
    assert rows[0]["request_id"] != rows[1]["request_id"]
    for row in rows:
        assert len(row["probabilities"]) == 2
        assert sum(row["probabilities"]) == pytest.approx(1.0)
    assert rows[0]["probabilities"][1] > 0.5 > rows[1]["probabilities"][1]
    assert "x-request-id" not in response.headers  # several rows: their ids are in the body


def test_one_record_and_the_request_id_header(server: LiveServer) -> None:
    response = server.predict({"records": LARGE}, headers={"X-Request-ID": "order-17"})
    assert response.status_code == 200
    (row,) = response.json()["predictions"]
    assert (row["request_id"], row["prediction"]) == ("order-17", 1)
    assert response.headers["x-request-id"] == "order-17"


def test_columns_and_dataframe_split_with_the_callers_request_ids(server: LiveServer) -> None:
    columns = server.predict({"columns": {"amount": [90.0, 5.0], "age": [40, 30]}, "request_ids": ["a", "b"]})
    split = server.predict(
        {
            "dataframe_split": {"columns": ["age", "amount"], "data": [[40, 90.0], [30, 5.0]]},
            "request_ids": ["c", "d"],
        }
    )
    assert [(row["request_id"], row["prediction"]) for row in columns.json()["predictions"]] == [
        ("a", 1),
        ("b", 0),
    ]
    assert [(row["request_id"], row["prediction"]) for row in split.json()["predictions"]] == [
        ("c", 1),
        ("d", 0),
    ]


def test_every_answered_row_is_in_the_prediction_log(server: LiveServer) -> None:
    answered = server.predict({"records": [LARGE, SMALL], "request_ids": ["r-1", "r-2"]}).json()[
        "predictions"
    ]
    logged = server.client.predictions("fraud").set_index("request_id")
    assert sorted(logged.index) == ["r-1", "r-2"]
    for row in answered:
        entry = logged.loc[row["request_id"]]
        assert (entry["model"], entry["version"], entry["variant"]) == ("fraud", 1, "production")
        assert entry["outputs"]["prediction"] == row["prediction"]
        assert entry["outputs"]["probabilities"] == pytest.approx(row["probabilities"])
        assert entry["latency_ms"] > 0
    assert logged.loc["r-1", "inputs"] == LARGE


def test_a_large_request_runs_in_a_worker_thread_with_the_same_answers(client: object) -> None:
    rows = [LARGE, SMALL] * 40  # 80 rows: above inline_rows
    with running(client, ServerSettings(inline_rows=64)) as live:  # type: ignore[arg-type]
        predictions = live.predict({"records": rows}).json()["predictions"]
    assert [row["prediction"] for row in predictions] == [1, 0] * 40


def test_a_canary_at_full_weight_answers_every_row(server: LiveServer) -> None:
    server.client.deploy("fraud", "fraud@production", canary=2, canary_weight=1.0)
    server.app.state.runtime.refresh()
    rows = server.predict({"records": [LARGE, SMALL]}).json()["predictions"]
    assert [(row["version"], row["variant"], row["prediction"]) for row in rows] == [
        (2, "canary", 0),
        (2, "canary", 1),
    ]


def test_sticky_routing_by_header_keeps_a_customer_on_one_version(server: LiveServer) -> None:
    server.client.deploy("fraud", "fraud@production", canary=2, canary_weight=0.5, sticky="header:X-Customer")
    server.app.state.runtime.refresh()
    seen: dict[str, set[int]] = {}
    for customer in (f"customer-{index}" for index in range(20)):
        for _ in range(3):
            row = server.predict({"records": LARGE}, headers={"X-Customer": customer}).json()["predictions"][
                0
            ]
            seen.setdefault(customer, set()).add(row["version"])
    assert all(len(versions) == 1 for versions in seen.values())
    assert {version for versions in seen.values() for version in versions} == {
        1,
        2,
    }  # 2**-19 to fail by chance


def test_deployments_are_listed_with_what_they_serve(server: LiveServer) -> None:
    listed = server.http.get("/v1/deployments").json()["deployments"]
    assert [(item["name"], item["production"], item["serving"], item["status"]) for item in listed] == [
        ("fraud", "fraud@production", {"production": 1}, "serving")
    ]
    one = server.http.get("/v1/deployments/fraud").json()
    assert (one["name"], one["revision"], one["serving"]) == ("fraud", 1, {"production": 1})


def test_an_unknown_deployment_is_a_404_naming_the_known_ones(server: LiveServer) -> None:
    for response in (
        server.predict({"records": LARGE}, deployment="fruad"),
        server.http.get("/v1/deployments/fruad"),
    ):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "not_found.deployment"
        assert error["message"].startswith("Deployment 'fruad' does not exist. Known deployments: 'fraud'.")
        assert error["details"] == {"kind": "deployment", "key": "fruad"}


def test_feedback_for_logged_requests_is_recorded_and_unknown_ids_reported(server: LiveServer) -> None:
    server.predict({"records": [LARGE, SMALL], "request_ids": ["r-1", "r-2"]})
    response = server.http.post("/v1/deployments/fraud/feedback", json={"feedback": {"r-1": 1, "r-9": 0}})
    assert response.status_code == 200
    assert response.json() == {
        "deployment": "fraud",
        "recorded": 1,
        "replaced": 0,
        "unknown": ["r-9"],
        "message": "Recorded 1 label for deployment 'fraud'; 1 request id is not in its prediction log and was not "
        "recorded: 'r-9'.",
    }
    listed = server.http.post(
        "/v1/deployments/fraud/feedback",
        json={"feedback": [{"request_id": "r-2", "value": {"chargeback": True}}]},
    )
    assert listed.json()["recorded"] == 1
    labels = server.client.feedback.get("fraud").set_index("request_id")["value"].to_dict()
    assert labels == {"r-1": 1, "r-2": {"chargeback": True}}


def test_feedback_with_on_unknown_raise_records_nothing(server: LiveServer) -> None:
    server.predict({"records": LARGE, "request_ids": ["r-1"]})
    response = server.http.post(
        "/v1/deployments/fraud/feedback?on_unknown=raise", json={"feedback": {"r-1": 1, "r-9": 0}}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found.request"
    assert server.client.feedback.get("fraud").empty
