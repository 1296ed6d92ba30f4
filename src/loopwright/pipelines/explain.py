"""Why a step hit or missed the cache: the parts of its key compared with the execution before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.errors import NotFoundError
from loopwright.store.pipelines import PipelineCatalog, StepRecord

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The cache outcome of one step execution and the reasons for it, one sentence each."""

    pipeline_run_id: str
    step: str
    cache_status: str
    reasons: list[str] = field(default_factory=list)
    compared_with: str | None = None

    def __str__(self) -> str:
        lines = [f"step {self.step!r} of pipeline run {self.pipeline_run_id}: cache {self.cache_status}"]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)


def explain(client: Client, run: Any, step: str) -> Explanation:
    """Why ``step`` of pipeline run ``run`` (an id, a prefix or a :class:`PipelineRun`) hit or missed."""
    run_id = client.resolve_run_id(getattr(run, "run_id", run))
    catalog = PipelineCatalog(client.store)
    pipeline_run = catalog.get_pipeline_run(run_id)
    records = catalog.steps(run_id)
    record = next((item for item in records if item.step == step), None)
    if record is None:
        raise NotFoundError(
            f"Pipeline run {run_id} has no step {step!r}. Its steps: "
            f"{', '.join(item.step for item in records) or 'none recorded'}.",
            kind="step",
            key=step,
        )
    parts = record.key_parts
    if record.cache_status == "hit":
        return Explanation(
            run_id,
            step,
            "hit",
            [f"same key as run {record.source_run_id}, whose outputs were reused (nothing ran)"],
            record.source_run_id,
        )
    if record.cache_status == "disabled":
        return Explanation(run_id, step, "disabled", [str(parts.get("reason") or "the cache was disabled")])
    previous = catalog.previous_step(pipeline_run.pipeline, step, before_ms=_ms(record), exclude_run=run_id)
    reasons = _differences(previous, parts) if previous is not None else []
    if previous is None:
        reasons.append(f"first execution of step {step!r} in pipeline {pipeline_run.pipeline!r}")
    elif not reasons:
        reasons.append(
            str(parts.get("reason") or "")
            or (
                f"the key equals that of run {previous.run_id}, but that execution "
                f"{'failed' if previous.status == 'failed' else 'did not leave a reusable result'}"
            )
        )
    elif parts.get("reason"):
        reasons.append(str(parts["reason"]))
    if record.status == "failed":
        reasons.append("this execution failed, so it is not reused")
    return Explanation(run_id, step, "miss", reasons, None if previous is None else previous.run_id)


def _differences(previous: StepRecord, parts: dict[str, Any]) -> list[str]:
    before = previous.key_parts
    reasons: list[str] = []
    if before.get("code") != parts.get("code"):
        reasons.append("the step's code changed (or code or constants it uses)")
    old_params, new_params = before.get("params", {}), parts.get("params", {})
    old_shown, new_shown = before.get("param_values", {}), parts.get("param_values", {})
    for name in sorted(set(old_params) | set(new_params)):
        if name not in old_params:
            reasons.append(f"parameter {name!r} is new: {new_shown.get(name, '?')}")
        elif name not in new_params:
            reasons.append(f"parameter {name!r} is no longer passed (was {old_shown.get(name, '?')})")
        elif old_params[name] != new_params[name]:
            reasons.append(
                f"parameter {name!r} changed: {old_shown.get(name, '?')} → {new_shown.get(name, '?')}"
            )
    old_inputs, new_inputs = before.get("inputs", {}), parts.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            if name not in old_inputs:
                reasons.append(f"input {name!r} is new")
            elif name not in new_inputs:
                reasons.append(f"input {name!r} is no longer passed")
            else:
                kind = "dataset" if str(new_inputs[name]).startswith("dataset:") else "content"
                reasons.append(
                    f"input {name!r} changed ({kind} {_tail(old_inputs[name])} → {_tail(new_inputs[name])})"
                )
    if before.get("materializer") != parts.get("materializer"):
        reasons.append(
            f"the materializer version changed: {before.get('materializer')} → {parts.get('materializer')}"
        )
    return reasons


def _tail(digest: Any) -> str:
    return str(digest).removeprefix("dataset:")[:12]


def _ms(record: StepRecord) -> int:
    return int(record.start.timestamp() * 1000) + 1
