"""What every command shares: the settings the root callback built, and opening the workspace they name.

The root callback builds one :class:`~loopwright.settings.Settings` from ``--workspace`` and the
``LOOPWRIGHT_*`` environment and stores it on the Typer context; commands take it from there and never
read the environment themselves.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from loopwright.errors import NotFoundError
from loopwright.settings import Settings

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["CliState", "cli_state", "command_hint", "missing_workspace", "open_client", "workspace_settings"]


@dataclass(frozen=True, slots=True)
class CliState:
    """The settings of this invocation, and the ``--workspace`` it was given (to repeat in hints)."""

    settings: Settings
    workspace_option: Path | None = None


def cli_state(context: typer.Context) -> CliState:
    """The state the root callback stored on ``context`` (or on one of its parents)."""
    state = context.find_object(CliState)
    if state is None:  # pragma: no cover - only when a command is invoked without the root app
        raise RuntimeError("The loopwright root callback did not run; invoke commands through the app.")
    return state


@contextlib.contextmanager
def open_client(
    context: typer.Context, *, create: bool = False, workspace: Path | None = None
) -> Iterator[Client]:
    """A client on the workspace of this invocation (or on ``workspace``), closed on exit.

    Unless ``create``, an embedded workspace must exist already: reading commands never leave an empty
    ``.loopwright`` folder behind in whatever directory they were typed in.
    """
    settings = workspace_settings(context, workspace)
    if not create:
        folder = missing_workspace(settings)
        if folder is not None:
            raise NotFoundError(
                f"There is no Loopwright workspace at {folder}. Create one with `loopwright init` (or run "
                "`loopwright demo`), or point --workspace or LOOPWRIGHT_WORKSPACE at an existing one.",
                kind="workspace",
                key=str(folder),
            )
    from loopwright.client import Client  # here, so `loopwright --help` stays quick

    client = Client(settings)
    try:
        yield client
    finally:
        client.close()


def workspace_settings(context: typer.Context, workspace: Path | None = None) -> Settings:
    """The settings of this invocation, with the workspace folder replaced when ``workspace`` is given."""
    settings = cli_state(context).settings
    return settings if workspace is None else settings.model_copy(update={"workspace": workspace})


def missing_workspace(settings: Settings) -> Path | None:
    """The folder of an embedded (SQLite) workspace whose database does not exist yet, else ``None``."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url())
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if Path(database).exists() else Path(database).parent


def command_hint(context: typer.Context, arguments: str, *, workspace: Path | None = None) -> str:
    """``loopwright <arguments>``, with ``--workspace`` when this invocation was given one (or
    ``workspace``), so the hint works when pasted as it is."""
    folder = workspace if workspace is not None else cli_state(context).workspace_option
    option = f"--workspace {shlex.quote(str(folder))} " if folder is not None else ""
    return f"loopwright {option}{arguments}"
