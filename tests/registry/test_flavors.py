"""Every flavor round-trips: save, load, and the same predictions as the model it was saved from."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from loopwright.errors import MissingExtraError, ModelError
from loopwright.registry import flavors
from loopwright.registry.flavors import base
from loopwright.registry.format import MANIFEST_NAME, load_model, read_manifest, save_model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    features = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    # A float column from integers: a 2-D numpy array has one dtype, so numpy input needs all-float columns.
    features["count"] = rng.integers(0, 5, size=200).astype("float64")
    labels = ((features["a"] + features["b"] * features["count"]) > 0).astype("int64").to_numpy()
    return features, labels


def _inputs(frame: pd.DataFrame) -> list[Any]:
    """The same rows as pandas, polars, numpy, records and a dict of columns."""
    return [
        frame,
        pl.from_pandas(frame),
        frame.to_numpy(),
        frame.to_dict("records"),
        frame.to_dict("list"),
    ]


def _round_trip(model: Any, path: Path, example: Any, **options: Any) -> Any:
    save_model(model, path, input_example=example, **options)
    return load_model(path)


# --- scikit-learn ----------------------------------------------------------------------------------------


def test_sklearn_classifier_round_trips_every_input_form(data: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    features, labels = data
    model = LogisticRegression().fit(features, labels)
    loaded = _round_trip(model, tmp_path / "model", features.head())
    assert loaded.flavor == "sklearn"
    assert type(loaded.raw) is LogisticRegression
    expected, expected_proba = model.predict(features), model.predict_proba(features)
    for given in _inputs(features):
        np.testing.assert_array_equal(loaded.predict(given), expected)
        np.testing.assert_allclose(loaded.predict_proba(given), expected_proba)
    manifest = read_manifest(tmp_path / "model")
    assert manifest.flavor_config == {"file": "model.pkl", "serializer": "cloudpickle", "protocol": 5}
    assert set(manifest.requirements) == {"scikit-learn", "numpy", "scipy", "cloudpickle"}


def test_sklearn_pipeline_with_a_lambda_round_trips(data: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    features, labels = data
    # Plain pickle refuses the lambda; cloudpickle stores it by value.
    model = make_pipeline(FunctionTransformer(lambda frame: frame * 2.0), StandardScaler(), Ridge())
    model.fit(features, labels)
    loaded = _round_trip(model, tmp_path / "model", features.head())
    np.testing.assert_allclose(loaded.predict(features), model.predict(features))
    assert not loaded.has_predict_proba
    with pytest.raises(
        ModelError,
        match=rf"^The sklearn model 'sklearn\.pipeline\.Pipeline' in '{tmp_path / 'model'}' has no predict_proba \(only classifiers that estimate probabilities have one\)\. Use predict instead\.$",
    ):
        loaded.predict_proba(features)


def test_sklearn_gets_what_it_was_fitted_on_without_feature_name_warnings(data: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    features, labels = data
    # Fitted on an array, saved with a frame example: the adapter hands the model an array (warnings are
    # errors in this suite, so scikit-learn's "X has feature names" warning would fail the test).
    on_array = LogisticRegression().fit(features.to_numpy(), labels)
    loaded = _round_trip(on_array, tmp_path / "on-array", features.head())
    np.testing.assert_array_equal(loaded.predict(features), on_array.predict(features.to_numpy()))
    # Fitted on a frame, saved with an array example (a tensor signature): the model gets its names back.
    on_frame = LogisticRegression().fit(features, labels)
    loaded = _round_trip(on_frame, tmp_path / "on-frame", features.to_numpy()[:5])
    assert loaded.signature.is_tensor
    np.testing.assert_allclose(loaded.predict_proba(features.to_numpy()), on_frame.predict_proba(features))


def test_an_unfitted_estimator_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(
        ModelError,
        match=r"^The scikit-learn model of type 'sklearn\.linear_model\._logistic\.LogisticRegression' is not fitted\. Call fit\(\) before saving it\.$",
    ):
        save_model(LogisticRegression(), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


# --- XGBoost ---------------------------------------------------------------------------------------------


def test_xgboost_classifier_round_trips_in_native_json(data: Any, tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    features, labels = data
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(features, labels)
    loaded = _round_trip(model, tmp_path / "model", features.head())
    assert loaded.flavor == "xgboost"
    assert type(loaded.raw) is xgboost.XGBClassifier
    assert (tmp_path / "model" / "model.json").is_file()
    assert read_manifest(tmp_path / "model").flavor_config == {"file": "model.json", "class": "XGBClassifier"}
    for given in _inputs(features):
        np.testing.assert_array_equal(loaded.predict(given), model.predict(features))
        np.testing.assert_allclose(loaded.predict_proba(given), model.predict_proba(features))


def test_xgboost_regressor_and_booster_round_trip(data: Any, tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    features, labels = data
    regressor = xgboost.XGBRegressor(n_estimators=8).fit(features, labels.astype(float))
    loaded = _round_trip(regressor, tmp_path / "regressor", features.head())
    np.testing.assert_allclose(loaded.predict(features), regressor.predict(features))
    assert not loaded.has_predict_proba

    booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(features, labels), 5)
    loaded = _round_trip(booster, tmp_path / "booster", features.head())
    assert type(loaded.raw) is xgboost.Booster
    np.testing.assert_allclose(loaded.predict(features), booster.predict(xgboost.DMatrix(features)))


# --- LightGBM --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels_as", ["int", "text"])
def test_lightgbm_classifier_round_trips_in_native_text(data: Any, tmp_path: Path, labels_as: str) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    features, labels = data
    targets = labels if labels_as == "int" else np.where(labels == 1, "yes", "no")
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(features, targets)
    loaded = _round_trip(model, tmp_path / "model", features.head())
    assert loaded.flavor == "lightgbm"
    assert (tmp_path / "model" / "model.txt").read_text().startswith("tree")
    config = read_manifest(tmp_path / "model").flavor_config
    assert config["estimator"] == "classifier"
    assert config["classes"] == model.classes_.tolist()
    for given in _inputs(features):
        np.testing.assert_array_equal(loaded.predict(given), model.predict(features))
        np.testing.assert_allclose(loaded.predict_proba(given), model.predict_proba(features))


def test_lightgbm_multiclass_regressor_and_booster_round_trip(data: Any, tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    features, labels = data
    three = labels + (features["c"] > 1).to_numpy().astype("int64")
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(features, three)
    loaded = _round_trip(model, tmp_path / "multi", features.head())
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))

    regressor = lightgbm.LGBMRegressor(n_estimators=10, verbose=-1).fit(features, labels.astype(float))
    loaded = _round_trip(regressor, tmp_path / "regressor", features.head())
    np.testing.assert_allclose(loaded.predict(features), regressor.predict(features))
    assert not loaded.has_predict_proba

    booster = lightgbm.train(
        {"objective": "regression", "verbose": -1}, lightgbm.Dataset(features, labels), 5
    )
    loaded = _round_trip(booster, tmp_path / "booster", features.head())
    assert read_manifest(tmp_path / "booster").flavor_config["estimator"] == "booster"
    np.testing.assert_allclose(loaded.predict(features), booster.predict(features))


# --- PyTorch ---------------------------------------------------------------------------------------------


def test_a_torch_module_round_trips_as_class_and_state_dict(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tests.registry.torch_models import TwoLayer

    torch.manual_seed(0)
    model = TwoLayer(3, hidden=4).eval()
    features = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    loaded = _round_trip(
        model, tmp_path / "model", features, flavor_options={"init_kwargs": {"inputs": 3, "hidden": 4}}
    )
    config = read_manifest(tmp_path / "model").flavor_config
    assert config == {
        "format": "state_dict",
        "file": "state_dict.pt",
        "class": "tests.registry.torch_models:TwoLayer",
        "init_kwargs": {"inputs": 3, "hidden": 4},
        "dtype": "float32",
    }
    assert type(loaded.raw) is TwoLayer
    assert not loaded.raw.training
    with torch.no_grad():
        expected = model(torch.from_numpy(features)).numpy()
    for given in (features, features.tolist(), torch.from_numpy(features)):
        np.testing.assert_allclose(loaded.predict(given), expected, rtol=1e-6)
    assert not loaded.has_predict_proba


def test_a_torchscript_module_round_trips_without_its_class(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tests.registry.torch_models import TwoLayer

    torch.manual_seed(0)
    with warnings.catch_warnings():  # PyTorch 2.13 deprecates TorchScript; users still hand us such modules
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(TwoLayer(3).eval())
    features = np.ones((2, 3), dtype="float32")
    loaded = _round_trip(scripted, tmp_path / "model", features)
    assert read_manifest(tmp_path / "model").flavor_config == {
        "format": "torchscript",
        "file": "model.pt",
        "dtype": "float32",
    }
    with torch.no_grad():
        expected = scripted(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(loaded.predict(features), expected, rtol=1e-6)


def test_a_torch_module_on_a_float64_frame_gets_float32_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tests.registry.torch_models import TwoLayer

    model = TwoLayer(2).eval()
    frame = pd.DataFrame({"x": [0.5, 1.5], "y": [1.0, -1.0]})
    loaded = _round_trip(model, tmp_path / "model", frame, flavor_options={"init_kwargs": {"inputs": 2}})
    with torch.no_grad():
        expected = model(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()
    np.testing.assert_allclose(loaded.predict(frame), expected, rtol=1e-6)


def test_a_torch_module_that_cannot_be_rebuilt_is_refused_before_writing(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tests.registry.torch_models import TwoLayer

    with pytest.raises(
        ModelError,
        match=r"^The PyTorch module 'tests\.registry\.torch_models:TwoLayer' cannot be rebuilt from init_kwargs \{\}: missing a required argument: 'inputs'\. Pass flavor_options=\{'init_kwargs': \{\.\.\.\}\} with its constructor's arguments \(plain values\), or save a TorchScript module \(torch\.jit\.script\(model\)\)\.$",
    ):
        save_model(TwoLayer(3), tmp_path / "model")

    class Local(torch.nn.Module):
        def forward(self, features: Any) -> Any:
            return features

    with pytest.raises(
        ModelError,
        match=r"^The PyTorch module class 'tests\.registry\.test_flavors:test_a_torch_module_that_cannot_be_rebuilt_is_refused_before_writing\.<locals>\.Local' cannot be imported where the model is loaded",
    ):
        save_model(Local(), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


# --- missing extras ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "module", "message"),
    [
        (
            "sklearn",
            "sklearn",
            "The scikit-learn flavor requires scikit-learn: pip install 'loopwright[sklearn]'",
        ),
        ("xgboost", "xgboost", "The XGBoost flavor requires xgboost: pip install 'loopwright[xgboost]'"),
        ("lightgbm", "lightgbm", "The LightGBM flavor requires lightgbm: pip install 'loopwright[lightgbm]'"),
        ("pytorch", "torch", "The PyTorch flavor requires torch: pip install 'loopwright[torch]'"),
    ],
)
def test_loading_without_the_framework_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flavor: str, module: str, message: str
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_text(
        f"flavor: {flavor}\nflavor_config: {{file: model.bin, class: x:Y}}\npython_version: '3.11'\n"
        "loopwright_version: 0.1.0\ncreated: '2026-01-01T00:00:00Z'\n"
    )
    real = base.import_module

    def without(name: str) -> Any:
        if name == module:
            raise ModuleNotFoundError(f"No module named {module!r}")
        return real(name)

    monkeypatch.setattr(base, "import_module", without)
    with pytest.raises(MissingExtraError, match=f"^{re.escape(message)}$") as caught:
        load_model(folder)
    assert caught.value.extra == flavors.FLAVORS[flavor].extra
    assert isinstance(caught.value, ImportError)


def test_the_flavor_is_inferred_from_the_class_without_importing_frameworks() -> None:
    class Plain:
        def predict(self, data: Any) -> Any:
            return data

    assert flavors.flavor_for(Plain(), "python").name == "python"
    with pytest.raises(
        ModelError, match=r"^No flavor can save a model of type 'tests\.registry\.test_flavors\..*Plain'\."
    ):
        flavors.flavor_for(Plain())
    # In a fresh interpreter: asking about a model loads no framework (here, where they are all imported
    # already, the check could not fail).
    probe = (
        "import json, sys; from loopwright.registry.format import infer_flavor, PythonModel; "
        "assert infer_flavor(object()) is None and infer_flavor(PythonModel()) == 'python'; "
        "print(json.dumps(sorted(name for name in sys.modules "
        "if name.partition('.')[0] in {'sklearn', 'xgboost', 'lightgbm', 'torch'})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert json.loads(done.stdout) == []
