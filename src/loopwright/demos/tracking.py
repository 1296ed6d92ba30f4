"""The tracking demo: a small grid of scikit-learn classifiers, each tracked as a run with nested folds.

``loopwright demo`` (and ``make demo``) runs it. It trains seven models on scikit-learn's bundled breast
cancer data set (no download), deterministically for a given seed, in a few seconds on two cores. Each
model becomes a run in experiment ``demo`` with:

* its parameters, and tags naming the model family and the demo session;
* one child run per cross-validation fold (``accuracy``, ``f1``, ``roc_auc`` on that fold), and on the
  parent the series ``fold_roc_auc`` (step = fold) and its mean ``cv_roc_auc``;
* the test-set ``accuracy``, ``f1`` and ``roc_auc`` of the model refitted on all training data; the
  gradient-boosting model also logs ``train_loss`` and ``test_log_loss`` per boosting stage;
* the fitted model (``model.pkl``, kind ``model``) and its test-set evaluation (``evaluation.json``).

It reports progress through a callback rather than printing, so the CLI decides how it looks::

    >>> from loopwright import Client, Settings
    >>> result = run_tracking_demo(Client(Settings(workspace="/tmp/lw-demo")))  # doctest: +SKIP
    >>> result.runs[0].name, result.runs[0].metrics["roc_auc"]  # doctest: +SKIP
    ('logistic-C0.1', 0.998...)
"""

from __future__ import annotations

import pickle
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright.errors import MissingExtraError

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.store.records import RunRecord
    from loopwright.tracking.run import Run

__all__ = [
    "DEMO_EXPERIMENT",
    "MODELS",
    "RANKING_METRIC",
    "DemoProgress",
    "DemoResult",
    "ModelSpec",
    "ProgressCallback",
    "run_tracking_demo",
]

DEMO_EXPERIMENT = "demo"
"""The experiment the demo records its runs in."""

RANKING_METRIC = "roc_auc"
"""The test-set metric the demo ranks its models by (higher is better)."""

SESSION_TAG = "demo.session"
"""Tag that groups the runs of one demo invocation, so a ranking never mixes in earlier invocations."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model of the grid: a run name, a model family and the hyper-parameters it is built with."""

    name: str
    family: str
    params: dict[str, Any] = field(default_factory=dict)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("logistic-C0.01", "logistic_regression", {"C": 0.01}),
    ModelSpec("logistic-C0.1", "logistic_regression", {"C": 0.1}),
    ModelSpec("logistic-C1", "logistic_regression", {"C": 1.0}),
    ModelSpec("logistic-C10", "logistic_regression", {"C": 10.0}),
    ModelSpec("forest-depth2", "random_forest", {"max_depth": 2, "n_estimators": 50}),
    ModelSpec("forest-depth8", "random_forest", {"max_depth": 8, "n_estimators": 50}),
    ModelSpec(
        "boosting-depth2",
        "gradient_boosting",
        {"max_depth": 2, "n_estimators": 100, "learning_rate": 0.1},
    ),
)
"""The models the demo trains, in order."""


@dataclass(frozen=True, slots=True)
class DemoProgress:
    """How far the demo is: ``completed`` of ``total`` model fits, and what it is doing now."""

    completed: int
    total: int
    description: str


