"""The default workspace, for domain entry points that are called without a client.

Calling a pipeline (``train(n=100)``) or another convenience runs on "the current workspace", which the
SDK (:mod:`loopwright.client`, a higher layer) owns. Rather than importing upward, domain code asks this
module: ``client.py`` installs its ``get_client`` here when it is imported, and this module imports
``loopwright.client`` by name on first use so a pipeline called before any SDK function still works. It is
the one deliberate upward reference in the layering (docs/architecture.md, "The default workspace").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["default_client", "open_client", "set_default_client_provider"]

_provider: Callable[[], Any] | None = None


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
    """A new :class:`~loopwright.Client` on ``settings`` (a process worker opening the workspace)."""
    return importlib.import_module("loopwright.client").Client(settings)
