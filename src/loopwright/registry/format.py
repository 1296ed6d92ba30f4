"""The model format: a folder holding a manifest, the serialised model and an input example.

::

    churn-model/
        loopwright-model.yaml       the manifest: flavor, signature, requirements, example, metadata
        model.pkl                   the model, in its flavor's format (model.json, model.txt, state_dict.pt…)
        input_example.parquet       the first rows of the input example (input_example.json for arrays)

:func:`save_model` writes it atomically (into a temporary folder beside the target, renamed into place when
complete), so a failed save leaves nothing behind; :func:`load_model` reads it back as a
:class:`LoadedModel` with one interface for every flavor.

>>> import loopwright as lw
>>> lw.save_model(classifier, "models/churn", input_example=frame.head())     # doctest: +SKIP
>>> model = lw.load_model("models/churn")                                      # doctest: +SKIP
>>> model.predict(polars_frame), model.predict_proba([{"age": 31, "plan": "pro"}])  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    LoopwrightError,
    ModelError,
    ModelFormatError,
    NotFoundError,
)
from loopwright.registry.flavors import FLAVORS, flavor_for
from loopwright.registry.flavors.base import Flavor, Predict, type_name
from loopwright.registry.flavors.python import PythonModel
from loopwright.registry.inputs import as_array, as_frame, as_model_input
from loopwright.registry.signature import Signature, infer_signature

__all__ = [
    "EXAMPLE_ROWS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "LoadedModel",
    "ModelManifest",
    "PythonModel",
    "infer_flavor",
    "load_model",
    "read_manifest",
    "save_model",
]

MANIFEST_NAME = "loopwright-model.yaml"
FORMAT_VERSION = 1
"""The manifest layout this code writes; a manifest of a newer layout is refused with a clear message."""
EXAMPLE_ROWS = 5
"""Rows of the input example kept in the folder (the signature is inferred from all of them): enough to
show the shape and warm a model up, without copying a training set that was passed as the example."""


@dataclass(frozen=True)
class ModelManifest:
    """What ``loopwright-model.yaml`` says about a saved model."""

    flavor: str
    signature: Signature | None
    python_version: str
    requirements: dict[str, str]
    input_example: str | None
    loopwright_version: str
    created: str
    """When the model was saved: ISO 8601, UTC, to the second."""
    metadata: dict[str, Any] = field(default_factory=dict)
    flavor_config: dict[str, Any] = field(default_factory=dict)
    """The flavor's own facts: the model file, its format, a class to rebuild, class labels."""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain values, in the order the YAML file shows them."""
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "flavor_config": dict(self.flavor_config),
            "signature": self.signature.to_dict() if self.signature is not None else None,
            "input_example": self.input_example,
            "python_version": self.python_version,
            "requirements": dict(self.requirements),
            "loopwright_version": self.loopwright_version,
            "created": self.created,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, document: Any, source: str = "the manifest") -> ModelManifest:
        """Read :meth:`to_dict`'s form; a missing or malformed field raises :class:`ModelFormatError`
        naming it."""
        if not isinstance(document, Mapping):
            raise ModelFormatError(f"{source} must be a mapping of fields. Got {type(document).__name__}.")

        def text(name: str, *, optional: bool = False) -> Any:
            value = document.get(name)
            if (value is None and optional) or (isinstance(value, str) and value):
                return value
            raise ModelFormatError(
                f"The '{name}' of {source} must be text. Got {value!r} instead.", source=source, field=name
            )

        def mapping(name: str) -> dict[str, Any]:
            value = document.get(name)
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise ModelFormatError(
                    f"The '{name}' of {source} must be a mapping. Got {value!r} instead.",
                    source=source,
                    field=name,
                )
            return dict(value)

        version = document.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelFormatError(
                f"The 'format_version' of {source} must be a positive integer. Got {version!r} instead.",
                source=source,
                field="format_version",
            )
        if version > FORMAT_VERSION:
            raise ModelFormatError(
                f"{source} has format version {version}, newer than this Loopwright reads "
                f"({FORMAT_VERSION}). Upgrade Loopwright to load it.",
                source=source,
                field="format_version",
            )
        signature = None
        if document.get("signature") is not None:
            try:
                signature = Signature.from_dict(document["signature"])
            except InvalidInputError as error:
                raise ModelFormatError(
                    f"The 'signature' of {source} is not valid: {error}", source=source, field="signature"
                ) from error
        requirements = mapping("requirements")
        return cls(
            flavor=text("flavor"),
            signature=signature,
            python_version=text("python_version"),
            requirements={str(name): str(version) for name, version in requirements.items()},
            input_example=text("input_example", optional=True),
            loopwright_version=text("loopwright_version"),
            created=text("created"),
            metadata=mapping("metadata"),
            flavor_config=mapping("flavor_config"),
            format_version=version,
        )


