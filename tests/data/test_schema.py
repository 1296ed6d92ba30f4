"""Data schemas: inference from a profile, the YAML text, saved versions, and errors that point at a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.data.schema import ColumnSchema, DataSchema, infer_schema
from loopwright.errors import NotFoundError, SchemaFileError


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = 500
    amount = np.round(rng.uniform(0.5, 99.5, rows), 2)
    amount[[0, 1]] = [0.5, 99.5]
    return pd.DataFrame(
        {
            "amount": amount,
            "items": rng.integers(1, 10, rows),
            "category": rng.choice(["grocery", "travel", "online"], rows),
            "customer": [f"c{index}" for index in range(rows)],
            "note": [None if index % 2 else "gift" for index in range(rows)],
            "refund": rng.random(rows) > 0.9,
            "day": pd.date_range("2024-01-01", periods=rows, freq="D", unit="us").date,
            "at": pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC", unit="us"),
            "score": pd.array([None if index == 3 else 0.5 for index in range(rows)], dtype="Float64"),
        }
    )


def test_a_schema_is_inferred_from_a_profile(client: lw.Client) -> None:
    version = client.log_dataset("orders", _frame())
    schema = client.infer_schema("orders")
    assert schema == lw.infer_schema(version) == infer_schema(version.profile, dataset="orders")
    assert schema == DataSchema(
        dataset="orders",
        allow_extra_columns=False,
        columns={
            "amount": ColumnSchema(type="float64", nullable=False, min=0.5, max=99.5),
            "items": ColumnSchema(type="int64", nullable=False, min=1.0, max=9.0),
            "category": ColumnSchema(
                type="string", nullable=False, categories=["grocery", "online", "travel"]
            ),
            "customer": ColumnSchema(type="string", nullable=False),  # 500 values: too many to list
            "note": ColumnSchema(type="string", nullable=True, categories=["gift"]),
            "refund": ColumnSchema(type="bool", nullable=False),
            "day": ColumnSchema(type="date32[day]", nullable=False),
            "at": ColumnSchema(type="timestamp[us, tz=UTC]", nullable=False),
            "score": ColumnSchema(type="float64", nullable=True, min=0.5, max=0.5),
        },
    )
    assert schema.to_yaml() == (
        "dataset: orders\n"
        "allow_extra_columns: false\n"
        "columns:\n"
        "  amount: {type: float64, nullable: false, min: 0.5, max: 99.5}\n"
        "  items: {type: int64, nullable: false, min: 1.0, max: 9.0}\n"
        "  category:\n"
        "    type: string\n"
        "    nullable: false\n"
        "    categories: [grocery, online, travel]\n"
        "  customer: {type: string, nullable: false}\n"
        "  note:\n"
        "    type: string\n"
        "    categories: [gift]\n"
        "  refund: {type: bool, nullable: false}\n"
        "  day: {type: 'date32[day]', nullable: false}\n"
        "  at: {type: 'timestamp[us, tz=UTC]', nullable: false}\n"
        "  score: {type: float64, min: 0.5, max: 0.5}\n"
    )
    # The data it came from satisfies it.
    report = client.check_dataset("orders", schema=schema)
    assert (report.status, report.summary()) == ("passed", "Dataset 'orders' version 1 passed 1 checks.")


def test_categories_are_listed_for_at_most_twenty_text_values(client: lw.Client) -> None:
    twenty = [f"v{index:02d}" for index in range(20)]
    frame = pd.DataFrame({"twenty": twenty + twenty[:1], "twenty_one": [*twenty, "v20"]})
    client.log_dataset("codes", frame)
    schema = client.infer_schema("codes:1")
    assert schema.columns["twenty"].categories == twenty
    assert schema.columns["twenty_one"].categories is None


def test_yaml_round_trips(tmp_path: Path) -> None:
    schema = DataSchema(
        dataset="transactions",
        allow_extra_columns=True,
        columns={
            "amount": ColumnSchema(type="float64", nullable=False, min=0.0, max=25_000.0),
            "merchant": ColumnSchema(type="string", categories=["grocery", "travel", "online: abroad", "ü"]),
            "when": ColumnSchema(type="timestamp[us, tz=Europe/Paris]"),
            "count": ColumnSchema(type="int64", min=-3.0),
        },
    )
    text = schema.to_yaml()
    assert DataSchema.from_yaml(text) == schema
    path = schema.save(tmp_path / "schemas" / "transactions.yaml")
    assert path.read_text(encoding="utf-8") == text
    assert DataSchema.load(path) == schema
    assert schema.content_hash == DataSchema.from_yaml(text).content_hash
    assert schema.content_hash != DataSchema.from_yaml(text.replace("25000.0", "25001.0")).content_hash


def test_hand_written_yaml_uses_defaults() -> None:
    schema = DataSchema.from_yaml("columns:\n  amount:\n    type: float64\n")
    assert schema == DataSchema(columns={"amount": ColumnSchema(type="float64")})
    assert (schema.dataset, schema.allow_extra_columns) == (None, False)
    column = schema.columns["amount"]
    assert (column.nullable, column.min, column.max, column.categories) == (True, None, None, None)


def test_saved_schemas_are_versioned_by_content(client: lw.Client, tmp_path: Path) -> None:
    client.log_dataset("orders", _frame())
    schema = client.infer_schema("orders")
    first = client.save_schema("orders", schema)
    assert (first.dataset, first.version, first.body) == ("orders", 1, schema.to_yaml())
    assert first.content_hash == schema.content_hash
    # The same text, from an object or from a file, is the same version.
    path = schema.save(tmp_path / "orders.yaml")
    assert client.save_schema("orders", path) == first
    assert lw.save_schema("orders", str(path)) == first
    changed = schema.model_copy(update={"allow_extra_columns": True})
    second = client.save_schema("orders", changed)
    assert (second.version, second.body) == (2, changed.to_yaml())
    assert client.datasets.schema("orders") == changed
    assert client.datasets.schema("orders", 1) == schema
    # Going back to the first text makes it current again, as a new version.
    third = client.save_schema("orders", schema)
    assert (third.version, third.body) == (3, schema.to_yaml())
    assert client.datasets.schema("orders") == schema
    # A schema can be saved before any data, which creates the dataset without versions.
    client.save_schema("returns", DataSchema(columns={"id": ColumnSchema(type="int64")}))
    (summary,) = [summary for summary in client.list_datasets() if summary.name == "returns"]
    assert (summary.versions, summary.latest_version) == (0, None)


def test_missing_schemas_are_not_found(client: lw.Client) -> None:
    client.log_dataset("orders", pd.DataFrame({"a": [1]}))
    with pytest.raises(NotFoundError) as caught:
        client.datasets.schema("orders")
    assert str(caught.value) == (
        "Dataset 'orders' has no schema. Save one with lw.save_schema('orders', schema)."
    )
    client.save_schema("orders", DataSchema(columns={"a": ColumnSchema(type="int64")}))
    with pytest.raises(NotFoundError) as caught:
        client.datasets.schema("orders", 4)
    assert str(caught.value) == (
        "Dataset 'orders' has no schema version 4. Save one with lw.save_schema('orders', schema)."
    )


# --- errors that name the file, the line and the field --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "columns:\n  a: {type: int64\n  b: 1\n",
            "orders.yaml, line 3: not valid YAML: expected ',' or '}', but got ':'.",
        ),
        (
            "columns:\n\tamount: 1\n",
            "orders.yaml, line 2: not valid YAML: found character '\\t' that cannot start any token.",
        ),
        ("", "orders.yaml is empty; a schema needs at least a 'columns:' mapping."),
        ("# only a comment\n", "orders.yaml is empty; a schema needs at least a 'columns:' mapping."),
        (
            "columns:\n  amount:\n    type: float64\n    unit: eur\n",
            "orders.yaml, line 4, field 'columns.amount.unit': Extra inputs are not permitted (got 'eur').",
        ),
        (
            "dataset: orders\ncolumns: {}\nowner: me\n",
            "orders.yaml, line 3, field 'owner': Extra inputs are not permitted (got 'me').",
        ),
        (
            "columns:\n  amount:\n    type: float\n",
            "orders.yaml, line 2, field 'columns.amount': type must be one of bool, date32[day], float64, "
            "int64, string or timestamp[us] / timestamp[us, tz=…]. Got 'float' instead.",
        ),
        (
            "columns:\n  id:\n    type: int64\n  amount:\n    type: float64\n    min: 5\n    max: 1\n",
            "orders.yaml, line 4, field 'columns.amount': min (5.0) is greater than max (1.0).",
        ),
        (
            "columns:\n  name:\n    type: string\n    min: 0\n",
            "orders.yaml, line 2, field 'columns.name': min / max apply to int64 and float64 columns, not "
            "to string.",
        ),
        (
            "columns:\n  ratio:\n    type: float64\n    categories: [a, b]\n",
            "orders.yaml, line 2, field 'columns.ratio': categories apply to string columns, not to float64.",
        ),
        (
            "dataset: orders\nallow_extra_columns: true\n",
            "orders.yaml, line 1, field 'columns': Field required.",
        ),
        (
            "columns:\n  a:\n    type: int64\n    nullable: maybe\n",
            "orders.yaml, line 4, field 'columns.a.nullable': Input should be a valid boolean, unable to "
            "interpret input (got 'maybe').",
        ),
        (
            "columns:\n  a:\n    type: int64\n    max: lots\n",
            "orders.yaml, line 4, field 'columns.a.max': Input should be a valid number, unable to parse "
            "string as a number (got 'lots').",
        ),
        (
            "- amount\n- items\n",
            "orders.yaml, line 1, field '(top level)': Input should be a valid dictionary or instance of "
            "DataSchema.",
        ),
    ],
    ids=[
        "invalid yaml",
        "tab",
        "empty",
        "only a comment",
        "unknown column key",
        "unknown top-level key",
        "bad type name",
        "min above max",
        "min on text",
        "categories on floats",
        "no columns",
        "not a boolean",
        "not a number",
        "a list",
    ],
)
def test_schema_file_errors_name_the_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaFileError) as caught:
        DataSchema.load(path)
    assert str(caught.value) == f"{path}{message.removeprefix('orders.yaml')}"
    assert caught.value.code == "invalid_input.schema"
    assert caught.value.details["source"] == str(path)
    with pytest.raises(SchemaFileError) as from_text:
        DataSchema.from_yaml(text, source="orders.yaml")
    assert str(from_text.value) == message


def test_an_unreadable_schema_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(SchemaFileError) as caught:
        DataSchema.load(path)
    assert str(caught.value) == (
        f"The schema file {str(path)!r} cannot be read: [Errno 2] No such file or directory: {str(path)!r}."
    )


def test_a_bad_schema_file_is_refused_before_anything_is_saved_or_logged(
    client: lw.Client, tmp_path: Path
) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text("columns:\n  amount:\n    type: decimal\n", encoding="utf-8")
    expected = (
        f"{path}, line 2, field 'columns.amount': type must be one of bool, date32[day], float64, int64, "
        "string or timestamp[us] / timestamp[us, tz=…]. Got 'decimal' instead."
    )
    with pytest.raises(SchemaFileError) as caught:
        client.save_schema("orders", path)
    assert str(caught.value) == expected
    with pytest.raises(SchemaFileError) as caught:
        client.log_dataset("orders", pd.DataFrame({"amount": [1.0]}), schema=path)
    assert str(caught.value) == expected
    assert client.list_datasets() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &x [1, 2]\nb: *x\ncolumns: {}\n",
            "bad.yaml, line 1: anchors and aliases (&name, *name) are not supported in schema files; write the "
            "values out.",
        ),
        (
            "columns: &a {amount: *a}\n",
            "bad.yaml, line 1: anchors and aliases (&name, *name) are not supported in schema files; write the "
            "values out.",
        ),
        (
            "columns:\n  amount: {type: float64}\n  amount: {type: int64}\n",
            "bad.yaml, line 3: the key 'amount' appears twice in the same mapping.",
        ),
        (
            "columns:\n  ? [a, b]\n  : {type: string}\n",
            "bad.yaml, line 2: a key must be a plain name (no lists, mappings or '<<' merges).",
        ),
    ],
)
def test_schema_files_with_aliases_duplicates_or_odd_keys_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SchemaFileError) as caught:
        DataSchema.load(path)
    assert str(caught.value) == message.replace("bad.yaml", str(path))


def test_a_billion_laughs_schema_is_refused_at_once(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        levels.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(levels) + "\ncolumns: {}\n")
    with pytest.raises(SchemaFileError, match="anchors and aliases"):
        DataSchema.load(path)


def test_a_schema_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("columns:\n  café: {type: string}\n".encode("latin-1"))
    with pytest.raises(SchemaFileError, match=r"is not UTF-8 text \(invalid continuation byte at byte 14\)"):
        DataSchema.load(path)
