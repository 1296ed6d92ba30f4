"""``loopwright data log | list | show | diff | check | schema`` against a real SQLite workspace.

The data is small and written by hand, so profiles are exact; the times the store stamps are replaced by
fixed ones in the database (keeping which results were recorded together), so output can be pinned.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy

import loopwright as lw
from loopwright.cli._render import format_size
from loopwright.client import Client
from loopwright.settings import Settings
from loopwright.store.schema import check_results, dataset_versions
from tests.cli.conftest import T0_MS, Invoker, local_time, plain

AMOUNTS = [10.0, 12.5, 15.0, 20.0, None, 30.0, 35.5, 40.0, 42.0, 50.0]
CATEGORIES = ["food", "food", "travel", "food", "online", "travel", "food", "online", "food", "travel"]
SHAPE = "10 rows × 3 columns"  # noqa: RUF001 - how `data log` writes the shape of a version


def first_frame() -> pd.DataFrame:
    """Ten rows: a float column with one missing value, a text column, an integer column."""
    return pd.DataFrame({"amount": AMOUNTS, "category": CATEGORIES, "items": list(range(1, 11))})


def second_frame() -> pd.DataFrame:
    """The first frame moved: amounts shifted up, a new category, ``items`` dropped, ``country`` added."""
    return pd.DataFrame(
        {
            "amount": [value + 100 if value is not None else 1.0 for value in AMOUNTS],
            "category": [*CATEGORIES[:9], "crypto"],
            "country": ["FR", "DE"] * 5,
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The two frames as a CSV file and a Parquet file."""
    first = tmp_path / "first.csv"
    first_frame().to_csv(first, index=False)
    second = tmp_path / "second.parquet"
    second_frame().to_parquet(second, index=False)
    return {"first": first, "second": second}


def fix_times(workspace: Path) -> None:
    """Replace the stored times of versions and check results by fixed ones: version N was logged at
    T0 + N minutes; the k-th distinct check time becomes T0 + k hours (results recorded together stay
    together)."""
    engine = sqlalchemy.create_engine(
        f"sqlite:///{workspace / 'loopwright.db'}", poolclass=sqlalchemy.NullPool
    )
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.update(dataset_versions).values(created_ms=T0_MS + dataset_versions.c.version * 60_000)
        )
        moments = connection.execute(
            sqlalchemy.select(check_results.c.created_ms).distinct().order_by(check_results.c.created_ms)
        ).scalars()
        for rank, moment in enumerate(list(moments), start=1):
            connection.execute(
                sqlalchemy.update(check_results)
                .where(check_results.c.created_ms == moment)
                .values(created_ms=T0_MS + rank * 3_600_000)
            )
    engine.dispose()


def version_minute(version: int) -> str:
    return local_time(T0_MS + version * 60_000)


def check_hour(rank: int) -> str:
    return local_time(T0_MS + rank * 3_600_000)


def stored(workspace: Path, target: str) -> tuple[str, str]:
    """The short content hash and the formatted Parquet size of a version, as the CLI prints them."""
    client = Client(Settings(workspace=workspace))
    try:
        version = client.dataset(target)
        return version.content_hash[:12], format_size(version.record.size)
    finally:
        client.close()


