"""The LightGBM flavor: a ``Booster`` or a scikit-learn wrapper (``LGBMClassifier``, ``LGBMRegressor``,
``LGBMRanker``), saved in LightGBM's native text format.

The text model is LightGBM's own portable format. Loading it gives a ``Booster``; for a classifier the
manifest keeps the class labels, so ``predict`` returns labels and ``predict_proba`` one column per class,
exactly as ``LGBMClassifier`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from loopwright.errors import ModelError
from loopwright.registry.flavors.base import Flavor, Predict, defined_in, installed_versions, type_name

__all__ = ["LightGBMFlavor"]

_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    """LightGBM models; ``predict_proba`` for classifiers."""

    name = "lightgbm"
    title = "LightGBM"
    package = "lightgbm"
    module = "lightgbm"
    extra = "lightgbm"

    def can_save(self, model: Any) -> bool:
        return defined_in(model, "lightgbm") and (hasattr(model, "booster_") or hasattr(model, "save_model"))

    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        lightgbm = self.framework()
        config: dict[str, Any] = {"file": _FILE, "estimator": "booster"}
        if isinstance(model, lightgbm.Booster):
            booster = model
        else:
            try:
                booster = model.booster_
            except Exception as error:  # LightGBM raises its own NotFittedError (a ValueError subclass)
                raise ModelError(
                    f"The LightGBM model of type '{type_name(model)}' is not fitted. Call fit() before "
                    "saving it.",
                    model_type=type_name(model),
                    flavor=self.name,
                ) from error
            if isinstance(model, lightgbm.LGBMClassifier):
                config["estimator"] = "classifier"
                config["classes"] = np.asarray(model.classes_).tolist()
            elif isinstance(model, lightgbm.LGBMRanker):
                config["estimator"] = "ranker"
            else:
                config["estimator"] = "regressor"
        booster.save_model(str(directory / _FILE))
        return config

    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        lightgbm = self.framework()
        return lightgbm.Booster(model_file=str(directory / str(config.get("file", _FILE))))

    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        if config.get("estimator") != "classifier":
            predict: Predict = native.predict
            return predict
        classes = np.asarray(config["classes"])
        probabilities = _probabilities(native)

        def predict_labels(data: Any) -> Any:
            return classes[np.argmax(probabilities(data), axis=1)]

        return predict_labels

    def proba(self, native: Any, config: Mapping[str, Any]) -> Predict | None:
        return _probabilities(native) if config.get("estimator") == "classifier" else None

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        return installed_versions(["lightgbm", "numpy", "scipy"])


def _probabilities(booster: Any) -> Predict:
    def predict_proba(data: Any) -> Any:
        result = booster.predict(data)
        if result.ndim == 1:  # binary: the probability of the second class, as LGBMClassifier widens it
            return np.column_stack((1.0 - result, result))
        return result

    return predict_proba
