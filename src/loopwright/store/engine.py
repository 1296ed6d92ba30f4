"""Connecting to the metadata database and bringing its schema up to date.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction starts
with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can fail at once with
"database is locked" when another process wrote in between, which no busy timeout can fix. Readers keep
plain deferred transactions and never wait for writers.

Migrations run on first use. Several processes may open a brand-new workspace at the same moment (a grid
of training jobs starting together), so the check-and-upgrade happens under a lock: a file lock beside a
SQLite database, a PostgreSQL advisory lock on a server. The common case, a schema already at head, costs
one small query and never imports Alembic.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import NoSuchModuleError as _NoSuchModuleError

from loopwright.errors import MissingExtraError, StoreError, StoreUnavailableError
from loopwright.settings import StoreSettings

__all__ = ["HEAD_REVISION", "WRITE", "current_revision", "ensure_schema", "make_engine"]

HEAD_REVISION = "0007"
"""The newest migration; a test pins it to Alembic's own head."""

WRITE = {"loopwright_write": True}
"""Execution options that mark a connection's transactions as writes (``BEGIN IMMEDIATE`` on SQLite)."""

_ADVISORY_LOCK_KEY = 0x4C6F6F70  # "Loop": the PostgreSQL advisory lock that serialises migrations


def make_engine(url: str, settings: StoreSettings) -> Engine:
    """Create the SQLAlchemy engine for ``url`` with Loopwright's connection policy."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreUnavailableError(
            f"The database URL {url!r} could not be parsed. Expected e.g. sqlite:///path/loopwright.db "
            "or postgresql+psycopg://user@host:5432/dbname.",
            url=url,
        ) from error
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    try:
        return create_engine(
            url,
            pool_size=settings.pool_size,
            pool_pre_ping=True,
            echo=settings.echo_sql,
        )
    except (_NoSuchModuleError, ModuleNotFoundError) as error:
        raise MissingExtraError("A PostgreSQL metadata store", "psycopg", "postgres") from error


def _sqlite_engine(url: str, settings: StoreSettings) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": settings.sqlite_busy_timeout_s, "check_same_thread": False},
        echo=settings.echo_sql,
    )
    busy_ms = int(settings.sqlite_busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own emulation defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        _switch_to_wal(cursor, settings.sqlite_busy_timeout_s)
        # In WAL mode NORMAL keeps every commit across a crash of the process (kill -9); only a power
        # loss may roll back the last transactions.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # 64 MiB of page cache (the default is 2 MiB): batches of metrics insert into the
        # (run_id, key, step) index at as many places as there are keys.
        cursor.execute("PRAGMA cache_size = -65536")
        # LIKE matches case as on PostgreSQL, so a filter means the same on both (ILIKE ignores case).
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("loopwright_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _switch_to_wal(cursor: Any, timeout_s: float) -> None:
    # Switching a brand-new database to WAL needs an exclusive lock, and SQLite does not always call the
    # busy handler for it, so several processes opening a new workspace at once can see "database is
    # locked" here: retry until the busy timeout.
    import sqlite3

    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or ``None`` for an empty database."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
            return None if row is None else str(row[0])
    except OperationalError as error:
        raise StoreUnavailableError(
            f"The metadata store at {engine.url.render_as_string(hide_password=True)!r} cannot be "
            f"opened: {error.orig}. Check LOOPWRIGHT_DATABASE_URL and that the server is running.",
            url=engine.url.render_as_string(hide_password=True),
        ) from error


def ensure_schema(engine: Engine) -> None:
    """Bring the database to :data:`HEAD_REVISION`, safely when several processes race to do it."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine) as connection:
        revision = current_revision(engine)
        if revision == HEAD_REVISION:
            return  # another process migrated while we waited for the lock
        _upgrade(connection)
        if current_revision(engine) != HEAD_REVISION:  # pragma: no cover - a broken migration chain
            raise StoreError(
                f"Migrating the metadata store ended at revision {current_revision(engine)!r}, "
                f"expected {HEAD_REVISION!r}. Is this Loopwright older than the database?"
            )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "sqlite":
        with _sqlite_file_lock(engine), engine.connect() as connection:
            yield connection
        return
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                connection.commit()
        return
    with engine.connect() as connection:  # pragma: no cover - other dialects are not supported yet
        yield connection


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    import fcntl  # POSIX; the embedded workspace is local by definition

    lock_path = f"{database}.migrate.lock"
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "loopwright.store:migrations")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    connection.commit()
