"""Reading what users hand us: canonical types, the logical content identity, and refusing bad input.

Identity and refusals go through ``lw.Client.log_dataset`` on SQLite and PostgreSQL workspaces; the type
mapping and the hash's independence from batching are checked on :func:`open_stream` directly.
"""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import loopwright as lw
from loopwright.data.tables import BATCH_ROWS, ContentHasher, canonical_type, open_stream
from loopwright.errors import DataInputError, InvalidKeyError, NotFoundError
from loopwright.settings import Settings
from tests.data.conftest import leftovers

UNSUPPORTED = (
    "which Loopwright cannot version. Supported: booleans, integers, floats, decimals, text, categories, "
    "timestamps and dates. Convert the column (e.g. serialise nested values to JSON text) or drop it."
)


def _frame(rows: int = 300) -> pd.DataFrame:
    """Every canonical type, no missing text (a CSV cannot tell an empty text from a missing one)."""
    rng = np.random.default_rng(7)
    amount = np.round(rng.normal(100, 20, rows), 2)
    amount[[3, 50]] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": amount,
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "flag": rng.random(rows) > 0.5,
            "when": pd.date_range("2024-01-01", periods=rows, freq="h", unit="us"),
            "at": pd.date_range("2024-01-01", periods=rows, freq="min", tz="UTC", unit="us"),
            "day": [datetime.date(2024, 1, 1) + datetime.timedelta(days=index) for index in range(rows)],
        }
    )


def _identity(data: Any) -> tuple[pa.Schema, str, int]:
    stream = open_stream(data, name="sample")
    hasher = ContentHasher(stream.schema)
    for batch in stream.batches:
        hasher.update(batch)
    return stream.schema, hasher.hexdigest(), hasher.rows


# --- the same logical data is one version, whatever its form --------------------------------------------


def test_every_form_of_the_same_data_is_one_version(client: lw.Client, tmp_path: Path) -> None:
    frame = _frame()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    frame.to_csv(tmp_path / "data.csv", index=False)
    pq.write_table(table, tmp_path / "small-groups.parquet", row_group_size=7, compression="snappy")
    pq.write_table(table, tmp_path / "gzip.parquet", row_group_size=1000, compression="gzip")
    pq.write_table(table, tmp_path / "plain.pq", compression="none", use_dictionary=False)
    pl.from_pandas(frame).write_parquet(tmp_path / "polars.parquet", compression="zstd")
    parts = tmp_path / "parts"
    parts.mkdir()
    for index, (start, stop) in enumerate([(0, 100), (100, 101), (101, 300)]):
        pq.write_table(table.slice(start, stop - start), parts / f"part-{index:02d}.parquet")

    first = client.log_dataset("sales", frame)
    assert (first.version, first.parent_version, first.num_rows, first.num_columns) == (1, None, 300, 7)
    assert first.columns == [
        {"name": "id", "type": "int64"},
        {"name": "amount", "type": "float64"},
        {"name": "city", "type": "string"},
        {"name": "flag", "type": "bool"},
        {"name": "when", "type": "timestamp[us]"},
        {"name": "at", "type": "timestamp[us, tz=UTC]"},
        {"name": "day", "type": "date32[day]"},
    ]
    forms: dict[str, Any] = {
        "polars": pl.from_pandas(frame),
        "polars lazy": pl.from_pandas(frame).lazy(),
        "arrow table": table,
        "arrow batch": table.combine_chunks().to_batches()[0],
        "arrow reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=64)),
        "csv": tmp_path / "data.csv",
        "csv as text": str(tmp_path / "data.csv"),
        "parquet, 7-row groups, snappy": tmp_path / "small-groups.parquet",
        "parquet, gzip": tmp_path / "gzip.parquet",
        "parquet, uncompressed": tmp_path / "plain.pq",
        "parquet by polars": tmp_path / "polars.parquet",
        "folder of three parts": parts,
    }
    for form, data in forms.items():
        again = client.log_dataset("sales", data)
        assert (form, again.version, again.content_hash) == (form, 1, first.content_hash)
        assert again == first
    assert [version.version for version in client.dataset_versions("sales")] == [1]
    (summary,) = client.list_datasets()
    assert (summary.name, summary.versions, summary.latest_version) == ("sales", 1, 1)
    assert leftovers(client.settings) == []


