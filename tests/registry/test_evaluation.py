"""Evaluation: metrics equal to scikit-learn's, overall and per segment, stored and comparable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

import loopwright as lw
from loopwright.errors import InvalidInputError
from loopwright.registry import metrics
from tests.registry.conftest import FEATURES, fit, fraud_frame


def _sklearn_classification(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray, classes: list[object]
) -> dict[str, float]:
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    options = {"pos_label": classes[1]} if binary else {}
    return {
        "accuracy": sk.accuracy_score(y, pred),
        "precision": sk.precision_score(y, pred, average=average, labels=classes, zero_division=0, **options),
        "recall": sk.recall_score(y, pred, average=average, labels=classes, zero_division=0, **options),
        "f1": sk.f1_score(y, pred, average=average, labels=classes, zero_division=0, **options),
        "roc_auc": sk.roc_auc_score(y, proba[:, 1])
        if binary
        else sk.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
        "log_loss": sk.log_loss(y, proba, labels=classes),
    }


def test_binary_metrics_overall_and_per_segment_equal_scikit_learn(client: lw.Client) -> None:
    train, held_out = fraud_frame(400), fraud_frame(300, seed=5)
    model = fit(train)
    version = client.register_model("fraud", model, input_example=train[FEATURES].head())
    data = client.log_dataset("fraud-eval", held_out)
    evaluation = client.evaluate(version, data, target="label", segments=["region"])
    pred = model.predict(held_out[FEATURES])  # type: ignore[attr-defined]
    proba = model.predict_proba(held_out[FEATURES])  # type: ignore[attr-defined]
    y = held_out["label"].to_numpy()
    expected = _sklearn_classification(y, pred, proba, [0, 1])
    assert evaluation.task == "classification"
    assert evaluation.num_rows == 300
    assert evaluation.metrics == pytest.approx(expected, rel=1e-12)
    assert evaluation.confusion_matrix == {"labels": [0, 1], "matrix": sk.confusion_matrix(y, pred).tolist()}
    assert sorted(evaluation.segments["region"]) == ["APAC", "EU", "US"]
    for region, values in evaluation.segments["region"].items():
        rows = (held_out["region"] == region).to_numpy()
        assert values["rows"] == int(rows.sum())
        segment = {name: value for name, value in values.items() if name != "rows"}
        assert segment == pytest.approx(
            _sklearn_classification(y[rows], pred[rows], proba[rows], [0, 1]), rel=1e-12
        )


def test_multiclass_metrics_equal_scikit_learn_with_text_labels(client: lw.Client) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    frame["label"] = np.where(frame.x > 0.5, "high", np.where(frame.x < -0.5, "low", "mid"))
    frame.loc[rng.choice(500, 60, replace=False), "label"] = "mid"  # noise, so the model errs
    model = LogisticRegression().fit(frame[["x", "y"]], frame["label"])
    version = client.register_model("tiers", model)
    evaluation = client.evaluate(version, client.log_dataset("tiers-eval", frame), target="label")
    classes = ["high", "low", "mid"]
    pred = model.predict(frame[["x", "y"]])
    proba = model.predict_proba(frame[["x", "y"]])
    y = frame["label"].to_numpy()
    assert evaluation.metrics == pytest.approx(_sklearn_classification(y, pred, proba, classes), rel=1e-12)
    assert evaluation.confusion_matrix == {
        "labels": classes,
        "matrix": sk.confusion_matrix(y, pred, labels=classes).tolist(),
    }


def test_regression_metrics_equal_scikit_learn(client: lw.Client) -> None:
    from sklearn.linear_model import Ridge

    frame = fraud_frame(300)
    frame["spend"] = 100 + 20 * frame["amount"] - 5 * frame["age"] + np.random.default_rng(1).normal(size=300)
    model = Ridge().fit(frame[FEATURES], frame["spend"])
    version = client.register_model("spend", model)
    evaluation = client.evaluate(
        version,
        client.log_dataset("spend-eval", frame.drop(columns=["label"])),
        target="spend",
        segments=["region"],
    )
    pred = model.predict(frame[FEATURES])
    y = frame["spend"].to_numpy()
    assert evaluation.task == "regression"
    assert evaluation.metrics == pytest.approx(
        {
            "mae": sk.mean_absolute_error(y, pred),
            "rmse": sk.root_mean_squared_error(y, pred),
            "r2": sk.r2_score(y, pred),
            "mape": sk.mean_absolute_percentage_error(y, pred),
        },
        rel=1e-12,
    )
    eu = (frame["region"] == "EU").to_numpy()
    assert evaluation.segments["region"]["EU"]["r2"] == pytest.approx(sk.r2_score(y[eu], pred[eu]), rel=1e-12)


def test_evaluations_are_stored_and_compared_across_versions(client: lw.Client) -> None:
    train, held_out = fraud_frame(), fraud_frame(200, seed=9)
    data = client.log_dataset("fraud-eval", held_out)
    first = client.register_model("fraud", fit(train, c=0.01))
    second = client.register_model("fraud", fit(train, c=10.0))
    client.evaluate(first, data, target="label")
    client.evaluate(second, "fraud-eval:1", target="label")
    assert [evaluation.version for evaluation in second.evaluations()] == [2]
    table = client.compare_evaluations("fraud", dataset="fraud-eval")
    assert list(table.columns) == [
        "model",
        "version",
        "dataset",
        "rows",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ]
    assert table["version"].tolist() == [1, 2]
    assert table["dataset"].tolist() == ["fraud-eval:1", "fraud-eval:1"]
    assert client.compare_evaluations("fraud", dataset="other").empty


def test_rows_without_a_label_are_left_out_and_missing_segments_are_named(client: lw.Client) -> None:
    frame = fraud_frame(100)
    frame["label"] = frame["label"].astype("Int64")
    frame.loc[:9, "label"] = pd.NA
    frame.loc[10:14, "region"] = None
    version = client.register_model("fraud", fit(fraud_frame()))
    evaluation = client.evaluate(
        version, client.log_dataset("eval", frame), target="label", segments=["region"]
    )
    assert evaluation.num_rows == 90
    assert evaluation.segments["region"]["<missing>"]["rows"] == 5


def test_bad_evaluation_arguments_name_what_is_wrong(client: lw.Client) -> None:
    client.register_model("fraud", fit(fraud_frame()))
    client.log_dataset("eval", fraud_frame(50))
    with pytest.raises(InvalidInputError) as target:
        client.evaluate("fraud/1", "eval", target="is_fraud")
    assert str(target.value) == (
        "The 'target' column 'is_fraud' is not in dataset eval:1. Its columns: amount, age, region, label."
    )
    with pytest.raises(
        InvalidInputError, match="^The segment column 'label' is not a column of dataset eval:1 other"
    ):
        client.evaluate("fraud/1", "eval", target="label", segments=["label"])
    with pytest.raises(InvalidInputError, match="^The 'task' must be 'classification', 'regression' or None"):
        client.evaluate("fraud/1", "eval", target="label", task="ranking")


# --- the metrics module on its own ---------------------------------------------------------------------


def test_undefined_metrics_are_none_and_zero_divisions_zero() -> None:
    y = np.array([1, 1, 1])
    result = metrics.classification_metrics(
        y, np.array([0, 0, 0]), np.array([[0.6, 0.4]] * 3), classes=[0, 1]
    )
    assert result["roc_auc"] is None  # one class present: the curve is undefined
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)
    assert result["log_loss"] == pytest.approx(sk.log_loss(y, [[0.6, 0.4]] * 3, labels=[0, 1]))
    assert metrics.r2_score(np.array([2.0, 2.0]), np.array([2.0, 2.0])) == 1.0
    assert metrics.r2_score(np.array([2.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert metrics.r2_score(np.array([2.0]), np.array([2.0])) is None
    assert metrics.regression_metrics(np.array([]), np.array([])) == dict.fromkeys(metrics.REGRESSION_METRICS)


@pytest.mark.parametrize("seed", range(5))
def test_tied_scores_give_scikit_learns_roc_auc(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    scores = rng.integers(0, 5, 200) / 4  # many ties
    assert metrics.roc_auc(y, scores, [0, 1]) == pytest.approx(sk.roc_auc_score(y, scores), rel=1e-12)


def test_a_positive_label_outside_the_classes_is_refused() -> None:
    with pytest.raises(InvalidInputError) as error:
        metrics.precision_recall_f1(np.array(["a", "b"]), np.array(["a", "a"]), ["a", "b"], pos_label="c")
    assert str(error.value) == "The 'pos_label' must be one of the classes ['a', 'b']. Got 'c' instead."
