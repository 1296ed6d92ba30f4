"""Payload parsing and formatting for the three prediction protocols, with the exact errors."""

from __future__ import annotations

import re

import numpy as np
import orjson
import pandas as pd
import pytest

from loopwright.errors import MalformedPayloadError, PayloadError
from loopwright.registry.signature import ColumnSpec, Signature, infer_signature
from loopwright.serving.protocols import (
    Inputs,
    check_request_id,
    concat,
    decode_json,
    inference_response,
    loopwright_response,
    mlflow_response,
    model_metadata,
    oip_datatype,
    parse_feedback,
    parse_inference_request,
    parse_loopwright,
    parse_mlflow,
)


def body(document: object) -> bytes:
    return orjson.dumps(document)


def refused(error: pytest.ExceptionInfo[PayloadError]) -> tuple[str, str, str]:
    details = error.value.details
    return details["field"], details["expected"], details["received"]


# --- JSON ------------------------------------------------------------------------------------------------


def test_malformed_json_is_refused_with_where_it_broke() -> None:
    with pytest.raises(MalformedPayloadError) as error:
        decode_json(b'{"records": [')
    assert str(error.value).startswith("The request body must be JSON. Got invalid JSON (")
    assert error.value.code == "invalid_input.payload.malformed"
    assert error.value.details["field"] == "body"


def test_an_empty_body_is_named_as_such() -> None:
    with pytest.raises(
        MalformedPayloadError, match=r"^The request body must be JSON\. Got an empty body instead\.$"
    ):
        decode_json(b"  ")


# --- Loopwright's own protocol ---------------------------------------------------------------------------


def test_records_many_rows() -> None:
    inputs = parse_loopwright(body({"records": [{"age": 31, "plan": "pro"}, {"age": 45, "plan": "free"}]}))
    assert (inputs.rows, inputs.layout, inputs.request_ids) == (2, "records", None)
    assert inputs.data == [{"age": 31, "plan": "pro"}, {"age": 45, "plan": "free"}]
    assert inputs.records() == inputs.data
    assert inputs.column("plan") == ["pro", "free"]
    assert inputs.column("missing") is None


def test_one_record_without_a_list_is_one_row() -> None:
    inputs = parse_loopwright(body({"records": {"age": 31}}))
    assert (inputs.rows, inputs.data) == (1, [{"age": 31}])


def test_columns_and_request_ids() -> None:
    inputs = parse_loopwright(
        body({"columns": {"age": [31, 45], "plan": ["pro", "free"]}, "request_ids": ["a", "b"]})
    )
    assert (inputs.rows, inputs.layout, inputs.request_ids) == (2, "columns", ("a", "b"))
    assert inputs.record(1) == {"age": 45, "plan": "free"}
    assert inputs.records() == [{"age": 31, "plan": "pro"}, {"age": 45, "plan": "free"}]


def test_dataframe_split_becomes_columns() -> None:
    inputs = parse_loopwright(
        body({"dataframe_split": {"columns": ["age", "plan"], "data": [[31, "pro"], [45, "free"]]}})
    )
    assert inputs.layout == "columns"
    assert inputs.data == {"age": [31, 45], "plan": ["pro", "free"]}


def test_take_keeps_the_layout_and_the_ids() -> None:
    inputs = parse_loopwright(body({"columns": {"age": [1, 2, 3]}, "request_ids": ["a", "b", "c"]}))
    part = inputs.take([2, 0])
    assert (part.data, part.rows, part.request_ids) == ({"age": [3, 1]}, 2, ("c", "a"))
    records = parse_loopwright(body({"records": [{"x": 1}, {"x": 2}]})).take([1])
    assert (records.data, records.rows) == ([{"x": 2}], 1)


