"""Fixtures for the data-version tests: a client on each metadata backend, and a look for leftovers.

``database_url`` is overridden here to keep this suite fast on small machines: on PostgreSQL one database
is created and migrated per test module, and every table is emptied (identities restarted) before each
test, so each test still starts from an empty, fully migrated database. SQLite keeps a new file per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

import loopwright as lw
from loopwright.settings import Settings
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_admin_engine


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
    opened = lw.connect(settings)
    yield opened
    opened.close()


def leftovers(settings: Settings) -> list[str]:
    """Files under the workspace's cache folder and the artifact store's temporary folder."""
    places = [settings.workspace / "cache", Path(settings.resolved_artifact_uri()) / ".tmp"]
    return sorted(str(path) for place in places if place.exists() for path in place.rglob("*"))
