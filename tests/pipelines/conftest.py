"""Fixtures for the pipeline tests: a client on each metadata backend, made the default workspace.

Calling a pipeline (``flow(n=3)``) runs it on the default workspace, so ``client`` is opened with
``lw.connect``. As in ``tests/data``, ``database_url`` is overridden to keep the suite fast on small
machines: on PostgreSQL one database is created and migrated per test module and every table is emptied
before each test; SQLite keeps a new file per test.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

import loopwright as lw
from loopwright.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_admin_engine
from tests.pipelines.editing import EditableFlow


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A PostgreSQL database for one test module, migrated once, dropped afterwards."""
    admin = _postgres_admin_engine()
    name = f"lw_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _empty(url: str) -> None:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)
    try:
        with engine.begin() as connection:
            tables = list(
                connection.execute(
                    sqlalchemy.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                ).scalars()
            )
            if tables:
                names = ", ".join(f'"{table}"' for table in tables)
                connection.execute(sqlalchemy.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test runs once per metadata backend, on an empty database."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("sqlite_url"))
        return
    url = str(request.getfixturevalue("module_postgres_url"))
    _empty(url)
    yield url


@pytest.fixture
def client(settings: Settings) -> Iterator[lw.Client]:
    """The workspace's client, also the default one (what calling a pipeline runs on)."""
    opened = lw.connect(settings)
    yield opened
    opened.close()


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: lw.Client) -> Iterator[EditableFlow]:
    """The module of ``tests/pipelines/editing.py``, written to ``tmp_path`` and imported."""
    folder = tmp_path / "code"
    folder.mkdir()
    flow = EditableFlow(folder, monkeypatch)
    yield flow
    sys.modules.pop(flow.name, None)