def test_parsed_rows_fit_a_signature() -> None:
    frame = pd.DataFrame({"age": [31, 45], "income": [52_000.0, 71_500.5]})
    signature = infer_signature(frame)
    for payload in (
        {"records": [{"age": 31, "income": 52_000.0}]},
        {"columns": {"age": [31], "income": [52_000]}},
        {"dataframe_split": {"columns": ["income", "age"], "data": [[52_000.0, 31]]}},
    ):
        validated = signature.validate(parse_loopwright(body(payload)).data)
        assert validated.to_dict("records") == [{"age": 31, "income": 52_000.0}]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            [{"age": 1}],
            "The request body must be a JSON object with one of 'records', 'columns', 'dataframe_split' "
            "(Loopwright's predict format). Got a list of 1 item instead.",
        ),
        (
            {"rows": []},
            "The request body must have exactly one of 'records', 'columns', 'dataframe_split' (Loopwright's "
            "predict format). Got 'rows' instead.",
        ),
        (
            {"records": [{"a": 1}], "columns": {"a": [1]}},
            "The request body must have exactly one of 'records', 'columns', 'dataframe_split' (Loopwright's "
            "predict format). Got 'records', 'columns' instead.",
        ),
        (
            {"records": []},
            "The 'records' of the request must be a list of records (JSON objects, one per row), or one "
            "record. Got a list of 0 items instead.",
        ),
        (
            {"records": [{"a": 1}, [1]]},
            "The 'records[1]' of the request must be a record (a JSON object of column values). Got a list "
            "of 1 item instead.",
        ),
        (
            {"columns": {"a": [1, 2], "b": [3]}},
            "The 'columns.b' of the request must be a list of 2 values, as long as 'columns.a'. Got 1 value "
            "instead.",
        ),
        (
            {"columns": {"a": 1}},
            "The 'columns.a' of the request must be a list of values, one per row. Got the number 1 instead.",
        ),
        (
            {"columns": {"a": []}},
            "The 'columns' of the request must be columns holding at least one row. Got empty columns instead.",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}},
            "The 'dataframe_split.data[1]' of the request must be a row of 2 values, one per column. Got a "
            "list of 1 item instead.",
        ),
        (
            {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},
            "The 'dataframe_split.columns' of the request must be unique column names. Got a list of 2 items "
            "instead.",
        ),
        (
            {"records": [{"a": 1}], "request_ids": ["x", "y"]},
            "The 'request_ids' of the request must be a list of 1 request id, one per row. Got a list of 2 "
            "items instead.",
        ),
        (
            {"records": [{"a": 1}, {"a": 2}], "request_ids": ["x", "x"]},
            "The 'request_ids' of the request must be unique request ids. Got 'x' twice instead.",
        ),
        (
            {"records": [{"a": 1}], "request_ids": [7]},
            "The 'request_ids[0]' of the request must be a request id (text of 1 to 250 printable "
            "characters). Got the number 7 instead.",
        ),
    ],
)
def test_loopwright_payload_errors_name_field_expected_and_received(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{re.escape(message)}$") as error:
        parse_loopwright(body(payload))
    assert error.value.code == "invalid_input.payload"
    assert set(error.value.details) == {"field", "expected", "received"}


def test_a_refusal_carries_its_parts_as_details() -> None:
    with pytest.raises(PayloadError) as error:
        parse_loopwright(body({"records": [{"a": 1}, "x"]}))
    assert refused(error) == ("records[1]", "a record (a JSON object of column values)", "the text 'x'")


def test_request_ids_must_be_printable_and_short() -> None:
    assert check_request_id("order-17", "id") == "order-17"
    for bad in ("", "a\nb", "x" * 251, None):
        with pytest.raises(PayloadError):
            check_request_id(bad, "id")


# --- MLflow scoring -----------------------------------------------------------------------------------------


def test_mlflow_dataframe_split_and_records() -> None:
    split = parse_mlflow(body({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]], "index": [0]}}))
    assert (split.layout, split.data) == ("columns", {"a": [1], "b": [2]})
    records = parse_mlflow(body({"dataframe_records": [{"a": 1, "b": 2}]}), "application/json")
    assert (records.layout, records.data) == ("records", [{"a": 1, "b": 2}])


def test_mlflow_dataframe_split_without_columns_is_positional() -> None:
    inputs = parse_mlflow(body({"dataframe_split": {"data": [[1.0, 2.0]]}}))
    assert (inputs.layout, inputs.data, inputs.rows) == ("tensor", [[1.0, 2.0]], 1)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_mlflow_tensor_style_inputs(key: str) -> None:
    rows = parse_mlflow(body({key: [[1.0, 2.0], [3.0, 4.0]]}))
    assert (rows.layout, rows.rows) == ("tensor", 2)
    columns = parse_mlflow(body({key: {"a": [1, 2], "b": [3, 4]}}))
    assert (columns.layout, columns.data) == ("columns", {"a": [1, 2], "b": [3, 4]})
    records = parse_mlflow(body({key: [{"a": 1}, {"a": 2}]}))
    assert (records.layout, records.rows) == ("records", 2)


def test_mlflow_csv() -> None:
    inputs = parse_mlflow(b"age,plan\n31,pro\n45,free\n", "text/csv; charset=utf-8")
    assert (inputs.layout, inputs.rows, inputs.data) == (
        "columns",
        2,
        {"age": [31, 45], "plan": ["pro", "free"]},
    )