def test_narrow_numbers_and_categories_canonicalise_to_the_wide_types(client: lw.Client) -> None:
    wide = pd.DataFrame(
        {
            "count": np.array([1, -2, 100, 0], dtype=np.int64),
            "small": np.array([1, 2, 3, 4], dtype=np.int64),
            "ratio": np.array([0.5, 1.25, -2.0, 1e-3], dtype=np.float32).astype(np.float64),
            "colour": ["red", "blue", "red", "green"],
        }
    )
    narrow = pd.DataFrame(
        {
            "count": wide["count"].astype(np.int32),
            "small": wide["small"].astype(np.uint8),
            "ratio": np.array([0.5, 1.25, -2.0, 1e-3], dtype=np.float32),
            "colour": pd.Categorical(wide["colour"], categories=["red", "green", "blue"]),
        }
    )
    polars = pl.DataFrame(
        {
            "count": pl.Series([1, -2, 100, 0], dtype=pl.Int16),
            "small": pl.Series([1, 2, 3, 4], dtype=pl.UInt64),
            "ratio": pl.Series([0.5, 1.25, -2.0, 1e-3], dtype=pl.Float32),
            "colour": pl.Series(["red", "blue", "red", "green"], dtype=pl.Categorical),
        }
    )
    arrow = pa.table(
        {
            "count": pa.array([1, -2, 100, 0], pa.int8()),
            "small": pa.array([1, 2, 3, 4], pa.uint16()),
            "ratio": pa.array(np.array([0.5, 1.25, -2.0, 1e-3], dtype=np.float32)),
            "colour": pa.array(["red", "blue", "red", "green"], pa.large_string()).dictionary_encode(),
        }
    )
    first = client.log_dataset("paint", wide)
    for data in (narrow, polars, arrow):
        again = client.log_dataset("paint", data)
        assert (again.version, again.content_hash) == (1, first.content_hash)
    assert first.columns == [
        {"name": "count", "type": "int64"},
        {"name": "small", "type": "int64"},
        {"name": "ratio", "type": "float64"},
        {"name": "colour", "type": "string"},
    ]


def test_a_change_of_value_name_order_or_missingness_is_a_new_child_version(client: lw.Client) -> None:
    base = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    changes = {
        "one value": base.assign(a=[1, 2, 4]),
        "a column name": base.rename(columns={"b": "c"}),
        "the row order": base.iloc[[1, 0, 2]].reset_index(drop=True),
        "the column order": base[["b", "a"]],
        "a missing value": base.assign(a=pd.array([1, None, 3], dtype="Int64")),
        "an empty text instead of a missing one": base.assign(b=["x", "", "z"]),
        "a missing text": base.assign(b=["x", None, "z"]),
        "text split differently": base.assign(b=["xy", "", "z"]),
        "one more row": pd.concat([base, base.iloc[:1]], ignore_index=True),
    }
    previous = client.log_dataset("frames", base)
    hashes = {previous.content_hash}
    for number, (change, data) in enumerate(changes.items(), start=2):
        version = client.log_dataset("frames", data)
        assert (change, version.version, version.parent_version) == (change, number, number - 1)
        hashes.add(version.content_hash)
        previous = version
    assert len(hashes) == len(changes) + 1
    # Logging earlier content again returns its version rather than adding one.
    assert client.log_dataset("frames", base).version == 1
    assert len(client.dataset_versions("frames")) == len(changes) + 1


def test_versions_are_numbered_per_dataset(client: lw.Client) -> None:
    one = pd.DataFrame({"a": [1]})
    two = pd.DataFrame({"a": [2]})
    assert client.log_dataset("left", one).version == 1
    assert client.log_dataset("left", two).version == 2
    right = client.log_dataset("right", two)
    assert (right.version, right.parent_version) == (1, None)
    assert right.content_hash == client.dataset("left").content_hash
    assert [
        (summary.name, summary.versions, summary.latest_version) for summary in client.list_datasets()
    ] == [
        ("left", 2, 2),
        ("right", 1, 1),
    ]


