"""A monitor's reference profile: built once from the reference, stored as an artifact, read back after.

The reference is a dataset version (its Parquet file is profiled column by column) or a past window of
the deployment's own predictions (its served inputs, and its outputs for prediction drift). The
:class:`~loopwright.monitoring.profile.ReferenceProfile` is stored as ``.npz`` bytes in an artifact of
kind ``file`` that the monitor points at; later windows, in this process or another, read those bytes and
never the reference data. Profiles are immutable, so each process keeps the ones it read.

Without explicit ``columns``, a monitor watches the reference's columns that the deployment's requests
carry: a training set's label column is never a model input, and must not count as a missing one.
Output columns are kept under :data:`~loopwright.monitoring.drift.OUTPUT_PREFIX` (``output:prediction``,
``output:score``) beside the inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.errors import MonitorDefinitionError
from loopwright.monitoring.drift import OUTPUT_PREFIX, as_labels, check_overrides
from loopwright.monitoring.performance import PerformanceOptions, infer_task
from loopwright.monitoring.profile import ColumnProfile, ReferenceProfile
from loopwright.monitoring.windows import Window, WindowData
from loopwright.store.monitoring import MonitorCatalog, MonitorRecord

if TYPE_CHECKING:
    from loopwright.data.versions import Datasets
    from loopwright.serving.predictlog import PredictionLog
    from loopwright.store.artifacts import ArtifactStore
    from loopwright.store.metadata import MetadataStore

__all__ = ["ReferenceProfiles"]


class ReferenceProfiles:
    """The reference profiles of a workspace's monitors: :meth:`get` reads or builds one.

    >>> profiles.get(client.monitors.get("fraud"), lambda: ["amount", "city"])  # doctest: +SKIP
    ReferenceProfile(rows=2000, columns=['amount', 'city'])
    """

    def __init__(
        self, store: MetadataStore, artifacts: ArtifactStore, datasets: Datasets, log: PredictionLog
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._datasets = datasets
        self._log = log
        self._catalog = MonitorCatalog(store)
        self._read: dict[str, ReferenceProfile] = {}  # by artifact id

    def get(self, record: MonitorRecord, seen: Callable[[], Sequence[str]] | None = None) -> ReferenceProfile:
        """The profile of ``record``'s reference: read from its artifact, or built (from the reference's
        columns among ``seen()``, the input names of the deployment's requests, asked only then, unless
        the monitor names its columns), checked against the monitor's drift overrides, and stored."""
        if record.profile_artifact_id is not None:
            cached = self._read.get(record.profile_artifact_id)
            if cached is None:
                artifact = self._store.get_artifact(record.profile_artifact_id)
                data = self._artifacts.get_bytes(artifact.digest, name=f"profile of monitor {record.name!r}")
                cached = ReferenceProfile.from_bytes(data)
                self._read[record.profile_artifact_id] = cached
            return cached
        profile = self._build(record, None if seen is None else seen())
        check_overrides(profile, record.drift, monitor=record.name)
        blob = self._artifacts.put_bytes(profile.to_bytes())
        artifact = self._store.record_artifact(
            "file",
            blob.digest,
            blob.size,
            media_type="application/x-npz",
            properties={"role": "reference_profile", "monitor": record.name, "reference": record.reference},
        )
        self._catalog.set_profile(record.id, artifact.id)
        self._read[artifact.id] = profile
        return profile

    def _build(self, record: MonitorRecord, seen: Sequence[str] | None) -> ReferenceProfile:
        reference = record.reference
        multivariate = bool(record.options.get("multivariate", True))
        if reference["kind"] == "dataset":
            version = self._datasets.get(reference["name"], reference["version"])
            names = [column["name"] for column in version.columns]
            columns = _columns_to_profile(record, names, seen)
            inputs = ReferenceProfile.from_data(version.path, columns=columns, multivariate=multivariate)
            outputs: dict[str, ColumnProfile] = {}
            target = record.options.get("prediction_column")
            if target and target in names:
                task = PerformanceOptions.from_options(record.options).task
                outputs = _output_profiles({"prediction": version.to_arrow([target]).column(0)}, task)
            return ReferenceProfile({**inputs.columns, **outputs}, inputs.rows, inputs.multivariate)
        frame = self._log.query(record.deployment, reference["start_ms"], reference["end_ms"])
        data = WindowData.from_log(Window(reference["start_ms"], reference["end_ms"]), frame)
        served = data.select(data.served)
        if not served.rows:
            raise MonitorDefinitionError(
                f"The reference window of monitor {record.name!r} holds no served predictions of deployment "
                f"{record.deployment!r}; choose a window with traffic.",
                field="reference",
                value=repr(reference),
            )
        columns = _columns_to_profile(record, list(served.inputs), seen)
        inputs = ReferenceProfile.from_data(
            {name: _reference_values(served.inputs[name]) for name in columns}, multivariate=multivariate
        )
        task = PerformanceOptions.from_options(record.options).task or infer_task(served)
        outputs = _output_profiles(_outputs(served), task)
        return ReferenceProfile({**inputs.columns, **outputs}, inputs.rows, inputs.multivariate)


def _columns_to_profile(record: MonitorRecord, names: Sequence[str], seen: Sequence[str] | None) -> list[str]:
    if record.columns is not None:
        missing = [column for column in record.columns if column not in names]
        if missing:
            raise MonitorDefinitionError(
                f"The 'columns' {missing} of monitor {record.name!r} are not in its reference, whose columns "
                f"are {list(names)}.",
                field="columns",
                value=repr(missing),
            )
        return list(record.columns)
    chosen = [name for name in names if seen is None or name in seen]
    if not chosen:
        raise MonitorDefinitionError(
            f"Monitor {record.name!r} has no column to watch: its reference's columns {list(names)} and the "
            f"inputs of deployment {record.deployment!r}'s requests {list(seen or [])} share none. Name "
            "them with columns=[...].",
            field="columns",
            value="None",
        )
    return chosen


def _reference_values(values: np.ndarray) -> Any:
    """A logged input column as reference data: numbers when every present value is a number, else the
    labels categories are read as (live JSON may mix texts, numbers and booleans)."""
    if values.dtype.kind == "f":
        return values
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return np.array([np.nan if value is None else float(value) for value in values], dtype=np.float64)
    return as_labels(values)


def _outputs(data: WindowData) -> dict[str, Any]:
    """The model's outputs as reference columns: ``prediction``, and ``score`` (the positive class's
    probability) for a binary classifier."""
    columns: dict[str, Any] = {"prediction": list(data.predictions)}
    if data.probabilities is not None and data.probabilities.shape[1] == 2:
        columns["score"] = data.probabilities[:, 1]
    return columns


def _output_profiles(outputs: dict[str, Any], task: str | None) -> dict[str, ColumnProfile]:
    """Profiles of the output columns under their ``output:`` names; a classifier's predictions are
    categories even when they are numbers (without a task, numbers are numeric)."""
    categorical = [name for name in outputs if name != "score" and task == "classification"]
    profile = ReferenceProfile.from_data(outputs, categorical=categorical, multivariate=False)
    return {
        f"{OUTPUT_PREFIX}{name}": dataclasses.replace(column, name=f"{OUTPUT_PREFIX}{name}")
        for name, column in profile.columns.items()
    }
