"""``loopwright feedback DEPLOYMENT --file labels.csv|parquet`` against a real SQLite workspace whose
deployment 'fraud' logged requests req-0 … req-4."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loopwright.client import Client
from loopwright.serving.predictlog import PredictionEntry
from loopwright.store.deployments import DeploymentStore
from tests.cli.conftest import Invoker

T0 = 1_767_225_600_000


@pytest.fixture
def served(client: Client) -> Client:
    DeploymentStore(client.store).create(
        "fraud", {"model": "fraud", "alias": "production", "canary_weight": 0.0}, user=None, reason=None
    )
    client.prediction_log.append(
        [
            PredictionEntry(
                f"req-{n}", "fraud", "fraud", 1, "production", {"x": n}, {"prediction": 0}, 0.1, T0 + n
            )
            for n in range(5)
        ]
    )
    return client


def stored(client: Client) -> dict[str, object]:
    frame = client.feedback.get("fraud")
    return dict(zip(frame["request_id"], frame["value"], strict=True))


def test_labels_from_a_csv_file_are_recorded(served: Client, invoke: Invoker, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label,note\nreq-0,1,x\nreq-1,0,y\n", encoding="utf-8")

    result = invoke("feedback", "fraud", "--file", str(path))

    assert (result.exit_code, result.output) == (0, "Recorded 2 labels for deployment 'fraud'.\n")
    assert stored(served) == {"req-0": 1, "req-1": 0}


def test_labels_from_a_parquet_file_with_other_column_names(
    served: Client, invoke: Invoker, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.parquet"
    pd.DataFrame({"id": ["req-2", "req-3"], "chargeback": [True, False]}).to_parquet(path)

    result = invoke("feedback", "fraud", "-f", str(path), "--id-column", "id", "--label-column", "chargeback")

    assert (result.exit_code, result.output) == (0, "Recorded 2 labels for deployment 'fraud'.\n")
    assert stored(served) == {"req-2": True, "req-3": False}


def test_numeric_looking_request_ids_are_read_as_text(
    served: Client, invoke: Invoker, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\n0017,1\n", encoding="utf-8")

    result = invoke("feedback", "fraud", "--file", str(path))

    assert result.exit_code == 1
    assert result.output == (
        "Recorded 0 labels for deployment 'fraud'; 1 request id is not in its prediction log and was not "
        "recorded: '0017'.\n"
    )


def test_unknown_request_ids_are_listed_and_exit_with_status_1(
    served: Client, invoke: Invoker, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\nreq-0,1\nreq-0,0\nghost,1\n", encoding="utf-8")

    result = invoke("feedback", "fraud", "--file", str(path))

    assert result.exit_code == 1
    assert result.output == (
        "Recorded 1 label for deployment 'fraud'; 1 request id is not in its prediction log and was not "
        "recorded: 'ghost'.\n"
    )
    assert stored(served) == {"req-0": 0}


def test_strict_records_nothing_when_an_id_is_unknown(
    served: Client, invoke: Invoker, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\nreq-0,1\nghost,1\n", encoding="utf-8")

    result = invoke("feedback", "fraud", "--file", str(path), "--strict")

    assert result.exit_code == 1
    assert result.output == (
        "error[not_found.request]: 1 of 2 request ids are not in the prediction log of deployment 'fraud': 'ghost'. "
        "Nothing was recorded. Feedback joins logged predictions; each prediction's response carries its "
        "request id.\n"
    )
    assert stored(served) == {}


@pytest.mark.parametrize(
    ("name", "content", "arguments", "message"),
    [
        (
            "labels.csv",
            "request_id,y\nreq-0,1\n",
            (),
            "error[invalid_input.data]: The labels file labels.csv has no column 'label'. Its columns: "
            "'request_id', 'y'. Name the column with --label-column.\n",
        ),
        (
            "labels.csv",
            "id,label\nreq-0,1\n",
            (),
            "error[invalid_input.data]: The labels file labels.csv has no column 'request_id'. Its columns: "
            "'id', 'label'. Name the column with --id-column.\n",
        ),
        (
            "labels.json",
            "{}",
            (),
            "error[invalid_input.data]: The labels file must be a .csv or .parquet file. Got 'labels.json' "
            "instead.\n",
        ),
        (
            "labels.csv",
            "request_id,label\nreq-0,\n",
            (),
            "error[invalid_input]: The feedback value of request 'req-0' of deployment 'fraud' must be a label "
            "or an outcome (a number, a text, a boolean, a list or a mapping). Got None instead.\n",
        ),
    ],
)
def test_bad_label_files_are_reported(
    served: Client,
    invoke: Invoker,
    tmp_path: Path,
    name: str,
    content: str,
    arguments: tuple[str, ...],
    message: str,
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    result = invoke("feedback", "fraud", "--file", str(path), *arguments)

    assert (result.exit_code, result.output) == (2, message)
    assert stored(served) == {}


def test_a_missing_file_is_not_found(served: Client, invoke: Invoker, tmp_path: Path) -> None:
    result = invoke("feedback", "fraud", "--file", str(tmp_path / "nope.csv"))

    assert (result.exit_code, result.output) == (
        1,
        f"error[not_found.file]: The labels file {tmp_path / 'nope.csv'} does not exist.\n",
    )
