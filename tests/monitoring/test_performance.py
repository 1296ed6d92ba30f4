"""Live performance: labels joined by request id (late, missing, as mappings), realised metrics equal to
scikit-learn's, CBPE estimates, classes read off the log, regression, and per-variant numbers; on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from sklearn import metrics as sk

import loopwright as lw
from loopwright.client import Client
from loopwright.monitoring.performance import estimated_accuracy, estimated_roc_auc, infer_classes
from loopwright.settings import Settings
from loopwright.store.monitoring import MonitorCatalog
from tests.monitoring._traffic import HOUR, T0, deploy, hour_of_traffic, log, reference_frame


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = lw.connect(settings)
    deploy(opened)
    opened.log_dataset("tx", reference_frame())
    yield opened
    opened.close()


def series(client: Client, metric: str, column: str | None = None) -> list[float | None]:
    frame = client.monitors.results("fraud", metric=metric)
    frame = frame[frame["column"] == column] if column is not None else frame[frame["column"].isna()]
    return [None if np.isnan(value) else float(value) for value in frame["value"]]


def scores(entries: list) -> np.ndarray:  # type: ignore[type-arg]
    return np.array([entry.outputs["probabilities"][1] for entry in entries])


# --- the label join --------------------------------------------------------------------------------------


def test_realised_metrics_equal_scikit_learns_on_the_labelled_predictions(client: Client) -> None:
    entries = hour_of_traffic(0)
    log(client, entries)
    rng = np.random.default_rng(7)
    truth = (rng.random(300) < scores(entries)).astype(int)  # labels drawn from calibrated scores
    labelled = list(range(0, 300, 3)) + list(range(1, 300, 3))  # 200 of 300 get a label
    client.log_feedback("fraud", {entries[index].request_id: int(truth[index]) for index in labelled})
    lw.monitor("fraud", reference="tx:1")

    client.monitors.run(now=T0 + HOUR)

    y_true = truth[labelled]
    y_score = scores(entries)[labelled]
    y_pred = (y_score > 0.5).astype(int)
    assert series(client, "labels") == [200.0]
    assert series(client, "label_coverage") == [pytest.approx(200 / 300)]
    expected = {
        "accuracy": sk.accuracy_score(y_true, y_pred),
        "precision": sk.precision_score(y_true, y_pred),
        "recall": sk.recall_score(y_true, y_pred),
        "f1": sk.f1_score(y_true, y_pred),
        "roc_auc": sk.roc_auc_score(y_true, y_score),
        "log_loss": sk.log_loss(y_true, np.column_stack([1 - y_score, y_score])),
    }
    for metric, value in expected.items():
        assert series(client, metric) == [pytest.approx(value, rel=1e-12)], metric
    extra = client.monitors.results("fraud", metric="accuracy")["extra"].iloc[0]
    assert extra == {"estimated": False, "labels": 200}


def test_late_labels_update_their_window_and_unlabelled_windows_keep_estimates(
    client: Client,
) -> None:
    hour0, hour1 = hour_of_traffic(0), hour_of_traffic(1)
    log(client, hour0 + hour1)
    lw.monitor("fraud", reference="tx:1", label_horizon="1d")
    [first] = client.monitors.run(now=T0 + 2 * HOUR)
    assert first.updated == 0
    assert series(client, "accuracy") == []  # no labels yet: no realised number …
    assert series(client, "estimated_accuracy") == [  # … but an estimate for every window
        pytest.approx(np.mean(np.maximum(scores(hour0), 1 - scores(hour0)))),
        pytest.approx(np.mean(np.maximum(scores(hour1), 1 - scores(hour1)))),
    ]
    estimate = client.monitors.results("fraud", metric="estimated_roc_auc")["extra"].iloc[0]
    assert estimate == {"estimated": True, "method": "cbpe"}

    client.log_feedback("fraud", {entry.request_id: 1 for entry in hour0})  # labels arrive a day later
    [second] = client.monitors.run(now=T0 + 2 * HOUR + 5)

    assert (second.windows, second.updated) == (0, 1)
    assert second.summary() == "Monitor 'fraud': 0 new windows, 1 updated by late labels."
    expected = np.mean(scores(hour0) > 0.5)
    assert series(client, "accuracy") == [pytest.approx(expected)]
    assert series(client, "label_coverage") == [1.0, 0.0]
    assert [window.labels for window in MonitorCatalog(client.store).windows(1)] == [300, 0]
    assert len(series(client, "estimated_accuracy")) == 2  # estimates kept alongside

    # Labels of hour 1 arriving after its label horizon are no longer joined by runs (a backfill does).
    client.log_feedback("fraud", {entry.request_id: 0 for entry in hour1})
    [late] = client.monitors.run(now=T0 + 2 * HOUR + 86_400_000 + 1)
    assert late.updated == 0
    assert series(client, "label_coverage") == [1.0, 0.0]
    client.monitors.backfill("fraud", T0 + HOUR, T0 + 2 * HOUR)
    assert series(client, "label_coverage") == [1.0, 1.0]


def test_without_new_feedback_a_run_reads_no_log(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    log(client, hour_of_traffic(0))
    lw.monitor("fraud", reference="tx:1")
    client.monitors.run(now=T0 + HOUR)
    calls: list[object] = []
    original = client.prediction_log.query

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client.prediction_log, "query", counting)

    [report] = client.monitors.run(now=T0 + HOUR + 60_000)

    assert (report.windows, report.updated, calls) == (0, 0, [])


def test_feedback_mappings_are_read_by_the_label_key(client: Client) -> None:
    entries = hour_of_traffic(0, rows=4)
    log(client, entries)
    client.log_feedback(
        "fraud",
        {
            entries[0].request_id: {"chargeback": entries[0].outputs["prediction"], "amount": 10},
            entries[1].request_id: {"chargeback": 1 - entries[1].outputs["prediction"]},
            entries[2].request_id: {"other": 1},  # no label under the key: not labelled
        },
    )
    lw.monitor("fraud", reference="tx:1", label="chargeback")

    client.monitors.run(now=T0 + HOUR)

    assert (series(client, "labels"), series(client, "accuracy")) == ([2.0], [0.5])


def test_regression_metrics_equal_scikit_learns(client: Client) -> None:
    rng = np.random.default_rng(3)
    predicted = rng.normal(50, 5, 100)
    truth = predicted + rng.normal(0, 2, 100)
    entries = [
        replace(entry, outputs={"prediction": float(predicted[index])})
        for index, entry in enumerate(hour_of_traffic(0, rows=100))
    ]
    log(client, entries)
    client.log_feedback("fraud", {entry.request_id: float(truth[i]) for i, entry in enumerate(entries)})
    lw.monitor("fraud", reference="tx:1", task="regression")

    client.monitors.run(now=T0 + HOUR)

    assert series(client, "mae") == [pytest.approx(sk.mean_absolute_error(truth, predicted), rel=1e-12)]
    assert series(client, "rmse") == [pytest.approx(sk.root_mean_squared_error(truth, predicted), rel=1e-12)]
    assert series(client, "r2") == [pytest.approx(sk.r2_score(truth, predicted), rel=1e-12)]
    assert series(client, "estimated_accuracy") == []


def test_each_variant_gets_its_own_numbers_and_failed_answers_are_not_scored(client: Client) -> None:
    production = hour_of_traffic(0, rows=200)
    canary = hour_of_traffic(0, rows=100, seed=9, prefix="c", variant="canary", version=2)
    canary[0] = replace(canary[0], outputs={"prediction": None})  # the model gave no answer
    log(client, production + canary)
    labels = {entry.request_id: entry.outputs["prediction"] for entry in production}
    labels.update({entry.request_id: 1 for entry in canary})
    client.log_feedback("fraud", labels)
    lw.monitor("fraud", reference="tx:1", task="classification")

    client.monitors.run(now=T0 + HOUR)

    assert series(client, "accuracy", "production:v1") == [1.0]
    answered = [entry.outputs["prediction"] for entry in canary[1:]]
    assert series(client, "accuracy", "canary:v2") == [pytest.approx(np.mean(np.array(answered) == 1))]
    assert series(client, "error_rate", "canary:v2") == [0.01]
    assert series(client, "error_rate") == [pytest.approx(1 / 300)]
    assert series(client, "labels") == [300.0]
    segment = client.monitors.results("fraud", metric="accuracy", column="canary:v2")["extra"].iloc[0]
    assert segment == {"estimated": False, "labels": 99, "variant": "canary", "version": 2}


# --- estimates and classes -------------------------------------------------------------------------------


def test_cbpe_estimates_match_the_realised_numbers_of_calibrated_scores() -> None:
    rng = np.random.default_rng(11)
    score = rng.beta(2, 2, 20_000)
    truth = (rng.random(20_000) < score).astype(int)
    probabilities = np.column_stack([1 - score, score])
    predictions = (score > 0.5).astype(int).astype(object)

    assert estimated_accuracy(probabilities, predictions, [0, 1]) == pytest.approx(
        sk.accuracy_score(truth, predictions.astype(int)), abs=0.015
    )
    assert estimated_roc_auc(probabilities, [0, 1]) == pytest.approx(
        sk.roc_auc_score(truth, score), abs=0.015
    )


def test_the_estimated_roc_auc_is_the_expected_pairwise_ordering() -> None:
    rng = np.random.default_rng(5)
    score = np.round(rng.random(60), 1)  # many ties
    positive, negative = score, 1 - score
    higher = score[:, None] > score[None, :]
    tied = score[:, None] == score[None, :]
    expected = (positive[:, None] * negative[None, :] * (higher + 0.5 * tied)).sum() / (
        positive.sum() * negative.sum()
    )

    assert estimated_roc_auc(np.column_stack([negative, positive])) == pytest.approx(expected, rel=1e-12)
    assert estimated_roc_auc(np.column_stack([np.ones(3), np.zeros(3)])) is None  # no expected positive


def test_multiclass_estimates_average_one_vs_rest() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
    predictions = np.array(["a", "b", "c", "b"], dtype=object)
    each = [
        estimated_roc_auc(np.column_stack([1 - probabilities[:, k], probabilities[:, k]])) for k in range(3)
    ]

    assert estimated_roc_auc(probabilities) == pytest.approx(np.mean(each))  # type: ignore[arg-type]
    assert estimated_accuracy(probabilities, predictions, ["a", "b", "c"]) == pytest.approx(
        (0.7 + 0.8 + 0.6 + 0.4) / 4
    )


def test_classes_are_read_off_the_predictions() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert infer_classes(np.array(["no", "yes", "no"], dtype=object), probabilities) == ["no", "yes"]
    # The second class never wins: the other label seen completes a binary model.
    always = np.array([[0.9, 0.1], [0.7, 0.3]])
    assert infer_classes(np.array([0, 0], dtype=object), always, [1, 0]) == [0, 1]
    assert infer_classes(np.array([0, 0], dtype=object), always) is None
    assert infer_classes(np.array([0, 0, 0], dtype=object), np.full((3, 3), 1 / 3)) is None
