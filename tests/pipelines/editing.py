"""A pipeline module written to a folder and edited between runs, as a user edits their code.

``SOURCE`` has a step (``base``), a step that calls a helper function (``shifted``), a step that reads a
module-level constant (``gated``) and the pipeline that wires them (``flow``); each ``{placeholder}`` is one
edit a test can make.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import loopwright as lw

SOURCE = """
import loopwright as lw

THRESHOLD = {threshold}


def helper(value: int) -> int:
    return value + {offset}


@lw.step
def base(n: int) -> int:
    {base_body}


@lw.step
def shifted(value: int) -> int:
    return helper(value)


@lw.step
def gated(value: int) -> bool:
    return value > THRESHOLD


@lw.pipeline
def flow(n: int = 2):
    value = base(n)
    {wiring}
"""


class EditableFlow:
    """A pipeline module written to ``tmp_path``; :meth:`edit` rewrites it and reloads it, as a user
    editing their code between two runs would."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a stale .pyc must not hide an edit
        monkeypatch.syspath_prepend(str(folder))
        self.name = f"editable_flow_{uuid.uuid4().hex[:8]}"
        self.path = folder / f"{self.name}.py"
        self.values: dict[str, Any] = {
            "threshold": 5,
            "offset": 1,
            "base_body": "return n * 3",
            "wiring": "return shifted(value), gated(value)",
        }
        self.path.write_text(SOURCE.format(**self.values), encoding="utf-8")
        self.module: ModuleType = importlib.import_module(self.name)

    def edit(self, **values: Any) -> None:
        self.values.update(values)
        self.path.write_text(SOURCE.format(**self.values), encoding="utf-8")
        self.module = importlib.reload(self.module)

    def run(self) -> lw.PipelineRun:
        result: lw.PipelineRun = self.module.flow()
        return result