def write_schema(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


AMOUNT_SCHEMA = """\
columns:
  amount: {type: float64, min: 0, max: 45}
  category:
    type: string
    categories: [food, travel, online]
  items: {type: int64, nullable: false}
"""


# --- log -----------------------------------------------------------------------------------------------


def test_log_prints_the_new_version_and_logging_the_same_file_again_says_unchanged(
    invoke: Invoker, files: dict[str, Path], workspace: Path
) -> None:
    first = invoke("data", "log", str(files["first"]), "--name", "tx")
    again = invoke("data", "log", str(files["first"]), "-n", "tx")

    content, _ = stored(workspace, "tx:1")
    assert first.exit_code == 0, first.stderr
    assert plain(first.stdout) == f"Logged tx:1 (new version): {SHAPE}, content {content}\n"
    assert again.exit_code == 0, again.stderr
    assert plain(again.stdout) == (
        f"tx:1 unchanged: same content as version 1 ({SHAPE}, content {content})\n"
    )
    assert plain(invoke("data", "list").stdout).splitlines()[2].split()[:3] == ["tx", "1", "1"]


def test_log_of_known_content_with_a_schema_checks_the_existing_version(
    invoke: Invoker, files: dict[str, Path], tmp_path: Path, workspace: Path
) -> None:
    invoke("data", "log", str(files["first"]), "-n", "tx")
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA)

    result = invoke("data", "log", str(files["first"]), "-n", "tx", "--schema", str(schema))

    assert result.exit_code == 1
    lines = plain(result.stdout).splitlines()
    assert lines[0].startswith("tx:1 unchanged: same content as version 1 ")
    assert lines[4].startswith(
        " ✗ blocking   range   amount             1   Column 'amount' has 1 row outside"
    )
    assert (
        lines[-1]
        == "✗ tx:1 failed 1 blocking check (1 check); it is marked failed and lw.dataset('tx') skips it."
    )
    client = lw.Client(lw.Settings(workspace=workspace))
    assert len(client.dataset("tx", 1).checks()) == 1  # checked once by this call, not twice
    client.close()


def test_log_of_a_second_version_names_its_parent_and_prints_its_checks(
    invoke: Invoker, files: dict[str, Path], workspace: Path, tmp_path: Path
) -> None:
    invoke("data", "log", str(files["first"]), "-n", "tx")
    loose = write_schema(
        tmp_path / "loose.yaml",
        "allow_extra_columns: true\ncolumns:\n  amount: {type: float64}\n  category: {type: string}\n",
    )

    result = invoke(
        "data", "log", str(files["second"]), "-n", "tx", "--schema", str(loose), "--reference", "1"
    )

    content, _ = stored(workspace, "tx:2")
    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[0] == f"Logged tx:2 (new version, after version 1): {SHAPE}, content {content}"
    assert lines[4].split()[:4] == ["!", "warning", "value_skew", "amount"]
    assert lines[-1] == "! tx:2 passed with 2 warnings (3 checks)."


def test_log_exits_1_with_the_report_when_a_blocking_check_fails_and_keeps_the_version(
    invoke: Invoker, files: dict[str, Path], workspace: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA)

    result = invoke("data", "log", str(files["first"]), "-n", "tx", "--schema", str(schema))

    assert result.exit_code == 1
    content, _ = stored(workspace, "tx:1")
    assert plain(result.stdout) == (
        f"Logged tx:1 (new version): {SHAPE}, content {content}\n"
        "\n"
        " severity     check   column   failed rows   message\n"
        "───────────────────────────────────────────────────────────────────────────────────────────────────────\n"
        " ✗ blocking   range   amount             1   Column 'amount' has 1 row outside [0.0, 45.0], e.g. 50.0.\n"
        "✗ tx:1 failed 1 blocking check (1 check); it is marked failed and lw.dataset('tx') skips it.\n"
    )
    versions = invoke("data", "show", "tx", "--versions")
    assert versions.stdout.splitlines()[3].split()[4] == "failed"

    fix_times(workspace)
    again = invoke("data", "log", str(files["first"]), "-n", "tx")

    assert again.exit_code == 1  # logging known-bad content again still stops the pipeline
    assert plain(again.stdout) == (
        f"tx:1 unchanged: same content as version 1 ({SHAPE}, content {content})\n"
        "\n"
        f"Its latest checks, at {check_hour(1)}:\n"
        " severity     check   column   failed rows   message\n"
        "───────────────────────────────────────────────────────────────────────────────────────────────────────\n"
        " ✗ blocking   range   amount             1   Column 'amount' has 1 row outside [0.0, 45.0], e.g. 50.0.\n"
        "✗ tx:1 failed 1 blocking check (1 check); it is marked failed and lw.dataset('tx') skips it.\n"
    )


def test_log_with_no_fail_exits_0_despite_a_blocking_failure(
    invoke: Invoker, files: dict[str, Path], tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA)

    result = invoke("data", "log", str(files["first"]), "-n", "tx", "--schema", str(schema), "--no-fail")

    assert result.exit_code == 0, result.stderr
    assert "✗ tx:1 failed 1 blocking check" in result.stdout


