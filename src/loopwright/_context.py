"""The default workspace, for domain entry points that are called without a client.

Calling a pipeline (``train(n=100)``) or another convenience runs on "the current workspace", which the
SDK (:mod:`loopwright.client`, a higher layer) owns. Rather than importing upward, domain code asks this
module: ``client.py`` installs its ``get_client`` here when it is imported, and this module imports
``loopwright.client`` by name on first use so a pipeline called before any SDK function still works. It is
the one deliberate upward reference in the layering (docs/architecture.md, "The default workspace").
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

__all__ = [
    "default_client",
    "open_client",
    "scoped_client",
    "set_default_client_provider",
    "using_client",
]

_provider: Callable[[], Any] | None = None
_scoped: ContextVar[Any] = ContextVar("loopwright_scoped_client", default=None)


def set_default_client_provider(provider: Callable[[], Any]) -> None:
    """Install the function that returns the default client (``loopwright.client.get_client``)."""
    global _provider
    _provider = provider


def default_client() -> Any:
    """The default :class:`~loopwright.Client` (typed ``Any`` here: the class lives in a higher layer)."""
    if _provider is None:
        importlib.import_module("loopwright.client")  # installs the provider
    assert _provider is not None
    return _provider()


def open_client(settings: Any) -> Any:
    """A new :class:`~loopwright.Client` on ``settings``, made this process's default (a process worker
    opening the workspace): ``lw.log_metric`` inside a step then logs to the step's run in this workspace,
    not to a client inherited from the parent process through ``fork``."""
    return importlib.import_module("loopwright.client").connect(settings)


@contextlib.contextmanager
def using_client(client: Any) -> Iterator[None]:
    """Make ``client`` the one the module-level helpers (``lw.log_metric`` …) use in this thread or task
    while the block runs: a pipeline step run on a client that is not the default logs to its own run."""
    token = _scoped.set(client)
    try:
        yield
    finally:
        _scoped.reset(token)


def scoped_client() -> Any:
    """The client set by :func:`using_client` around the current code, or ``None``."""
    return _scoped.get()
