"""MLflow's scoring format at /v1/deployments/{name}/invocations, as ``mlflow models serve`` clients send it."""

from __future__ import annotations

import pytest

from tests.server.conftest import LARGE, SMALL, LiveServer

PATH = "/v1/deployments/fraud/invocations"


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["amount", "age"], "data": [[90.0, 40], [5.0, 30]]}},
        {"dataframe_split": {"index": [7, 8], "columns": ["age", "amount"], "data": [[40, 90.0], [30, 5.0]]}},
        {"dataframe_records": [LARGE, SMALL]},
        {"instances": [LARGE, SMALL]},
        {"instances": {"amount": [90.0, 5.0], "age": [40, 30]}},
        {"inputs": {"amount": [90.0, 5.0], "age": [40, 30]}},
        {"inputs": [[90.0, 40], [5.0, 30]]},
        {"dataframe_records": [LARGE, SMALL], "params": {}},
    ],
    ids=[
        "split",
        "split-index",
        "records",
        "instances-records",
        "instances-columns",
        "inputs-columns",
        "inputs-rows",
        "params",
    ],
)
def test_every_mlflow_input_format_gets_mlflows_answer(server: LiveServer, payload: object) -> None:
    response = server.http.post(PATH, json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [1, 0]}


def test_csv_with_a_header(server: LiveServer) -> None:
    response = server.http.post(
        PATH, content=b"amount,age\n90.0,40\n5.0,30\n", headers={"Content-Type": "text/csv"}
    )
    assert response.json() == {"predictions": [1, 0]}


def test_one_row_carries_its_request_id_in_a_header_and_is_logged(server: LiveServer) -> None:
    response = server.http.post(
        PATH, json={"dataframe_records": [LARGE]}, headers={"X-Request-ID": "order-17"}
    )
    assert response.json() == {"predictions": [1]}
    assert response.headers["x-request-id"] == "order-17"
    logged = server.client.predictions("fraud")
    assert logged["request_id"].tolist() == ["order-17"]
    assert logged["outputs"][0] == {"prediction": 1}  # MLflow's format asks for predictions only


def test_errors_have_mlflows_shape(server: LiveServer) -> None:
    response = server.http.post(PATH, json={"records": [LARGE]})
    assert response.status_code == 422
    assert response.json() == {
        "error_code": "invalid_input.payload",
        "message": "The request body must have exactly one of 'dataframe_split', 'dataframe_records', "
        "'instances', 'inputs' (MLflow's scoring format). Got 'records' instead.",
        "details": {
            "field": "body",
            "expected": "exactly one of 'dataframe_split', 'dataframe_records', 'instances', 'inputs'",
            "received": "'records'",
        },
    }


def test_a_signature_mismatch_names_the_column(server: LiveServer) -> None:
    response = server.http.post(PATH, json={"dataframe_records": [{"amount": "ninety", "age": 40}]})
    assert response.status_code == 422
    assert response.json() == {
        "error_code": "invalid_input.signature",
        "message": "The column 'amount' must be float64 (or a type that widens to it safely). Got string instead.",
        "details": {"column": "amount", "expected": "float64", "received": "string"},
    }
