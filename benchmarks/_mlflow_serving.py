"""MLflow's side of the serving benchmark, run by the MLflow venv's Python (see ``serving.py``): save the
pickled scikit-learn model with ``mlflow.sklearn.save_model`` (with its input example, so MLflow infers and
enforces a signature, as a user's model would have), for ``mlflow models serve`` to load."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common


def _version() -> str:
    import mlflow

    return str(mlflow.__version__)


def save(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Save ``<shared>/model.pkl`` as an MLflow model at ``<shared>/mlflow-model``."""
    import mlflow.sklearn
    import pandas as pd
    import skops.io

    shared = Path(config["shared"])
    with (shared / "model.pkl").open("rb") as handle:
        model = pickle.load(handle)
    example = pd.read_parquet(shared / "example.parquet")
    # MLflow 3.17 stores scikit-learn models with skops and refuses types it was not told to trust; a user
    # saving a model of their own trusts them (same as benchmarks/_mlflow_registry.py).
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    target = shared / "mlflow-model"
    mlflow.sklearn.save_model(model, str(target), input_example=example, skops_trusted_types=trusted)
    return {"model": str(target)}


if __name__ == "__main__":
    sys.exit(_common.child_main("mlflow", _version, {"save": save}, "MLflow's side of benchmarks/serving.py"))
