"""What a run records about where it ran, without being asked: git state, Python, packages, host."""

from __future__ import annotations

import functools
import getpass
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["KEY_PACKAGES", "git_state", "system_info"]

KEY_PACKAGES = (
    "loopwright",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "torch",
)
"""Packages whose versions every run records when they are installed."""

_GIT_CACHE_S = 5.0
_git_cache: dict[str, tuple[float, tuple[str | None, bool | None]]] = {}


@functools.cache
def _package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _source_directory() -> Path:
    """The folder whose repository describes the code that runs: the script's, for ``python train.py``;
    the working directory for console scripts (installed under the interpreter's prefix) and notebooks."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.suffix == ".py" and script.is_file():
        resolved = script.resolve()
        prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
        if not any(resolved.is_relative_to(prefix) for prefix in prefixes):
            return resolved.parent
    return Path.cwd()


def git_state(directory: Path | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the repository holding ``directory``, or ``(None, None)`` outside one.

    Cached for a few seconds, so a grid of runs started in a loop does not spawn git for each.
    """
    folder = str(directory or _source_directory())
    cached = _git_cache.get(folder)
    if cached is not None and time.monotonic() - cached[0] < _GIT_CACHE_S:
        return cached[1]
    state: tuple[str | None, bool | None] = (None, None)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
        if commit.returncode == 0:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
            state = (commit.stdout.strip(), dirty)
    except (OSError, subprocess.SubprocessError):
        pass  # no git on this machine, or it hung: record nothing rather than fail the run
    _git_cache[folder] = (time.monotonic(), state)
    return state


def system_info(*, user: str | None = None, capture_git: bool = True) -> dict[str, Any]:
    """The recorded-on-its-own columns of a new run."""
    try:
        login = user or getpass.getuser()
    except (KeyError, OSError):
        login = None
    commit, dirty = git_state() if capture_git else (None, None)
    return {
        "user": login,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "source": " ".join(sys.argv) if sys.argv and sys.argv[0] else "<interactive>",
        "git_commit": commit,
        "git_dirty": dirty,
        "python_version": platform.python_version(),
        "environment": _package_versions(),
    }
