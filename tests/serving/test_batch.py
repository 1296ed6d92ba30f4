"""Batch scoring: chunked, bounded in memory, recorded as a dataset version with its lineage."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.errors import InvalidInputError, PredictionError
from loopwright.serving.batch import BatchResult
from tests.data.conftest import database_url, module_postgres_url  # noqa: F401 - fixtures
from tests.registry.conftest import FEATURES, fit, fraud_frame
from tests.serving.deployment_models import EXAMPLE, Broken, Tagged

ROWS = 2_500


@pytest.fixture(name="client")
def client_with_data(settings: lw.Settings) -> Any:
    """Model ``fraud`` version 1 (a logistic regression) and dataset ``transactions`` version 1."""
    opened = lw.connect(settings.model_copy(update={"user": "tester"}))
    train = fraud_frame(500, seed=1)
    opened.register_model("fraud", fit(train), input_example=train[FEATURES].head())
    opened.log_dataset("transactions", fraud_frame(ROWS, seed=2))
    yield opened
    opened.close()


def test_a_dataset_version_is_scored_in_chunks_and_recorded_with_its_lineage(client: lw.Client) -> None:
    calls: list[tuple[int, int | None]] = []
    result = lw.batch_predict(
        "fraud/1",
        "transactions:1",
        chunk_rows=1_000,
        progress=lambda rows, total: calls.append((rows, total)),
    )
    assert isinstance(result, BatchResult)
    assert (result.model, result.version, result.rows, result.chunks) == ("fraud", 1, ROWS, 3)
    assert calls == [(1_000, ROWS), (2_000, ROWS), (ROWS, ROWS)]
    output = result.output
    assert (output.name, output.version, output.num_rows) == ("fraud-predictions", 1, ROWS)
    scored = output.to_pandas()
    source = client.dataset("transactions", 1).to_pandas()
    assert list(scored.columns) == [*source.columns, "prediction"]
    expected = client.load_model("fraud/1").predict(source[FEATURES])
    assert scored["prediction"].tolist() == expected.tolist()
    assert scored[source.columns].equals(source)
    # lineage: a run of kind "batch" read the dataset version and the model version, and wrote the output
    run = client.get_run(result.run_id)
    assert (run.kind, run.status.value, run.experiment) == ("batch", "finished", "batch")
    assert run.params == {
        "model": "fraud/1",
        "input": "transactions:1",
        "chunk_rows": "1000",
        "output": "fraud-predictions",
    }
    assert run.metrics["rows"] == ROWS
    edges = {(item.direction, item.name, item.artifact.kind) for item in client.run_artifacts(result.run_id)}
    assert edges == {
        ("input", "datasets/transactions/v1", "dataset"),
        ("input", "models/fraud/v1", "model"),
        ("output", "datasets/fraud-predictions/v1", "dataset"),
    }
    assert output.run_id == result.run_id


def test_a_file_is_scored_into_a_named_dataset_and_a_parquet_file(client: lw.Client, tmp_path: Path) -> None:
    data = fraud_frame(300, seed=3)
    data.to_csv(tmp_path / "incoming.csv", index=False)
    target = tmp_path / "out" / "predictions.parquet"
    calls: list[tuple[int, int | None]] = []
    result = client.batch_predict(
        client.get_model_version("fraud", 1),
        tmp_path / "incoming.csv",
        output="scored",
        path=target,
        chunk_rows=128,
        columns=["region"],
        probabilities=True,
        progress=lambda rows, total: calls.append((rows, total)),
    )
    assert (result.output.name, result.rows, result.chunks) == ("scored", 300, 3)
    assert calls[-1] == (300, None)  # a CSV's length is unknown until it is read
    written = pd.read_parquet(target)
    assert list(written.columns) == ["region", "prediction", "probability_0", "probability_1"]
    model = client.load_model("fraud/1")
    assert np.allclose(written[["probability_0", "probability_1"]], model.predict_proba(data[FEATURES]))
    assert written.equals(result.output.to_pandas())
    assert client.get_run(result.run_id).params["input"] == str(tmp_path / "incoming.csv")
    assert list(tmp_path.joinpath("out").iterdir()) == [target]  # no temporary file left behind


def test_a_parquet_folder_reports_its_total_and_an_active_run_becomes_the_parent(
    client: lw.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    for part in range(2):
        fraud_frame(200, seed=part).to_parquet(folder / f"part-{part}.parquet")
    totals: set[int | None] = set()
    with lw.start_run(experiment="nightly") as parent:
        result = lw.batch_predict("fraud/1", folder, progress=lambda rows, total: totals.add(total))
    assert totals == {400}
    run = client.get_run(result.run_id)
    assert (run.parent_id, run.experiment, run.kind) == (parent.id, "nightly", "batch")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"chunk_rows": 0},
            InvalidInputError,
            "The 'chunk_rows' of a batch scoring must be a whole number between 1 and 10,000,000. Got 0 "
            "instead.",
        ),
        (
            {"columns": ["amount", "nope"]},
            InvalidInputError,
            "The 'columns' to keep name 'nope', which the input does not have. Its columns: 'amount', 'age', "
            "'region', 'label'.",
        ),
        (
            {"output": "bad/name"},
            lw.errors.InvalidKeyError,
            "The dataset key 'bad/name' contains a slash ('/'); path separators are not allowed in keys. Use "
            "'.', '_' or '-' to group names, e.g. 'train.loss'.",
        ),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_recorded(
    client: lw.Client, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        lw.batch_predict("fraud/1", "transactions:1", **arguments)
    assert str(caught.value) == message
    assert client.search_runs(output="list") == []


def test_an_output_column_the_input_already_has_is_refused(client: lw.Client) -> None:
    client.log_dataset("clash", fraud_frame(50).assign(prediction=1))
    with pytest.raises(InvalidInputError) as caught:
        lw.batch_predict("fraud/1", "clash")
    assert str(caught.value) == (
        "The input already has a column 'prediction', which the output of model 'fraud' needs. Keep fewer "
        "input columns with columns=[...]."
    )
    assert lw.batch_predict("fraud/1", "clash", columns=["amount"], output="clash-scored").rows == 50


def test_models_without_probabilities_and_failing_models_are_named(client: lw.Client) -> None:
    client.register_model("tagged", Tagged(7), input_example=EXAMPLE)
    client.register_model("tagged", Broken(), input_example=EXAMPLE)
    client.log_dataset("payments", pd.concat([EXAMPLE] * 10, ignore_index=True))
    with pytest.raises(InvalidInputError) as no_proba:
        lw.batch_predict("tagged/1", "payments", probabilities=True)
    assert str(no_proba.value) == (
        "probabilities=True needs a model that estimates them; model 'tagged' version 1 (python) has no "
        "predict_proba."
    )
    assert lw.batch_predict("tagged/1", "payments").output.to_pandas()["prediction"].tolist() == [7] * 20
    with pytest.raises(PredictionError) as failed:
        lw.batch_predict("tagged/2", "payments", chunk_rows=8)
    assert str(failed.value) == (
        "Model 'tagged' version 2 failed on a chunk of 8 rows: RuntimeError: the model fell over"
    )
    [failed_run] = [run for run in client.search_runs(output="list") if run.status.value == "failed"]
    assert failed_run.kind == "batch"


_MEASURE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    import pyarrow as pa
    import loopwright as lw

    workspace, data, small, chunk_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = lw.connect(lw.Settings(workspace=workspace))
    client.batch_predict("fraud/1", small, output="warm-up")  # imports (sklearn…) are not the data's
    pool = pa.default_memory_pool()
    peaks = {}
    log = client.datasets.log

    def measured_log(*args, **kwargs):
        # Scoring is done when the output is logged: record its peak, then the logging's own.
        peaks["scoring"] = tracemalloc.get_traced_memory()[1] + pool.max_memory() - base
        return log(*args, **kwargs)

    client.datasets.log = measured_log
    base = pool.max_memory()
    tracemalloc.start()
    client.batch_predict("fraud/1", data, chunk_rows=chunk_rows, output=f"scored-{chunk_rows}")
    peaks["total"] = tracemalloc.get_traced_memory()[1] + pool.max_memory() - base
    print(json.dumps(peaks))
    """
)


