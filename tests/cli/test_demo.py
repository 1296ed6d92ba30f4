"""``loopwright demo`` end to end: what it prints, and every run, metric and artifact it records."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from loopwright.client import Client
from loopwright.settings import Settings
from loopwright.store.records import RunStatus
from tests.cli.conftest import Invoker, plain

MODEL_PARAMS = {
    "logistic-C0.01": {"model": "logistic_regression", "C": "0.01"},
    "logistic-C0.1": {"model": "logistic_regression", "C": "0.1"},
    "logistic-C1": {"model": "logistic_regression", "C": "1.0"},
    "logistic-C10": {"model": "logistic_regression", "C": "10.0"},
    "forest-depth2": {"model": "random_forest", "max_depth": "2", "n_estimators": "50"},
    "forest-depth8": {"model": "random_forest", "max_depth": "8", "n_estimators": "50"},
    "boosting-depth2": {
        "model": "gradient_boosting",
        "max_depth": "2",
        "n_estimators": "100",
        "learning_rate": "0.1",
    },
}


def test_demo_records_a_ranked_grid_of_models_with_nested_folds_and_artifacts(
    invoke: Invoker, workspace: Path, tmp_path: Path
) -> None:
    result = invoke("demo")

    assert result.exit_code == 0, result.stderr
    client = Client(Settings(workspace=workspace))
    try:
        models = client.search_runs(
            "demo", filter="parent_id is null", order_by=["metrics.roc_auc desc"], output="list"
        )
        every_run = client.search_runs("demo", max_results=None, output="list")

        assert len(models) == 7
        assert len(every_run) == 7 + 7 * 5
        assert {run.name for run in models} == set(MODEL_PARAMS)
        for run in models:
            assert run.status is RunStatus.FINISHED
            assert run.params == {
                **MODEL_PARAMS[run.name],
                "dataset": "breast_cancer",
                "folds": "5",
                "seed": "0",
            }
            assert run.tags["model.family"] == MODEL_PARAMS[run.name]["model"]
            assert 0.9 <= run.metrics["accuracy"] <= 1.0
            assert 0.9 <= run.metrics["f1"] <= 1.0
            assert 0.95 <= run.metrics["roc_auc"] <= 1.0
            assert 0.95 <= run.metrics["cv_roc_auc"] <= 1.0
            folds = client.metric_history(run.id, "fold_roc_auc")
            assert [point.step for point in folds] == [1, 2, 3, 4, 5]
            assert run.metrics["cv_roc_auc"] == pytest.approx(sum(p.value for p in folds) / 5)

            children = client.child_runs(run.id)
            assert [child.name for child in children] == [f"{run.name}-fold{fold}" for fold in range(1, 6)]
            for fold, child in enumerate(children, start=1):
                assert child.experiment == "demo"
                assert child.status is RunStatus.FINISHED
                assert child.params == {"fold": str(fold)}
                assert set(child.metrics) == {"accuracy", "f1", "roc_auc"}
                assert 0.85 <= child.metrics["accuracy"] <= 1.0

            artifacts = {item.name: item.artifact for item in client.run_artifacts(run.id)}
            assert set(artifacts) == {"model.pkl", "evaluation.json"}
            assert artifacts["model.pkl"].kind == "model"

        boosting = next(run for run in models if run.name == "boosting-depth2")
        assert len(client.metric_history(boosting.id, "train_loss")) == 100
        losses = [point.value for point in client.metric_history(boosting.id, "test_log_loss")]
        assert len(losses) == 100
        assert losses[-1] < losses[0]

        best = models[0]
        model_file = client.download_artifact(best.id, "model.pkl", tmp_path / "model.pkl")
        with model_file.open("rb") as handle:
            model = pickle.load(handle)  # the demo's own artifact, just written by this test
        from sklearn.datasets import load_breast_cancer

        features, labels = load_breast_cancer(return_X_y=True)
        assert (model.predict(features) == labels).mean() > 0.9
    finally:
        client.close()

    output = plain(result.stdout)
    assert f"Recording runs in experiment demo of the workspace at {workspace}\n" in output
    assert "42/42" in output
    assert "Models ranked by test roc_auc (best first)\n" in output
    ranked = [
        line.split() for line in output.splitlines() if line.strip()[:2] in {f"{n} " for n in range(1, 8)}
    ]
    assert [row[1] for row in ranked] == [run.id[:8] for run in models]
    assert [row[2] for row in ranked] == [run.name for run in models]
    assert "Recorded 7 runs with 35 cross-validation fold runs nested under them in " in output
    assert output.endswith(
        "Next, try:\n"
        "  # every run of the demo, fold runs included\n"
        f"  loopwright --workspace {workspace} runs list -e demo\n"
        "  # the models alone, best first\n"
        f"  loopwright --workspace {workspace} runs list -e demo -f 'parent_id is null' -o 'metrics.roc_auc desc'\n"
        f"  # everything about the best run ({models[0].name})\n"
        f"  loopwright --workspace {workspace} runs show {models[0].id[:8]}\n"
        "  # the top two side by side\n"
        f"  loopwright --workspace {workspace} runs compare {models[0].id[:8]} {models[1].id[:8]}\n"
    )


def test_demo_without_scikit_learn_says_what_to_install(
    invoke: Invoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes any import of scikit-learn fail, as if it were not installed.
    for name in [name for name in sys.modules if name == "sklearn" or name.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)

    result = invoke("demo")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[missing_extra]: The demo requires scikit-learn: pip install 'loopwright[sklearn]'\n"
    )
