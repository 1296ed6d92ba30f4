"""MLflow's side of the registry benchmark, run by the MLflow venv's Python (see ``registry.py``):
``mlflow.sklearn.save_model`` with the input example (MLflow infers a signature from it and enforces it in
pyfunc; the model is stored with skops, MLflow's default), then ``mlflow.pyfunc.load_model`` and
``PyFuncModel.predict`` -- what ``mlflow models serve`` calls per request."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _registry_common


def _version() -> str:
    import mlflow

    return str(mlflow.__version__)


def predict(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Save, load and time every model (see ``_registry_common.measure_models``)."""
    import mlflow.pyfunc
    import mlflow.sklearn

    def save(model: Any, folder: Path, example: Any) -> None:
        # MLflow 3.17 stores scikit-learn models with skops (its default) and refuses types it does not
        # trust, such as the trees of a GradientBoostingClassifier; a user saving a model of their own
        # trusts those, as here. (The extra skops pass is in the reported save time, which has no target.)
        import skops.io

        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        mlflow.sklearn.save_model(model, str(folder), input_example=example, skops_trusted_types=trusted)

    def load(folder: Path) -> Any:
        return mlflow.pyfunc.load_model(str(folder))

    return _registry_common.measure_models("mlflow", workdir, config, save, load)


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "mlflow", _version, {"predict": predict}, "MLflow's side of benchmarks/registry.py"
        )
    )
