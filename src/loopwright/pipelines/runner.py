"""Running a pipeline: trace, resolve data, check the cache, execute what is left, record it all.

The order of work in :func:`run_pipeline` is what makes failures cheap: the parameters are checked and the
graph is traced and type-checked, and dataset inputs are resolved, before any run is recorded. Then each
step whose inputs are ready is either answered from the cache (a finished earlier execution with the same
key whose outputs still exist) or handed to the executor. A failed step stops the run; running it again
reuses every step that finished.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import uuid
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright._context import default_client
from loopwright.errors import InvalidInputError, NotFoundError, StepFailedError
from loopwright.pipelines.executors import (
    DataInput,
    OutputInput,
    StepResult,
    StepTask,
    check_importable,
    make_executor,
)
from loopwright.pipelines.graph import DataRef, Graph, StepCall, StepOutput
from loopwright.pipelines.hashing import Unhashable, digest_of, value_digest
from loopwright.pipelines.materializers import MATERIALIZER_VERSION, load_output
from loopwright.pipelines.pipeline import (
    Pipeline,
    check_executor,
    coerce_params,
    jsonable_params,
    load_pipeline,
    referenced_sources,
)
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.pipelines import OutputRef, PipelineCatalog, StepRecord
from loopwright.store.records import RunStatus
from loopwright.tracking.system import system_info

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["CacheDisabledWarning", "PipelineRun", "StepExecution", "run_pipeline"]

_REPR_LIMIT = 120  # characters of a parameter value kept for `explain`


class CacheDisabledWarning(UserWarning):
    """A step runs without its cache because one of its inputs has no stable content hash."""


@dataclass(frozen=True, slots=True)
class StepExecution:
    """One step of a finished pipeline run: how it went and where its outputs are."""

    name: str
    run_id: str
    status: str
    cache_status: str
    source_run_id: str | None
    duration_s: float | None
    outputs: list[OutputRef]
    error: str | None = None

    @classmethod
    def from_record(cls, record: StepRecord) -> StepExecution:
        return cls(
            name=record.step,
            run_id=record.run_id,
            status=record.status,
            cache_status=record.cache_status,
            source_run_id=record.source_run_id,
            duration_s=record.duration_s,
            outputs=record.outputs,
            error=record.error,
        )


@dataclass
class PipelineRun:
    """The result of running a pipeline: its run id, status, steps and (loaded on first use) output."""

    run_id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    steps: list[StepExecution]
    _client: Client = field(repr=False)
    _graph: Graph = field(repr=False)
    _refs: dict[tuple[str, int | None], OutputRef] = field(repr=False, default_factory=dict)
    _memory: dict[str, Any] = field(repr=False, default_factory=dict)

    def step(self, name: str) -> StepExecution:
        """The execution of the step called ``name`` in this run."""
        for execution in self.steps:
            if execution.name == name:
                return execution
        raise NotFoundError(
            f"Pipeline run {self.run_id} has no step {name!r}. Its steps: "
            f"{', '.join(execution.name for execution in self.steps)}.",
            kind="step",
            key=name,
        )

    @property
    def output(self) -> Any:
        """What the pipeline body returned, with step outputs replaced by their values."""
        return self._resolve(self._graph.output)

    def output_of(self, step: str) -> Any:
        """The value step ``step`` returned (a tuple for a step with several outputs)."""
        call = next((call for call in self._graph.calls if call.name == step), None)
        if call is None:
            self.step(step)  # raises NotFoundError naming the steps
            raise AssertionError  # pragma: no cover
        if call.step.output_types is None:
            return self._resolve(StepOutput(call))
        return tuple(self._resolve(StepOutput(call, index)) for index in range(call.output_count))

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, StepOutput):
            if value.index is None and value.call.step.output_types is not None:
                return tuple(self._resolve(item) for item in value)
            ref = self._refs[(value.call.name, value.index)]
            if ref.digest not in self._memory:
                cache = self._client.settings.workspace.expanduser().absolute() / "cache"
                self._memory[ref.digest] = load_output(ref, self._client.artifacts, cache)
            return self._memory[ref.digest]
        if isinstance(value, list | tuple):
            return type(value)(self._resolve(item) for item in value)
        if isinstance(value, dict):
            return {key: self._resolve(item) for key, item in value.items()}
        return value


def run_pipeline(
    target: Pipeline | str,
    params: Mapping[str, Any] | None = None,
    *,
    client: Client | None = None,
    executor: str | None = None,
    max_workers: int | None = None,
    cache: bool = True,
    trigger_cause: str | None = None,
    run_name: str | None = None,
) -> PipelineRun:
    """Run a pipeline (an object, or a ``module:attribute`` reference) with ``params``.

    Raises :class:`~loopwright.errors.PipelineDefinitionError` before anything is recorded when the
    parameters or the graph are wrong, and :class:`~loopwright.errors.StepFailedError` when a step fails
    (the pipeline run is then recorded as failed; running again resumes from the cached steps).
    ``cache=False`` runs every step, and records the results for later runs.
    """
    pipeline = load_pipeline(target) if isinstance(target, str) else target
    client = client or default_client()
    executor_name = check_executor(
        executor or pipeline.executor, max_workers or pipeline.max_workers, where=f"run of {pipeline.name!r}"
    )
    values = coerce_params(pipeline, params or {})
    graph = pipeline.trace(values)
    if executor_name == "process":
        check_importable((call.step for call in graph.calls), f"pipeline {pipeline.name!r}")
    datasets = _resolve_data(client, graph, values)
    _sync_triggers(client, pipeline)
    runner = _Runner(client, pipeline, graph, values, datasets, cache=cache)
    return runner.run(executor_name, max_workers or pipeline.max_workers, trigger_cause, run_name)


def _sync_triggers(client: Client, pipeline: Pipeline) -> None:
    """Keep the workspace's code triggers in step with the pipeline's ``schedule=`` / ``on=`` (one read
    when nothing changed). A pipeline that cannot be imported by a scheduler still runs, with a warning."""
    from loopwright.pipelines.triggers import sync_pipeline_triggers

    try:
        sync_pipeline_triggers(client, pipeline)
    except InvalidInputError as error:
        warnings.warn(f"The triggers of pipeline {pipeline.name!r} are not registered: {error}", stacklevel=3)


def _resolve_data(client: Client, graph: Graph, params: dict[str, Any]) -> dict[DataRef, Any]:
    """Every dataset named in the graph or the parameters, resolved to a version now."""
    found: dict[DataRef, Any] = {}

    def visit(value: Any) -> None:
        if isinstance(value, DataRef) and value not in found:
            found[value] = client.datasets.get(value.name, value.version)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for value in params.values():
        visit(value)
    for call in graph.calls:
        for value in call.arguments.values():
            visit(value)
    return found


class _Runner:
    def __init__(
        self,
        client: Client,
        pipeline: Pipeline,
        graph: Graph,
        params: dict[str, Any],
        datasets: dict[DataRef, Any],
        *,
        cache: bool,
    ) -> None:
        self.client = client
        self.pipeline = pipeline
        self.graph = graph
        self.params = params
        self.datasets = datasets
        self.cache = cache
        self.catalog = PipelineCatalog(client.store)
        self.refs: dict[tuple[str, int | None], OutputRef] = {}
        self.memory: dict[str, Any] = {}
        self.system = system_info(user=client.settings.user, capture_git=client.settings.tracking.capture_git)

    def run(
        self, executor_name: str, max_workers: int | None, trigger_cause: str | None, run_name: str | None
    ) -> PipelineRun:
        pipeline, client = self.pipeline, self.client
        definition_hash = pipeline.definition_hash(self.graph)
        snapshot = self._code_snapshot()
        run = client.tracker.start_run(
            pipeline.name,
            run_name or f"{pipeline.name}-{uuid.uuid4().hex[:6]}",
            params={name: _short(value) for name, value in jsonable_params(self.params).items()},
            kind="pipeline",
        )
        self.run_id, self.experiment = run.id, run.experiment
        try:
            self.experiment_id = self.catalog.record_pipeline_run(
                run.id,
                pipeline=pipeline.name,
                ref=pipeline.ref,
                description=pipeline.description,
                definition_hash=definition_hash,
                code_artifact_id=snapshot,
                params=jsonable_params(self.params),
                executor=executor_name,
                trigger_cause=trigger_cause,
                inputs=[version.lineage_ref()[::-1] for version in self.datasets.values()],
            )
            modules = {call.step.function.__module__ for call in self.graph.calls}
            with make_executor(executor_name, client, max_workers, modules=modules) as executor:
                failure = self._execute(executor)
        except BaseException as error:
            run.end(
                RunStatus.KILLED if isinstance(error, KeyboardInterrupt | SystemExit) else RunStatus.FAILED,
                error=repr(error),
            )
            raise
        steps = [StepExecution.from_record(record) for record in self.catalog.steps(run.id)]
        if failure is not None:
            call, result = failure
            run.end(RunStatus.FAILED, error=f"step {call.name!r} failed:\n{result.error}")
            raise StepFailedError(
                f"Step {call.name!r} of pipeline {pipeline.name!r} failed (pipeline run {run.id}): "
                f"{_last_line(result.error)}. Fix it and run the pipeline again: the steps that finished "
                "are reused from the cache.",
                run_id=run.id,
                step=call.name,
            ) from result.exception
        run.end(RunStatus.FINISHED)
        return PipelineRun(
            run_id=run.id,
            pipeline=pipeline.name,
            status=RunStatus.FINISHED.value,
            params=jsonable_params(self.params),
            steps=steps,
            _client=client,
            _graph=self.graph,
            _refs=self.refs,
            _memory=self.memory,
        )

    # --- scheduling ------------------------------------------------------------------------------------

    def _execute(self, executor: Any) -> tuple[StepCall, StepResult] | None:
        pending = list(self.graph.calls)
        done: set[str] = set()
        running: dict[concurrent.futures.Future[StepResult], tuple[StepCall, str, dict[str, Any]]] = {}
        failure: tuple[StepCall, StepResult] | None = None
        while pending or running:
            if failure is None:
                for call in [call for call in pending if all(up.name in done for up in call.upstream)]:
                    pending.remove(call)
                    submitted = self._start(call, executor)
                    if submitted is None:
                        done.add(call.name)
                    else:
                        running[submitted[0]] = (call, submitted[1], submitted[2])
            elif not running:
                break
            if not running:
                continue
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                call, run_id, key = running.pop(future)
                result = future.result()
                self._finish(call, run_id, key, result)
                if result.error is None:
                    done.add(call.name)
                elif failure is None:
                    failure = (call, result)
        return failure

    def _start(
        self, call: StepCall, executor: Any
    ) -> tuple[concurrent.futures.Future[StepResult], str, dict[str, Any]] | None:
        """Answer ``call`` from the cache (returns ``None``) or submit it (returns its future)."""
        key = self._cache_key(call)
        inputs = self._input_edges(call)
        if key["status"] == "enabled":
            hit = self._lookup(call, key)
            if hit is not None:
                recorded = self.catalog.finish_step(
                    run_id=uuid.uuid4().hex,
                    pipeline_run_id=self.run_id,
                    experiment_id=self.experiment_id,
                    step=call.name,
                    status=RunStatus.FINISHED,
                    cache_status="hit",
                    cache_key=key["key"],
                    key_parts=key["record"],
                    inputs=inputs,
                    outputs=hit.outputs,
                    source_run_id=hit.run_id,
                    system=self.system,
                )
                self._remember(call, recorded, None)
                return None
        run_id = uuid.uuid4().hex
        self.catalog.start_step(
            run_id=run_id,
            pipeline_run_id=self.run_id,
            experiment_id=self.experiment_id,
            step=call.name,
            system=self.system,
        )
        task = StepTask(
            step=call.step,
            call_name=call.name,
            run_id=run_id,
            experiment=self.experiment,
            arguments={
                name: self._task_argument(call, name, value) for name, value in call.arguments.items()
            },
            settings=self.client.settings,
            memory=self.memory if executor.name == "inline" else {},
        )
        return executor.submit(task), run_id, key

    def _finish(self, call: StepCall, run_id: str, key: dict[str, Any], result: StepResult) -> None:
        failed = result.error is not None
        recorded = self.catalog.finish_step(
            run_id=run_id,
            pipeline_run_id=self.run_id,
            experiment_id=None,
            step=call.name,
            status=RunStatus.FAILED if failed else RunStatus.FINISHED,
            cache_status="miss" if key["status"] == "enabled" else key["status"],
            cache_key=None if failed or not key["complete"] else key["key"],
            key_parts=key["record"],
            inputs=self._input_edges(call),
            outputs=result.outputs,
            error=result.error,
        )
        if not failed:
            self._remember(call, recorded, result.values)

    def _remember(self, call: StepCall, refs: list[OutputRef], values: list[Any] | None) -> None:
        for position, ref in enumerate(refs):
            index = None if call.step.output_types is None else position
            self.refs[(call.name, index)] = ref
            if values is not None:
                self.memory[ref.digest] = values[position]

    # --- cache -----------------------------------------------------------------------------------------

    def _cache_key(self, call: StepCall) -> dict[str, Any]:
        """The key's parts (what `explain` compares), the key, and whether the cache applies."""
        settings = call.step.cache_settings
        params: dict[str, str] = {}
        shown: dict[str, str] = {}
        inputs: dict[str, str] = {}
        status, reason = "enabled", None
        complete = True  # every input hashed: the result may answer later runs, even if this one ran anyway
        for name, value in sorted(call.arguments.items()):
            if name in settings.ignore:
                continue
            try:
                digest = self._argument_digest(value, inputs, name)
            except Unhashable as error:
                status, complete = "disabled", False
                reason = f"input {name!r} has no stable content hash ({error})"
                # Shown at the step call in the pipeline body (the user's line), and on every run.
                filename, _, line = call.location.rpartition(":")
                warnings.warn_explicit(
                    f"Step {call.name!r} of pipeline {self.pipeline.name!r} runs without its cache: "
                    "its input "
                    f"{name!r} is {error}, which has no stable content hash. Pass data as a step output, a "
                    f"dataset version or a JSON-able value, or add {name!r} to the step's ignore=[...].",
                    CacheDisabledWarning,
                    filename or call.location,
                    int(line) if line.isdigit() else 0,
                )
                continue
            if digest is not None:
                params[name] = digest
                shown[name] = _short(value)
        if not settings.enabled or not self.cache:
            status = "disabled"
            reason = (
                "cache=False on the step" if not settings.enabled else "the run was started with cache=False"
            )
        parts = {
            "code": call.step.code_hash,
            "params": params,
            "inputs": inputs,
            "materializer": MATERIALIZER_VERSION,
        }
        key = digest_of(json.dumps(parts, sort_keys=True))
        record = {**parts, "param_values": shown, "reason": reason}
        return {"key": key, "status": status, "record": record, "complete": complete}

    def _argument_digest(self, value: Any, inputs: dict[str, str], name: str) -> str | None:
        """The digest of a parameter value (``None`` for step outputs and datasets, which go to
        ``inputs``: their content hashes)."""
        if isinstance(value, StepOutput):
            inputs[name] = self._output_ref(value).digest
            return None
        if isinstance(value, DataRef):
            inputs[name] = "dataset:" + self.datasets[value].content_hash
            return None
        if hasattr(value, "lineage_ref") and hasattr(value, "content_hash"):
            inputs[name] = "dataset:" + value.content_hash
            return None
        if isinstance(value, list | tuple | dict) and _contains_placeholder(value):
            inputs[name] = digest_of(json.dumps(self._structure(value), sort_keys=True))
            return None
        return value_digest(value)

    def _structure(self, value: Any) -> Any:
        if isinstance(value, StepOutput):
            return self._output_ref(value).digest
        if isinstance(value, DataRef):
            return "dataset:" + self.datasets[value].content_hash
        if isinstance(value, list | tuple):
            return [self._structure(item) for item in value]
        if isinstance(value, dict):
            return {str(key): self._structure(item) for key, item in value.items()}
        return value_digest(value)

    def _lookup(self, call: StepCall, key: dict[str, Any]) -> StepRecord | None:
        expire = call.step.cache_settings.expire_s
        not_before = None if expire is None else now_ms() - int(expire * 1000)
        hit = self.catalog.find_cached(key["key"], not_before_ms=not_before)
        if hit is None:
            if expire is not None and self.catalog.find_cached(key["key"]) is not None:
                key["record"]["reason"] = f"the cached result is older than expire={expire:g} s"
            return None
        missing = [ref.name for ref in hit.outputs if not self.client.artifacts.exists(ref.digest)]
        if missing:
            key["record"]["reason"] = (
                f"the cached output {', '.join(map(repr, missing))} of run {hit.run_id} is missing from the "
                "artifact store"
            )
            return None
        return hit

    # --- inputs ----------------------------------------------------------------------------------------

    def _output_ref(self, output: StepOutput) -> OutputRef:
        index = output.index if output.call.step.output_types is not None else None
        return self.refs[(output.call.name, index)]

    def _task_argument(self, call: StepCall, name: str, value: Any) -> Any:
        if isinstance(value, StepOutput):
            if value.index is None and value.call.step.output_types is not None:
                return tuple(self._task_argument(call, name, item) for item in value)
            annotation = call.step.hints.get(name)
            wants_loaded = getattr(annotation, "__name__", "") == "LoadedModel"
            return OutputInput(self._output_ref(value), wants_loaded)
        if isinstance(value, DataRef):
            version = self.datasets[value]
            return DataInput(version.name, version.version)
        if hasattr(value, "lineage_ref") and hasattr(value, "content_hash"):
            return DataInput(value.name, value.version)
        if isinstance(value, list):
            return [self._task_argument(call, name, item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._task_argument(call, name, item) for item in value)
        if isinstance(value, dict):
            return {key: self._task_argument(call, name, item) for key, item in value.items()}
        return value

    def _input_edges(self, call: StepCall) -> list[tuple[str, str]]:
        """``(name, artifact id)`` lineage edges of the step's inputs."""
        edges: list[tuple[str, str]] = []

        def visit(label: str, value: Any) -> None:
            if isinstance(value, StepOutput):
                if value.index is None and value.call.step.output_types is not None:
                    for position, item in enumerate(value):
                        visit(f"{label}.{position}", item)
                    return
                ref = self._output_ref(value)
                if ref.artifact_id is not None:
                    edges.append((label, ref.artifact_id))
            elif isinstance(value, DataRef):
                edges.append((label, self.datasets[value].lineage_ref()[0]))
            elif hasattr(value, "lineage_ref") and hasattr(value, "content_hash"):
                edges.append((label, value.lineage_ref()[0]))
            elif isinstance(value, list | tuple):
                for position, item in enumerate(value):
                    visit(f"{label}.{position}", item)
            elif isinstance(value, dict):
                for item_key, item in value.items():
                    visit(f"{label}.{item_key}", item)

        for name, value in call.arguments.items():
            visit(name, value)
        return edges

    def _code_snapshot(self) -> str | None:
        functions = [self.pipeline.function] + [call.step.function for call in self.graph.calls]
        sources = referenced_sources(functions)
        if not sources:
            return None
        data = json.dumps(sources, sort_keys=True, indent=1).encode("utf-8")
        # The same code is stored once; remembered per store so a re-run does not write or look it up again.
        # Keyed by the store object itself (weakly), not id(): a later store may reuse a freed store's id.
        digest = hashlib.sha256(data).hexdigest()
        remembered = _snapshots.setdefault(self.client.store, {})
        if digest in remembered and self.client.artifacts.exists(digest):
            return remembered[digest]
        blob = self.client.artifacts.put_bytes(data)
        record = self.client.store.record_artifact(
            "file", blob.digest, blob.size, media_type="application/json", properties={"code_snapshot": True}
        )
        remembered[digest] = record.id
        return record.id


_snapshots: weakref.WeakKeyDictionary[MetadataStore, dict[str, str]] = weakref.WeakKeyDictionary()


def _contains_placeholder(value: Any) -> bool:
    if isinstance(value, StepOutput | DataRef):
        return True
    if isinstance(value, list | tuple):
        return any(_contains_placeholder(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_placeholder(item) for item in value.values())
    return hasattr(value, "lineage_ref") and hasattr(value, "content_hash")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 1] + "…"


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    # Without its final period: the message that quotes it goes on after it.
    return lines[-1].strip().rstrip(".") if lines else "unknown error"


def code_snapshot(client: Client, artifact_id: str) -> dict[str, str]:
    """The source files stored with a pipeline run (``{file: source}``)."""
    record = client.store.get_artifact(artifact_id)
    data = client.artifacts.get_bytes(record.digest, name="code snapshot")
    value = json.loads(data)
    return {str(key): str(text) for key, text in value.items()}
