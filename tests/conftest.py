"""Shared fixtures: workspaces on real backends (SQLite files and the PostgreSQL server on 127.0.0.1).

PostgreSQL tests need the server at ``LOOPWRIGHT_TEST_POSTGRES_URL`` (default: user postgres, trust auth,
127.0.0.1:5432, maintenance database ``test``). Without it they are skipped locally; under ``CI=true``
they fail instead, so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from loopwright.settings import Settings, TrackingSettings

POSTGRES_ADMIN_URL = os.environ.get(
    "LOOPWRIGHT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_admin_engine() -> sqlalchemy.Engine:
    engine = sqlalchemy.create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.NullPool
    )
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except Exception as error:
        engine.dispose()
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"
        if IN_CI:
            pytest.fail(message + " (required under CI=true)", pytrace=False)
        pytest.skip(message)
    return engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test, dropped afterwards."""
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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A brand-new SQLite database file."""
    return f"sqlite:///{tmp_path / 'ws' / 'loopwright.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per metadata backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a fresh workspace on each backend, with a short flush interval for quick tests."""
    return Settings(
        workspace=tmp_path / "ws",
        database_url=database_url,
        artifact_uri=str(tmp_path / "ws" / "artifacts"),
        tracking=TrackingSettings(flush_interval_s=0.2),
    )