def test_mlflow_bad_csv_is_malformed() -> None:
    with pytest.raises(
        MalformedPayloadError,
        match=r"^The request body must be a CSV table with a header row\. Got invalid CSV \(",
    ):
        parse_mlflow(b'a,b\n1,2,3\n"', "text/csv")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"records": [{"a": 1}]},
            "The request body must have exactly one of 'dataframe_split', 'dataframe_records', 'instances', "
            "'inputs' (MLflow's scoring format). Got 'records' instead.",
        ),
        (
            {"instances": [[1]], "inputs": [[1]]},
            "The request body must have exactly one of 'dataframe_split', 'dataframe_records', 'instances', "
            "'inputs' (MLflow's scoring format). Got 'instances', 'inputs' instead.",
        ),
        (
            {"instances": [[1]], "params": {"temperature": 0.5}},
            "The 'params' of the request must be absent or empty (Loopwright models take no inference "
            "parameters). Got an object instead.",
        ),
        (
            {"dataframe_records": {"a": 1}},
            "The 'dataframe_records' of the request must be a list of records (JSON objects, one per row). "
            "Got an object instead.",
        ),
        (
            {"inputs": []},
            "The 'inputs' of the request must be a non-empty list of rows. Got a list of 0 items instead.",
        ),
        (
            {"instances": [[1.0, 2.0], [3.0]]},
            "The 'instances[1]' of the request must be a row of 2 values, as long as 'instances[0]'. Got a list "
            "of 1 item instead.",
        ),
        (
            {"dataframe_split": {"data": [[1.0, 2.0], 3.0]}},
            "The 'dataframe_split.data[1]' of the request must be a row of 2 values, as long as "
            "'dataframe_split.data[0]'. Got the number 3.0 instead.",
        ),
    ],
)
def test_mlflow_payload_errors(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{re.escape(message)}$"):
        parse_mlflow(body(payload))


def test_mlflow_accepts_empty_params() -> None:
    assert parse_mlflow(body({"instances": [[1]], "params": {}})).rows == 1


def test_mlflow_response_is_a_predictions_object() -> None:
    assert orjson.loads(mlflow_response(np.array([0, 1]))) == {"predictions": [0, 1]}
    assert orjson.loads(mlflow_response(["yes"])) == {"predictions": ["yes"]}


# --- Open Inference Protocol v2 ----------------------------------------------------------------------------


def test_oip_several_inputs_are_columns_of_their_datatype() -> None:
    inputs = parse_inference_request(
        body(
            {
                "id": "req-1",
                "inputs": [
                    {"name": "age", "shape": [2], "datatype": "INT32", "data": [31, 45]},
                    {"name": "income", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2.5]]},
                    {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "free"]},
                ],
                "outputs": [{"name": "predict"}],
            }
        )
    )
    assert (inputs.layout, inputs.rows, inputs.id, inputs.outputs) == ("columns", 2, "req-1", ("predict",))
    assert inputs.data["age"].dtype == np.int32
    assert inputs.data["income"].dtype == np.float32
    assert inputs.data["income"].tolist() == [1.5, 2.5]
    assert inputs.record(1) == {"age": 45, "income": 2.5, "plan": "free"}
    assert inputs.take([1]).data["plan"].tolist() == ["free"]


def test_oip_one_matrix_input_is_a_tensor_flat_or_nested() -> None:
    flat = parse_inference_request(
        body({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": list(range(6))}]})
    )
    nested = parse_inference_request(
        body({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [[0, 1, 2], [3, 4, 5]]}]})
    )
    assert flat.layout == nested.layout == "tensor"
    assert flat.data.dtype == np.float64
    assert flat.data.tolist() == nested.data.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert flat.record(1) == [3.0, 4.0, 5.0]


def test_oip_tensor_fits_a_named_signature_by_position() -> None:
    signature = Signature([ColumnSpec("a", "float64"), ColumnSpec("b", "float64")])
    inputs = parse_inference_request(
        body({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]})
    )
    assert signature.validate(inputs.data).to_dict("records") == [{"a": 1.0, "b": 2.0}]


