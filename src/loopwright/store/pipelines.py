"""Pipelines, pipeline runs and step executions in the metadata store.

A pipeline run is a run of kind ``pipeline``; each step execution is a child run of kind ``step``. The
tables here add what only pipelines have: the definition hash and code snapshot of a pipeline run, and the
cache key (with the parts it was made of) of a step execution. Finishing a step writes its outputs, lineage
edges, cache facts and end state in one transaction, so a step is either wholly recorded or still running.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update

from loopwright.errors import NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import RunStatus
from loopwright.store.schema import (
    artifacts,
    events,
    experiments,
    pipeline_runs,
    pipelines,
    runs,
    step_runs,
)

__all__ = ["OutputRef", "PipelineCatalog", "PipelineRunRecord", "PipelineSummary", "StepRecord"]


@dataclass(frozen=True, slots=True)
class OutputRef:
    """One materialised output of a step: where its bytes are and how to read them back."""

    name: str
    digest: str
    size: int
    kind: str
    materializer: str
    media_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    artifact_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "size": self.size,
            "kind": self.kind,
            "materializer": self.materializer,
            "media_type": self.media_type,
            "properties": self.properties,
            "artifact_id": self.artifact_id,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> OutputRef:
        return cls(
            name=value["name"],
            digest=value["digest"],
            size=int(value["size"]),
            kind=value["kind"],
            materializer=value["materializer"],
            media_type=value.get("media_type"),
            properties=dict(value.get("properties") or {}),
            artifact_id=value.get("artifact_id"),
        )


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One execution of a step, as stored."""

    run_id: str
    pipeline_run_id: str
    step: str
    status: str
    cache_status: str
    cache_key: str | None
    key_parts: dict[str, Any]
    source_run_id: str | None
    outputs: list[OutputRef]
    start: datetime
    end: datetime | None
    error: str | None

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class PipelineRunRecord:
    """One run of a pipeline, as stored."""

    run_id: str
    pipeline: str
    name: str
    status: str
    definition_hash: str
    params: dict[str, Any]
    executor: str
    trigger_cause: str | None
    code_artifact_id: str | None
    start: datetime
    end: datetime | None
    error: str | None
    git_commit: str | None


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    """A pipeline known to the workspace, with its latest run."""

    name: str
    ref: str | None
    description: str | None
    definition_hash: str | None
    runs: int
    last_run_id: str | None
    last_status: str | None
    last_start: datetime | None