@pytest.mark.slow
def test_memory_stays_bounded_by_the_chunk_not_the_data(tmp_path: Path) -> None:
    rows = 2_000_000
    workspace = tmp_path / "ws"
    client = lw.Client(lw.Settings(workspace=workspace))
    train = fraud_frame(500)
    client.register_model("fraud", fit(train), input_example=train[FEATURES].head())
    client.close()
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"amount": rng.normal(size=rows), "age": rng.normal(size=rows)})
    data["x1"], data["x2"] = rng.normal(size=rows), rng.normal(size=rows)
    data.to_parquet(tmp_path / "big.parquet", row_group_size=65_536)
    data.head(100).to_parquet(tmp_path / "small.parquet")
    data_bytes = rows * (4 + 1) * 8  # four float columns in, one integer column of predictions out

    def peaks(chunk_rows: int) -> dict[str, int]:
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEASURE,
                str(workspace),
                str(tmp_path / "big.parquet"),
                str(tmp_path / "small.parquet"),
                str(chunk_rows),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    chunked = peaks(10_000)
    whole = peaks(rows)
    # Scoring holds a chunk or two; the same code given one chunk of everything holds the data several
    # times over (which shows the measurement sees Arrow's and numpy's buffers).
    print(f"peak bytes, chunks of 10,000 rows: {chunked}; one chunk: {whole}; data: {data_bytes}")
    assert chunked["scoring"] < data_bytes * 0.25, chunked
    assert whole["scoring"] > data_bytes, whole
    # Logging the output adds bounded buffers of its own (a row group, a sample for the profile).
    assert chunked["total"] < data_bytes * 0.6, chunked
