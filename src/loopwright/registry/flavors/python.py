"""The generic Python flavor: :class:`PythonModel` subclasses (or, asked for by name, any object with a
``predict`` method), pickled with cloudpickle.

cloudpickle stores classes defined in ``__main__`` (a notebook, a script) by value, so such a model loads
in a serving process that never ran that code; classes from importable modules are stored by reference
and need their module installed where the model is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.registry.flavors.base import (
    Flavor,
    Predict,
    installed_versions,
    pickle_model,
    unpickle_model,
)

__all__ = ["PythonFlavor", "PythonModel"]

_FILE = "model.pkl"


class PythonModel:
    """The base class of a model written in plain Python: subclass it and implement ``predict`` (and,
    optionally, ``predict_proba``). It is saved with cloudpickle, so keep its state picklable.

    ``predict`` receives what the signature makes of the caller's data: a pandas DataFrame of the
    signature's columns, or a numpy array for a tensor signature (without a signature: a DataFrame for
    polars frames, records and dicts of columns, anything else as given).

    >>> import loopwright as lw
    >>> class Threshold(lw.PythonModel):
    ...     def __init__(self, cut: float) -> None:
    ...         self.cut = cut
    ...     def predict(self, data):
    ...         return (data["score"] > self.cut).to_numpy()
    >>> lw.save_model(Threshold(0.5), "models/threshold", input_example={"score": [0.2]})  # doctest: +SKIP
    """

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data`` (one per row)."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict(self, data).")


class PythonFlavor(Flavor):
    """Plain Python models: a :class:`PythonModel`, or any object with ``predict`` when asked by name."""

    name = "python"
    title = "Python"
    package = ""
    module = ""
    extra = ""

    def can_save(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        pickle_model(model, directory / _FILE, self.name)
        return {"file": _FILE, "serializer": "cloudpickle", "protocol": 5}

    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        return unpickle_model(directory / str(config.get("file", _FILE)))

    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        predict: Predict = native.predict
        return predict

    def proba(self, native: Any, config: Mapping[str, Any]) -> Predict | None:
        proba = getattr(native, "predict_proba", None)
        return proba if callable(proba) else None

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        return installed_versions(["cloudpickle"])