class PipelineCatalog:
    """Pipelines, pipeline runs and step executions in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._artifact_upsert = store._insert(artifacts).on_conflict_do_nothing(
            index_elements=["kind", "digest"]
        )

    # --- pipelines and their runs --------------------------------------------------------------------

    def record_pipeline_run(
        self,
        run_id: str,
        *,
        pipeline: str,
        ref: str | None,
        description: str | None,
        definition_hash: str,
        code_artifact_id: str | None,
        params: Mapping[str, Any],
        executor: str,
        trigger_cause: str | None,
        inputs: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Upsert the pipeline (its latest reference and definition) and record the run's facts, its code
        snapshot and its dataset ``inputs`` (``(name, artifact id)``) as lineage, in one transaction.
        Returns the run's experiment id (its steps are created in the same experiment)."""
        now = now_ms()
        with self._store._write() as connection:
            connection.execute(
                self._store._insert(pipelines)
                .values(name=pipeline, ref=ref, description=description, created_ms=now, updated_ms=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            connection.execute(
                update(pipelines)
                .where(pipelines.c.name == pipeline)
                .values(ref=ref, description=description, definition_hash=definition_hash, updated_ms=now)
            )
            pipeline_id = connection.execute(
                select(pipelines.c.id).where(pipelines.c.name == pipeline)
            ).scalar_one()
            connection.execute(
                insert(pipeline_runs).values(
                    run_id=run_id,
                    pipeline_id=pipeline_id,
                    definition_hash=definition_hash,
                    code_artifact_id=code_artifact_id,
                    params=dict(params),
                    executor=executor,
                    trigger_cause=trigger_cause,
                )
            )
            edges = [("code", code_artifact_id)] if code_artifact_id is not None else []
            edges += list(inputs)
            if edges:
                connection.execute(
                    _INSERT_EVENT,
                    [
                        {
                            "run_id": run_id,
                            "artifact_id": artifact,
                            "direction": "input",
                            "name": name,
                            "created_ms": now,
                        }
                        for name, artifact in edges
                    ],
                )
            return int(
                connection.execute(select(runs.c.experiment_id).where(runs.c.id == run_id)).scalar_one()
            )

    def list_pipelines(self) -> list[PipelineSummary]:
        """Every pipeline that has run in this workspace, by name, with its latest run."""
        with self._store._read() as connection:
            rows = connection.execute(select(pipelines).order_by(pipelines.c.name)).all()
            summaries = []
            for row in rows:
                latest = connection.execute(
                    select(runs.c.id, runs.c.status, runs.c.start_ms)
                    .join(pipeline_runs, pipeline_runs.c.run_id == runs.c.id)
                    .where(pipeline_runs.c.pipeline_id == row.id)
                    .order_by(runs.c.start_ms.desc(), runs.c.id.desc())
                    .limit(1)
                ).first()
                count = len(
                    connection.execute(
                        select(pipeline_runs.c.run_id).where(pipeline_runs.c.pipeline_id == row.id)
                    ).all()
                )
                summaries.append(
                    PipelineSummary(
                        name=row.name,
                        ref=row.ref,
                        description=row.description,
                        definition_hash=row.definition_hash,
                        runs=count,
                        last_run_id=None if latest is None else latest.id,
                        last_status=None if latest is None else latest.status,
                        last_start=None if latest is None else _time(latest.start_ms),
                    )
                )
            return summaries

    def pipeline_runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRunRecord]:
        """Pipeline runs, newest first; only ``pipeline``'s when given."""
        statement = self._run_query().order_by(runs.c.start_ms.desc(), runs.c.id.desc()).limit(limit)
        if pipeline is not None:
            statement = statement.where(pipelines.c.name == pipeline)
        with self._store._read() as connection:
            return [_pipeline_run(row) for row in connection.execute(statement)]

    def get_pipeline_run(self, run_id: str) -> PipelineRunRecord:
        """One pipeline run; :class:`NotFoundError` if ``run_id`` is not a pipeline run."""
        with self._store._read() as connection:
            row = connection.execute(self._run_query().where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(
                f"Run {run_id!r} is not a pipeline run. List them with `loopwright pipelines runs`.",
                kind="pipeline_run",
                key=run_id,
            )
        return _pipeline_run(row)

    @staticmethod
    def _run_query() -> Any:
        return (
            select(
                pipeline_runs,
                pipelines.c.name.label("pipeline"),
                runs.c.name.label("run_name"),
                runs.c.status,
                runs.c.start_ms,
                runs.c.end_ms,
                runs.c.error,
                runs.c.git_commit,
            )
            .join(runs, runs.c.id == pipeline_runs.c.run_id)
            .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
        )

    # --- steps ---------------------------------------------------------------------------------------

    def start_step(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int,
        step: str,
        system: Mapping[str, Any],
    ) -> None:
        """Insert the running step run (metrics the step logs need it to exist)."""
        row = _run_row(
            run_id, experiment_id, pipeline_run_id, step, RunStatus.RUNNING, now_ms(), None, system
        )
        with self._store._write() as connection:
            connection.execute(_INSERT_RUN, [row])

    def finish_step(
        self,
        *,
        run_id: str,
        pipeline_run_id: str,
        experiment_id: int | None,
        step: str,
        status: RunStatus,
        cache_status: str,
        cache_key: str | None,
        key_parts: Mapping[str, Any],
        inputs: Sequence[tuple[str, str]],
        outputs: Sequence[OutputRef],
        source_run_id: str | None = None,
        error: str | None = None,
        system: Mapping[str, Any] | None = None,
    ) -> list[OutputRef]:
        """Record a step's end in one transaction: its output artifacts and lineage edges (``inputs`` are
        ``(name, artifact id)``), cache facts and status. With ``experiment_id`` the run row is created
        here too (a cache hit, which never runs). Returns ``outputs`` with their artifact ids."""
        now = now_ms()
        recorded: list[OutputRef] = []
        # Prebuilt statements with bound parameters: SQLAlchemy compiles each once, which keeps a step's
        # bookkeeping to a millisecond or two (building statements with .values() costs more than the I/O).
        with self._store._write() as connection:
            if experiment_id is not None:
                row = _run_row(run_id, experiment_id, pipeline_run_id, step, status, now, error, system or {})
                connection.execute(_INSERT_RUN, [{**row, "end_ms": now}])
            else:
                connection.execute(
                    _END_RUN, {"target": run_id, "status": status.value, "end_ms": now, "error": error}
                )
            for output in outputs:
                artifact_id = output.artifact_id
                if artifact_id is None:
                    connection.execute(
                        self._artifact_upsert,
                        {
                            "id": uuid.uuid4().hex,
                            "kind": output.kind,
                            "digest": output.digest,
                            "size": output.size,
                            "media_type": output.media_type,
                            "created_ms": now,
                            "properties": dict(output.properties),
                        },
                    )
                    artifact_id = connection.execute(
                        _ARTIFACT_ID, {"kind": output.kind, "digest": output.digest}
                    ).scalar_one()
                recorded.append(
                    OutputRef(
                        name=output.name,
                        digest=output.digest,
                        size=output.size,
                        kind=output.kind,
                        materializer=output.materializer,
                        media_type=output.media_type,
                        properties=output.properties,
                        artifact_id=artifact_id,
                    )
                )
            edges = [
                {"run_id": run_id, "artifact_id": artifact_id, "direction": "input", "name": name}
                for name, artifact_id in inputs
            ] + [
                {"run_id": run_id, "artifact_id": ref.artifact_id, "direction": "output", "name": ref.name}
                for ref in recorded
            ]
            if edges:
                connection.execute(_INSERT_EVENT, [{**edge, "created_ms": now} for edge in edges])
            connection.execute(
                _INSERT_STEP,
                [
                    {
                        "run_id": run_id,
                        "pipeline_run_id": pipeline_run_id,
                        "step": step,
                        "cache_key": cache_key,
                        "key_parts": dict(key_parts),
                        "cache_status": cache_status,
                        "source_run_id": source_run_id,
                        "outputs": [ref.to_dict() for ref in recorded],
                        "created_ms": now,
                    }
                ],
            )
        return recorded

    def find_cached(self, cache_key: str, *, not_before_ms: int | None = None) -> StepRecord | None:
        """The newest finished execution that produced outputs under ``cache_key`` (one that ran, not a
        hit pointing elsewhere), or ``None``. Executions whose key left out an unhashable input carry no
        ``cache_key``, so they never answer."""
        with self._store._read() as connection:
            row = connection.execute(
                _FIND_CACHED,
                {"key": cache_key, "not_before": -(2**62) if not_before_ms is None else not_before_ms},
            ).first()
        return None if row is None else _step(row)

    def steps(self, pipeline_run_id: str) -> list[StepRecord]:
        """The step executions of a pipeline run, in the order they started."""
        statement = (
            self._step_query()
            .where(step_runs.c.pipeline_run_id == pipeline_run_id)
            .order_by(runs.c.start_ms, step_runs.c.created_ms)
        )
        with self._store._read() as connection:
            return [_step(row) for row in connection.execute(statement)]

    def previous_step(
        self, pipeline: str, step: str, *, before_ms: int, exclude_run: str
    ) -> StepRecord | None:
        """The latest execution of ``step`` in an earlier run of ``pipeline`` (what ``explain`` compares
        against)."""
        statement = (
            self._step_query()
            .join(pipeline_runs, pipeline_runs.c.run_id == step_runs.c.pipeline_run_id)
            .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
            .where(
                pipelines.c.name == pipeline,
                step_runs.c.step == step,
                step_runs.c.created_ms <= before_ms,
                step_runs.c.run_id != exclude_run,
                step_runs.c.pipeline_run_id != exclude_run,
            )
            .order_by(step_runs.c.created_ms.desc())
            .limit(1)
        )
        with self._store._read() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _step(row)

    def experiment_id(self, run_id: str) -> int:
        """The experiment of a run (its steps are created in the same one)."""
        with self._store._read() as connection:
            found = connection.execute(
                select(experiments.c.id)
                .join(runs, runs.c.experiment_id == experiments.c.id)
                .where(runs.c.id == run_id)
            ).scalar()
        if found is None:
            raise NotFoundError(f"Run {run_id!r} does not exist.", kind="run", key=run_id)
        return int(found)

    @staticmethod
    def _step_query() -> Any:
        return select(step_runs, runs.c.status, runs.c.start_ms, runs.c.end_ms, runs.c.error).join(
            runs, runs.c.id == step_runs.c.run_id
        )


_RUN_SYSTEM_COLUMNS = ("user", "host", "pid", "source", "git_commit", "git_dirty", "python_version")
_INSERT_RUN = insert(runs)
_END_RUN = (
    update(runs)
    .where(runs.c.id == bindparam("target"))
    .values(status=bindparam("status"), end_ms=bindparam("end_ms"), error=bindparam("error"))
)
_ARTIFACT_ID = select(artifacts.c.id).where(
    artifacts.c.kind == bindparam("kind"), artifacts.c.digest == bindparam("digest")
)
_INSERT_EVENT = insert(events)
_INSERT_STEP = insert(step_runs)
_FIND_CACHED = (
    select(step_runs, runs.c.status, runs.c.start_ms, runs.c.end_ms, runs.c.error)
    .join(runs, runs.c.id == step_runs.c.run_id)
    .where(
        step_runs.c.cache_key == bindparam("key"),
        step_runs.c.cache_status != "hit",  # a hit points at another execution's outputs
        runs.c.status == RunStatus.FINISHED.value,
        runs.c.end_ms >= bindparam("not_before"),
    )
    .order_by(runs.c.end_ms.desc())
    .limit(1)
)


def _run_row(
    run_id: str,
    experiment_id: int,
    parent_id: str,
    name: str,
    status: RunStatus,
    start_ms: int,
    error: str | None,
    system: Mapping[str, Any],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": run_id,
        "experiment_id": experiment_id,
        "parent_id": parent_id,
        "name": name,
        "kind": "step",
        "status": status.value,
        "start_ms": start_ms,
        "end_ms": None,
        "error": error,
        "environment": None,
    }
    row.update({column: system.get(column) for column in _RUN_SYSTEM_COLUMNS})
    return row


def _step(row: Row[Any]) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        pipeline_run_id=row.pipeline_run_id,
        step=row.step,
        status=row.status,
        cache_status=row.cache_status,
        cache_key=row.cache_key,
        key_parts=dict(row.key_parts or {}),
        source_run_id=row.source_run_id,
        outputs=[OutputRef.from_dict(value) for value in row.outputs or []],
        start=_time(row.start_ms),
        end=None if row.end_ms is None else _time(row.end_ms),
        error=row.error,
    )


def _pipeline_run(row: Row[Any]) -> PipelineRunRecord:
    return PipelineRunRecord(
        run_id=row.run_id,
        pipeline=row.pipeline,
        name=row.run_name,
        status=row.status,
        definition_hash=row.definition_hash,
        params=dict(row.params or {}),
        executor=row.executor,
        trigger_cause=row.trigger_cause,
        code_artifact_id=row.code_artifact_id,
        start=_time(row.start_ms),
        end=None if row.end_ms is None else _time(row.end_ms),
        error=row.error,
        git_commit=row.git_commit,
    )


def _time(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