def test_log_of_a_broken_csv_is_bad_input(invoke: Invoker, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")

    result = invoke("data", "log", str(broken), "-n", "broken")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error[invalid_input.data]: The file '{broken}' cannot be read: CSV parse error: Expected 2 columns, "
        "got 3: 3,4,5\n"
    )


def test_log_with_a_bad_schema_file_is_bad_input_and_records_nothing(
    invoke: Invoker, files: dict[str, Path], tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "bad.yaml", "columns:\n  amount: {type: float64, nullable: maybe}\n")

    result = invoke("data", "log", str(files["first"]), "-n", "tx", "--schema", str(schema))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error[invalid_input.schema]: {schema}, line 2, field 'columns.amount.nullable': Input should be a "
        "valid boolean, unable to interpret input (got 'maybe').\n"
    )
    assert plain(invoke("data", "list").stdout) == (
        f"No datasets yet. Version a file with loopwright --workspace {invoke.workspace} data log FILE "
        "--name NAME.\n"
    )


def test_log_shows_progress_on_a_terminal(invoke: Invoker, files: dict[str, Path]) -> None:
    result = invoke("data", "log", str(files["first"]), "-n", "tx", env={"TTY_COMPATIBLE": "1"})

    assert result.exit_code == 0, result.stderr
    assert f"Versioning {files['first']}" in result.stdout
    assert "10 rows" in result.stdout


# --- list and show ---------------------------------------------------------------------------------------


@pytest.fixture
def logged(invoke: Invoker, files: dict[str, Path], workspace: Path, client: Client) -> Path:
    """Dataset ``tx`` with versions 1 (first frame, described) and 2 (second frame), and dataset ``other``
    (with a description of the dataset) holding the first frame again."""
    client.datasets.catalog.dataset_id("other", create=True, description="a copy")
    for path, name, description in (
        (files["first"], "tx", "first cut"),
        (files["second"], "tx", None),
        (files["first"], "other", None),
    ):
        options = ["--description", description] if description else []
        result = invoke("data", "log", str(path), "-n", name, *options)
        assert result.exit_code == 0, result.stderr
    return workspace


def test_list_prints_every_dataset_with_its_latest_version(invoke: Invoker, logged: Path) -> None:
    fix_times(logged)

    result = invoke("data", "list")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        " name    versions   latest   latest logged         description\n"
        f"{'─' * 63}\n"
        f" other          1        1   {version_minute(1)}   a copy\n"
        f" tx             2        2   {version_minute(2)}   first cut\n"
    )


def test_list_of_a_workspace_without_datasets_says_how_to_log_one(invoke: Invoker) -> None:
    invoke("init")

    result = invoke("data", "list")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        f"No datasets yet. Version a file with loopwright --workspace {invoke.workspace} data log FILE "
        "--name NAME.\n"
    )


def test_show_prints_attributes_column_statistics_and_the_latest_checks(
    invoke: Invoker, logged: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA)
    invoke("data", "check", "tx:1", "--reference", "1")  # an earlier check, not shown
    invoke("data", "check", "tx:1", "--schema", str(schema))
    fix_times(logged)
    content, size = stored(logged, "tx:1")

    result = invoke("data", "show", "tx:1", env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Dataset tx  version 1\n"
        "\n"
        "  description  first cut\n"
        "  parent       —\n"
        "  rows         10\n"
        "  columns      3\n"
        f"  content      {content}\n"
        f"  size         {size} (Parquet)\n"
        f"  created      {version_minute(1)}\n"
        f"  source       file '{tmp_path / 'first.csv'}'\n"
        "  run          —\n"
        "  checks       failed\n"
        "\n"
        "Numeric columns (2)\n"
        "   column   type      missing   min    mean     std   max   p50\n"
        "  ──────────────────────────────────────────────────────────────\n"
        "   amount   float64   1 (10%)    10   28.33   14.49    50    30\n"
        "   items    int64           0     1     5.5   3.028    10   5.5\n"
        "\n"
        "Categorical columns (1)\n"
        "   column     type     missing   distinct   top 3 (share of values)\n"
        "  ───────────────────────────────────────────────────────────────────────────\n"
        "   category   string         0          3   food 50%, travel 30%, online 20%\n"
        "\n"
        f"Checks (latest, {check_hour(2)})\n"
        "   severity     check   column   failed rows   message\n"
        "  ──────────────────────────────────────────────────────────────────────────────────────────────────\n"
        "   ✗ blocking   range   amount             1   Column 'amount' has 1 row outside [0.0, 45.0], e.g.\n"
        "                                               50.0.\n"
    )


