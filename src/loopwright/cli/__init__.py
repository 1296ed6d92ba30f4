"""The ``loopwright`` command line: Typer commands over the SDK.

``main`` is the console script; ``app`` is the Typer application (for tests and embedding). Nothing in
:mod:`loopwright` imports this package, so ``import loopwright`` never pays for Typer or Rich.
"""

from loopwright.cli._app import app, main

__all__ = ["app", "main"]
