"""Dataset versions through the public API: lineage, reading back, finding versions, verified storage."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pandas.testing
import polars as pl
import polars.testing
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import loopwright as lw
from loopwright.errors import ArtifactIntegrityError, InvalidInputError, NotFoundError
from loopwright.settings import Settings
from loopwright.store.artifacts import sha256_file
from tests.data.conftest import leftovers


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "amount": rng.normal(50, 10, rows),
            "city": rng.choice(["paris", "lyon"], rows),
            "flag": rng.random(rows) > 0.3,
            "when": pd.date_range("2024-05-01", periods=rows, freq="D", unit="us"),
        }
    )


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """What reading a version back gives in pandas: canonical column types."""
    return frame.astype({"id": "int64", "amount": "float64", "city": "str", "flag": "bool"})


# --- lineage -------------------------------------------------------------------------------------------


def test_a_version_logged_in_a_run_records_the_run_and_a_lineage_event(client: lw.Client) -> None:
    frame = _frame()
    with lw.start_run(experiment="etl") as run:
        version = lw.log_dataset("events", frame, description="daily events")
    assert (version.run_id, version.version, version.record.description) == (run.id, 1, "daily events")
    assert version.record.source == "the DataFrame logged as 'events'"
    (event,) = client.run_artifacts(run.id)
    assert (event.name, event.direction) == ("datasets/events/v1", "output")
    assert (event.artifact.id, event.artifact.kind) == (version.record.artifact_id, "dataset")
    assert (event.artifact.digest, event.artifact.size) == (version.record.digest, version.record.size)
    assert event.artifact.media_type == "application/vnd.apache.parquet"
    assert event.artifact.properties == {"rows": 200, "columns": 5}
    stored = Path(client.artifacts.path_for(version.record.digest))
    assert sha256_file(stored).digest == version.record.digest

    # The same content from another run is the same version, and an output of that run too.
    with lw.start_run(experiment="etl") as other:
        again = lw.log_dataset("events", pl.from_pandas(frame))
        changed = lw.log_dataset("events", frame.assign(amount=frame["amount"] + 1))
    assert (again, again.run_id) == (version, run.id)
    assert (changed.version, changed.run_id, changed.parent_version) == (2, other.id, 1)
    assert [(event.name, event.artifact.id) for event in client.run_artifacts(other.id)] == [
        ("datasets/events/v1", version.record.artifact_id),
        ("datasets/events/v2", changed.record.artifact_id),
    ]
    assert [event.name for event in client.run_artifacts(run.id)] == ["datasets/events/v1"]


def test_a_version_logged_outside_a_run_has_no_run(client: lw.Client) -> None:
    version = client.log_dataset("events", _frame())
    assert version.run_id is None
    assert version.record.description is None
    with client.start_run(experiment="etl") as run:
        pass
    assert client.run_artifacts(run.id) == []


# --- reading back --------------------------------------------------------------------------------------


def test_a_version_reads_back_as_pandas_polars_and_arrow(client: lw.Client) -> None:
    frame = _frame()
    version = client.log_dataset("events", frame)
    pandas.testing.assert_frame_equal(version.to_pandas(), _canonical(frame))
    pandas.testing.assert_frame_equal(
        version.to_pandas(columns=["city", "id"]), _canonical(frame)[["city", "id"]]
    )
    polars.testing.assert_frame_equal(version.to_polars(), pl.from_pandas(_canonical(frame)))
    table = version.to_arrow()
    assert table.schema.names == ["id", "amount", "city", "flag", "when"]
    assert [str(field.type) for field in table.schema] == [
        "int64",
        "double",
        "string",
        "bool",
        "timestamp[us]",
    ]
    assert table.equals(pa.Table.from_pandas(_canonical(frame), preserve_index=False).cast(table.schema))
    assert version.to_arrow(columns=["flag"]).column("flag").to_pylist() == frame["flag"].tolist()


def test_missing_values_read_back_as_missing(client: lw.Client) -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "x": [1.5, np.nan, 2.5],
            "s": ["a", None, "c"],
        }
    )
    version = client.log_dataset("gaps", frame)
    assert version.to_arrow().to_pylist() == [
        {"n": 1, "x": 1.5, "s": "a"},
        {"n": None, "x": None, "s": None},
        {"n": 3, "x": 2.5, "s": "c"},
    ]
    # pandas has no missing integer in its default types: the integer column reads back as float64.
    pandas.testing.assert_frame_equal(
        version.to_pandas(),
        pd.DataFrame({"n": [1.0, np.nan, 3.0], "x": [1.5, np.nan, 2.5], "s": ["a", None, "c"]}),
    )
    # Arrow and polars keep the types, so what they read back logs as the same version.
    assert client.log_dataset("gaps", version.to_arrow()) == version
    assert client.log_dataset("gaps", version.to_polars()) == version
    assert len(client.dataset_versions("gaps")) == 1


def test_iter_batches_streams_the_requested_size_and_columns(client: lw.Client) -> None:
    frame = _frame(rows=1_000)
    version = client.log_dataset("events", frame)
    batches = list(version.iter_batches(batch_size=300, columns=["id", "city"]))
    assert [batch.num_rows for batch in batches] == [300, 300, 300, 100]
    assert all(batch.schema.names == ["id", "city"] for batch in batches)
    combined = pa.Table.from_batches(batches)
    assert combined.column("id").to_pylist() == list(range(1_000))
    assert combined.column("city").to_pylist() == frame["city"].tolist()
    (whole,) = list(version.iter_batches())
    assert whole.num_rows == 1_000
    assert whole.schema.names == ["id", "amount", "city", "flag", "when"]


def test_the_stored_file_is_canonical_parquet(client: lw.Client) -> None:
    rows = 300_000
    version = client.log_dataset("long", pa.table({"n": pa.array(np.arange(rows, dtype=np.int32))}))
    metadata = pq.ParquetFile(version.path).metadata
    assert [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)] == [
        262_144,
        37_856,
    ]
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert metadata.schema.to_arrow_schema() == pa.schema([pa.field("n", pa.int64())])


def test_progress_reports_rows_written(client: lw.Client) -> None:
    seen: list[int] = []
    client.log_dataset("counted", pa.table({"n": np.arange(150_000)}), progress=seen.append)
    assert seen == [65_536, 131_072, 150_000]


# --- finding versions -----------------------------------------------------------------------------------


def test_versions_are_found_by_number_latest_or_name_colon_number(client: lw.Client) -> None:
    first = client.log_dataset("sales", pd.DataFrame({"a": [1]}))
    second = client.log_dataset("sales", pd.DataFrame({"a": [2]}))
    assert client.dataset("sales") == second
    assert lw.dataset("sales") == second
    assert client.dataset("sales", version=1) == first
    assert client.dataset("sales", 2) == second
    assert client.dataset("sales:1") == first
    assert lw.dataset("sales:2") == second
    assert client.datasets.resolve(first) is first
    assert [version.version for version in client.dataset_versions("sales")] == [1, 2]
    assert repr(second) == "<DatasetVersion sales:2 1 rows x 1 columns, checks unchecked>"
    assert second.check_status == "unchecked"
    assert second.profile == client.dataset("sales", 2).profile
    assert hash(second) == hash(client.dataset("sales"))
    assert second != first


def test_unknown_datasets_and_versions_are_not_found(client: lw.Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.dataset("sales")
    assert str(caught.value) == (
        "Dataset 'sales' does not exist. Known datasets: none yet. Log one with lw.log_dataset()."
    )
    assert caught.value.specific_code == "not_found.dataset"
    client.log_dataset("sales", pd.DataFrame({"a": [1]}))
    client.log_dataset("sales", pd.DataFrame({"a": [2]}))
    client.log_dataset("costs", pd.DataFrame({"a": [1]}))
    with pytest.raises(NotFoundError) as caught:
        client.dataset("revenue")
    assert str(caught.value) == (
        "Dataset 'revenue' does not exist. Known datasets: 'costs', 'sales'. Log one with lw.log_dataset()."
    )
    for call in (lambda: client.dataset("sales", version=3), lambda: client.dataset("sales:3")):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert str(caught.value) == "Dataset 'sales' has no version 3. Its versions: 1, 2."
        assert (caught.value.specific_code, caught.value.key) == ("not_found.dataset_version", "sales:3")
    with pytest.raises(NotFoundError) as caught:
        client.dataset_versions("revenue")
    assert str(caught.value).startswith("Dataset 'revenue' does not exist.")
    with pytest.raises(InvalidInputError) as invalid:
        client.dataset("sales:latest")
    assert str(invalid.value) == (
        "A dataset version is written NAME or NAME:VERSION, e.g. transactions:3. Got 'sales:latest' instead."
    )


# --- verified storage ----------------------------------------------------------------------------------


def test_a_corrupted_blob_is_refused_when_read(client: lw.Client, settings: Settings) -> None:
    version = client.log_dataset("events", _frame())
    stored = Path(client.artifacts.path_for(version.record.digest))
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    actual = hashlib.sha256(stored.read_bytes()).hexdigest()
    reader = lw.connect(settings)  # a fresh process-like client: nothing verified yet
    try:
        for read in (
            lambda: reader.dataset("events").to_pandas(),
            lambda: reader.dataset("events:1").to_arrow(),
            lambda: list(reader.dataset("events").iter_batches()),
        ):
            with pytest.raises(ArtifactIntegrityError) as caught:
                read()
            assert str(caught.value) == (
                f"Artifact 'events:1' is corrupt: its bytes hash to sha256 {actual} but it was stored as "
                f"{version.record.digest} (at {str(stored)!r}). Restore it from a backup, or delete that "
                "file and log the artifact again."
            )
        stored.unlink()
        with pytest.raises(NotFoundError) as missing:
            reader.dataset("events").to_pandas()
        assert str(missing.value) == (
            f"Artifact 'events:1' (sha256 {version.record.digest}) is missing from the artifact store at "
            f"{settings.resolved_artifact_uri()!r}: expected {str(stored)!r}. It was deleted outside "
            "Loopwright or the store moved; restore it from a backup or log the artifact again."
        )
    finally:
        reader.close()


def test_versions_in_a_remote_artifact_store_are_downloaded_verified(
    database_url: str, tmp_path: Path
) -> None:
    uri = f"memory://lw-{uuid.uuid4().hex}/artifacts"
    settings = Settings(workspace=tmp_path / "ws", database_url=database_url, artifact_uri=uri)
    client = lw.connect(settings)
    try:
        frame = _frame()
        version = client.log_dataset("events", frame)
        pandas.testing.assert_frame_equal(version.to_pandas(), _canonical(frame))
        cached = settings.workspace / "cache" / "sha256" / f"{version.record.digest}.parquet"
        assert version.path == cached
        assert sha256_file(cached).digest == version.record.digest
        cached.unlink()
        filesystem, _root = fsspec.core.url_to_fs(uri)
        stored = client.artifacts.path_for(version.record.digest)
        filesystem.pipe(stored, b"not the data")
        with pytest.raises(ArtifactIntegrityError) as caught:
            client.dataset("events").to_pandas()
        assert str(caught.value).startswith(
            f"Artifact 'events:1' is corrupt: its bytes hash to sha256 {hashlib.sha256(b'not the data').hexdigest()}"
        )
        assert not cached.exists()
        assert [path.name for path in (settings.workspace / "cache" / "sha256").iterdir()] == []
        assert leftovers(settings) == [str(settings.workspace / "cache" / "sha256")]
    finally:
        client.close()


# --- what logging says and keeps ------------------------------------------------------------------------


def test_logging_says_whether_a_version_is_new_and_keeps_the_dataset_description(client: lw.Client) -> None:
    first = client.log_dataset("events", _frame(), description="daily events")
    again = client.log_dataset("events", _frame())
    assert (first.created, again.created, again.version) == (True, False, 1)
    (summary,) = client.list_datasets()
    assert (summary.name, summary.description, summary.versions) == ("events", "daily events", 1)


def test_a_dataset_name_with_a_colon_is_refused(client: lw.Client) -> None:
    with pytest.raises(InvalidInputError) as caught:
        client.log_dataset("sales:2024", _frame())
    assert str(caught.value) == (
        "A dataset name cannot contain ':' (it separates name and version, as in transactions:3). "
        "Got 'sales:2024' instead."
    )
    assert client.list_datasets() == []


def test_logging_the_same_data_again_repairs_a_missing_or_corrupt_stored_file(client: lw.Client) -> None:
    version = client.log_dataset("events", _frame())
    stored = Path(client.artifacts.path_for(version.record.digest))
    stored.write_bytes(b"damaged")
    repaired = lw.Client(client.settings)  # a fresh process would not trust an earlier verification
    assert repaired.log_dataset("events", _frame()).version == 1
    assert sha256_file(stored).digest == version.record.digest
    stored.unlink()
    assert repaired.log_dataset("events", _frame()).version == 1
    pandas.testing.assert_frame_equal(repaired.dataset("events").to_pandas(), _canonical(_frame()))
    repaired.close()


def test_a_failed_version_stays_failed_when_a_later_check_is_lenient(client: lw.Client) -> None:
    from loopwright.data.schema import ColumnSchema, DataSchema
    from loopwright.errors import DataCheckError

    strict = DataSchema(columns={"amount": ColumnSchema(type="float64", max=0.0)}, allow_extra_columns=True)
    with pytest.raises(DataCheckError):
        client.log_dataset("events", _frame(), schema=strict)
    lenient = DataSchema(columns={"amount": ColumnSchema(type="float64")}, allow_extra_columns=True)
    assert client.check_dataset("events:1", schema=lenient).status == "passed"
    assert client.dataset("events", 1).check_status == "failed"
    with pytest.raises(NotFoundError, match="has no version that passed its blocking checks"):
        client.dataset("events")