def tensor(**fields: object) -> dict[str, object]:
    return {"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 2], **fields}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"inputs": []},
            "The 'inputs' of the request must be a non-empty list of input tensors. Got a list of 0 items instead.",
        ),
        (
            {"inputs": [tensor()], "model": "x"},
            "The 'body' of the request must be an object with 'inputs' and optionally 'id', 'outputs' and "
            "'parameters'. Got the unknown key 'model' instead.",
        ),
        (
            {"inputs": [tensor(name="")]},
            "The 'inputs[0].name' of the request must be a name (text). Got the text '' instead.",
        ),
        (
            {"inputs": [tensor(shape=[2, -1])]},
            "The 'inputs[0].shape' of the request must be a list of sizes (non-negative integers), rows first. "
            "Got a list of 2 items instead.",
        ),
        (
            {"inputs": [tensor(datatype="FLOAT")]},
            "The 'inputs[0].datatype' of the request must be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, "
            "INT16, INT32, INT64, FP16, FP32, FP64, BYTES. Got the text 'FLOAT' instead.",
        ),
        (
            {"inputs": [tensor(data=[1, 2, 3])]},
            "The 'inputs[0].data' of the request must be 2 INT64 values filling shape [2]. Got 3 values instead.",
        ),
        (
            {"inputs": [tensor(data=[1.5, 2])]},
            "The 'inputs[0].data' of the request must be INT64 values. Got numbers with a fraction instead.",
        ),
        (
            {"inputs": [tensor(data=["a", "b"])]},
            "The 'inputs[0].data' of the request must be INT64 values. Got text or mixed values instead.",
        ),
        (
            {"inputs": [tensor(datatype="UINT8", data=[1, 300])]},
            "The 'inputs[0].data' of the request must be UINT8 values (from 0 to 255). Got values from 1 to 300 "
            "instead.",
        ),
        (
            {"inputs": [tensor(datatype="BYTES", data=["a", 1])]},
            "The 'inputs[0].data' of the request must be BYTES values (text). Got the number 1 among them "
            "instead.",
        ),
        (
            {"inputs": [tensor(), tensor()]},
            "The 'inputs[1].name' of the request must be a name no other input has. Got the text 'x' instead.",
        ),
        (
            {"inputs": [tensor(), tensor(name="y", shape=[3], data=[1, 2, 3])]},
            "The 'inputs[1].shape' of the request must be [2], the rows of inputs[0]. Got [3] instead.",
        ),
        (
            {"inputs": [tensor(), tensor(name="y", shape=[2, 2], data=[1, 2, 3, 4])]},
            "The 'inputs[1].shape' of the request must be [N] or [N, 1] (with several inputs, each is one "
            "column of N rows). Got [2, 2] instead.",
        ),
        (
            {"inputs": [tensor()], "outputs": [{"name": "logits"}]},
            "The 'outputs[0].name' of the request must be 'predict' or 'predict_proba'. Got the text 'logits' "
            "instead.",
        ),
        (
            {"inputs": [tensor(parameters={"binary_data_size": 16})]},
            "The 'inputs[0].parameters' of the request must be JSON data (the binary tensor extension is not "
            "supported). Got binary_data_size instead.",
        ),
        (
            {"inputs": [tensor(shape=[0], data=[])]},
            "The 'inputs[0].shape' of the request must be at least one row. Got [0] instead.",
        ),
    ],
)
def test_oip_payload_errors(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{re.escape(message)}$"):
        parse_inference_request(body(payload))


def test_oip_response_has_predict_and_proba_tensors() -> None:
    document = orjson.loads(
        inference_response(
            "fraud",
            "3",
            "req-1",
            np.array([1, 0]),
            np.array([[0.25, 0.75], [0.5, 0.5]]),
            parameters={"request_ids": ["a", "b"]},
        )
    )
    assert document == {
        "model_name": "fraud",
        "model_version": "3",
        "id": "req-1",
        "parameters": {"request_ids": ["a", "b"]},
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            {"name": "predict_proba", "shape": [2, 2], "datatype": "FP64", "data": [0.25, 0.75, 0.5, 0.5]},
        ],
    }


def test_oip_response_only_the_requested_outputs_and_text_labels() -> None:
    document = orjson.loads(
        inference_response("m", "1", None, np.array(["yes", "no"], dtype=object), None, outputs=["predict"])
    )
    assert document["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "BYTES", "data": ["yes", "no"]}
    ]
    with pytest.raises(PayloadError, match=r"^The 'outputs' of the request must be outputs the model has"):
        inference_response("m", "1", None, np.array([1.0]), None, outputs=["predict_proba"])


def test_oip_datatypes_of_predictions() -> None:
    assert [oip_datatype(np.array([1], dtype=kind)) for kind in ("bool", "int32", "float32", "uint8")] == [
        "BOOL",
        "INT32",
        "FP32",
        "UINT8",
    ]


