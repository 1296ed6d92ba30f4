"""Feedback: labels by request id, checked against the prediction log, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

import loopwright as lw
from loopwright.client import Client
from loopwright.errors import InvalidInputError, NotFoundError
from loopwright.serving import feedback as feedback_module
from loopwright.serving.feedback import FeedbackReport
from loopwright.serving.predictlog import PredictionEntry
from loopwright.settings import Settings
from loopwright.store.deployments import DeploymentStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    """A workspace with deployment 'fraud' that served requests req-0 … req-9 (req-3 also to a shadow)."""
    client = lw.connect(settings)
    DeploymentStore(client.store).create(
        "fraud", {"model": "fraud", "alias": "production", "canary_weight": 0.0}, user=None, reason=None
    )
    entries = [
        PredictionEntry(
            f"req-{n}", "fraud", "fraud", 1, "production", {"x": n}, {"prediction": n % 2}, 0.2, T0 + n
        )
        for n in range(10)
    ]
    entries.append(
        PredictionEntry("req-3", "fraud", "fraud", 2, "shadow", {"x": 3}, {"prediction": 0}, 0.3, T0 + 3)
    )
    client.prediction_log.append(entries)
    yield client
    client.close()


def labels(client: Client) -> dict[str, object]:
    frame = client.feedback.get("fraud")
    return dict(zip(frame["request_id"], frame["value"], strict=True))


def test_labels_of_logged_requests_are_recorded_and_replaced(client: Client) -> None:
    report = client.log_feedback(
        "fraud", {"req-1": 1, "req-2": "fraud", "req-3": {"chargeback": True, "amount": 12.5}}
    )
    assert report == FeedbackReport(deployment="fraud", recorded=3, replaced=0, unknown=())
    assert report.summary() == "Recorded 3 labels for deployment 'fraud'."

    again = client.log_feedback("fraud", [("req-1", 0), ("req-4", 1)])

    assert again.summary() == "Recorded 2 labels for deployment 'fraud' (1 replaced)."
    assert labels(client) == {
        "req-1": 0,
        "req-2": "fraud",
        "req-3": {"chargeback": True, "amount": 12.5},
        "req-4": 1,
    }


def test_feedback_reads_back_by_request_id_and_time(client: Client) -> None:
    before = datetime.now(UTC)
    client.log_feedback("fraud", {"req-1": 1, "req-2": 0})

    frame = client.feedback.get("fraud", ["req-2", "req-9"])

    assert list(frame.columns) == ["request_id", "value", "received_at"]
    assert list(frame["request_id"]) == ["req-2"]
    assert frame["received_at"].iloc[0] >= before.replace(microsecond=before.microsecond // 1000 * 1000)
    assert client.feedback.get("fraud", end=before).empty
    assert len(client.feedback.get("fraud", start=before)) == 2


def test_unknown_request_ids_are_reported_not_recorded(client: Client) -> None:
    report = client.log_feedback("fraud", {"req-1": 1, "nope-1": 0, "nope-2": 1})

    assert report.unknown == ("nope-1", "nope-2")
    assert report.summary() == (
        "Recorded 1 label for deployment 'fraud'; 2 request ids are not in its prediction log and were not "
        "recorded: 'nope-1', 'nope-2'."
    )
    assert labels(client) == {"req-1": 1}


def test_unknown_request_ids_can_refuse_the_whole_call(client: Client) -> None:
    unknown = {f"nope-{n}": 1 for n in range(7)}
    with pytest.raises(NotFoundError) as raised:
        client.log_feedback("fraud", {"req-1": 1, **unknown}, on_unknown="raise")

    assert str(raised.value) == (
        "7 of 8 request ids are not in the prediction log of deployment 'fraud': 'nope-0', 'nope-1', "
        "'nope-2', 'nope-3', 'nope-4' and 2 more. Nothing was recorded. Feedback joins logged predictions; "
        "each prediction's response carries its request id."
    )
    assert raised.value.specific_code == "not_found.request"
    assert raised.value.details["unknown"] == list(unknown)
    assert labels(client) == {}


def test_request_ids_are_checked_in_compacted_partitions_too(client: Client) -> None:
    client.prediction_log.close()  # compacts the segment into Parquet
    assert not list((client.prediction_log.folder / "_log" / "fraud").glob("*.jsonl"))

    assert client.log_feedback("fraud", {"req-9": 1, "req-10": 1}).unknown == ("req-10",)


def test_large_uploads_are_written_in_chunks(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback_module, "_CHUNK", 3)
    values = {f"req-{n}": n for n in range(10)} | {"nope": 0}

    report = client.log_feedback("fraud", values)

    assert (report.recorded, report.unknown) == (10, ("nope",))
    assert labels(client) == {f"req-{n}": n for n in range(10)}


def test_a_repeated_request_id_keeps_its_last_value(client: Client) -> None:
    report = client.log_feedback("fraud", [("req-1", 0), ("req-2", 0), ("req-1", 1)])

    assert report.recorded == 2
    assert labels(client) == {"req-2": 0, "req-1": 1}


def test_numpy_labels_are_stored_as_plain_json(client: Client) -> None:
    client.log_feedback("fraud", {"req-1": np.int64(1), "req-2": np.float64(0.25), "req-3": np.bool_(True)})

    assert labels(client) == {"req-1": 1, "req-2": 0.25, "req-3": True}


def test_an_unknown_deployment_is_not_found(client: Client) -> None:
    message = (
        "Deployment 'churn' does not exist. Known deployments: 'fraud'. Create one with lw.deploy('churn', "
        "model='NAME@production')."
    )
    with pytest.raises(NotFoundError) as raised:
        client.log_feedback("churn", {"req-1": 1})
    assert str(raised.value) == message
    with pytest.raises(NotFoundError) as raised:
        lw.predictions("churn")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            "req-1",
            "The feedback for deployment 'fraud' must be a mapping of request ids to values or (request_id, "
            "value) pairs. Got str instead.",
        ),
        (
            [("req-1", 1), "req-2"],
            "Feedback item 1 for deployment 'fraud' must be a (request_id, value) pair. Got 'req-2' instead.",
        ),
        (
            {7: 1},
            "The request id of feedback item 0 for deployment 'fraud' must be a non-empty text of at most 250 "
            "characters. Got 7 instead.",
        ),
        (
            {"": 1},
            "The request id of feedback item 0 for deployment 'fraud' must be a non-empty text of at most 250 "
            "characters. Got '' instead.",
        ),
        (
            {"req-1": None},
            "The feedback value of request 'req-1' of deployment 'fraud' must be a label or an outcome (a "
            "number, a text, a boolean, a list or a mapping). Got None instead.",
        ),
        (
            {"req-1": float("nan")},
            "The feedback value of request 'req-1' of deployment 'fraud' must be JSON: finite numbers, texts, "
            "booleans, lists and mappings with text keys. Got nan instead.",
        ),
        (
            {"req-1": {1, 2}},
            "The feedback value of request 'req-1' of deployment 'fraud' must be JSON: finite numbers, texts, "
            "booleans, lists and mappings with text keys. Got {1, 2} instead.",
        ),
        (
            {"req-1": "x" * 70_000},
            "The feedback value of request 'req-1' of deployment 'fraud' is 70,002 bytes as JSON; the limit "
            "is 65,536.",
        ),
    ],
)
def test_bad_feedback_is_refused_before_anything_is_written(
    client: Client, values: object, message: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        client.log_feedback("fraud", values)  # type: ignore[arg-type]

    assert str(raised.value) == message
    assert labels(client) == {}


def test_on_unknown_must_be_report_or_raise(client: Client) -> None:
    with pytest.raises(
        InvalidInputError, match=r"^on_unknown must be 'report' or 'raise'. Got 'ignore' instead.$"
    ):
        client.log_feedback("fraud", {"req-1": 1}, on_unknown="ignore")  # type: ignore[arg-type]


def test_predictions_join_their_feedback(client: Client) -> None:
    lw.log_feedback("fraud", {"req-3": 1, "req-5": 0})

    frame = lw.predictions("fraud", start=T0 + 3, end=T0 + 6, feedback=True)

    assert list(frame.columns) == [
        "request_id",
        "deployment",
        "model",
        "version",
        "variant",
        "inputs",
        "outputs",
        "latency_ms",
        "timestamp",
        "feedback",
        "feedback_at",
    ]
    assert list(zip(frame["request_id"], frame["variant"], frame["feedback"], strict=True)) == [
        ("req-3", "production", 1),
        ("req-3", "shadow", 1),
        ("req-4", "production", None),
        ("req-5", "production", 0),
    ]
    assert list(lw.predictions("fraud", start=T0 + 9)["request_id"]) == ["req-9"]
