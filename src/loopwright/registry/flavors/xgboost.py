"""The XGBoost flavor: a ``Booster`` or a scikit-learn wrapper (``XGBClassifier``, ``XGBRegressor``, …),
saved in XGBoost's native JSON format.

The JSON model is XGBoost's documented stable format: it loads across XGBoost versions and platforms,
unlike a pickle of the Python object. For the scikit-learn wrappers XGBoost stores their attributes
(``n_classes_``, …) in the same file, and the wrapper class is recorded in the manifest to rebuild it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.errors import ModelError
from loopwright.registry.flavors.base import Flavor, Predict, defined_in, installed_versions, type_name

__all__ = ["XGBoostFlavor"]

_FILE = "model.json"


class XGBoostFlavor(Flavor):
    """XGBoost models; ``predict_proba`` for the classifier wrappers."""

    name = "xgboost"
    title = "XGBoost"
    package = "xgboost"
    module = "xgboost"
    extra = "xgboost"

    def can_save(self, model: Any) -> bool:
        return defined_in(model, "xgboost") and hasattr(model, "save_model")

    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        xgboost = self.framework()
        # The first class of XGBoost's own in the hierarchy: a user's subclass is rebuilt as its base.
        native = next(cls for cls in type(model).__mro__ if cls.__module__.partition(".")[0] == "xgboost")
        if getattr(xgboost, native.__name__, None) is not native:
            raise ModelError(
                f"The XGBoost flavor cannot save a model of type '{type_name(model)}': it saves Booster and "
                "the scikit-learn wrappers (XGBClassifier, XGBRegressor, XGBRanker, …).",
                model_type=type_name(model),
                flavor=self.name,
            )
        if native.__name__ != "Booster" and not hasattr(model, "_Booster"):
            raise ModelError(
                f"The XGBoost model of type '{type_name(model)}' is not fitted. Call fit() before saving it.",
                model_type=type_name(model),
                flavor=self.name,
            )
        model.save_model(str(directory / _FILE))
        return {"file": _FILE, "class": native.__name__}

    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        xgboost = self.framework()
        model = getattr(xgboost, str(config.get("class", "Booster")))()
        model.load_model(str(directory / str(config.get("file", _FILE))))
        return model

    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        if config.get("class", "Booster") != "Booster":
            predict: Predict = native.predict
            return predict
        dmatrix = self.framework().DMatrix

        def predict_booster(data: Any) -> Any:
            return native.predict(dmatrix(data))

        return predict_booster

    def proba(self, native: Any, config: Mapping[str, Any]) -> Predict | None:
        return native.predict_proba if hasattr(native, "predict_proba") else None

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        return installed_versions(["xgboost", "numpy", "scipy"])