def test_show_of_a_version_with_time_columns_and_no_checks(
    invoke: Invoker, workspace: Path, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "seen": pd.to_datetime(["2024-01-01 08:30:00", "2024-01-01 09:00:00", "2024-01-03 10:00:05"]),
        }
    )
    frame.to_parquet(tmp_path / "times.parquet", index=False)
    invoke("data", "log", str(tmp_path / "times.parquet"), "-n", "times")

    result = invoke("data", "show", "times:1")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout).split("\n\n")[2:] == [
        "Time columns (2)\n"
        "   column   type              missing   min                max\n"
        f"  {'─' * 77}\n"
        "   day      timestamp[us]   1 (33.3%)   2024-01-01         2024-01-02\n"
        "   seen     timestamp[us]           0   2024-01-01 08:30   2024-01-03 10:00:05",
        "Checks: none\n",
    ]


def test_show_counts_nan_apart_from_missing_values_and_lists_booleans_as_categories(
    invoke: Invoker, tmp_path: Path
) -> None:
    table = pa.table({"x": [1.0, math.nan, 3.0, None], "flag": [True, False, True, None]})
    pq.write_table(table, tmp_path / "nan.parquet")
    invoke("data", "log", str(tmp_path / "nan.parquet"), "-n", "nan")

    result = invoke("data", "show", "nan:1")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout).split("\n\n")[2:] == [
        "Numeric columns (1)\n"
        "   column   type      missing   NaN   min   mean     std   max   p50\n"
        f"  {'─' * 67}\n"
        "   x        float64   1 (25%)     1     1      2   1.414     3     2",
        "Categorical columns (1)\n"
        "   column   type   missing   distinct   top 3 (share of values)\n"
        f"  {'─' * 62}\n"
        "   flag     bool   1 (25%)          2   True 66.7%, False 33.3%",
        "Checks: none\n",
    ]


def test_show_without_a_version_is_the_latest_that_passed_and_names_newer_failed_ones(
    invoke: Invoker, files: dict[str, Path]
) -> None:
    invoke("data", "log", str(files["first"]), "-n", "tx")
    invoke("data", "schema", "tx", "--save")
    assert invoke("data", "log", str(files["second"]), "-n", "tx").exit_code == 1

    result = invoke("data", "show", "tx")

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[0] == "Dataset tx  version 1"
    assert lines[10] == "  checks   unchecked"
    assert lines[11] == (
        f"Newer versions that failed their checks: 2. Show one with loopwright --workspace {invoke.workspace} "
        "data show tx:2."
    )


def test_show_versions_lists_every_version(invoke: Invoker, logged: Path) -> None:
    fix_times(logged)
    first, _ = stored(logged, "tx:1")
    second, _ = stored(logged, "tx:2")

    result = invoke("data", "show", "tx", "--versions")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Versions of tx\n"
        " version   rows   columns   content        checks      created               parent\n"
        "────────────────────────────────────────────────────────────────────────────────────\n"
        f"       1     10         3   {first}   unchecked   {version_minute(1)}        —\n"
        f"       2     10         3   {second}   unchecked   {version_minute(2)}        1\n"
    )


def test_show_of_an_unknown_dataset_names_the_known_ones(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "show", "nope")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error[not_found.dataset]: Dataset 'nope' does not exist. Known datasets: 'other', 'tx'. Log one with "
        "lw.log_dataset().\n"
    )


