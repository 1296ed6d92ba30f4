"""The tracking demo scenario, called directly: progress reports, determinism, and its missing extra."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopwright.client import Client
from loopwright.demos.tracking import MODELS, DemoProgress, run_tracking_demo
from loopwright.errors import MissingExtraError
from loopwright.settings import Settings, TrackingSettings

SMALL_GRID = (MODELS[1], MODELS[4])  # one logistic regression, one random forest


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    client = Client(
        Settings(
            workspace=tmp_path / "ws", tracking=TrackingSettings(flush_interval_s=0.2, capture_git=False)
        )
    )
    yield client
    client.close()


def test_progress_is_reported_before_each_fit_and_once_at_the_end(client: Client) -> None:
    reports: list[DemoProgress] = []

    run_tracking_demo(client, folds=2, models=SMALL_GRID, on_progress=reports.append)

    assert reports == [
        DemoProgress(0, 6, "logistic-C0.1: fold 1/2"),
        DemoProgress(1, 6, "logistic-C0.1: fold 2/2"),
        DemoProgress(2, 6, "logistic-C0.1: final fit"),
        DemoProgress(3, 6, "forest-depth2: fold 1/2"),
        DemoProgress(4, 6, "forest-depth2: fold 2/2"),
        DemoProgress(5, 6, "forest-depth2: final fit"),
        DemoProgress(6, 6, "trained 2 models"),
    ]


def test_the_result_ranks_this_invocations_models_by_roc_auc(client: Client) -> None:
    first = run_tracking_demo(client, folds=2, models=SMALL_GRID)
    second = run_tracking_demo(client, folds=2, models=SMALL_GRID, experiment="again")

    assert first.metric == "roc_auc"
    assert first.child_count == 4
    assert len(first.runs) == 2
    assert first.runs[0].metrics["roc_auc"] >= first.runs[1].metrics["roc_auc"]
    assert {run.tags["demo.session"] for run in first.runs} == {first.session}
    assert {run.experiment for run in second.runs} == {"again"}


def test_the_same_seed_gives_the_same_metrics_and_another_seed_others(client: Client) -> None:
    def metrics(seed: int) -> dict[str, dict[str, float]]:
        result = run_tracking_demo(client, folds=2, seed=seed, models=SMALL_GRID)
        return {run.name: run.metrics for run in result.runs}

    assert metrics(0) == metrics(0)
    assert metrics(0) != metrics(1)


def test_without_scikit_learn_the_demo_raises_the_missing_extra(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in sys.modules if name == "sklearn" or name.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)

    with pytest.raises(MissingExtraError) as caught:
        run_tracking_demo(client)

    assert str(caught.value) == "The demo requires scikit-learn: pip install 'loopwright[sklearn]'"
    assert client.list_experiments() == []
