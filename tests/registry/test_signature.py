"""Signatures: inference from examples, enforcement at predict, and the exact errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import polars as pl
import pytest

from loopwright.errors import InvalidInputError, SignatureError
from loopwright.registry.signature import ColumnSpec, Signature, infer_signature, type_of


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45], dtype="int64"),
            "income": [52_000.0, 71_500.5],
            "plan": ["pro", "free"],
            "active": [True, False],
        }
    )


@pytest.fixture
def signature(frame: pd.DataFrame) -> Signature:
    return infer_signature(frame)


def test_a_frame_gives_named_typed_columns(signature: Signature) -> None:
    assert signature.inputs == (
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("plan", "string"),
        ColumnSpec("active", "bool"),
    )
    assert signature.columns == ["age", "income", "plan", "active"]
    assert not signature.is_tensor
    assert signature.outputs is None


def test_an_array_gives_a_tensor_with_any_number_of_rows() -> None:
    signature = infer_signature(np.zeros((3, 4, 2), dtype="float32"), np.zeros(3, dtype="int64"))
    assert signature.inputs == (ColumnSpec(None, "float32", (-1, 4, 2)),)
    assert signature.outputs == (ColumnSpec(None, "int64", (-1,)),)
    assert signature.is_tensor
    assert signature.columns == []


@pytest.mark.parametrize(
    "example",
    [
        [{"age": 31, "plan": "pro"}, {"age": 45, "plan": "free"}],
        {"age": [31, 45], "plan": ["pro", "free"]},
        {"age": 31, "plan": "pro"},
        pl.DataFrame({"age": [31, 45], "plan": ["pro", "free"]}),
        pd.DataFrame({"age": [31, 45], "plan": pd.Series(["pro", "free"], dtype=object)}),
    ],
    ids=["records", "dict-of-columns", "one-record", "polars", "object-text"],
)
def test_every_tabular_example_gives_the_same_signature(example: object) -> None:
    assert infer_signature(example).inputs == (ColumnSpec("age", "int64"), ColumnSpec("plan", "string"))


def test_mixed_objects_are_typed_object_and_accept_anything() -> None:
    signature = infer_signature(pd.DataFrame({"blob": pd.Series([1, "a"], dtype=object)}))
    assert signature.inputs == (ColumnSpec("blob", "object"),)
    data = pd.DataFrame({"blob": [1.5, 2.5]})
    assert signature.validate(data) is data


def test_output_examples_are_recorded() -> None:
    signature = infer_signature({"x": [1.0]}, pd.Series([0.5], name="score"))
    assert signature.outputs == (ColumnSpec("score", "float64", (-1,)),)


def test_the_dict_form_round_trips(signature: Signature) -> None:
    document = signature.to_dict()
    assert document["inputs"][0] == {"name": "age", "type": "int64"}
    assert document["outputs"] is None
    assert Signature.from_dict(document) == signature
    tensor = infer_signature(np.zeros((1, 3)), np.zeros(1))
    assert tensor.to_dict()["inputs"] == [{"name": None, "type": "float64", "shape": [-1, 3]}]
    assert Signature.from_dict(tensor.to_dict()) == tensor


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "A signature must be a mapping with a list of 'inputs'. Got []."),
        (
            {"inputs": [{"name": "a", "type": 5}]},
            "The signature's inputs[0].type must be a type name. Got 5 instead.",
        ),
        (
            {"inputs": [{"name": 3, "type": "int64"}]},
            "The signature's inputs[0].name must be text. Got 3 instead.",
        ),
        (
            {"inputs": [{"name": None, "type": "int64", "shape": [-1, "x"]}]},
            "The signature's inputs[0].shape must be a list of sizes (-1 for any). Got [-1, 'x'] instead.",
        ),
        (
            {"inputs": ["a"]},
            "The signature's inputs[0] must be a mapping with 'name' and 'type'. Got 'a' instead.",
        ),
        ({"inputs": []}, "A signature needs at least one input. Got none."),
        (
            {"inputs": [{"name": "a", "type": "int64"}, {"name": "a", "type": "int64"}]},
            "A signature's column names must be unique. Got ['a'] twice.",
        ),
        (
            {"inputs": [{"name": "a", "type": "int64"}], "outputs": 3},
            "The signature's outputs must be a list. Got 3 instead.",
        ),
    ],
)
def test_a_malformed_dict_names_the_entry(document: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{re.escape(message)}$"):
        Signature.from_dict(document)


def test_a_bad_example_is_refused() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"^The input example must be a pandas or polars DataFrame, a numpy array, a list of records, a list of rows or a dict of columns\. Got str instead\.$",
    ):
        infer_signature("text")
    with pytest.raises(InvalidInputError, match=r"^Column 0 of the input example has no text name \(got 0\)"):
        infer_signature(pd.DataFrame(np.zeros((1, 2))))


# --- enforcement -----------------------------------------------------------------------------------------


def test_matching_frames_pass_without_a_copy(signature: Signature, frame: pd.DataFrame) -> None:
    assert signature.validate(frame) is frame


def test_extra_columns_are_dropped_and_the_order_fixed(signature: Signature, frame: pd.DataFrame) -> None:
    shuffled = frame[["plan", "active", "income", "age"]].assign(note=["x", "y"])
    result = signature.validate(shuffled)
    assert result.columns.tolist() == ["age", "income", "plan", "active"]
    pd.testing.assert_frame_equal(result, frame)


@pytest.mark.parametrize(
    "data",
    [
        [{"age": 31, "income": 52_000.0, "plan": "pro", "active": True}],
        {"age": 31, "income": 52_000.0, "plan": "pro", "active": True},
        {"age": [31], "income": [52_000.0], "plan": ["pro"], "active": [True]},
        [[31, 52_000.0, "pro", True]],
        pl.DataFrame({"age": [31], "income": [52_000.0], "plan": ["pro"], "active": [True]}),
    ],
    ids=["records", "one-record", "dict-of-columns", "rows", "polars"],
)
def test_every_input_form_becomes_the_same_frame(signature: Signature, data: object) -> None:
    result = signature.validate(data)
    expected = pd.DataFrame({"age": [31], "income": [52_000.0], "plan": ["pro"], "active": [True]})
    pd.testing.assert_frame_equal(result, expected, check_dtype=False)
    assert [type_of(dtype) for dtype in result.dtypes] == ["int64", "float64", "string", "bool"]


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("int32", "int64"),
        ("int64", "float64"),
        ("int16", "float32"),
        ("float32", "float64"),
        ("uint32", "int64"),
    ],
)
def test_safe_widening_is_accepted_and_converted(received: str, expected: str) -> None:
    signature = Signature([ColumnSpec("x", expected)])
    result = signature.validate(pd.DataFrame({"x": np.array([1, 2], dtype=received)}))
    assert result["x"].dtype == np.dtype(expected)
    assert result["x"].tolist() == [1, 2]


def test_text_as_objects_or_categories_is_accepted_for_a_string_column(signature: Signature) -> None:
    text = Signature([ColumnSpec("plan", "string")])
    for column in (pd.Series(["a"], dtype=object), pd.Series(["a"], dtype="category")):
        data = pd.DataFrame({"plan": column})
        assert text.validate(data) is data


@pytest.mark.parametrize(
    ("column", "expected", "received", "message"),
    [
        (
            np.array([1.5]),
            "int64",
            "float64",
            "The column 'x' must be int64 (or a type that widens to it safely). Got float64 instead.",
        ),
        (
            np.array([1.5], dtype="float64"),
            "float32",
            "float64",
            "The column 'x' must be float32 (or a type that widens to it safely). Got float64 instead.",
        ),
        (
            np.array([1], dtype="int64"),
            "int32",
            "int64",
            "The column 'x' must be int32 (or a type that widens to it safely). Got int64 instead.",
        ),
        (
            np.array([True]),
            "float64",
            "bool",
            "The column 'x' must be float64 (or a type that widens to it safely). Got bool instead.",
        ),
        (
            np.array([1]),
            "bool",
            "int64",
            "The column 'x' must be bool (or a type that widens to it safely). Got int64 instead.",
        ),
        (
            np.array(["a"]),
            "float64",
            "string",
            "The column 'x' must be float64 (or a type that widens to it safely). Got string instead.",
        ),
        (
            pd.Series([{"a": 1}], dtype=object),
            "float64",
            "object",
            "The column 'x' must be float64 (or a type that widens to it safely). Got object instead.",
        ),
        (np.array([1]), "string", "int64", "The column 'x' must be string. Got int64 instead."),
        (
            np.array(["2024-01-01"], dtype="datetime64[ns]"),
            "int64",
            "datetime",
            "The column 'x' must be int64 (or a type that widens to it safely). Got datetime instead.",
        ),
    ],
)
def test_a_wrong_type_names_the_column_expected_and_received(
    column: object, expected: str, received: str, message: str
) -> None:
    signature = Signature([ColumnSpec("x", expected)])
    with pytest.raises(SignatureError, match=f"^{re.escape(message)}$") as caught:
        signature.validate(pd.DataFrame({"x": column}))
    assert caught.value.code == "invalid_input.signature"
    assert caught.value.details == {"column": "x", "expected": expected, "received": received}


def test_missing_columns_are_all_named_with_their_types(signature: Signature, frame: pd.DataFrame) -> None:
    with pytest.raises(
        SignatureError,
        match=r"^The input is missing the columns 'age' \(int64\), 'plan' \(string\) required by the model's signature\. Got the columns 'income', 'active', 'extra' instead\.$",
    ) as caught:
        signature.validate(frame.drop(columns=["age", "plan"]).assign(extra=1))
    assert caught.value.details == {
        "column": "age",
        "missing": ["age", "plan"],
        "expected": "int64",
        "received": "missing",
    }
    with pytest.raises(SignatureError, match=r"^The input is missing the column 'active' \(bool\) required"):
        signature.validate(frame.drop(columns=["active"]))


def test_a_long_list_of_received_columns_is_cut() -> None:
    signature = Signature([ColumnSpec("target", "int64")])
    data = pd.DataFrame({f"c{index}": [1] for index in range(12)})
    with pytest.raises(SignatureError, match=r"Got the columns 'c0', .*'c9', … \(12 in all\) instead\.$"):
        signature.validate(data)


def test_a_nullable_integer_with_missing_values_cannot_be_widened_to_int64() -> None:
    signature = Signature([ColumnSpec("x", "int64")])
    data = pd.DataFrame({"x": pd.array([1, None], dtype="Int32")})
    with pytest.raises(
        SignatureError, match=r"^The columns 'x' could not be converted to the signature's types \("
    ):
        signature.validate(data)
    assert signature.validate(pd.DataFrame({"x": pd.array([1, 2], dtype="Int64")}))["x"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "text",
            "The input must be a pandas or polars DataFrame, a numpy array, a list of records, a list of rows or a dict of columns. Got str instead.",
        ),
        (
            np.zeros(4),
            "A numpy array given to a model with named columns must be 2-D with 4 columns, in the signature's order. Got shape (4,) instead.",
        ),
        (
            np.zeros((1, 3)),
            "A numpy array given to a model with named columns must be 2-D with 4 columns, in the signature's order. Got shape (1, 3) instead.",
        ),
    ],
)
def test_inputs_that_are_not_tables_are_refused(signature: Signature, data: object, message: str) -> None:
    with pytest.raises(SignatureError, match=f"^{re.escape(message)}$"):
        signature.validate(data)


def test_rows_of_the_wrong_length_are_refused(signature: Signature) -> None:
    with pytest.raises(
        SignatureError, match=r"^Rows given to a model with named columns must each hold 4 values"
    ):
        signature.validate([[1, 2.0]])


def test_a_numpy_array_is_read_in_signature_order() -> None:
    signature = Signature([ColumnSpec("a", "float64"), ColumnSpec("b", "float64")])
    result = signature.validate(np.array([[1.0, 2.0]]))
    assert result.to_dict("records") == [{"a": 1.0, "b": 2.0}]


# --- tensors ---------------------------------------------------------------------------------------------


@pytest.fixture
def tensor() -> Signature:
    return infer_signature(np.zeros((2, 4), dtype="float32"))


def test_a_matching_array_passes_without_a_copy(tensor: Signature) -> None:
    data = np.ones((7, 4), dtype="float32")
    assert tensor.validate(data) is data


def test_tensors_widen_safely(tensor: Signature) -> None:
    result = tensor.validate(np.ones((1, 4), dtype="int16"))
    assert result.dtype == np.float32
    assert tensor.validate([[1.0, 2.0, 3.0, 4.0]]).shape == (1, 4)
    assert tensor.validate(pd.DataFrame(np.ones((2, 4), dtype="float32"))).dtype == np.float32


@pytest.mark.parametrize(
    ("data", "message", "expected", "received"),
    [
        (
            np.ones((3, 5), dtype="float32"),
            "The input tensor must have shape (-1, 4) (-1: any size). Got shape (3, 5) instead.",
            "(-1, 4)",
            "(3, 5)",
        ),
        (
            np.ones(4, dtype="float32"),
            "The input tensor must have shape (-1, 4) (-1: any size). Got shape (4,) instead.",
            "(-1, 4)",
            "(4,)",
        ),
        (
            np.ones((3, 4)),
            "The input tensor must be float32 (or a type that widens to it safely). Got float64 instead.",
            "float32",
            "float64",
        ),
    ],
)
def test_a_wrong_shape_or_type_is_refused(
    tensor: Signature, data: np.ndarray, message: str, expected: str, received: str
) -> None:
    with pytest.raises(SignatureError, match=f"^{re.escape(message)}$") as caught:
        tensor.validate(data)
    assert caught.value.details == {"column": None, "expected": expected, "received": received}


def test_ragged_rows_are_refused(tensor: Signature) -> None:
    with pytest.raises(SignatureError, match=r"^The rows given to the model have different lengths"):
        tensor.validate([[1.0, 2.0], [1.0]])


def test_a_signature_is_columns_or_one_tensor() -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"^A signature has either named columns or one tensor\. Got 2 inputs with 1 tensors\.$",
    ):
        Signature([ColumnSpec(None, "float32", (-1, 2)), ColumnSpec("a", "int64")])
    with pytest.raises(
        InvalidInputError, match=r"^Every column of a signature needs a name\. Got \[None\]\.$"
    ):
        Signature([ColumnSpec(None, "float32")])


def test_python_values_take_the_signature_width_of_their_kind() -> None:
    # Records and lists (JSON) hold Python numbers: int64 / float64 is numpy's default, not the caller's.
    signature = Signature([ColumnSpec("small", "int16"), ColumnSpec("ratio", "float32")])
    result = signature.validate([{"small": 3, "ratio": 0.5}])
    assert result.dtypes.tolist() == [np.dtype("int16"), np.dtype("float32")]
    with pytest.raises(
        SignatureError,
        match=r"^The column 'small' must hold int16 values \(from -32768 to 32767\)\. Got values from 3 to 40000 instead\.$",
    ):
        signature.validate({"small": [3, 40_000], "ratio": [0.5, 0.25]})
    # A float is never narrowed to an integer, however it arrives.
    with pytest.raises(SignatureError, match=r"^The column 'small' must be int16 .*Got float64 instead\.$"):
        signature.validate([{"small": 3.5, "ratio": 0.5}])
    # Typed inputs keep the strict rule.
    with pytest.raises(SignatureError, match=r"^The column 'ratio' must be float32 .*Got float64 instead\.$"):
        signature.validate(pd.DataFrame({"small": np.array([3], dtype="int16"), "ratio": [0.5]}))
