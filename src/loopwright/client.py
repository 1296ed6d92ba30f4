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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from loopwright.errors import InvalidInputError, NotFoundError, RunStateError
from loopwright.settings import Settings
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import RUN_COLUMNS, Experiment, Metric, RunArtifact, RunRecord
from loopwright.tracking.run import Run
from loopwright.tracking.tracker import Tracker

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.data.checks import CheckReport
    from loopwright.data.schema import DataSchema
    from loopwright.data.versions import Datasets, DatasetVersion, Progress
    from loopwright.store.datasets import DatasetSummary, SchemaRecord

__all__ = [
    "MIN_RUN_ID_PREFIX",
    "Client",
    "active_run",
    "check_dataset",
    "connect",
    "dataset",
    "end_run",
    "get_client",
    "get_run",
    "infer_schema",
    "list_datasets",
    "list_experiments",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "metric_history",
    "save_schema",
    "search_runs",
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
        """Flush buffered metrics and release database connections."""
        self.tracker.writer.close()
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
    """The client the module-level helpers use, opened from the environment on first use."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = Client()
        return _default_client


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
