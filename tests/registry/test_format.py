"""The model folder: manifest, atomic saves, typed errors for bad models and bad folders, PythonModel."""

from __future__ import annotations

import platform
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import loopwright as lw
from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    ModelError,
    ModelFormatError,
    NotFoundError,
    SignatureError,
)
from loopwright.registry.format import (
    EXAMPLE_ROWS,
    MANIFEST_NAME,
    ModelManifest,
    PythonModel,
    infer_flavor,
    load_model,
    read_manifest,
    save_model,
)
from loopwright.registry.signature import ColumnSpec, Signature


class Doubler(lw.PythonModel):
    """Predicts twice column 'x'; probabilities from a logistic curve."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def predict(self, data: Any) -> Any:
        return (data["x"] * 2 + self.offset).to_numpy()

    def predict_proba(self, data: Any) -> Any:
        positive = 1 / (1 + np.exp(-data["x"].to_numpy()))
        return np.column_stack((1 - positive, positive))


class Echo(lw.PythonModel):
    def predict(self, data: Any) -> Any:
        return data


class Locked(lw.PythonModel):
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def predict(self, data: Any) -> Any:
        return data


@pytest.fixture
def example() -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(8, dtype="int64"), "name": [f"n{i}" for i in range(8)]})


def test_a_python_model_round_trips_with_its_manifest(tmp_path: Path, example: pd.DataFrame) -> None:
    manifest = save_model(
        Doubler(1.0),
        tmp_path / "model",
        input_example=example,
        requirements={"my-lib": "2.0"},
        metadata={"owner": "risk", "threshold": 0.5},
    )
    assert manifest.flavor == "python"
    assert manifest.signature == Signature([ColumnSpec("x", "int64"), ColumnSpec("name", "string")])
    assert manifest.python_version == platform.python_version()
    assert manifest.requirements == {"cloudpickle": manifest.requirements["cloudpickle"], "my-lib": "2.0"}
    assert manifest.input_example == "input_example.parquet"
    assert manifest.loopwright_version == lw.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest.created)
    assert manifest.metadata == {"owner": "risk", "threshold": 0.5}
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "input_example.parquet",
        MANIFEST_NAME,
        "model.pkl",
    ]
    assert read_manifest(tmp_path / "model") == manifest
    loaded = load_model(tmp_path / "model")
    assert (loaded.flavor, loaded.signature, loaded.manifest) == ("python", manifest.signature, manifest)
    assert loaded.path == tmp_path / "model"
    assert isinstance(loaded.raw, Doubler)
    assert (
        repr(loaded) == f"<LoadedModel python tests.registry.test_format.Doubler from '{tmp_path / 'model'}'>"
    )
    np.testing.assert_array_equal(loaded.predict({"x": [1, 2], "name": ["a", "b"]}), [3, 5])
    np.testing.assert_allclose(loaded.predict_proba([{"x": 0, "name": "a"}]), [[0.5, 0.5]])
    pd.testing.assert_frame_equal(loaded.input_example(), example.head(EXAMPLE_ROWS))


def test_the_manifest_file_is_readable_yaml(tmp_path: Path, example: pd.DataFrame) -> None:
    save_model(Doubler(), tmp_path / "model", input_example=example)
    document = yaml.safe_load((tmp_path / "model" / MANIFEST_NAME).read_text())
    assert list(document) == [
        "format_version",
        "flavor",
        "flavor_config",
        "signature",
        "input_example",
        "python_version",
        "requirements",
        "loopwright_version",
        "created",
        "metadata",
    ]
    assert document["signature"]["inputs"] == [
        {"name": "x", "type": "int64"},
        {"name": "name", "type": "string"},
    ]
    assert ModelManifest.from_dict(document).to_dict() == document


def test_without_an_example_there_is_no_signature_and_inputs_pass_through(tmp_path: Path) -> None:
    manifest = save_model(Echo(), tmp_path / "model")
    assert (manifest.signature, manifest.input_example) == (None, None)
    loaded = load_model(tmp_path / "model")
    assert loaded.input_example() is None
    assert loaded.predict("any text") == "any text"
    assert loaded.predict([{"a": 1}]).to_dict("records") == [{"a": 1}]
    assert not loaded.has_predict_proba


def test_an_array_example_is_stored_as_json(tmp_path: Path) -> None:
    array = np.arange(24, dtype="float32").reshape(8, 3)
    manifest = save_model(Echo(), tmp_path / "model", input_example=array)
    assert manifest.input_example == "input_example.json"
    stored = load_model(tmp_path / "model").input_example()
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, array[:EXAMPLE_ROWS])


def test_an_explicit_signature_wins_over_the_example(tmp_path: Path, example: pd.DataFrame) -> None:
    signature = Signature([ColumnSpec("x", "float64")])
    manifest = save_model(Doubler(), tmp_path / "model", input_example=example, signature=signature)
    assert manifest.signature == signature
    loaded = load_model(tmp_path / "model")
    assert loaded.predict(pd.DataFrame({"x": [1, 2]})).dtype == np.float64  # int64 widened to float64


def test_a_signature_mismatch_at_predict_is_a_typed_error(tmp_path: Path, example: pd.DataFrame) -> None:
    save_model(Doubler(), tmp_path / "model", input_example=example)
    loaded = load_model(tmp_path / "model")
    with pytest.raises(
        SignatureError,
        match=r"^The input is missing the column 'name' \(string\) required by the model's signature\. Got the columns 'x' instead\.$",
    ):
        loaded.predict({"x": [1]})
    with pytest.raises(
        SignatureError,
        match=r"^The column 'x' must be int64 \(or a type that widens to it safely\)\. Got float64 instead\.$",
    ):
        loaded.predict(pd.DataFrame({"x": [1.5], "name": ["a"]}))
    # A 2-D numpy array has one dtype: the int column cannot be read from a float array.
    with pytest.raises(SignatureError, match=r"^The column 'x' must be int64 .* Got float64 instead\.$"):
        loaded.predict(np.array([[1.0, 2.0]]))


# --- bad models and bad arguments: typed errors, nothing left behind ------------------------------------


def test_an_unpicklable_model_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError,
        match=r"^The python model of type 'tests\.registry\.test_format\.Locked' cannot be serialised: cannot pickle '_thread\.lock' object\. Remove the attribute that holds it \(a lock, an open file, a connection\), or rebuild it on load with __getstate__ / __setstate__\.$",
    ) as caught:
        save_model(Locked(), tmp_path / "models" / "locked", input_example={"x": [1]})
    assert caught.value.code == "invalid_input.model"
    assert list((tmp_path / "models").iterdir()) == []


def test_an_unpicklable_sklearn_estimator_leaves_nothing_behind(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    model.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(
        ModelError,
        match=r"^The sklearn model of type 'sklearn\.linear_model\._base\.LinearRegression' cannot be serialised: cannot pickle '_thread\.lock' object\.",
    ):
        save_model(model, tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_a_model_no_flavor_knows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError,
        match=r"^No flavor can save a model of type 'builtins\.str'\. Loopwright saves scikit-learn, XGBoost, LightGBM and PyTorch models and lw\.PythonModel subclasses; wrap other models in a lw\.PythonModel, or pass flavor='python' for an object with a predict method\.$",
    ):
        save_model("not a model", tmp_path / "model")
    with pytest.raises(
        ModelError,
        match=r"^The flavor must be one of 'lightgbm', 'python', 'pytorch', 'sklearn', 'xgboost'\. Got 'onnx' instead\.$",
    ):
        save_model(Echo(), tmp_path / "model", flavor="onnx")
    with pytest.raises(
        ModelError,
        match=r"^The sklearn flavor cannot save a model of type 'tests\.registry\.test_format\.Echo'\. Leave flavor= out to infer it, or wrap the model in a lw\.PythonModel\.$",
    ):
        save_model(Echo(), tmp_path / "model", flavor="sklearn")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"flavor_options": {"init_kwargs": {}}},
            ModelError,
            "The flavor_options of the python flavor must be among none. Got 'init_kwargs' instead.",
        ),
        (
            {"requirements": ["numpy"]},
            InvalidInputError,
            "The 'requirements' must map package names to versions, e.g. {'scikit-learn': '1.5.2'}. Got list instead.",
        ),
        (
            {"requirements": {"numpy": 2}},
            InvalidInputError,
            "The 'requirements' must map package names to versions, e.g. {'scikit-learn': '1.5.2'}. Got 'numpy': 2 instead.",
        ),
        (
            {"metadata": {"when": object}},
            InvalidInputError,
            "The 'metadata' must hold plain values (text, numbers, booleans, lists and mappings of them). Got {'when': <class 'object'>} instead.",
        ),
        (
            {"signature": {"inputs": []}},
            InvalidInputError,
            "The 'signature' must be a lw.Signature (see lw.infer_signature). Got dict instead.",
        ),
    ],
)
def test_bad_arguments_are_refused_before_writing(
    tmp_path: Path, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        save_model(Echo(), tmp_path / "model", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    save_model(Echo(), tmp_path / "empty")
    assert (tmp_path / "empty" / MANIFEST_NAME).is_file()
    with pytest.raises(
        ConflictError,
        match=rf"^The model folder '{re.escape(str(tmp_path / 'empty'))}' already exists and is not empty\. Save to a new path, or remove it first\.$",
    ):
        save_model(Echo(), tmp_path / "empty")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]


# --- bad folders -----------------------------------------------------------------------------------------


def _manifest(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / MANIFEST_NAME).write_text(text)
    return folder


_VALID = (
    "flavor: python\npython_version: '3.11'\nloopwright_version: 0.1.0\ncreated: '2026-01-01T00:00:00Z'\n"
)


def test_a_missing_folder_or_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        NotFoundError, match=rf"^The model folder '{re.escape(str(tmp_path / 'nope'))}' does not exist\.$"
    ) as caught:
        load_model(tmp_path / "nope")
    assert caught.value.specific_code == "not_found.model"
    with pytest.raises(
        ModelFormatError,
        match=rf"^The folder '{re.escape(str(tmp_path))}' is not a Loopwright model: it has no loopwright-model\.yaml\.$",
    ):
        load_model(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavor: [", "is not valid YAML"),
        ("- a\n- b\n", "must be a mapping of fields. Got list."),
        (
            _VALID.replace("flavor: python", "flavor: 3"),
            "The 'flavor' of {path} must be text. Got 3 instead.",
        ),
        (
            _VALID.replace("created: '2026-01-01T00:00:00Z'", "created: ''"),
            "The 'created' of {path} must be text. Got '' instead.",
        ),
        (
            _VALID + "requirements: [numpy]\n",
            "The 'requirements' of {path} must be a mapping. Got ['numpy'] instead.",
        ),
        (
            _VALID + "format_version: 2\n",
            "{path} has format version 2, newer than this Loopwright reads (1). Upgrade Loopwright to load it.",
        ),
        (
            _VALID + "format_version: yes\n",
            "The 'format_version' of {path} must be a positive integer. Got True instead.",
        ),
        (
            _VALID + "signature: {inputs: [{name: a}]}\n",
            "The 'signature' of {path} is not valid: The signature's inputs[0].type must be a type name. Got None instead.",
        ),
        (
            _VALID.replace("flavor: python", "flavor: onnx"),
            "The model in '{folder}' has flavor 'onnx', which this Loopwright (0.1.0) does not know. Known flavors: lightgbm, python, pytorch, sklearn, xgboost.",
        ),
    ],
)
def test_a_broken_manifest_is_a_format_error_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    folder = _manifest(tmp_path / "model", text)
    expected = message.format(path=folder / MANIFEST_NAME, folder=folder)
    with pytest.raises(ModelFormatError, match=re.escape(expected)) as caught:
        load_model(folder)
    assert caught.value.code == "invalid_input.model_format"


def test_a_damaged_model_file_is_a_format_error(tmp_path: Path) -> None:
    save_model(Echo(), tmp_path / "model")
    (tmp_path / "model" / "model.pkl").write_bytes(b"not a pickle")
    with pytest.raises(
        ModelFormatError,
        match=rf"^Loading the Python model in '{re.escape(str(tmp_path / 'model'))}' failed: UnpicklingError: ",
    ):
        load_model(tmp_path / "model")


def test_infer_flavor_names_the_flavor_or_none() -> None:
    from sklearn.linear_model import LinearRegression

    assert infer_flavor(Echo()) == "python"
    assert infer_flavor(LinearRegression()) == "sklearn"
    assert infer_flavor(42) is None


def test_the_public_names_are_the_format_module_s() -> None:
    # lw.load_model is the client's (registered versions too); it loads folders with load_model.
    assert lw.save_model is save_model
    assert lw.PythonModel is PythonModel
    assert lw.Signature is Signature
    assert lw.ColumnSpec is ColumnSpec
    assert lw.infer_signature({"x": [1]}).inputs == (ColumnSpec("x", "int64"),)