def test_show_of_a_badly_written_version_is_bad_input(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "show", "tx:latest")

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input]: A dataset version is written NAME or NAME:VERSION, e.g. transactions:3. Got "
        "'tx:latest' instead.\n"
    )


def test_show_needs_an_existing_workspace(invoke: Invoker) -> None:
    result = invoke("data", "show", "tx")

    assert result.exit_code == 1
    assert result.stderr.startswith("error[not_found.workspace]: There is no Loopwright workspace at ")


# --- diff ------------------------------------------------------------------------------------------------


def test_diff_prints_schema_changes_and_statistics_side_by_side_with_drift(
    invoke: Invoker, logged: Path
) -> None:
    first, _ = stored(logged, "tx:1")
    second, _ = stored(logged, "tx:2")

    result = invoke("data", "diff", "tx:1", "tx:2")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Comparing tx:1 with tx:2\n"
        "\n"
        "  rows     10\n"
        "  columns  3\n"
        f"  content  {first} → {second}\n"
        "  schema   added country (string); removed items (int64)\n"
        "\n"
        "   column     statistic                   tx:1                   tx:2   change      drift (PSI)\n"
        "  ──────────────────────────────────────────────────────────────────────────────────────────────\n"
        "   amount     missing                      10%                     0%   -10 pp      6.105 drift\n"
        "   float64    mean                       28.33                  115.6   +87.27\n"
        "              std                        14.49                  42.52   +28.03\n"
        "              min                           10                      1   -9\n"
        "              max                           50                    150   +100\n"
        "\n"
        "   category   missing                       0%                     0%               0.731 drift\n"
        "   string     distinct                       3                      4   +1\n"
        "              top 3       food, travel, online   food, online, travel   reordered\n"
        "\n"
        "   country    missing                        —                     0%               —\n"
        "   added      distinct                       —                      2\n"
        "              top 3                          —                 DE, FR\n"
        "\n"
        "   items      missing                       0%                      —               —\n"
        "   removed    mean                         5.5                      —\n"
        "              std                        3.028                      —\n"
        "              min                            1                      —\n"
        "              max                           10                      —\n"
        "drift: population stability index against tx:1 (flagged from 0.2); pp: percentage points.\n"
    )


def test_diff_only_differences_hides_unchanged_statistics(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "diff", "tx:1", "tx:2", "--only-differences")

    assert result.exit_code == 0, result.stderr
    table = plain(result.stdout).split("\n\n")[2:]
    assert [block.split()[0] for block in table] == ["column", "category", "country", "items"]
    assert table[1].splitlines() == [
        "   category   distinct                       3                      4   +1          0.731 drift",
        "   string     top 3       food, travel, online   food, online, travel   reordered",
    ]


def test_diff_of_identical_versions_says_nothing_differs(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "diff", "tx:1", "other:1", "-d")

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[0] == "Comparing tx:1 with other:1"
    assert lines[4].endswith(" (identical)")
    assert lines[5] == "  schema   same columns and types"
    assert lines[-1] == "No statistic differs."


def test_diff_names_type_row_time_and_category_changes(invoke: Invoker, tmp_path: Path) -> None:
    before = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "kind": ["a", "b", "c"],
        }
    )
    after = pd.DataFrame(
        {
            "n": [1.5, 2.5, 3.5, 4.5],
            "when": pd.to_datetime(
                ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05T12:00:00"], format="ISO8601"
            ),
            "kind": ["a", "b", "d", "d"],
        }
    )
    before.to_parquet(tmp_path / "before.parquet", index=False)
    after.to_parquet(tmp_path / "after.parquet", index=False)
    invoke("data", "log", str(tmp_path / "before.parquet"), "-n", "events")
    invoke("data", "log", str(tmp_path / "after.parquet"), "-n", "events")

    result = invoke("data", "diff", "events:1", "events:2")

    first, _ = stored(invoke.workspace, "events:1")
    second, _ = stored(invoke.workspace, "events:2")
    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Comparing events:1 with events:2\n"
        "\n"
        "  rows     3 → 4 (+1)\n"
        "  columns  3\n"
        f"  content  {first} → {second}\n"
        "  schema   type changed: n int64 → float64\n"
        "\n"
        "   column            statistic     events:1           events:2   change   drift (PSI)\n"
        f"  {'─' * 84}\n"
        "   n                 missing             0%                 0%            2.390 drift\n"
        "   int64 → float64   mean                 2                  3   +1\n"
        "                     std                  1              1.291   +0.291\n"
        "                     min                  1                1.5   +0.5\n"
        "                     max                  3                4.5   +1.5\n"
        "\n"
        "   when              missing             0%                 0%            —\n"
        "   timestamp[us]     min         2024-01-01         2024-01-02   later\n"
        "                     max         2024-01-03   2024-01-05 12:00   later\n"
        "\n"
        "   kind              missing             0%                 0%            7.009 drift\n"
        "   string            distinct             3                  3\n"
        "                     top 3          a, b, c            d, a, b   +d -c\n"
        "drift: population stability index against events:1 (flagged from 0.2); pp: percentage points.\n"
    )


