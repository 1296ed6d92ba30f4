"""The scikit-learn flavor: estimators and Pipelines, pickled with cloudpickle.

Why cloudpickle rather than joblib or plain pickle: scikit-learn documents pickling as the way to persist
a model, and every way it names writes a pickle. joblib's gains (compression, memory-mapping huge arrays)
do not matter for a model loaded once per serving process, and it loads more slowly. cloudpickle writes
the same protocol-5 pickle at the same speed, and also stores what plain pickle cannot: a
``FunctionTransformer(lambda ...)`` or a transformer class defined in a notebook, by value. Loading is
plain :func:`pickle.load`, and so carries pickle's warning: load only models you trust.

Estimators whose classes come from XGBoost or LightGBM are saved by those flavors (in their native
formats); a Pipeline containing one is pickled here as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopwright.errors import ModelError
from loopwright.registry.flavors.base import (
    Flavor,
    Predict,
    defined_in,
    installed_versions,
    pickle_model,
    type_name,
    unpickle_model,
)

__all__ = ["SklearnFlavor"]

_FILE = "model.pkl"


class SklearnFlavor(Flavor):
    """scikit-learn estimators (``predict``; ``predict_proba`` where the estimator has it)."""

    name = "sklearn"
    title = "scikit-learn"
    package = "scikit-learn"
    module = "sklearn"
    extra = "sklearn"

    def can_save(self, model: Any) -> bool:
        return defined_in(model, "sklearn") and callable(getattr(model, "predict", None))

    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except NotFittedError as error:
            raise ModelError(
                f"The scikit-learn model of type '{type_name(model)}' is not fitted. Call fit() before "
                "saving it.",
                model_type=type_name(model),
                flavor=self.name,
            ) from error
        pickle_model(model, directory / _FILE, self.name)
        return {"file": _FILE, "serializer": "cloudpickle", "protocol": 5}

    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        self.framework()  # a missing scikit-learn says which extra, not "No module named 'sklearn'"
        return unpickle_model(directory / str(config.get("file", _FILE)))

    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        return _matching_feature_names(native, native.predict)

    def proba(self, native: Any, config: Mapping[str, Any]) -> Predict | None:
        # Pipelines expose predict_proba only when their last step has it (hasattr says so).
        if not hasattr(native, "predict_proba"):
            return None
        return _matching_feature_names(native, native.predict_proba)

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        return installed_versions(["scikit-learn", "numpy", "scipy", "cloudpickle"])


def _matching_feature_names(native: Any, method: Predict) -> Predict:
    """``method`` itself for the common case, where inputs and fit agree on names. scikit-learn warns when
    a model fitted on an array gets a DataFrame (or the reverse); the signature has already put the
    columns in order, so the adapter hands over what the model was fitted on."""
    import numpy as np
    import pandas as pd

    names = getattr(native, "feature_names_in_", None)
    if names is None:

        def positional(data: Any) -> Any:
            return method(data.to_numpy() if isinstance(data, pd.DataFrame) else data)

        return positional
    columns = [str(name) for name in names]

    def named(data: Any) -> Any:
        if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(columns):
            data = pd.DataFrame(data, columns=columns, copy=False)
        return method(data)

    return named
