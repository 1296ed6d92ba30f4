"""The steps of a pipeline run as a tree: status, duration and cache outcome, then outputs or the error.

``pipelines run`` prints it after a run and ``pipelines show`` for a stored one, so both read alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from rich.tree import Tree

from loopwright.cli._render import format_duration, format_size, short_id, status_text
from loopwright.store.records import RunStatus

if TYPE_CHECKING:
    from loopwright.pipelines.runner import StepExecution

__all__ = ["last_line", "step_tree"]

_STATUS_WIDTH = 8
_STATUS_ICONS = {
    RunStatus.RUNNING: ("…", "cyan"),
    RunStatus.FINISHED: ("✓", "green"),
    RunStatus.FAILED: ("✗", "bold red"),
    RunStatus.KILLED: ("✗", "yellow"),
}


def step_tree(pipeline: str, steps: Sequence[StepExecution]) -> Tree:
    """The steps of a run under the pipeline's name, in the order they started: status, duration and
    cache outcome, then each step's outputs (name, kind, materializer, size) or its error's last line."""
    tree = Tree(Text(pipeline, style="bold"), guide_style="dim")
    width = max((len(step.name) for step in steps), default=0)
    outputs = [output for step in steps for output in step.outputs]
    name_width = max((len(output.name) for output in outputs), default=0)
    kind_width = max((len(output.kind) for output in outputs), default=0)
    materializer_width = max((len(output.materializer) for output in outputs), default=0)
    for step in steps:
        status = RunStatus(step.status)
        icon, style = _STATUS_ICONS.get(status, ("?", ""))
        label = Text.assemble((icon, style), " ", (step.name.ljust(width), "bold"), "  ")
        status_cell = status_text(status)
        status_cell.align("left", _STATUS_WIDTH)
        label.append_text(status_cell)
        label.append(f"  {format_duration(step.duration_s):>7}  ")
        label.append_text(_cache_text(step))
        node = tree.add(label)
        for output in step.outputs:
            node.add(
                Text.assemble(
                    output.name.ljust(name_width),
                    "  ",
                    (output.kind.ljust(kind_width), "dim"),
                    "  ",
                    (output.materializer.ljust(materializer_width), "dim"),
                    "  ",
                    f"{format_size(output.size):>9}",
                )
            )
        if status is RunStatus.FAILED and step.error:
            node.add(Text(last_line(step.error), style="red"))
    return tree


def _cache_text(step: StepExecution) -> Text:
    if step.cache_status == "hit":
        source = short_id(step.source_run_id) if step.source_run_id else "an earlier run"
        return Text.assemble(("cached from ", "green"), (source, "cyan"))
    if step.cache_status == "disabled":
        return Text("cache off", style="yellow")
    return Text("cache miss", style="dim")


def last_line(text: str) -> str:
    """The last non-blank line of an error (the exception's type and message, after its traceback)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
