"""Bad input over real HTTP: 422 naming the field, the expected and the received; 413 for a body too large;
400 for one that is not JSON; and never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import loopwright as lw
from loopwright.settings import ServerSettings
from tests.server.conftest import LARGE, LiveServer, running


def test_a_signature_mismatch_is_a_422_naming_field_expected_and_received(server: LiveServer) -> None:
    response = server.predict({"records": [{"amount": "ninety", "age": 40}]})
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "invalid_input.signature",
            "message": "The column 'amount' must be float64 (or a type that widens to it safely). Got string "
            "instead.",
            "details": {"column": "amount", "expected": "float64", "received": "string"},
        }
    }


def test_a_missing_column_is_a_422_naming_it(server: LiveServer) -> None:
    response = server.predict({"records": [{"amount": 90.0, "agee": 40}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == (
        "The input is missing the column 'age' (int64) required by the model's signature. Got the columns "
        "'amount', 'agee' instead."
    )
    assert (error["details"]["column"], error["details"]["expected"], error["details"]["received"]) == (
        "age",
        "int64",
        "missing",
    )


def test_a_value_the_model_refuses_is_the_inputs_fault(server: LiveServer) -> None:
    response = server.predict({"records": [LARGE, {"amount": None, "age": 30}]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "serving.prediction"
    assert error["message"].startswith(
        "The production model of deployment 'fraud' (model 'fraud' version 1) failed on this request: it raised "
        "ValueError: Input X contains NaN."
    )
    assert error["details"] == {
        "deployment": "fraud",
        "model": "fraud",
        "version": 1,
        "variant": "production",
    }


def test_malformed_json_is_a_400(server: LiveServer) -> None:
    response = server.http.post("/v1/deployments/fraud/predict", content=b'{"records": [')
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input.payload.malformed"
    assert error["message"].startswith("The request body must be JSON. Got invalid JSON (")
    empty = server.http.post("/v1/deployments/fraud/predict", content=b"")
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "The request body must be JSON. Got an empty body instead."


@pytest.fixture
def small_limit(client: lw.Client) -> Iterator[LiveServer]:
    with running(client, ServerSettings(max_body_bytes=1024)) as live:
        yield live


def test_a_body_over_the_limit_is_a_413_before_it_is_read(small_limit: LiveServer) -> None:
    rows = [LARGE] * 100  # about 3 kB
    response = small_limit.predict({"records": rows})
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "invalid_input.payload.too_large",
        "message": f"The request body must be at most 1024 bytes (the server's max_body_bytes). Got "
        f"{len(response.request.content)} bytes instead. Send the rows in several requests, or score them in "
        "batch with `loopwright predict`.",
        "details": {
            "field": "body",
            "expected": "at most 1024 bytes",
            "received": f"{len(response.request.content)} bytes",
        },
    }
    assert small_limit.predict({"records": [LARGE]}).status_code == 200


def test_a_chunked_body_over_the_limit_is_a_413_while_streaming(small_limit: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"records": ['
        for _ in range(100):
            yield b'{"amount": 90.0, "age": 40},'
        yield b'{"amount": 90.0, "age": 40}]}'

    response = small_limit.http.post("/v1/deployments/fraud/predict", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["details"]["received"] == "more than 1024 bytes"


def test_a_bad_request_id_header_is_a_422(server: LiveServer) -> None:
    response = server.predict({"records": LARGE}, headers={"X-Request-ID": "x" * 251})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "X-Request-ID header"


def test_unknown_routes_and_methods_answer_json(server: LiveServer) -> None:
    missing = server.http.get("/v1/nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found.route")
    wrong = server.http.get("/v1/deployments/fraud/predict")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["message"] == "/v1/deployments/fraud/predict does not accept GET."


BAD_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{}",
    b'{"records": null}',
    b'{"records": [1, 2]}',
    b'{"records": [{}]}',
    b'{"records": [{"amount": true, "age": 40}]}',
    b'{"records": [{"amount": {"nested": 1}, "age": 40}]}',
    b'{"records": [{"amount": [1, 2], "age": 40}]}',
    b'{"records": [{"amount": 90.0, "age": 99999999999999999999}]}',
    b'{"records": [{"amount": 1e400, "age": 40}]}',
    b'{"records": [{"amount": 90.0, "age": 4.5}]}',
    b'{"columns": {"amount": [1.0], "age": []}}',
    b'{"columns": {"amount": [], "age": []}}',
    b'{"dataframe_split": {"columns": ["amount"], "data": [[1.0, 2.0]]}}',
    b'{"dataframe_split": {"data": [[1.0, 2.0, 3.0]]}}',
    b'{"dataframe_records": [{"amount": null, "age": null}]}',
    b'{"instances": [[1.0]]}',
    b'{"instances": [[[1.0, 2.0]]]}',
    b'{"instances": [[1.0, 2.0], [3.0]]}',
    b'{"inputs": "amount"}',
    b'{"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": ["x"]}]}',
    b'{"inputs": [{"name": "amount", "shape": [1], "datatype": "BYTES", "data": ["x"]}, '
    b'{"name": "age", "shape": [1], "datatype": "BYTES", "data": ["y"]}]}',
    b'{"inputs": [{"name": "amount", "shape": [1, 2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}',
    b"\xff\xfe\x00garbage",
    b"[" * 5000 + b"]" * 5000,
    b'{"records": [{"amount": 90.0, "age": 40}], "request_ids": [""]}',
]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/deployments/fraud/predict",
        "/v1/deployments/fraud/invocations",
        "/v2/models/fraud/infer",
        "/v1/deployments/fraud/feedback",
        "/v1/deployments/no-such/predict",
    ],
)
def test_bad_input_is_never_a_500(server: LiveServer, path: str) -> None:
    for body in BAD_BODIES:
        response = server.http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text)
        error = response.json()
        if path.endswith("/invocations"):
            message = error["message"]
        elif path.startswith("/v2/"):
            message = error["error"]
        else:
            message = error["error"]["message"]
        assert message
    assert server.sample("loopwright_request_errors", code="internal") == 0