# --- the canonical types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([True, None]), pa.bool_()),
        (pa.array([1, 2], pa.int8()), pa.int64()),
        (pa.array([1, 2], pa.uint32()), pa.int64()),
        (pa.array([1, 2], pa.uint64()), pa.int64()),
        (pa.array([1.5], pa.float16()), pa.float64()),
        (pa.array([1.5], pa.float32()), pa.float64()),
        (pa.array([decimal.Decimal("1.10")], pa.decimal128(5, 2)), pa.float64()),
        (pa.array(["a"], pa.large_string()), pa.string()),
        (pa.array(["a"], pa.string_view()), pa.string()),
        (pa.array(["a", "a"]).dictionary_encode(), pa.string()),
        (pa.array([None, None]), pa.string()),
        (pa.array([1_000, 2_000], pa.timestamp("ns")), pa.timestamp("us")),
        (pa.array([1, 2], pa.timestamp("s", tz="Europe/Berlin")), pa.timestamp("us", tz="Europe/Berlin")),
        (pa.array([0, 86_400_000], pa.date64()), pa.date32()),
    ],
    ids=str,
)
def test_canonical_types(array: pa.Array, expected: pa.DataType) -> None:
    stream = open_stream(pa.table({"column": array}), name="types")
    assert stream.schema == pa.schema([pa.field("column", expected)])
    (batch,) = list(stream.batches)
    assert batch.schema == stream.schema


def test_canonical_values() -> None:
    table = pa.table(
        {
            "price": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2)),
            "at": pa.array([1_700_000_000, None], pa.timestamp("s", tz="UTC")),
            "day": pa.array([86_400_000, None], pa.date64()),
            "nothing": pa.array([None, None]),
        }
    )
    (batch,) = list(open_stream(table, name="values").batches)
    assert batch.to_pylist() == [
        {
            "price": 1.1,
            "at": datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC),
            "day": datetime.date(1970, 1, 2),
            "nothing": None,
        },
        {"price": None, "at": None, "day": None, "nothing": None},
    ]


@pytest.mark.parametrize(
    ("data_type", "shown"),
    [
        (pa.list_(pa.int64()), "list<item: int64>"),
        (pa.binary(), "binary"),
        (pa.duration("us"), "duration[us]"),
        (pa.struct([("a", pa.int64())]), "struct<a: int64>"),
        (pa.time64("us"), "time64[us]"),
    ],
    ids=str,
)
def test_other_types_are_refused_naming_the_column(data_type: pa.DataType, shown: str) -> None:
    with pytest.raises(DataInputError) as caught:
        canonical_type(data_type, "payload", "file 'x.parquet'")
    assert str(caught.value) == f"Column 'payload' of file 'x.parquet' has type {shown}, {UNSUPPORTED}"
    assert caught.value.details == {"column": "payload", "type": shown, "source": "file 'x.parquet'"}
    assert caught.value.code == "invalid_input.data"