def test_model_metadata_from_a_column_signature() -> None:
    signature = infer_signature(pd.DataFrame({"age": [31], "plan": ["pro"]}))
    assert model_metadata("fraud", ["3"], "loopwright_sklearn", signature, classifier=True) == {
        "name": "fraud",
        "versions": ["3"],
        "platform": "loopwright_sklearn",
        "inputs": [
            {"name": "age", "datatype": "INT64", "shape": [-1]},
            {"name": "plan", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
        ],
    }


def test_model_metadata_from_a_tensor_signature_and_none() -> None:
    tensor_signature = infer_signature(np.zeros((2, 4), dtype="float32"), np.zeros(2, dtype="int64"))
    metadata = model_metadata("digits", ["1", "2"], "loopwright_torch", tensor_signature)
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert model_metadata("m", ["1"], "loopwright_python", None)["inputs"] == [
        {"name": "input", "datatype": "BYTES", "shape": [-1]}
    ]


# --- Loopwright responses and feedback ------------------------------------------------------------------------


def test_loopwright_response_rows() -> None:
    document = orjson.loads(
        loopwright_response(
            "fraud",
            ["a", "b"],
            np.array([1, 0]),
            [[0.2, 0.8], None],
            "fraud",
            [3, 4],
            ["production", "canary"],
        )
    )
    assert document == {
        "deployment": "fraud",
        "predictions": [
            {
                "request_id": "a",
                "prediction": 1,
                "probabilities": [0.2, 0.8],
                "model": "fraud",
                "version": 3,
                "variant": "production",
            },
            {"request_id": "b", "prediction": 0, "model": "fraud", "version": 4, "variant": "canary"},
        ],
    }


def test_feedback_mapping_and_list_forms() -> None:
    assert parse_feedback(body({"feedback": {"a": 1, "b": "fraud"}})) == {"a": 1, "b": "fraud"}
    assert parse_feedback(body({"feedback": [{"request_id": "a", "value": {"paid": True}}]})) == {
        "a": {"paid": True}
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"labels": {}},
            "The request body must have exactly one of 'feedback' (Loopwright's feedback format). Got 'labels' instead.",
        ),
        (
            {"feedback": []},
            "The 'feedback' of the request must be an object mapping request ids to labels, or a list of "
            "{request_id, value} objects. Got a list of 0 items instead.",
        ),
        (
            {"feedback": {"a": None}},
            "The 'feedback.a' of the request must be a label or outcome (any JSON value but null). Got null instead.",
        ),
        (
            {"feedback": [{"request_id": "a"}]},
            "The 'feedback[0]' of the request must be an object with exactly 'request_id' and 'value'. Got an "
            "object instead.",
        ),
        (
            {"feedback": [{"request_id": "a", "value": 1}, {"request_id": "a", "value": 0}]},
            "The 'feedback[1].request_id' of the request must be a request id not given before. Got the text 'a' "
            "instead.",
        ),
    ],
)
def test_feedback_errors(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=f"^{re.escape(message)}$"):
        parse_feedback(body(payload))


def test_inputs_record_of_each_layout() -> None:
    assert Inputs([[1, 2], [3, 4]], 2, "tensor").record(0) == [1, 2]
    assert Inputs({"a": np.array([1, 2])}, 2, "columns").records() == [{"a": 1}, {"a": 2}]


def test_concat_joins_rows_of_one_batch_key() -> None:
    first = parse_loopwright(body({"columns": {"a": [1], "b": [2]}, "request_ids": ["x"]}))
    second = parse_loopwright(body({"columns": {"a": [3], "b": [4]}, "request_ids": ["y"]}))
    assert first.batch_key() == second.batch_key()
    joined = concat([first, second])
    assert (joined.data, joined.rows, joined.request_ids) == ({"a": [1, 3], "b": [2, 4]}, 2, ("x", "y"))
    unnamed = concat([first, parse_loopwright(body({"columns": {"a": [5], "b": [6]}}))])
    assert unnamed.request_ids is None
    reordered = parse_loopwright(body({"columns": {"b": [2], "a": [1]}}))
    assert reordered.batch_key() != first.batch_key()


def test_batch_keys_of_tensors_follow_row_shape_and_type() -> None:
    flat = parse_inference_request(
        body({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})
    )
    wide = parse_inference_request(
        body({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
    )
    assert flat.batch_key() != wide.batch_key()
    joined = concat([flat, flat])
    assert joined.data.shape == (2, 2)
    assert parse_mlflow(body({"instances": [[1, 2]]})).batch_key() == ("tensor", "list", 2)