class LoadedModel:
    """A saved model, loaded: one interface whatever the flavor.

    ``predict`` and ``predict_proba`` take a pandas or polars DataFrame, a numpy array, a list of records
    (or rows) or a dict of columns; the signature, when there is one, checks and converts it first
    (:meth:`Signature.validate <loopwright.registry.signature.Signature.validate>`).

    >>> model = lw.load_model("models/churn")                     # doctest: +SKIP
    >>> model.flavor, model.signature.columns                      # doctest: +SKIP
    ('sklearn', ['age', 'plan'])
    >>> model.predict({"age": [31, 45], "plan": ["pro", "free"]})  # doctest: +SKIP
    array([0, 1])
    """

    def __init__(
        self, path: Path, manifest: ModelManifest, raw: Any, predict: Predict, proba: Predict | None
    ) -> None:
        self.path = path
        """The model's folder."""
        self.manifest = manifest
        self.flavor = manifest.flavor
        self.signature = manifest.signature
        self.raw = raw
        """The native model object (an estimator, a Booster, a torch module, a PythonModel)."""
        # Bound once, so that a call is: validate (O(columns)), then the native call.
        self._validate = manifest.signature.validate if manifest.signature is not None else as_model_input
        self._predict = predict
        self._proba = proba

    def __repr__(self) -> str:
        return f"<LoadedModel {self.flavor} {type_name(self.raw)} from {str(self.path)!r}>"

    @property
    def has_predict_proba(self) -> bool:
        """Whether :meth:`predict_proba` is available (classifiers that estimate probabilities)."""
        return self._proba is not None

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data``; :class:`~loopwright.errors.SignatureError` if it does not
        fit the signature."""
        return self._predict(self._validate(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``, one column per class; :class:`~loopwright.errors.ModelError`
        where the model has none (regressors, boosters without a classifier, torch modules)."""
        if self._proba is None:
            raise ModelError(
                f"The {self.flavor} model '{type_name(self.raw)}' in '{self.path}' has no predict_proba "
                "(only classifiers that estimate probabilities have one). Use predict instead.",
                flavor=self.flavor,
                model_type=type_name(self.raw),
            )
        return self._proba(self._validate(data))

    def input_example(self) -> Any:
        """The stored input example (a pandas DataFrame, or a numpy array), or None."""
        name = self.manifest.input_example
        if name is None:
            return None
        return _read_example(self.path / name)


# --- saving ------------------------------------------------------------------------------------------------


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | None = None,
    requirements: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    flavor_options: Mapping[str, Any] | None = None,
) -> ModelManifest:
    """Save ``model`` as a folder at ``path`` (new, or an empty folder) and return its manifest.

    ``flavor`` is inferred from the model's class when left out. ``signature`` is inferred from
    ``input_example`` when left out (no example, no signature: inputs are then not checked).
    ``requirements`` adds to (or overrides) the flavor's packages, recorded with their installed versions.
    ``metadata`` holds plain values of your own. ``flavor_options`` are the flavor's settings (PyTorch:
    ``{"init_kwargs": {...}}``, the module's constructor arguments). The write is atomic: a model that
    cannot be serialised raises :class:`~loopwright.errors.ModelError` and leaves nothing behind.

    >>> manifest = lw.save_model(pipeline, "models/churn", input_example=train.head())  # doctest: +SKIP
    >>> manifest.flavor, manifest.requirements["scikit-learn"]                            # doctest: +SKIP
    ('sklearn', '1.9.1')
    """
    target = Path(path)
    chosen = flavor_for(model, flavor)
    options = _check_options(chosen, flavor_options)
    if signature is not None and not isinstance(signature, Signature):
        raise InvalidInputError(
            f"The 'signature' must be a lw.Signature (see lw.infer_signature). Got "
            f"{type(signature).__name__} instead."
        )
    if signature is None and input_example is not None:
        signature = infer_signature(input_example)
    extra_requirements = _check_requirements(requirements)
    user_metadata = _check_plain(dict(metadata or {}), "metadata")
    _check_target(target)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".saving", dir=target.parent))
    try:
        try:
            config = chosen.save(model, staging, options)
        except LoopwrightError:
            raise
        except Exception as error:  # the framework's own failure, reported with the model it concerns
            raise ModelError(
                f"Saving the {chosen.title} model of type '{type_name(model)}' failed: "
                f"{type(error).__name__}: {error}",
                flavor=chosen.name,
                model_type=type_name(model),
            ) from error
        example_name = None if input_example is None else _write_example(input_example, staging, signature)
        manifest = ModelManifest(
            flavor=chosen.name,
            signature=signature,
            python_version=platform.python_version(),
            requirements={**chosen.requirements(config), **extra_requirements},
            input_example=example_name,
            loopwright_version=_loopwright_version(),
            created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            metadata=user_metadata,
            flavor_config=config,
        )
        _write_manifest(manifest, staging / MANIFEST_NAME)
        try:
            # rename() replaces an empty folder atomically, and fails if someone filled it meanwhile.
            os.replace(staging, target)
        except OSError as error:
            raise ConflictError(
                f"The model folder '{target}' was created by someone else while saving. Save to a new path.",
                path=str(target),
            ) from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def infer_flavor(model: Any) -> str | None:
    """The name of the flavor :func:`save_model` would choose for ``model``, or None if none fits.

    >>> infer_flavor(LogisticRegression().fit(features, labels))  # doctest: +SKIP
    'sklearn'
    """
    try:
        return flavor_for(model).name
    except ModelError:
        return None


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConflictError(
            f"The model folder '{target}' already exists and is not empty. Save to a new path, or remove it "
            "first.",
            path=str(target),
        )