def test_the_hash_ignores_batching_but_not_content() -> None:
    rng = np.random.default_rng(3)
    rows = 1_000
    text = pa.array([None if index % 7 == 0 else "w" * (index % 5) for index in range(rows)], pa.string())
    table = pa.table(
        {
            "number": pa.array(rng.integers(-5, 5, rows)),
            "real": pa.array(rng.normal(size=rows), mask=rng.random(rows) < 0.1),
            "text": text,
            "flag": pa.array(rng.random(rows) > 0.5, mask=rng.random(rows) < 0.1),
            "at": pa.array(rng.integers(0, 10**12, rows), pa.timestamp("us"), mask=rng.random(rows) < 0.1),
            "day": pa.array(rng.integers(0, 20_000, rows).astype(np.int32), pa.date32()),
        }
    )
    schema, whole, count = _identity(table)
    assert count == rows
    # Zero-copy slices (offsets into the same buffers) in batches of many sizes hash the same.
    for size in (1, 3, 64, 999):
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=size))
        assert _identity(reader)[1] == whole
    hasher = ContentHasher(schema)
    for batch in table.slice(1).to_batches(max_chunksize=100):
        hasher.update(batch)
    assert hasher.hexdigest() != whole


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ({"a": pa.array([1, None])}, {"a": pa.array([1, 0])}),
        ({"a": pa.array([1.0, None])}, {"a": pa.array([1.0, 0.0])}),
        ({"a": pa.array([1.0, float("nan")])}, {"a": pa.array([1.0, None])}),
        ({"a": pa.array(["", None])}, {"a": pa.array(["", ""])}),
        ({"a": pa.array(["ab", "c"])}, {"a": pa.array(["a", "bc"])}),
        ({"a": pa.array([True, None])}, {"a": pa.array([True, False])}),
        ({"a": pa.array([0, 1], pa.int64())}, {"a": pa.array([0.0, 1.0], pa.float64())}),
        ({"a": pa.array([1], pa.int64())}, {"b": pa.array([1], pa.int64())}),
        (
            {"a": pa.array([0], pa.timestamp("us"))},
            {"a": pa.array([0], pa.timestamp("us", tz="UTC"))},
        ),
        ({"a": pa.array([1]), "b": pa.array([2])}, {"b": pa.array([2]), "a": pa.array([1])}),
    ],
    ids=[
        "int null vs 0",
        "float null vs 0",
        "NaN vs null",
        "text null vs empty",
        "text boundaries",
        "bool null vs false",
        "int vs float",
        "column name",
        "time zone",
        "column order",
    ],
)
def test_logically_different_tables_hash_differently(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert _identity(pa.table(left))[1] != _identity(pa.table(right))[1]


def test_a_dataframe_is_read_without_its_index_and_with_text_column_names() -> None:
    frame = pd.DataFrame({0: [1, 2], "b": [3, 4]}, index=["x", "y"])
    stream = open_stream(frame, name="indexed")
    assert stream.schema.names == ["0", "b"]
    assert stream.source == "the DataFrame logged as 'indexed'"
    assert _identity(frame)[1] == _identity(pd.DataFrame({"0": [1, 2], "b": [3, 4]}))[1]


def test_large_inputs_are_streamed_in_batches() -> None:
    table = pa.table({"a": np.arange(BATCH_ROWS * 2 + 5)})
    sizes = [batch.num_rows for batch in open_stream(table, name="big").batches]
    assert sizes == [BATCH_ROWS, BATCH_ROWS, 5]


# --- refusing bad input, leaving nothing behind ---------------------------------------------------------


def _refused(
    client: lw.Client, settings: Settings, data: Any, error: type[Exception] = DataInputError
) -> str:
    with pytest.raises(error) as caught:
        client.log_dataset("bad", data)
    assert client.list_datasets() == []
    assert leftovers(settings) == []
    return str(caught.value)


def test_a_file_that_is_not_parquet_is_refused(client: lw.Client, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("id,amount\n1,2.5\n")
    assert _refused(client, settings, path) == (
        f"The file {str(path)!r} cannot be read: Parquet magic bytes not found in footer. Either the file is "
        "corrupted or this is not a parquet file."
    )


def test_an_empty_file_is_refused(client: lw.Client, settings: Settings, tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.parquet"):
        path = tmp_path / name
        path.touch()
        assert _refused(client, settings, path) == f"The file {str(path)!r} is empty (0 bytes)."


def test_data_without_rows_is_refused(client: lw.Client, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id,amount\n")
    assert _refused(client, settings, path) == (
        f"Dataset 'bad': file {str(path)!r} has no rows; there is nothing to version."
    )
    empty = pd.DataFrame({"id": pd.Series([], dtype="int64")})
    assert _refused(client, settings, empty) == (
        "Dataset 'bad': the DataFrame logged as 'bad' has no rows; there is nothing to version."
    )
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), tmp_path / "none.parquet")
    assert _refused(client, settings, tmp_path / "none.parquet") == (
        f"Dataset 'bad': file {str(tmp_path / 'none.parquet')!r} has no rows; there is nothing to version."
    )


def test_a_column_of_mixed_types_is_refused_by_name(client: lw.Client, settings: Settings) -> None:
    frame = pd.DataFrame({"ok": [1, 2, 3], "code": pd.Series([1, "a", 2], dtype=object)})
    message = _refused(client, settings, frame)
    assert message == (
        "Column 'code' of the DataFrame logged as 'bad' mixes types (int, str) and cannot be stored as one "
        "column: Could not convert 'a' with type str: tried to convert to int64. Convert it to one type "
        "first, e.g. df['code'].astype(str)."
    )


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([[1, 2], [3]], "list<item: int64>"),
        ([b"\x00", b"\x01"], "binary"),
        (pd.to_timedelta([1, 2], unit="s"), "duration[us]"),
    ],
    ids=["list", "binary", "duration"],
)
def test_unsupported_column_types_are_refused(
    client: lw.Client, settings: Settings, values: Any, shown: str
) -> None:
    frame = pd.DataFrame({"id": [1, 2], "payload": values})
    assert _refused(client, settings, frame) == (
        f"Column 'payload' of the DataFrame logged as 'bad' has type {shown}, {UNSUPPORTED}"
    )


