"""Fixtures for the pipeline tests: a client on each metadata backend, made the default workspace.

Calling a pipeline (``flow(n=3)``) runs it on the default workspace, so ``client`` is opened with
``lw.connect``. As in ``tests/data``, ``database_url`` is overridden to keep the suite fast on small
machines: on PostgreSQL one database is created and migrated per test module and every table is emptied
before each test; SQLite keeps a new file per test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopwright as lw
from loopwright.settings import Settings
from tests.data.conftest import database_url, module_postgres_url  # noqa: F401 - fixtures, reused
from tests.pipelines.editing import EditableFlow


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