def _check_options(flavor: Flavor, options: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(options or {})
    unknown = sorted(set(given) - flavor.options)
    if unknown:
        known = ", ".join(map(repr, sorted(flavor.options))) or "none"
        raise ModelError(
            f"The flavor_options of the {flavor.name} flavor must be among {known}. Got "
            f"{', '.join(map(repr, unknown))} instead.",
            flavor=flavor.name,
        )
    return given


def _check_requirements(requirements: Mapping[str, str] | None) -> dict[str, str]:
    if requirements is None:
        return {}
    if not isinstance(requirements, Mapping):
        raise InvalidInputError(
            "The 'requirements' must map package names to versions, e.g. {'scikit-learn': '1.5.2'}. Got "
            f"{type(requirements).__name__} instead."
        )
    for name, version in requirements.items():
        if not (isinstance(name, str) and name and isinstance(version, str) and version):
            raise InvalidInputError(
                "The 'requirements' must map package names to versions, e.g. {'scikit-learn': '1.5.2'}. "
                f"Got {name!r}: {version!r} instead."
            )
    return dict(requirements)


def _check_plain(value: dict[str, Any], what: str) -> dict[str, Any]:
    import yaml

    try:
        yaml.safe_dump(value)
    except yaml.YAMLError as error:
        raise InvalidInputError(
            f"The '{what}' must hold plain values (text, numbers, booleans, lists and mappings of them). "
            f"Got {value!r} instead."
        ) from error
    return value


def _loopwright_version() -> str:
    try:
        return importlib.metadata.version("loopwright")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _write_manifest(manifest: ModelManifest, path: Path) -> None:
    import yaml

    text = yaml.safe_dump(manifest.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.write_text(text, encoding="utf-8")


# --- input examples ----------------------------------------------------------------------------------------


def _write_example(example: Any, directory: Path, signature: Signature | None) -> str:
    import numpy as np

    tensor = signature.is_tensor if signature is not None else isinstance(example, np.ndarray)
    if tensor:
        array = as_array(example)[:EXAMPLE_ROWS]
        document = {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tolist()}
        (directory / "input_example.json").write_text(json.dumps(document, default=str), encoding="utf-8")
        return "input_example.json"
    frame = as_frame(example, signature.columns if signature is not None else None).head(EXAMPLE_ROWS)
    try:
        frame.to_parquet(directory / "input_example.parquet", index=False)
        return "input_example.parquet"
    except Exception:  # a column pyarrow cannot store (mixed objects): keep the example as JSON text
        (directory / "input_example.parquet").unlink(missing_ok=True)
        frame.to_json(directory / "input_example.json", orient="split", index=False, default_handler=str)
        return "input_example.json"


def _read_example(path: Path) -> Any:
    import numpy as np
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    if "dtype" in document:
        return np.asarray(document["data"], dtype=document["dtype"]).reshape(document["shape"])
    return pd.DataFrame(document["data"], columns=document["columns"])


# --- loading -----------------------------------------------------------------------------------------------


def read_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """The manifest of the model folder ``path``, without loading the model."""
    import yaml

    folder = Path(path)
    if not folder.is_dir():
        raise NotFoundError(f"The model folder '{folder}' does not exist.", kind="model", key=str(folder))
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ModelFormatError(
            f"The folder '{folder}' is not a Loopwright model: it has no {MANIFEST_NAME}.", path=str(folder)
        )
    try:
        document = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"{manifest_path} is not valid YAML: {error}", path=str(folder)) from error
    return ModelManifest.from_dict(document, str(manifest_path))


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load the model saved at ``path`` by :func:`save_model`.

    A model whose framework is not installed raises :class:`~loopwright.errors.MissingExtraError` with
    the ``pip install`` line; a folder that is not a model raises
    :class:`~loopwright.errors.ModelFormatError`.

    >>> model = lw.load_model("models/churn")   # doctest: +SKIP
    >>> model.predict(frame)                     # doctest: +SKIP
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    flavor = FLAVORS.get(manifest.flavor)
    if flavor is None:
        raise ModelFormatError(
            f"The model in '{folder}' has flavor '{manifest.flavor}', which this Loopwright "
            f"({_loopwright_version()}) does not know. Known flavors: {', '.join(sorted(FLAVORS))}.",
            path=str(folder),
            flavor=manifest.flavor,
        )
    config = manifest.flavor_config
    try:
        raw = flavor.load(folder, config)
        predict, proba = flavor.predictor(raw, config), flavor.proba(raw, config)
    except LoopwrightError:
        raise
    except Exception as error:  # a damaged file, a class that moved, a framework that refuses the file
        raise ModelFormatError(
            f"Loading the {flavor.title} model in '{folder}' failed: {type(error).__name__}: {error}",
            path=str(folder),
            flavor=flavor.name,
        ) from error
    return LoadedModel(folder, manifest, raw, predict, proba)