def test_duplicate_or_empty_column_names_are_refused(client: lw.Client, settings: Settings) -> None:
    duplicated = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    assert _refused(client, settings, duplicated) == (
        "The DataFrame logged as 'bad' has duplicate column names: 'a'. Rename them first."
    )
    unnamed = pd.DataFrame([[1, 2]], columns=["a", " "])
    assert _refused(client, settings, unnamed) == (
        "Column 1 of the DataFrame logged as 'bad' has no usable name (got ' '); every column needs a "
        "non-empty text name."
    )


def test_values_that_do_not_fit_the_canonical_type_are_refused(client: lw.Client, settings: Settings) -> None:
    huge = pd.DataFrame({"id": np.array([1, 2**63], dtype=np.uint64)})
    assert _refused(client, settings, huge) == (
        "Column 'id' of the DataFrame logged as 'bad' cannot be stored as int64: Integer value "
        "9223372036854775808 not in range: 0 to 9223372036854775807"
    )
    nanoseconds = pd.DataFrame({"at": [pd.Timestamp("2024-01-01 00:00:00.000000001")]})
    assert _refused(client, settings, nanoseconds) == (
        "Column 'at' of the DataFrame logged as 'bad' cannot be stored as timestamp[us]: Casting from "
        "timestamp[ns] to timestamp[us] would lose data: 1704067200000000001"
    )


def test_a_folder_mixing_csv_and_parquet_is_refused(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    pd.DataFrame({"a": [1]}).to_csv(folder / "one.csv", index=False)
    pq.write_table(pa.table({"a": [2]}), folder / "two.parquet")
    assert _refused(client, settings, folder) == (
        f"The folder {str(folder)!r} mixes CSV and Parquet files; log them as separate datasets."
    )


def test_files_with_different_columns_in_one_folder_are_refused(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), folder / "1.parquet")
    pq.write_table(pa.table({"a": [2], "c": ["y"]}), folder / "2.parquet")
    pq.write_table(pa.table({"a": [3.5], "b": ["z"]}), folder / "3.parquet")
    assert _refused(client, settings, folder) == (
        f"File {str(folder / '2.parquet')!r} has columns a: int64, c: string but file "
        f"{str(folder / '1.parquet')!r} has a: int64, b: string; every file of a dataset needs the same "
        "columns and types."
    )
    (folder / "2.parquet").unlink()
    assert _refused(client, settings, folder) == (
        f"File {str(folder / '3.parquet')!r} has columns a: double, b: string but file "
        f"{str(folder / '1.parquet')!r} has a: int64, b: string; every file of a dataset needs the same "
        "columns and types."
    )