# --- check -----------------------------------------------------------------------------------------------


def test_check_passes_with_exit_0(invoke: Invoker, logged: Path, tmp_path: Path) -> None:
    schema = write_schema(
        tmp_path / "schema.yaml",
        "columns:\n  amount: {type: float64}\n  category: {type: string}\n  items: {type: int64}\n",
    )

    result = invoke("data", "check", "tx:1", "--schema", str(schema))

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        f"Checked tx:1 against schema file {schema}\n"
        "\n"
        " severity     check    column   failed rows   message\n"
        "──────────────────────────────────────────────────────────────────────────────\n"
        " ✓ blocking   schema   —                  —   All 3 columns match the schema.\n"
        "✓ tx:1 passed 1 check.\n"
    )


def test_check_with_only_warnings_exits_0(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "check", "tx:2", "--reference", "1")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Checked tx:2 against reference tx:1\n"
        "\n"
        " severity    check        column     failed rows   message\n"
        f"{'─' * 156}\n"
        " ! warning   value_skew   amount               —   Column 'amount' drifted from the reference (psi "
        "6.105, ks 0.9505, p_value 9.519e-05; PSI threshold 0.2).\n"
        " ! warning   value_skew   category             —   Column 'category' drifted from the reference "
        "(psi 0.7306; PSI threshold 0.2).\n"
        "! tx:2 passed with 2 warnings (2 checks).\n"
    )


def test_check_with_a_blocking_failure_exits_1_naming_column_rows_and_examples(
    invoke: Invoker, logged: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA.replace("max: 45", "max: 145"))

    result = invoke("data", "check", "tx:2", "--schema", str(schema), "--reference", "tx:1")

    assert result.exit_code == 1
    assert result.stderr == ""
    assert plain(result.stdout) == (
        f"Checked tx:2 against schema file {schema} and reference tx:1\n"
        "\n"
        " severity     check               column     failed rows   message\n"
        f"{'─' * 164}\n"
        " ✗ blocking   missing_column      items               10   Column 'items' is missing (the schema "
        "requires it).\n"
        " ✗ blocking   unexpected_column   country             10   Column 'country' is not in the schema.\n"
        " ✗ blocking   range               amount               1   Column 'amount' has 1 row outside [0.0, "
        "145.0], e.g. 150.0.\n"
        " ✗ blocking   categories          category             1   Column 'category' has 1 row with unseen "
        "categories, e.g. 'crypto'.\n"
        " ! warning    value_skew          amount               —   Column 'amount' drifted from the reference "
        "(psi 6.105, ks 0.9505, p_value 9.519e-05; PSI threshold 0.2).\n"
        " ! warning    value_skew          category             —   Column 'category' drifted from the "
        "reference (psi 0.7306; PSI threshold 0.2).\n"
        "✗ tx:2 failed 4 blocking checks and 2 warnings (6 checks); it is marked failed and "
        "lw.dataset('tx') skips it.\n"
    )


