"""The Python SDK: one :class:`Client` per workspace, and module-level helpers over a default client.

Most users never build a client; ``import loopwright as lw`` and the helpers use the workspace that the
``LOOPWRIGHT_*`` settings describe (``./.loopwright`` by default)::

    import loopwright as lw

    with lw.start_run(experiment="churn", name="lr-0.1") as run:
        run.log_params({"model": "lr", "C": 0.1})
        for epoch in range(10):
            run.log_metric("loss", 1 / (epoch + 1))

    best = lw.search_runs("churn", order_by=["metrics.loss asc"], max_results=1)

To point at another workspace, build settings and connect: ``lw.connect(lw.Settings(workspace="/data/ws"))``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from loopwright._context import scoped_client, set_default_client_provider
from loopwright.errors import InvalidInputError, NotFoundError, RunStateError
from loopwright.settings import Settings
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import RUN_COLUMNS, Experiment, Metric, RunArtifact, RunRecord
from loopwright.tracking.run import Run
from loopwright.tracking.tracker import Tracker

if TYPE_CHECKING:
    from datetime import date, datetime

    import pandas as pd

    from loopwright.automation.controller import PromotionController
    from loopwright.automation.plan import RolloutPlan
    from loopwright.automation.retraining import Retrainer, RetrainingPolicy
    from loopwright.data.checks import CheckReport
    from loopwright.data.schema import DataSchema
    from loopwright.data.versions import Datasets, DatasetVersion, Progress
    from loopwright.monitoring.alerts import Alerts
    from loopwright.monitoring.channels import Webhook
    from loopwright.monitoring.monitors import Monitor
    from loopwright.monitoring.service import MonitorRunReport, MonitorService
    from loopwright.pipelines.explain import Explanation
    from loopwright.pipelines.pipeline import Pipeline
    from loopwright.pipelines.runner import PipelineRun
    from loopwright.registry.card import ModelCard
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.format import LoadedModel
    from loopwright.registry.gates import GateReport, PromotionPolicy
    from loopwright.registry.lineage import Lineage
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion
    from loopwright.serving.batch import BatchProgress, BatchResult
    from loopwright.serving.deployments import Deployment, Deployments
    from loopwright.serving.feedback import FeedbackReport, FeedbackStore
    from loopwright.serving.predictlog import PredictionLog
    from loopwright.store.alerts import AlertRecord, AlertRuleRecord
    from loopwright.store.aliases import AliasEvent
    from loopwright.store.datasets import DatasetSummary, SchemaRecord
    from loopwright.store.models import ModelRecord
    from loopwright.store.promotions import ApprovalRecord
    from loopwright.store.retraining import RetrainingRecord
    from loopwright.store.rollouts import RolloutRecord
    from loopwright.store.triggers import TriggerRecord

__all__ = [
    "MIN_RUN_ID_PREFIX",
    "Client",
    "active_run",
    "alert_rule",
    "alerts",
    "alias_history",
    "approve",
    "batch_predict",
    "check_dataset",
    "compare_evaluations",
    "connect",
    "dataset",
    "deploy",
    "deployments",
    "end_run",
    "evaluate",
    "explain",
    "get_client",
    "get_model_version",
    "get_run",
    "grant_role",
    "infer_schema",
    "lineage",
    "list_datasets",
    "list_experiments",
    "list_models",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_feedback",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "metric_history",
    "model_card",
    "model_versions",
    "monitor",
    "monitor_results",
    "predictions",
    "promote",
    "register_model",
    "retrain",
    "rollout",
    "rollouts",
    "save_schema",
    "search_runs",
    "set_alias",
    "set_policy",
    "set_retraining",
    "set_tag",
    "set_tags",
    "start_run",
]

MIN_RUN_ID_PREFIX = 4
"""Fewest characters of a run id that :meth:`Client.resolve_run_id` accepts as a prefix."""

_SHOWN_CANDIDATES = 10  # runs an ambiguous-prefix error names


class Client:
    """A connection to one workspace: its metadata store, artifact store and metric writer.

    >>> client = Client(Settings(workspace="/tmp/lw-client-doc"))
    >>> with client.start_run(experiment="demo") as run:
    ...     run.log_metric("accuracy", 0.93)
    >>> client.get_run(run.id).metrics
    {'accuracy': 0.93}
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = MetadataStore(self.settings.resolved_database_url(), self.settings.store)
        self.artifacts = ArtifactStore(self.settings.resolved_artifact_uri())
        self.tracker = Tracker(self.store, self.artifacts, self.settings)
        self._datasets: Datasets | None = None
        self._registry: Registry | None = None
        self._deployments: Deployments | None = None
        self._prediction_log: PredictionLog | None = None
        self._feedback: FeedbackStore | None = None
        self._controller: PromotionController | None = None
        self._retrainer: Retrainer | None = None
        self._alerts: Alerts | None = None
        self._monitors: MonitorService | None = None

    def __repr__(self) -> str:
        return f"Client(database={self.store.display_url!r}, artifacts={self.artifacts.uri!r})"

    @property
    def datasets(self) -> Datasets:
        """The data-versions service of this workspace (its imports, pyarrow and DuckDB, load on first use,
        so a script that only tracks runs never pays for them)."""
        if self._datasets is None:
            from loopwright.data.versions import Datasets

            cache = self.settings.workspace.expanduser().absolute() / "cache"
            self._datasets = Datasets(self.store, self.artifacts, cache)
        return self._datasets

    def close(self) -> None:
        """Flush buffered metrics, close prediction log segments and release database connections."""
        self.tracker.writer.close()
        if self._prediction_log is not None:
            self._prediction_log.close(compact=False)
        self.store.close()

    # --- runs ------------------------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str | None = None,
        name: str | None = None,
        *,
        nested: bool = True,
        parent: Run | str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run in ``experiment`` (created if new; default ``"default"``). See :class:`Run`."""
        return self.tracker.start_run(
            experiment, name, nested=nested, parent=parent, params=params, tags=tags
        )

    def active_run(self) -> Run | None:
        """The innermost run of this thread that has not ended (else the main thread's), or ``None``."""
        return self.tracker.active_run()

    def get_run(self, run_id: str) -> RunRecord:
        """Everything recorded about a run (buffered metrics of this process are flushed first)."""
        self.tracker.writer.flush()
        return self.store.get_run(run_id)

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of the run that ``run_id`` names: a whole id, or a unique prefix of at least
        :data:`MIN_RUN_ID_PREFIX` characters (what ``loopwright runs show 3fa2`` accepts).

        Raises :class:`NotFoundError` when no run matches, and :class:`InvalidInputError` when the prefix
        is too short or matches several runs (the message names them).

        >>> client.resolve_run_id("3fa2")  # doctest: +SKIP
        '3fa2c1d9e0b84f6f9a1e2d3c4b5a6978'
        """
        candidates = self.store.runs_with_id_prefix(run_id, limit=_SHOWN_CANDIDATES + 1)
        if any(candidate_id == run_id for candidate_id, _ in candidates):
            return run_id
        if len(run_id) < MIN_RUN_ID_PREFIX:
            raise InvalidInputError(
                f"A run id prefix needs at least {MIN_RUN_ID_PREFIX} characters. Got {run_id!r} instead.",
                run_id=run_id,
            )
        if not candidates:
            raise NotFoundError(
                f"No run has an id starting with {run_id!r}. List runs with `loopwright runs list`.",
                kind="run",
                key=run_id,
            )
        if len(candidates) > 1:
            shown = ", ".join(
                f"{candidate_id} ({name})" for candidate_id, name in candidates[:_SHOWN_CANDIDATES]
            )
            more = " and more" if len(candidates) > _SHOWN_CANDIDATES else ""
            raise InvalidInputError(
                f"The run id prefix {run_id!r} is ambiguous: it matches {shown}{more}. Give more characters "
                "of the id.",
                run_id=run_id,
                candidates=[candidate_id for candidate_id, _ in candidates],
            )
        return candidates[0][0]

    def child_runs(self, run_id: str) -> list[RunRecord]:
        """The runs started under ``run_id`` (its direct children), oldest first."""
        self.tracker.writer.flush()
        return self.store.search_runs(parent_id=run_id, order_by=["start_time asc"], max_results=None)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of metric ``key`` of a run, in step order."""
        self.tracker.writer.flush()
        history = self.store.metric_history(run_id, key)
        if not history:
            self.store.get_run(run_id)  # a missing run is NotFoundError, not an empty series
            keys = self.store.metric_keys(run_id)
            raise NotFoundError(
                f"Run {run_id} has no metric {key!r}. Its metrics: {', '.join(map(repr, keys)) or 'none'}.",
                kind="metric",
                key=key,
            )
        return history

    def list_experiments(self) -> list[Experiment]:
        """Every experiment, with its run count and latest run start."""
        return self.store.list_experiments()

    def run_artifacts(self, run_id: str) -> list[RunArtifact]:
        """The artifacts a run used and produced."""
        return self.store.run_artifacts(run_id)

    def download_artifact(self, run_id: str, name: str, destination: str | Path) -> Path:
        """Copy the artifact ``name`` of a run to a local file, verifying its hash on the way."""
        for item in self.store.run_artifacts(run_id):
            if item.name == name:
                return self.artifacts.download(item.artifact.digest, destination, name=f"{run_id}/{name}")
        names = [item.name for item in self.store.run_artifacts(run_id)]
        raise NotFoundError(
            f"Run {run_id} has no artifact {name!r}. Its artifacts: {', '.join(map(repr, names)) or 'none'}.",
            kind="artifact",
            key=name,
        )

    @overload
    def search_runs(
        self,
        experiments: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: Sequence[str] | str | None = ...,
        max_results: int | None = ...,
        offset: int = ...,
        output: Literal["pandas"] = ...,
    ) -> pd.DataFrame: ...

    @overload
    def search_runs(
        self,
        experiments: str | Sequence[str] | None = ...,
        *,
        filter: str | None = ...,
        order_by: Sequence[str] | str | None = ...,
        max_results: int | None = ...,
        offset: int = ...,
        output: Literal["list"],
    ) -> list[RunRecord]: ...

    def search_runs(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        max_results: int | None = 1000,
        offset: int = 0,
        output: Literal["pandas", "list"] = "pandas",
    ) -> pd.DataFrame | list[RunRecord]:
        """Find runs with a filter such as ``"metrics.accuracy > 0.9 and params.model = 'lr'"``.

        Filtering, ordering and paging happen in the database. ``order_by`` items look like
        ``"metrics.accuracy desc"``. Returns a pandas DataFrame with one row per run (columns
        ``run_id``, ``name``, ``status``, …, ``metrics.*``, ``params.*``, ``tags.*``), or, with
        ``output="list"``, a list of :class:`RunRecord`.
        """
        if output not in ("pandas", "list"):
            raise InvalidInputError(
                f"output must be 'pandas' or 'list'. Got {output!r} instead.", output=output
            )
        self.tracker.writer.flush()
        names = [experiments] if isinstance(experiments, str) else list(experiments or [])
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        records = self.store.search_runs(
            names, filter=filter, order_by=orders, max_results=max_results, offset=offset
        )
        if output == "list":
            return records
        import pandas as pd

        return pd.DataFrame([record.to_row() for record in records], columns=None if records else RUN_COLUMNS)

    # --- data versions ----------------------------------------------------------------------------------

    def log_dataset(
        self,
        name: str,
        data: Any,
        *,
        description: str | None = None,
        schema: DataSchema | str | Path | None = None,
        reference: int | DatasetVersion | None = None,
        checks: Sequence[Any] = (),
        raise_on_failure: bool = True,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        """Version ``data`` (a pandas / polars DataFrame, an Arrow table, or a CSV / Parquet path or folder)
        as dataset ``name``; see :meth:`loopwright.data.versions.Datasets.log`. Inside an active run the
        version is recorded as that run's output."""
        active = self.tracker.active_run()
        return self.datasets.log(
            name,
            data,
            run_id=active.id if active is not None else None,
            description=description,
            schema=schema,
            reference=reference,
            checks=checks,
            raise_on_failure=raise_on_failure,
            progress=progress,
        )

    def dataset(
        self, name: str, version: int | None = None, *, include_failed: bool = False
    ) -> DatasetVersion:
        """A version of dataset ``name``: ``version=N``, else the latest that passed its blocking checks.
        ``"name:3"`` works too. Inside an active run the version is recorded as one of the run's inputs."""
        if version is None and ":" in name:
            found = self.datasets.resolve(name)
        else:
            found = self.datasets.get(name, version, include_failed=include_failed)
        active = self.tracker.active_run()
        if active is not None:
            active.log_input(found)
        return found

    def list_datasets(self) -> list[DatasetSummary]:
        """Every dataset with its number of versions."""
        return self.datasets.summaries()

    def dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of dataset ``name``, oldest first."""
        return self.datasets.versions(name)

    def infer_schema(self, dataset: str | DatasetVersion, version: int | None = None) -> DataSchema:
        """A schema inferred from a version (latest passing by default); save it, edit it, commit it."""
        return self.datasets.infer_schema(dataset, version)

    def save_schema(self, name: str, schema: DataSchema | str | Path) -> SchemaRecord:
        """Record a schema (object or YAML file) for dataset ``name``; new versions are checked against it."""
        return self.datasets.save_schema(name, schema)

    def check_dataset(
        self,
        dataset: str | DatasetVersion,
        version: int | None = None,
        *,
        schema: DataSchema | str | Path | None = None,
        reference: int | str | DatasetVersion | None = None,
        checks: Sequence[Any] = (),
        psi_threshold: float = 0.2,
        record: bool = True,
    ) -> CheckReport:
        """Check a dataset version (schema skew, value skew against ``reference``, custom checks) and
        store the results with it. Returns the report; ``report.raise_for_failures()`` stops on failure."""
        active = self.tracker.active_run()
        return self.datasets.check(
            dataset,
            version,
            schema=schema,
            reference=reference,
            checks=checks,
            psi_threshold=psi_threshold,
            run_id=active.id if active is not None else None,
            record=record,
        )

    # --- pipelines -------------------------------------------------------------------------------------

    def run_pipeline(
        self,
        pipeline: Pipeline | str,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str | None = None,
        max_workers: int | None = None,
        cache: bool = True,
        trigger_cause: str | None = None,
    ) -> PipelineRun:
        """Run a pipeline in this workspace. See :func:`loopwright.run_pipeline`."""
        from loopwright.pipelines.runner import run_pipeline

        return run_pipeline(
            pipeline,
            params,
            client=self,
            executor=executor,
            max_workers=max_workers,
            cache=cache,
            trigger_cause=trigger_cause,
        )

    def explain(self, run: Any, step: str) -> Explanation:
        """Why ``step`` of pipeline run ``run`` hit or missed the cache. See :func:`loopwright.explain`."""
        from loopwright.pipelines.explain import explain

        return explain(self, run, step)

    # --- model registry ---------------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The model-registry service of this workspace (built on first use)."""
        if self._registry is None:
            from loopwright.registry.registry import Registry

            cache = self.settings.workspace.expanduser().absolute() / "cache"
            self._registry = Registry(
                self.store, self.artifacts, self.datasets, cache, user=self.settings.user
            )
        return self._registry

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        run: Run | RunRecord | str | None = None,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        requirements: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        datasets: Sequence[DatasetVersion | str] | None = None,
        fine_tuned_from: ModelVersion | str | None = None,
    ) -> ModelVersion:
        """Register ``model`` as the next version of ``name``. See :func:`loopwright.register_model`."""
        if run is None:
            active = self.tracker.active_run()
            run_id = active.id if active is not None else None
        else:
            run_id = run if isinstance(run, str) else run.id
        if run_id is not None:
            self.tracker.writer.flush()
        return self.registry.register(
            name,
            model,
            run_id=run_id,
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            requirements=requirements,
            metadata=metadata,
            description=description,
            tags=tags,
            datasets=datasets,
            fine_tuned_from=fine_tuned_from,
        )

    def get_model_version(
        self,
        name: ModelVersion | str,
        version: int | None = None,
        *,
        alias: str | None = None,
        at: datetime | str | float | None = None,
    ) -> ModelVersion:
        """A model version. See :func:`loopwright.get_model_version`."""
        if at is None:
            return self.registry.resolve(name, version, alias=alias)
        if alias is None or version is not None or not isinstance(name, str):
            raise InvalidInputError(
                "at= asks where an alias pointed at a date: give a model name and alias=, e.g. "
                "lw.get_model_version('fraud', alias='production', at='2026-03-01T12:00:00+00:00')."
            )
        found = self.registry.alias_at(name, alias, at)
        if found is None:
            raise NotFoundError(
                f"Alias {alias!r} of model {name!r} pointed at no version at {at}.",
                kind="model_alias",
                key=f"{name}@{alias}",
            )
        return found

    def load_model(self, target: ModelVersion | str | Path, version: int | None = None) -> LoadedModel:
        """A model ready to predict. See :func:`loopwright.load_model`."""
        if version is None and (isinstance(target, Path) or self._is_model_folder(target)):
            return self.registry.load(Path(target))  # type: ignore[arg-type]
        found = self.registry.resolve(target, version)  # type: ignore[arg-type]
        loaded = self.registry.load(found)
        active = self.tracker.active_run()
        if active is not None:
            active.log_input(found)
        return loaded

    @staticmethod
    def _is_model_folder(target: Any) -> bool:
        from loopwright.registry.references import MODEL_URI_PREFIX

        return isinstance(target, str) and not target.startswith(MODEL_URI_PREFIX) and Path(target).is_dir()

    def list_models(self) -> list[ModelRecord]:
        """Every registered model, with its version count and aliases."""
        return self.registry.models()

    def model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of model ``name``, oldest first."""
        return self.registry.versions(name)

    def set_alias(
        self, name: ModelVersion | str, alias: str, version: int | None = None, *, reason: str | None = None
    ) -> AliasEvent | None:
        """Point an alias without a promotion policy at a version. See :func:`loopwright.set_alias`."""
        return self.registry.set_alias(name, alias, version, reason=reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every recorded move of a model's aliases, oldest first. See :func:`loopwright.alias_history`."""
        return self.registry.history(name, alias)

    def promote(
        self,
        name: ModelVersion | str,
        version: int | None = None,
        *,
        to: str,
        force: bool = False,
        reason: str | None = None,
    ) -> AliasEvent | None:
        """Move alias ``to`` to a version through its gates. See :func:`loopwright.promote`."""
        from loopwright.registry.promotion import promote

        return promote(self.registry, self.registry.resolve(name, version), to, force=force, reason=reason)

    def check_promotion(self, name: ModelVersion | str, version: int | None = None, *, to: str) -> GateReport:
        """Every gate's outcome for promoting a version to ``to``, without promoting (a dry run)."""
        from loopwright.registry.promotion import check_promotion

        return check_promotion(self.registry, self.registry.resolve(name, version), to)

    def approve(
        self,
        name: ModelVersion | str,
        version: int | None = None,
        *,
        alias: str,
        comment: str | None = None,
        user: str | None = None,
    ) -> ApprovalRecord:
        """Approve a version for ``alias`` as ``user``. See :func:`loopwright.approve`."""
        from loopwright.registry.promotion import approve

        return approve(self.registry, self.registry.resolve(name, version), alias, comment=comment, user=user)

    def set_policy(self, name: str, alias: str, policy: PromotionPolicy | None) -> None:
        """Store the promotion policy of ``alias`` of model ``name``. See :func:`loopwright.set_policy`."""
        from loopwright.registry.promotion import set_policy

        set_policy(self.registry, name, alias, policy)

    def get_policy(self, name: str, alias: str) -> PromotionPolicy | None:
        """The promotion policy of ``alias`` of model ``name``, or ``None``."""
        from loopwright.registry.promotion import get_policy

        return get_policy(self.registry, name, alias)

    def grant_role(self, user: str, role: str) -> bool:
        """Give ``user`` a workspace role (who may approve). See :func:`loopwright.grant_role`."""
        from loopwright.registry.promotion import grant_role

        return grant_role(self.registry, user, role)

    def revoke_role(self, user: str, role: str) -> bool:
        """Take a workspace role from ``user``; whether they had it."""
        from loopwright.registry.promotion import revoke_role

        return revoke_role(self.registry, user, role)

    def evaluate(
        self,
        model: ModelVersion | str,
        dataset: DatasetVersion | str,
        *,
        target: str,
        segments: Sequence[str] = (),
        task: str | None = None,
        pos_label: Any = None,
    ) -> Evaluation:
        """Evaluate a model version on a dataset version and store it. See :func:`loopwright.evaluate`."""
        from loopwright.registry.evaluation import evaluate

        active = self.tracker.active_run()
        return evaluate(
            self.registry,
            model,
            dataset,
            target=target,
            segments=segments,
            task=task,
            pos_label=pos_label,
            run_id=active.id if active is not None else None,
        )

    def compare_evaluations(self, name: str, *, dataset: str | None = None) -> pd.DataFrame:
        """Every stored evaluation of model ``name`` (on ``dataset``, ``NAME`` or ``NAME:VERSION``, when
        given) side by side. See :func:`loopwright.compare_evaluations`."""
        from loopwright.registry.evaluation import compare_evaluations

        chosen = [
            evaluation
            for evaluation in self.registry.evaluations(model=name)
            if dataset is None or dataset in (evaluation.dataset, evaluation.dataset.rpartition(":")[0])
        ]
        return compare_evaluations(chosen)

    def lineage(self, model: ModelVersion | str, version: int | None = None) -> Lineage:
        """Where a model version came from and what derives from it. See :func:`loopwright.lineage`."""
        return self.registry.resolve(model, version).lineage()

    def model_card(self, model: ModelVersion | str, version: int | None = None) -> ModelCard:
        """The model card of a version. See :func:`loopwright.model_card`."""
        return self.registry.resolve(model, version).card()

    # --- deployments and batch scoring -----------------------------------------------------------------

    @property
    def deployments(self) -> Deployments:
        """The deployments service of this workspace: ``.get(name)``, ``.all()``, ``.update(name, ...)``,
        ``.history(name)`` (built on first use)."""
        if self._deployments is None:
            from loopwright.serving.deployments import Deployments

            self._deployments = Deployments(self.registry)
        return self._deployments

    def deploy(
        self,
        name: str,
        model: ModelVersion | str | tuple[str, int],
        *,
        canary: ModelVersion | str | int | tuple[str, int] | None = None,
        canary_weight: float | None = None,
        sticky: str | None = None,
        shadow: ModelVersion | str | int | tuple[str, int] | None = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Create deployment ``name``, or change it to exactly this. See :func:`loopwright.deploy`."""
        return self.deployments.deploy(
            name,
            model,
            canary=canary,
            canary_weight=canary_weight,
            sticky=sticky,
            shadow=shadow,
            description=description,
            reason=reason,
        )

    def batch_predict(
        self,
        model: ModelVersion | str,
        data: DatasetVersion | str | Path,
        *,
        output: str | None = None,
        path: str | Path | None = None,
        chunk_rows: int = 65_536,
        columns: Sequence[str] | None = None,
        probabilities: bool = False,
        experiment: str | None = None,
        progress: BatchProgress | None = None,
    ) -> BatchResult:
        """Score a dataset version or file in chunks. See :func:`loopwright.batch_predict`."""
        from loopwright.serving.batch import batch_predict

        return batch_predict(
            self,
            model,
            data,
            output=output,
            path=path,
            chunk_rows=chunk_rows,
            columns=columns,
            probabilities=probabilities,
            experiment=experiment,
            progress=progress,
        )

    # --- prediction log and feedback ------------------------------------------------------------------

    @property
    def prediction_log(self) -> PredictionLog:
        """The prediction log of this workspace (``<workspace>/predictions`` unless settings say
        otherwise); servers append to it, :meth:`predictions` reads it."""
        if self._prediction_log is None:
            from loopwright.serving.predictlog import PredictionLog

            self._prediction_log = PredictionLog(
                self.settings.resolved_prediction_log_folder(), self.settings.prediction_log
            )
        return self._prediction_log

    @property
    def feedback(self) -> FeedbackStore:
        """The feedback service of this workspace: labels by request id, checked against the log."""
        if self._feedback is None:
            from loopwright.serving.feedback import FeedbackStore

            self._feedback = FeedbackStore(self.store, self.prediction_log)
        return self._feedback

    # --- monitors --------------------------------------------------------------------------------------

    @property
    def monitors(self) -> MonitorService:
        """The monitors service of this workspace: ``.create(monitor)``, ``.run()``, ``.status()``,
        ``.backfill(name, start, end)``, ``.results(name)``; a run also evaluates the alert rules."""
        if self._monitors is None:
            from loopwright.monitoring.service import MonitorService

            self._monitors = MonitorService(
                self.store,
                self.artifacts,
                self.datasets,
                self.prediction_log,
                scratch=self.settings.workspace.expanduser().absolute() / "cache",
                alerts=self.alerts,
            )
        return self._monitors

    def monitor(self, deployment: str, reference: Any, **options: Any) -> Monitor:
        """Define (or change) a monitor of ``deployment``. See :func:`loopwright.monitor`."""
        from loopwright.monitoring.monitors import Monitor

        definition = Monitor(deployment, reference, **options)
        self.monitors.create(definition)
        return definition

    def run_monitors(
        self, name: str | None = None, *, now: datetime | int | None = None
    ) -> list[MonitorRunReport]:
        """Run monitor ``name`` (or every enabled monitor) over its new windows. See
        :meth:`MonitorService.run`."""
        return self.monitors.run(name, now=now)

    # --- rollouts and retraining -----------------------------------------------------------------------

    @property
    def controller(self) -> PromotionController:
        """The promotion controller of this workspace: ``.start(...)``, ``.tick(now)``, ``.abort(id)``,
        ``.rollouts()``, ``.events(id)``, ``.serve()`` (built on first use)."""
        if self._controller is None:
            from loopwright.automation.controller import PromotionController

            self._controller = PromotionController(self)
        return self._controller

    @property
    def retrainer(self) -> Retrainer:
        """The retraining service of this workspace: ``.set_policy(...)``, ``.policy(...)``,
        ``.retrain(...)`` (built on first use)."""
        if self._retrainer is None:
            from loopwright.automation.retraining import Retrainer

            self._retrainer = Retrainer(self, self.controller)
        return self._retrainer

    def rollout(
        self,
        deployment: str,
        candidate: ModelVersion | str | int | tuple[str, int],
        *,
        plan: RolloutPlan | Mapping[str, Any] | None = None,
        now: datetime | int | None = None,
    ) -> RolloutRecord:
        """Start rolling ``candidate`` out on ``deployment``. See :func:`loopwright.rollout`."""
        return self.controller.start(deployment, candidate, plan, cause="manual", now=now)

    def rollouts(
        self, deployment: str | None = None, *, status: str | None = None, limit: int | None = 100
    ) -> list[RolloutRecord]:
        """Rollouts, newest first. See :func:`loopwright.rollouts`."""
        return self.controller.rollouts(deployment=deployment, status=status, limit=limit)

    def set_retraining(
        self, deployment: str, policy: RetrainingPolicy | Mapping[str, Any] | None
    ) -> list[TriggerRecord]:
        """Set how ``deployment`` retrains. See :func:`loopwright.set_retraining`."""
        return self.retrainer.set_policy(deployment, policy)

    def retrain(
        self, deployment: str, *, cause: str = "manual", now: datetime | int | None = None
    ) -> RetrainingRecord:
        """Retrain ``deployment`` now, by its policy. See :func:`loopwright.retrain`."""
        return self.retrainer.retrain(deployment, cause=cause, now=now)

    # --- alerts ----------------------------------------------------------------------------------------

    @property
    def alerts(self) -> Alerts:
        """The alerts service of this workspace: ``.define(rule)``, ``.rules()``, ``.list_alerts(...)``,
        ``.evaluate(monitor)``."""
        if self._alerts is None:
            from loopwright.monitoring.alerts import Alerts

            self._alerts = Alerts(self.store)
        return self._alerts

    def alert_rule(
        self,
        name: str,
        *,
        monitor: str,
        when: str,
        for_windows: int = 1,
        severity: str = "warning",
        channels: Sequence[str | Webhook] = ("log",),
    ) -> AlertRuleRecord:
        """Define alert rule ``name`` (or change it). See :func:`loopwright.alert_rule`."""
        from loopwright.monitoring.alerts import AlertRule

        rule = AlertRule(
            name, monitor=monitor, when=when, for_windows=for_windows, severity=severity, channels=channels
        )
        return self.alerts.define(rule)

    def predictions(
        self,
        deployment: str,
        start: datetime | date | str | int | None = None,
        end: datetime | date | str | int | None = None,
        *,
        feedback: bool = False,
    ) -> pd.DataFrame:
        """The logged predictions of ``deployment`` in ``[start, end)``; with ``feedback``, joined to
        their labels. See :func:`loopwright.predictions`."""
        from loopwright.store.deployments import DeploymentStore

        DeploymentStore(self.store).get(deployment)  # a mistyped name is an error, not an empty log
        frame = self.prediction_log.query(deployment, start, end)
        if not feedback:
            return frame
        labels = self.feedback.get(deployment, list(dict.fromkeys(frame["request_id"])))
        labels = labels.rename(columns={"value": "feedback", "received_at": "feedback_at"})
        joined = frame.merge(labels, on="request_id", how="left")
        # A missing label reads None, as a stored one is any JSON value (pandas would fill in NaN).
        joined["feedback"] = joined["feedback"].astype(object).where(joined["feedback"].notna(), None)
        return joined

    def log_feedback(
        self,
        deployment: str,
        values: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        on_unknown: Literal["report", "raise"] = "report",
    ) -> FeedbackReport:
        """Record labels or outcomes by request id. See :func:`loopwright.log_feedback`."""
        return self.feedback.record(deployment, values, on_unknown=on_unknown)


# --- the default client and module-level helpers --------------------------------------------------------

_default_client: Client | None = None
_default_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Client:
    """Open the workspace described by ``settings`` (default: from the environment) and make it the one
    the module-level helpers use. Returns the client."""
    global _default_client
    client = Client(settings)
    with _default_lock:
        _default_client = client
    return client


def get_client() -> Client:
    """The client the module-level helpers use, opened from the environment on first use (inside a
    pipeline step: the client running the pipeline)."""
    global _default_client
    scoped = scoped_client()
    if scoped is not None:
        return scoped  # type: ignore[no-any-return]
    with _default_lock:
        if _default_client is None:
            _default_client = Client()
        return _default_client


set_default_client_provider(get_client)


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    *,
    nested: bool = True,
    parent: Run | str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run in the default workspace; use it as a context manager. See :meth:`Client.start_run`."""
    return get_client().start_run(experiment, name, nested=nested, parent=parent, params=params, tags=tags)


def active_run() -> Run | None:
    """The innermost active run of this thread (else the main thread's), or ``None``."""
    return get_client().active_run()


def _require_active_run(action: str) -> Run:
    run = get_client().active_run()
    if run is None:
        raise RunStateError(
            f"lw.{action}() needs an active run, and there is none. Start one first: "
            "`with lw.start_run(experiment=...) as run:`."
        )
    return run


def log_metric(key: str, value: float, step: int | None = None, *, timestamp: float | None = None) -> None:
    """Log a metric point to the active run (see :meth:`Run.log_metric`)."""
    _require_active_run("log_metric").log_metric(key, value, step, timestamp=timestamp)


def log_metrics(
    values: Mapping[str, float], step: int | None = None, *, timestamp: float | None = None
) -> None:
    """Log several metrics at one step to the active run."""
    _require_active_run("log_metrics").log_metrics(values, step, timestamp=timestamp)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the active run."""
    _require_active_run("log_param").log_param(key, value)


def log_params(values: Mapping[str, Any]) -> None:
    """Record parameters of the active run."""
    _require_active_run("log_params").log_params(values)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _require_active_run("set_tag").set_tag(key, value)


def set_tags(values: Mapping[str, Any]) -> None:
    """Set tags on the active run."""
    _require_active_run("set_tags").set_tags(values)


def log_artifact(path: str | Path, name: str | None = None) -> RunArtifact:
    """Store a local file as an output of the active run."""
    return _require_active_run("log_artifact").log_artifact(path, name)


def log_artifacts(folder: str | Path, prefix: str = "") -> list[RunArtifact]:
    """Store every file under a folder as outputs of the active run."""
    return _require_active_run("log_artifacts").log_artifacts(folder, prefix)


def end_run(status: str = "finished") -> None:
    """End the active run (runs started with ``with`` end on their own)."""
    _require_active_run("end_run").end(status)


def get_run(run_id: str) -> RunRecord:
    """Everything recorded about a run."""
    return get_client().get_run(run_id)


def metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of a run."""
    return get_client().metric_history(run_id, key)


def list_experiments() -> list[Experiment]:
    """Every experiment in the default workspace."""
    return get_client().list_experiments()


@overload
def search_runs(
    experiments: str | Sequence[str] | None = ...,
    *,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int | None = ...,
    offset: int = ...,
    output: Literal["pandas"] = ...,
) -> pd.DataFrame: ...


@overload
def search_runs(
    experiments: str | Sequence[str] | None = ...,
    *,
    filter: str | None = ...,
    order_by: Sequence[str] | str | None = ...,
    max_results: int | None = ...,
    offset: int = ...,
    output: Literal["list"],
) -> list[RunRecord]: ...


def search_runs(
    experiments: str | Sequence[str] | None = None,
    *,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    max_results: int | None = 1000,
    offset: int = 0,
    output: Literal["pandas", "list"] = "pandas",
) -> pd.DataFrame | list[RunRecord]:
    """Find runs in the default workspace; see :meth:`Client.search_runs`."""
    client = get_client()
    if output == "list":
        return client.search_runs(
            experiments,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            offset=offset,
            output="list",
        )
    return client.search_runs(
        experiments, filter=filter, order_by=order_by, max_results=max_results, offset=offset, output=output
    )


def log_dataset(
    name: str,
    data: Any,
    *,
    description: str | None = None,
    schema: DataSchema | str | Path | None = None,
    reference: int | DatasetVersion | None = None,
    checks: Sequence[Any] = (),
    raise_on_failure: bool = True,
    progress: Progress | None = None,
) -> DatasetVersion:
    """Version ``data`` as dataset ``name`` in the default workspace; see :meth:`Client.log_dataset`."""
    return get_client().log_dataset(
        name,
        data,
        description=description,
        schema=schema,
        reference=reference,
        checks=checks,
        raise_on_failure=raise_on_failure,
        progress=progress,
    )


def dataset(name: str, version: int | None = None, *, include_failed: bool = False) -> DatasetVersion:
    """A version of a dataset (latest passing by default); see :meth:`Client.dataset`."""
    return get_client().dataset(name, version, include_failed=include_failed)


def list_datasets() -> list[DatasetSummary]:
    """Every dataset in the default workspace."""
    return get_client().list_datasets()


def infer_schema(dataset: str | DatasetVersion, version: int | None = None) -> DataSchema:
    """A schema inferred from a dataset version; see :meth:`Client.infer_schema`."""
    return get_client().infer_schema(dataset, version)


def save_schema(name: str, schema: DataSchema | str | Path) -> SchemaRecord:
    """Record a schema for a dataset; see :meth:`Client.save_schema`."""
    return get_client().save_schema(name, schema)


def check_dataset(
    dataset: str | DatasetVersion,
    version: int | None = None,
    *,
    schema: DataSchema | str | Path | None = None,
    reference: int | str | DatasetVersion | None = None,
    checks: Sequence[Any] = (),
    psi_threshold: float = 0.2,
    record: bool = True,
) -> CheckReport:
    """Check a dataset version and store the results; see :meth:`Client.check_dataset`."""
    return get_client().check_dataset(
        dataset,
        version,
        schema=schema,
        reference=reference,
        checks=checks,
        psi_threshold=psi_threshold,
        record=record,
    )


def explain(run: Any, step: str) -> Explanation:
    """Why ``step`` of a pipeline run hit or missed the cache: which part of its key (code, a parameter,
    an input's content, the materializer version) changed since the execution before it.

    >>> print(lw.explain(result, "train"))  # doctest: +SKIP
    step 'train' of pipeline run 3f2a…: cache miss
      - parameter 'alpha' changed: 0.1 → 0.2
    """
    return get_client().explain(run, step)


# --- model registry ------------------------------------------------------------------------------------


def register_model(
    name: str,
    model: Any,
    *,
    run: Run | RunRecord | str | None = None,
    input_example: Any = None,
    signature: Any = None,
    flavor: str | None = None,
    requirements: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    datasets: Sequence[DatasetVersion | str] | None = None,
    fine_tuned_from: ModelVersion | str | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``: saved in the model format, stored once as an
    artifact, linked to its run (default: the active run), its training dataset versions (default: the
    ones the run read) and its code version (the run's git commit).

    ``model`` is a model object (a flavor is inferred; see :func:`loopwright.save_model`), a saved model
    folder, or a loaded model. The model is serialised before anything is recorded, and the version, its
    data links and its lineage event are written in one transaction: a failure leaves nothing behind.

    >>> with lw.start_run(experiment="fraud") as run:                                   # doctest: +SKIP
    ...     train = lw.dataset("transactions")
    ...     model = LogisticRegression().fit(train.to_pandas()[features], labels)
    ...     version = lw.register_model("fraud", model, input_example=frame.head())
    >>> version.uri                                                                      # doctest: +SKIP
    'models:/fraud/1'
    """
    return get_client().register_model(
        name,
        model,
        run=run,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        requirements=requirements,
        metadata=metadata,
        description=description,
        tags=tags,
        datasets=datasets,
        fine_tuned_from=fine_tuned_from,
    )


def get_model_version(
    name: ModelVersion | str,
    version: int | None = None,
    *,
    alias: str | None = None,
    at: datetime | str | float | None = None,
) -> ModelVersion:
    """A model version: ``("fraud", 3)``, ``("fraud", alias="production")``, ``"fraud@production"``,
    ``"models:/fraud/3"``, or the latest with just a name. With ``alias`` and ``at`` (a datetime, ISO
    text or epoch seconds), the version the alias pointed at then: "what was in production on date X".

    >>> lw.get_model_version("fraud", alias="production", at="2026-03-01T00:00:00+00:00")  # doctest: +SKIP
    """
    return get_client().get_model_version(name, version, alias=alias, at=at)


def load_model(target: ModelVersion | str | Path, version: int | None = None) -> LoadedModel:
    """A model ready to ``predict``: a registered version (``"models:/fraud@production"``,
    ``"models:/fraud/3"``, ``"fraud/3"``, a :class:`ModelVersion`) or a model folder saved by
    :func:`loopwright.save_model`. A registered version is extracted once into the workspace cache, after
    its hash is verified. Inside an active run, the version is recorded as one of the run's inputs.

    >>> model = lw.load_model("models:/fraud@production")  # doctest: +SKIP
    >>> model.predict(frame)                              # doctest: +SKIP
    """
    return get_client().load_model(target, version)


def list_models() -> list[ModelRecord]:
    """Every registered model of the default workspace."""
    return get_client().list_models()


def model_versions(name: str) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    return get_client().model_versions(name)


def set_alias(
    name: ModelVersion | str, alias: str, version: int | None = None, *, reason: str | None = None
) -> AliasEvent | None:
    """Point ``alias`` at a version without gates, recording who, when and why in its history. An alias
    that has a promotion policy moves only through :func:`promote`.

    >>> lw.set_alias("fraud", "candidate", 4, reason="best of the sweep")  # doctest: +SKIP
    """
    return get_client().set_alias(name, alias, version, reason=reason)


def alias_history(name: str, alias: str | None = None) -> list[AliasEvent]:
    """Every recorded move of a model's aliases (or one alias), oldest first: who moved it, when, from
    which version to which, why, and the gate report of a promotion.

    >>> history = lw.alias_history("fraud", "production")          # doctest: +SKIP
    >>> [(event.from_version, event.to_version) for event in history]  # doctest: +SKIP
    [(None, 1), (1, 3)]
    """
    return get_client().alias_history(name, alias)


def promote(
    name: ModelVersion | str,
    version: int | None = None,
    *,
    to: str,
    force: bool = False,
    reason: str | None = None,
) -> AliasEvent | None:
    """Move alias ``to`` to a version once every gate of the alias's promotion policy passes; else raise
    :class:`~loopwright.errors.PromotionRefusedError` with the report of each gate. ``force=True`` needs
    a ``reason``; the override is recorded. Returns the recorded move (``None`` if already there).

    >>> lw.promote("fraud", 3, to="production")  # doctest: +SKIP
    """
    return get_client().promote(name, version, to=to, force=force, reason=reason)


def approve(
    name: ModelVersion | str,
    version: int | None = None,
    *,
    alias: str,
    comment: str | None = None,
    user: str | None = None,
) -> ApprovalRecord:
    """Approve a version for ``alias`` (the human gate). The approver (default: this workspace's user)
    must hold the policy's approver role or ``admin``, else :class:`~loopwright.errors.PermissionDeniedError`.

    >>> lw.approve("fraud", 3, alias="production", user="alice")  # doctest: +SKIP
    """
    return get_client().approve(name, version, alias=alias, comment=comment, user=user)


def set_policy(name: str, alias: str, policy: PromotionPolicy | None) -> None:
    """Set the gates of ``alias`` of model ``name`` (``None`` removes them).

    >>> policy = lw.PromotionPolicy(thresholds={"f1": 0.8}, approvals=1)  # doctest: +SKIP
    >>> lw.set_policy("fraud", "production", policy)                     # doctest: +SKIP
    """
    get_client().set_policy(name, alias, policy)


def grant_role(user: str, role: str) -> bool:
    """Give ``user`` a workspace role (``viewer``, ``data-scientist``, ``ml-engineer``, ``reviewer``,
    ``admin``); whether it is new. Roles decide who may approve promotions."""
    return get_client().grant_role(user, role)


def evaluate(
    model: ModelVersion | str,
    dataset: DatasetVersion | str,
    *,
    target: str,
    segments: Sequence[str] = (),
    task: str | None = None,
    pos_label: Any = None,
) -> Evaluation:
    """Evaluate a model version on a dataset version, overall and per segment, and store the result.

    Classification (inferred when the model estimates probabilities or the labels are not numbers):
    accuracy, precision, recall, F1, ROC AUC, log loss and the confusion matrix; regression: MAE, RMSE,
    R² and MAPE. Values equal scikit-learn's on the same data.

    >>> result = lw.evaluate("fraud/3", "eval:2", target="label", segments=["region"])  # doctest: +SKIP
    >>> result.metrics["f1"], result.segments["region"]["EU"]["f1"]                  # doctest: +SKIP
    """
    return get_client().evaluate(
        model, dataset, target=target, segments=segments, task=task, pos_label=pos_label
    )


def compare_evaluations(name: str, *, dataset: str | None = None) -> pd.DataFrame:
    """Every stored evaluation of a model's versions, one row each (on one dataset, when given).

    >>> lw.compare_evaluations("fraud", dataset="transactions-eval")  # doctest: +SKIP
    """
    return get_client().compare_evaluations(name, dataset=dataset)


def lineage(model: ModelVersion | str, version: int | None = None) -> Lineage:
    """Where a model version came from (runs, dataset versions, code, the version it was fine-tuned from)
    and what derives from it.

    >>> print(lw.lineage("fraud/3").render())  # doctest: +SKIP
    """
    return get_client().lineage(model, version)


def model_card(model: ModelVersion | str, version: int | None = None) -> ModelCard:
    """The model card of a version: ``.to_markdown()`` or ``.to_html()`` (self-contained, escaped).

    >>> Path("card.html").write_text(lw.model_card("fraud/3").to_html())  # doctest: +SKIP
    """
    return get_client().model_card(model, version)


# --- prediction log and feedback ----------------------------------------------------------------------


def predictions(
    deployment: str,
    start: datetime | date | str | int | None = None,
    end: datetime | date | str | int | None = None,
    *,
    feedback: bool = False,
) -> pd.DataFrame:
    """The predictions ``deployment`` served in ``[start, end)`` (datetimes, dates, ISO text or epoch
    milliseconds; naive times are UTC), compacted or not, oldest first: one row per request row and
    variant, with ``request_id``, ``model``, ``version``, ``variant`` (``production``, ``canary`` or
    ``shadow``), ``inputs`` and ``outputs`` (dicts), ``latency_ms`` and ``timestamp``. With
    ``feedback=True``, the label recorded for each request id is joined in (``feedback``,
    ``feedback_at``).

    >>> frame = lw.predictions("fraud", start="2026-03-01", feedback=True)      # doctest: +SKIP
    >>> frame[frame.variant != "shadow"].groupby("version").latency_ms.median()  # doctest: +SKIP
    """
    return get_client().predictions(deployment, start, end, feedback=feedback)


def log_feedback(
    deployment: str,
    values: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    on_unknown: Literal["report", "raise"] = "report",
) -> FeedbackReport:
    """Record labels or outcomes (any JSON value) for predictions of ``deployment``, by request id:
    ``{request_id: label, ...}`` or ``(request_id, label)`` pairs. Recording an id again replaces its
    value. Ids that are not in the deployment's prediction log are not recorded: the report lists them
    (``report.unknown``), or with ``on_unknown="raise"`` nothing is recorded and
    :class:`~loopwright.errors.NotFoundError` names them.

    >>> report = lw.log_feedback("fraud", {"5f0c-0": 1, "5f0c-1": 0})  # doctest: +SKIP
    >>> print(report.summary())                                        # doctest: +SKIP
    Recorded 2 labels for deployment 'fraud'.
    """
    return get_client().log_feedback(deployment, values, on_unknown=on_unknown)


# --- alerts --------------------------------------------------------------------------------------------


def alert_rule(
    name: str,
    *,
    monitor: str,
    when: str,
    for_windows: int = 1,
    severity: str = "warning",
    channels: Sequence[str | Webhook] = ("log",),
) -> AlertRuleRecord:
    """Define alert rule ``name`` on monitor ``monitor`` (or change it to this; its alerts are kept).

    ``when`` is a condition on a metric the monitor records, of the whole window or of one column:
    ``"drift_share > 0.3"``, ``"drift_score[amount] < 0.05"``, ``"accuracy < 0.9"``. An alert opens once
    it has held for ``for_windows`` consecutive windows, stays open (one per rule) while it holds, and
    resolves at the first window where it does not. ``severity`` is ``info``, ``warning`` or
    ``critical``; ``channels`` are ``"log"`` and webhooks, ``lw.Webhook(url)``
    (every alert is also kept in the store). A pipeline can run on each alert: ``lw.on_alert(name)``.

    >>> lw.alert_rule(  # doctest: +SKIP
    ...     "fraud-drift", monitor="fraud", when="drift_share > 0.3", for_windows=2, severity="critical",
    ...     channels=["log", lw.Webhook("https://hooks.example.com/loopwright")],
    ... )
    """
    return get_client().alert_rule(
        name, monitor=monitor, when=when, for_windows=for_windows, severity=severity, channels=channels
    )


def alerts(
    status: str | None = None, *, rule: str | None = None, monitor: str | None = None, limit: int | None = 100
) -> list[AlertRecord]:
    """Alerts of the default workspace, newest first: ``status`` is ``open`` or ``resolved``.

    >>> [(alert.rule, alert.severity) for alert in lw.alerts("open")]  # doctest: +SKIP
    [('fraud-drift', 'critical')]
    """
    return get_client().alerts.list_alerts(status=status, rule=rule, monitor=monitor, limit=limit)


# --- monitors ------------------------------------------------------------------------------------------


def monitor(
    deployment: str,
    reference: Any,
    *,
    name: str | None = None,
    window: str | int | None = None,
    rows: int | None = None,
    columns: Sequence[str] | None = None,
    drift: Mapping[str, Any] | None = None,
    correction: str | None = None,
    **options: Any,
) -> Monitor:
    """Watch deployment ``deployment``: drift against ``reference``, data quality, live performance and
    operations, per window. Creates the monitor (named ``name``, default the deployment's name) or
    changes it to this definition; returns the checked :class:`~loopwright.monitoring.monitors.Monitor`.

    ``reference`` is a dataset version (``lw.dataset("tx", 3)``, ``"tx:3"``, or ``"tx"`` for the latest,
    pinned now) or a past window of the deployment's predictions, ``"window:<start>/<end>"``. Windows are
    by time (``window="1h"``, the default) or by count (``rows=1000``). ``columns`` limits the watched
    inputs; ``drift`` overrides a column's test or threshold (``{"amount": "psi"}``,
    ``{"city": {"test": "chisquare", "threshold": 0.01}}``); ``correction`` is ``"bonferroni"`` or
    ``"benjamini-hochberg"``. Further options: ``drift_share``, ``multivariate``, ``label``, ``task``,
    ``classes``, ``pos_label``, ``prediction_column``, ``schema``, ``start``, ``label_horizon``. Run monitors
    with ``loopwright monitor run`` (or ``lw.get_client().run_monitors()``) on a schedule.

    >>> lw.monitor("fraud", reference="tx:3", window="1h", correction="bonferroni")  # doctest: +SKIP
    >>> lw.monitor_results("fraud", metric="drift_share")                        # doctest: +SKIP
    """
    return get_client().monitor(
        deployment,
        reference,
        name=name,
        window=window,
        rows=rows,
        columns=columns,
        drift=dict(drift or {}),
        correction=correction,
        **options,
    )


def monitor_results(
    name: str,
    metric: str | Sequence[str] | None = None,
    *,
    column: str | None = None,
    start: datetime | date | str | int | None = None,
    end: datetime | date | str | int | None = None,
) -> pd.DataFrame:
    """The results of monitor ``name`` as a DataFrame (``window_start``, ``window_end``, ``metric``,
    ``column``, ``value``, ``extra``), oldest window first; ``metric`` and ``column`` select series.

    >>> lw.monitor_results("fraud", "drift_score", column="amount").tail(3)  # doctest: +SKIP
    """
    return get_client().monitors.results(name, metric=metric, column=column, start=start, end=end)


# --- rollouts and retraining -------------------------------------------------------------------------


def rollout(
    deployment: str,
    candidate: ModelVersion | str | int | tuple[str, int],
    *,
    plan: RolloutPlan | Mapping[str, Any] | None = None,
    now: datetime | int | None = None,
) -> RolloutRecord:
    """Roll ``candidate`` (a version of the deployment's model: ``4``, ``"fraud/4"``,
    ``"fraud@candidate"``) out on ``deployment`` step by step, by ``plan`` (default: shadow, then canary
    10%, 50% and 100%, an hour each). It must pass the gates of the alias the deployment serves first.
    The promotion controller (``loopwright controller``, or ``loopwright server``) judges each step on the
    live prediction log and promotes the candidate, or rolls it back; ``now`` sets the start time.

    >>> plan = lw.RolloutPlan(steps=[lw.RolloutStep.shadow("30m"), lw.RolloutStep.canary(0.1, duration="1h")])
    >>> lw.rollout("fraud", "fraud@candidate", plan=plan)  # doctest: +SKIP
    """
    return get_client().rollout(deployment, candidate, plan=plan, now=now)


def rollouts(
    deployment: str | None = None, *, status: str | None = None, limit: int | None = 100
) -> list[RolloutRecord]:
    """Rollouts of the default workspace, newest first (of ``deployment``; ``status`` is ``active``,
    ``promoted``, ``rolled_back`` or ``aborted``).

    >>> [(item.id, item.candidate, item.status) for item in lw.rollouts("fraud")]  # doctest: +SKIP
    [(2, 5, 'active'), (1, 4, 'rolled_back')]
    """
    return get_client().rollouts(deployment, status=status, limit=limit)


def set_retraining(
    deployment: str, policy: RetrainingPolicy | Mapping[str, Any] | None
) -> list[TriggerRecord]:
    """Set how ``deployment`` retrains (``None`` removes it): its training pipeline, data, triggers and
    rollout plan. The pipeline is imported and its parameters checked now; the triggers are registered for
    the scheduler. Returns them.

    >>> lw.set_retraining("fraud", lw.RetrainingPolicy(  # doctest: +SKIP
    ...     "pipelines.fraud:train", data=lw.RecentPredictions("fraud-recent", target="is_fraud"),
    ...     data_param="data", on=[lw.on_alert("fraud-drift")]))
    """
    return get_client().set_retraining(deployment, policy)


def retrain(deployment: str, *, cause: str = "manual", now: datetime | int | None = None) -> RetrainingRecord:
    """Retrain ``deployment`` now by its policy: train on its data, register the model as the
    ``candidate``, check the gates, and start its rollout. Returns the record of every step.

    >>> record = lw.retrain("fraud")                       # doctest: +SKIP
    >>> record.status, record.version, record.rollout_id   # doctest: +SKIP
    ('rolling_out', 5, 3)
    """
    return get_client().retrain(deployment, cause=cause, now=now)


# --- deployments and batch scoring ------------------------------------------------------------------------


def deploy(
    name: str,
    model: ModelVersion | str | tuple[str, int],
    *,
    canary: ModelVersion | str | int | tuple[str, int] | None = None,
    canary_weight: float | None = None,
    sticky: str | None = None,
    shadow: ModelVersion | str | int | tuple[str, int] | None = None,
    description: str | None = None,
    reason: str | None = None,
) -> Deployment:
    """Make deployment ``name`` serve ``model``: created if new, else changed to exactly this (a canary or
    shadow left out is removed). Everything is checked now, not on the first request.

    ``model`` is an alias, followed as it moves (``"fraud@production"``; a bare ``"fraud"`` means
    ``fraud@production``), or a pinned version (``"fraud/3"``, ``("fraud", 3)``). ``canary`` is a version
    of the same model (``4``, ``("fraud", 4)``) that takes ``canary_weight`` of the traffic (default 0.1),
    at random or, with ``sticky="header:X-Customer"`` or ``"field:customer_id"``, the same variant for each
    key. ``shadow`` receives a copy of every request and never answers. Every change is recorded with
    who made it and ``reason``.

    >>> lw.deploy("fraud", model="fraud@production", canary=4, canary_weight=0.1,   # doctest: +SKIP
    ...           sticky="header:X-Customer", shadow=5)
    <Deployment fraud: fraud@production, canary 4 at 10%, sticky by header:X-Customer, shadow 5, revision 1>
    """
    return get_client().deploy(
        name,
        model,
        canary=canary,
        canary_weight=canary_weight,
        sticky=sticky,
        shadow=shadow,
        description=description,
        reason=reason,
    )


def deployments() -> list[Deployment]:
    """Every deployment of the default workspace, by name.

    >>> [(item.name, item.production) for item in lw.deployments()]  # doctest: +SKIP
    [('fraud', 'fraud@production')]
    """
    return get_client().deployments.all()


def batch_predict(
    model: ModelVersion | str,
    data: DatasetVersion | str | Path,
    *,
    output: str | None = None,
    path: str | Path | None = None,
    chunk_rows: int = 65_536,
    columns: Sequence[str] | None = None,
    probabilities: bool = False,
    experiment: str | None = None,
    progress: BatchProgress | None = None,
) -> BatchResult:
    """Score ``data`` with a model version in chunks of ``chunk_rows`` rows (bounded memory) and record
    the output as a version of dataset ``output`` (default ``<model>-predictions``), made by a run of kind
    ``batch`` whose inputs are the data and the model version. ``path`` also writes it as Parquet.

    ``data`` is a dataset version (``"transactions:7"``, a name for its latest) or a CSV / Parquet file or
    folder. The output holds the input's columns (or ``columns``), ``prediction`` and, with
    ``probabilities=True``, one ``probability_<class>`` column per class. ``progress(rows_done, total)``
    is called after each chunk.

    >>> result = lw.batch_predict("fraud@production", "transactions:7")  # doctest: +SKIP
    >>> result.output.to_pandas().head()                                 # doctest: +SKIP
    """
    return get_client().batch_predict(
        model,
        data,
        output=output,
        path=path,
        chunk_rows=chunk_rows,
        columns=columns,
        probabilities=probabilities,
        experiment=experiment,
        progress=progress,
    )
