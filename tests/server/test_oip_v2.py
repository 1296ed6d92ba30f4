"""The Open Inference Protocol v2 (KServe, Triton clients) over real HTTP."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

import loopwright
from tests.server.conftest import FEATURES, LiveServer

COLUMNS = {
    "id": "req-7",
    "inputs": [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [90.0, 5.0]},
        {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[40], [30]]},
    ],
}


def test_health_and_server_metadata(server: LiveServer) -> None:
    assert server.http.get("/v2/health/live").json() == {"live": True}
    assert server.http.get("/v2/health/ready").json() == {"ready": True}
    assert server.http.get("/v2").json() == {
        "name": "loopwright",
        "version": loopwright.__version__,
        "extensions": [],
    }


def test_model_metadata_lists_the_signatures_inputs(server: LiveServer) -> None:
    assert server.http.get("/v2/models/fraud").json() == {
        "name": "fraud",
        "versions": ["1"],
        "platform": "loopwright_sklearn",
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
            {"name": "age", "datatype": "INT64", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
        ],
    }
    assert server.http.get("/v2/models/fraud/ready").json() == {"name": "fraud", "ready": True}


def test_infer_with_one_tensor_per_column(server: LiveServer) -> None:
    response = server.http.post("/v2/models/fraud/infer", json=COLUMNS)
    assert response.status_code == 200
    document = response.json()
    ids = document["parameters"]["request_ids"]
    assert document == {
        "model_name": "fraud",
        "model_version": "1",
        "id": "req-7",
        "parameters": {"request_ids": ids, "versions": [1, 1], "variants": ["production", "production"]},
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            {
                "name": "predict_proba",
                "shape": [2, 2],
                "datatype": "FP64",
                "data": document["outputs"][1]["data"],
            },
        ],
    }
    probabilities = document["outputs"][1]["data"]
    assert probabilities[0] + probabilities[1] == pytest.approx(1.0)
    assert probabilities[1] > 0.5 > probabilities[3]
    assert sorted(server.client.predictions("fraud")["request_id"]) == sorted(ids)


def test_infer_with_one_matrix_in_the_signatures_column_order(server: LiveServer) -> None:
    features = FEATURES.astype("float64")
    server.client.register_model(
        "scores", LogisticRegression().fit(features, features["amount"] > 50), input_example=features
    )
    server.client.deploy("scores", "scores/1")
    payload = {
        "inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [90.0, 40, 5.0, 30]}],
        "outputs": [{"name": "predict"}],
    }
    document = server.http.post("/v2/models/scores/infer", json=payload).json()
    assert document["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "BOOL", "data": [True, False]}
    ]
    assert "id" not in document


def test_a_matrix_must_fit_every_columns_type(server: LiveServer) -> None:
    payload = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [90.0, 40.5]}]}
    response = server.http.post("/v2/models/fraud/infer", json=payload)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "The column 'age' must be int64 (or a type that widens to it safely). Got float64 instead."
    )


def test_errors_have_the_protocols_shape(server: LiveServer) -> None:
    bad = {"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [90.0]}]}
    response = server.http.post("/v2/models/fraud/infer", json=bad)
    assert response.status_code == 422
    assert response.json() == {
        "error": "The 'inputs[0].data' of the request must be 2 FP64 values filling shape [2]. Got 1 value "
        "instead.",
        "code": "invalid_input.payload",
        "details": {
            "field": "inputs[0].data",
            "expected": "2 FP64 values filling shape [2]",
            "received": "1 value",
        },
    }


def test_a_missing_column_names_it(server: LiveServer) -> None:
    only_amount = {"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [90.0]}]}
    response = server.http.post("/v2/models/fraud/infer", json=only_amount)
    assert response.status_code == 422
    assert response.json()["error"] == (
        "The input is missing the column 'age' (int64) required by the model's signature. Got the columns "
        "'amount' instead."
    )


def test_an_unknown_model_is_a_404_everywhere(server: LiveServer) -> None:
    for response in (
        server.http.get("/v2/models/fruad"),
        server.http.get("/v2/models/fruad/ready"),
        server.http.post("/v2/models/fruad/infer", json=COLUMNS),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found.deployment"
        assert response.json()["error"].startswith("Deployment 'fruad' does not exist.")
