"""Opening databases: migrations on first use, races on a brand-new workspace, clear errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from loopwright.errors import StoreUnavailableError
from loopwright.settings import StoreSettings
from loopwright.store.engine import HEAD_REVISION, make_engine
from loopwright.store.metadata import MetadataStore


def test_head_revision_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", "loopwright.store:migrations")
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


_OPENER = """
import pathlib, sys, time
from loopwright.store.metadata import MetadataStore
url, go = sys.argv[1], pathlib.Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
store = MetadataStore(url)
experiment = store.get_or_create_experiment("race")
print(store.create_run(experiment.id, "r"))
"""


def test_many_processes_opening_a_brand_new_database_at_once_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "open.py"
    script.write_text(_OPENER)
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(0.5)
    go.touch()
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
    store = MetadataStore(database_url)
    (experiment,) = store.list_experiments()
    assert experiment.run_count == 6
    store.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        MetadataStore("postgresql+psycopg://nobody@127.0.0.1:1/none", StoreSettings(pool_size=1))
    message = str(caught.value)
    assert message.startswith(
        "The metadata store at 'postgresql+psycopg://nobody@127.0.0.1:1/none' cannot be opened:"
    )
    assert message.endswith("Check LOOPWRIGHT_DATABASE_URL and that the server is running.")


def test_an_unparsable_url_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailableError, match="The database URL 'not a url' could not be parsed"):
        make_engine("not a url", StoreSettings())


def test_sqlite_runs_in_wal_mode_with_the_busy_timeout(sqlite_url: str) -> None:
    store = MetadataStore(sqlite_url, StoreSettings(sqlite_busy_timeout_s=7))
    with store._engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