def test_a_folder_without_data_files_is_refused(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing here")
    assert _refused(client, settings, folder) == (
        f"The folder {str(folder)!r} holds no .parquet, .pq, .csv, .csv.gz or .tsv file."
    )


def test_a_missing_path_or_an_unknown_suffix_is_refused(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.parquet"
    assert (
        _refused(client, settings, missing, NotFoundError)
        == f"The data path {str(missing)!r} does not exist."
    )
    unknown = tmp_path / "data.json"
    unknown.write_text('{"a": 1}')
    assert _refused(client, settings, unknown) == (
        f"Cannot tell the format of {str(unknown)!r}: expected a .parquet, .pq, .csv, .csv.gz or .tsv file."
    )


def test_other_python_objects_and_bad_names_are_refused(client: lw.Client, settings: Settings) -> None:
    advice = (
        "Pass a pandas or polars DataFrame, a pyarrow Table, or the path of a CSV / Parquet file or folder."
    )
    for data, kind in [
        ([1, 2, 3], "builtins.list"),
        (pd.Series([1, 2], name="a"), "pandas.Series"),
        (pd.Index([1, 2]), "pandas.Index"),
        (pl.Series("a", [1, 2]), "polars.series.series.Series"),
        (pa.chunked_array([[1, 2]]), "pyarrow.lib.ChunkedArray"),
    ]:
        assert _refused(client, settings, data) == f"Dataset 'bad': cannot read data of type {kind}. {advice}"
    with pytest.raises(InvalidKeyError) as caught:
        client.log_dataset("sales/eu", pd.DataFrame({"a": [1]}))
    assert str(caught.value) == (
        "The dataset key 'sales/eu' contains a slash ('/'); path separators are not allowed in keys. Use '.', "
        "'_' or '-' to group names, e.g. 'train.loss'."
    )
    assert client.list_datasets() == []


def test_a_csv_that_changes_type_past_its_first_block_leaves_nothing_behind(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    # The reader infers int64 from its first 16 MiB block; a text value further down fails mid-stream,
    # after rows were already written to the temporary Parquet file.
    path = tmp_path / "late.csv"
    with path.open("wb") as handle:
        handle.write(b"n\n" + b"1234567\n" * 2_200_000 + b"oops\n")
    assert _refused(client, settings, path) == (
        f"The file {str(path)!r} cannot be read past its first rows: In CSV column #0: CSV conversion error "
        "to int64: invalid value 'oops'. A column probably mixes types; clean it or convert the file to "
        "Parquet with explicit types."
    )


def test_a_tab_separated_and_a_gzipped_csv_are_read(client: lw.Client, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x y", "z"]})
    frame.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    frame.to_csv(tmp_path / "data.csv.gz", index=False, compression="gzip")
    first = client.log_dataset("text", frame)
    assert client.log_dataset("text", tmp_path / "data.tsv").version == first.version == 1
    assert client.log_dataset("text", tmp_path / "data.csv.gz").version == 1


def test_a_column_of_complex_numbers_is_refused_naming_it(client: lw.Client, settings: Settings) -> None:
    frame = pd.DataFrame({"ok": [1, 2], "z": [1 + 2j, 3 - 1j]})
    with pytest.raises(DataInputError) as caught:
        client.log_dataset("bad", frame)
    assert str(caught.value).startswith(
        "Column 'z' of the DataFrame logged as 'bad' holds complex128 values (complex), which Loopwright "
        "cannot version: "
    )
    assert client.list_datasets() == []


def test_a_parquet_file_with_damaged_pages_is_refused_naming_it(
    client: lw.Client, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.parquet"
    column = (np.arange(200_000) % 7).astype("int64")  # compressible, so the pages hold snappy copy tags
    pq.write_table(pa.table({"x": column}), path, compression="snappy", use_dictionary=False)
    data = bytearray(path.read_bytes())
    for position in range(100, len(data) // 2, 13):  # the pages; the footer at the end stays valid
        data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataInputError) as caught:
        client.log_dataset("damaged", path)
    assert str(caught.value) == (
        f"The file {str(path)!r} is damaged and cannot be read: Corrupt snappy compressed data."
    )
    assert client.list_datasets() == []