def test_check_without_recording_leaves_the_version_unchecked(
    invoke: Invoker, logged: Path, tmp_path: Path
) -> None:
    schema = write_schema(tmp_path / "schema.yaml", AMOUNT_SCHEMA)

    result = invoke("data", "check", "tx:1", "--schema", str(schema), "--no-record")

    assert result.exit_code == 1
    assert plain(result.stdout).splitlines()[-1] == "✗ tx:1 failed 1 blocking check (1 check)."
    assert plain(invoke("data", "show", "tx:1").stdout).splitlines()[11] == "  checks       unchecked"


def test_check_with_a_bad_schema_file_exits_2_naming_file_line_and_field(
    invoke: Invoker, logged: Path, tmp_path: Path
) -> None:
    schema = write_schema(
        tmp_path / "bad.yaml", "columns:\n  amount:\n    type: float64\n    min: 10\n    max: 1\n"
    )

    result = invoke("data", "check", "tx:1", "--schema", str(schema))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error[invalid_input.schema]: {schema}, line 2, field 'columns.amount': min (10.0) is greater than max "
        "(1.0).\n"
    )


def test_check_of_an_unknown_dataset_exits_1_naming_the_known_ones(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "check", "nope:1", "--reference", "1")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[not_found.dataset]: Dataset 'nope' does not exist. Known datasets: 'other', 'tx'. Log one with "
        "lw.log_dataset().\n"
    )


def test_check_with_nothing_to_check_against_says_what_to_pass(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "check", "tx")

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input]: Nothing to check tx:2 against: dataset 'tx' has no saved schema. Pass --schema "
        "FILE or --reference VERSION, or save an inferred schema with "
        f"`loopwright --workspace {invoke.workspace} data schema tx --save`.\n"
    )


def test_check_with_a_badly_written_reference_is_bad_input(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "check", "tx:2", "--reference", "latest")

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input]: --reference takes a version number or NAME:VERSION, e.g. 3 or transactions:3. "
        "Got 'latest' instead.\n"
    )


# --- schema ----------------------------------------------------------------------------------------------


def test_schema_prints_the_inferred_yaml(invoke: Invoker, logged: Path) -> None:
    result = invoke("data", "schema", "tx:1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "dataset: tx\n"
        "allow_extra_columns: false\n"
        "columns:\n"
        "  amount: {type: float64, min: 10.0, max: 50.0}\n"
        "  category:\n"
        "    type: string\n"
        "    nullable: false\n"
        "    categories: [food, online, travel]\n"
        "  items: {type: int64, nullable: false, min: 1.0, max: 10.0}\n"
    )
    assert result.stderr == ""


def test_schema_output_writes_the_file(invoke: Invoker, logged: Path, tmp_path: Path) -> None:
    target = tmp_path / "schemas" / "tx.yaml"

    result = invoke("data", "schema", "tx:1", "--output", str(target))

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == f"Wrote the schema inferred from tx:1 to {target}\n"
    assert target.read_text(encoding="utf-8") == invoke("data", "schema", "tx:1").stdout


def test_schema_save_is_then_used_by_check_without_schema(invoke: Invoker, logged: Path) -> None:
    saved = invoke("data", "schema", "tx:1", "--save")
    passing = invoke("data", "check", "tx:1")
    failing = invoke("data", "check", "tx:2")

    assert saved.exit_code == 0, saved.stderr
    assert saved.stdout.startswith("dataset: tx\n")
    assert plain(saved.stderr) == (
        "Saved as schema 1 of dataset 'tx': new versions are checked against it when logged, and "
        f"loopwright --workspace {invoke.workspace} data check tx uses it.\n"
    )
    assert passing.exit_code == 0, passing.stderr
    assert plain(passing.stdout).splitlines()[0] == "Checked tx:1 against saved schema 1"
    assert plain(passing.stdout).splitlines()[-1] == "✓ tx:1 passed 1 check."
    assert failing.exit_code == 1
    assert "Column 'category' has 1 row with unseen categories, e.g. 'crypto'." in failing.stdout


def test_help_lists_the_data_commands(invoke: Invoker) -> None:
    result = invoke("data", "--help", workspace=False)

    assert result.exit_code == 0
    for command in ("log", "list", "show", "diff", "check", "schema"):
        assert f"│ {command} " in result.stdout
