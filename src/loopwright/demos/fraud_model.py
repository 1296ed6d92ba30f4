"""The fraud demo's model and its training pipeline, ``loopwright.demos.fraud_model:train``.

The model is a scikit-learn pipeline: the categorical features one-hot encoded, the numeric ones as they
are, and a random forest weighted for the rare class (fraud is about 2% of transactions, and missing a
fraud costs far more than a second look at a genuine payment). It reads only
:data:`~loopwright.demos.fraud_data.FEATURES`, so the ids that travel with each request are ignored.

The same pipeline trains the first model on the ``transactions`` dataset and, when the retraining runs,
the candidate on the deployment's recent labelled predictions::

    lw.run_pipeline("loopwright.demos.fraud_model:train", {"data": lw.get_dataset("transactions")})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopwright.client import log_metric, log_params
from loopwright.demos.fraud_data import CATEGORICAL, FEATURES, LABEL, NUMERIC
from loopwright.pipelines.pipeline import pipeline
from loopwright.pipelines.step import step

if TYPE_CHECKING:
    from loopwright.data.versions import DatasetVersion

__all__ = ["TRAIN_REF", "build_model", "fit_model", "train"]

TRAIN_REF = "loopwright.demos.fraud_model:train"
"""The reference of the training pipeline, as retraining policies name it."""

_TREES = 60  # enough for a stable ranking; more only costs seconds on two cores


def build_model(seed: int = 0) -> Any:
    """An untrained model: one-hot categories and numbers into a class-weighted random forest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
            ("numbers", "passthrough", list(NUMERIC)),
        ]
    )
    forest = RandomForestClassifier(
        n_estimators=_TREES,
        max_depth=10,
        min_samples_leaf=3,
        class_weight="balanced_subsample",
        random_state=seed,
        n_jobs=1,  # the demo's server shares the two cores; one fit at a time is plenty
    )
    return Pipeline([("features", features), ("classifier", forest)])


@step(cache=False)
def fit_model(data: DatasetVersion, seed: int = 0) -> Any:
    """Fit :func:`build_model` on ``data`` (its :data:`FEATURES` and the label ``is_fraud``)."""
    frame = data.to_pandas()
    labels = frame[LABEL].astype("int64")
    log_params({"rows": len(frame), "trees": _TREES, "seed": seed})
    log_metric("fraud_rate", float(labels.mean()))
    return build_model(seed).fit(frame[list(FEATURES)], labels)


@pipeline(name="train-fraud", description="Train the fraud model on a dataset of labelled transactions.")
def train(data: DatasetVersion, seed: int = 0) -> Any:
    """Train the fraud model on ``data`` (a dataset version with the features and ``is_fraud``)."""
    return fit_model(data, seed)