ProgressCallback = Callable[[DemoProgress], None]
"""Called before each model fit and once at the end (``completed == total``)."""


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo recorded: the parent runs ranked by ``metric`` (best first) and the session tag."""

    experiment: str
    session: str
    metric: str
    runs: list[RunRecord]
    child_count: int
    duration_s: float


def run_tracking_demo(
    client: Client,
    *,
    experiment: str = DEMO_EXPERIMENT,
    folds: int = 5,
    seed: int = 0,
    models: tuple[ModelSpec, ...] = MODELS,
    on_progress: ProgressCallback | None = None,
) -> DemoResult:
    """Train ``models`` with ``folds``-fold cross-validation and track each in ``client``'s workspace.

    Deterministic for a given ``seed`` (the data split, the folds and every model's randomness). Raises
    :class:`~loopwright.errors.MissingExtraError` when scikit-learn is not installed.
    """
    sklearn = _import_sklearn()
    started = time.perf_counter()
    session = uuid.uuid4().hex[:12]
    report = on_progress or (lambda progress: None)
    features, labels = sklearn.datasets.load_breast_cancer(return_X_y=True)
    train_x, test_x, train_y, test_y = sklearn.model_selection.train_test_split(
        features, labels, test_size=0.25, stratify=labels, random_state=seed
    )
    splitter = sklearn.model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(train_x, train_y))
    total = len(models) * (folds + 1)
    completed = 0
    for spec in models:
        params = {
            "model": spec.family,
            **spec.params,
            "dataset": "breast_cancer",
            "folds": folds,
            "seed": seed,
        }
        tags = {"model.family": spec.family, SESSION_TAG: session}
        with client.start_run(experiment, spec.name, nested=False, params=params, tags=tags) as parent:
            fold_scores = []
            for fold, (train_rows, valid_rows) in enumerate(splits, start=1):
                report(DemoProgress(completed, total, f"{spec.name}: fold {fold}/{folds}"))
                with client.start_run(
                    name=f"{spec.name}-fold{fold}", parent=parent, params={"fold": fold}
                ) as child:
                    model = _build(sklearn, spec, seed)
                    model.fit(train_x[train_rows], train_y[train_rows])
                    scores = _scores(sklearn, model, train_x[valid_rows], train_y[valid_rows])
                    child.log_metrics(scores)
                parent.log_metric("fold_roc_auc", scores["roc_auc"], step=fold)
                fold_scores.append(scores["roc_auc"])
                completed += 1
            parent.log_metric("cv_roc_auc", sum(fold_scores) / len(fold_scores))
            report(DemoProgress(completed, total, f"{spec.name}: final fit"))
            model = _build(sklearn, spec, seed)
            model.fit(train_x, train_y)
            parent.log_metrics(_scores(sklearn, model, test_x, test_y))
            if spec.family == "gradient_boosting":
                _log_boosting_curves(sklearn, parent, model, test_x, test_y)
            _log_model(parent, model, sklearn, test_x, test_y)
            completed += 1
    report(DemoProgress(total, total, f"trained {len(models)} models"))
    ranked = client.search_runs(
        experiment,
        filter=f"tags.`{SESSION_TAG}` = '{session}' and parent_id is null",
        order_by=[f"metrics.{RANKING_METRIC} desc", "metrics.accuracy desc"],
        output="list",
    )
    return DemoResult(
        experiment=experiment,
        session=session,
        metric=RANKING_METRIC,
        runs=ranked,
        child_count=len(models) * folds,
        duration_s=time.perf_counter() - started,
    )


class _Sklearn:
    """The scikit-learn modules the demo uses, imported on first use."""

    def __init__(self) -> None:
        import sklearn.datasets
        import sklearn.ensemble
        import sklearn.linear_model
        import sklearn.metrics
        import sklearn.model_selection
        import sklearn.pipeline
        import sklearn.preprocessing

        self.datasets = sklearn.datasets
        self.ensemble = sklearn.ensemble
        self.linear_model = sklearn.linear_model
        self.metrics = sklearn.metrics
        self.model_selection = sklearn.model_selection
        self.pipeline = sklearn.pipeline
        self.preprocessing = sklearn.preprocessing


def _import_sklearn() -> _Sklearn:
    try:
        return _Sklearn()
    except ImportError as error:
        raise MissingExtraError("The demo", "scikit-learn", "sklearn") from error


def _build(sklearn: _Sklearn, spec: ModelSpec, seed: int) -> Any:
    if spec.family == "logistic_regression":
        return sklearn.pipeline.make_pipeline(
            sklearn.preprocessing.StandardScaler(),
            sklearn.linear_model.LogisticRegression(**spec.params, max_iter=5000),
        )
    if spec.family == "random_forest":
        return sklearn.ensemble.RandomForestClassifier(**spec.params, random_state=seed, n_jobs=1)
    if spec.family == "gradient_boosting":
        return sklearn.ensemble.GradientBoostingClassifier(**spec.params, random_state=seed)
    raise ValueError(f"Unknown model family {spec.family!r} in the demo grid.")


def _scores(sklearn: _Sklearn, model: Any, features: Any, labels: Any) -> dict[str, float]:
    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, 1]
    return {
        "accuracy": float(sklearn.metrics.accuracy_score(labels, predicted)),
        "f1": float(sklearn.metrics.f1_score(labels, predicted)),
        "roc_auc": float(sklearn.metrics.roc_auc_score(labels, probability)),
    }


def _log_boosting_curves(sklearn: _Sklearn, run: Run, model: Any, features: Any, labels: Any) -> None:
    for stage, loss in enumerate(model.train_score_, start=1):
        run.log_metric("train_loss", float(loss), step=stage)
    for stage, probability in enumerate(model.staged_predict_proba(features), start=1):
        run.log_metric("test_log_loss", float(sklearn.metrics.log_loss(labels, probability)), step=stage)


def _log_model(run: Run, model: Any, sklearn: _Sklearn, features: Any, labels: Any) -> None:
    predicted = model.predict(features)
    evaluation = {
        "confusion_matrix": sklearn.metrics.confusion_matrix(labels, predicted).tolist(),
        "report": sklearn.metrics.classification_report(labels, predicted, output_dict=True),
        "test_rows": len(labels),
    }
    run.log_dict(evaluation, "evaluation.json")
    with tempfile.TemporaryDirectory(prefix="loopwright-demo-") as folder:
        path = Path(folder) / "model.pkl"
        with path.open("wb") as handle:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
        run.log_artifact(path, "model.pkl", kind="model")
