"""Loopwright: one package that closes the machine-learning loop.

``import loopwright as lw`` is the only import users need. It is cheap: the names below load their
modules on first use, so importing Loopwright in a training script costs milliseconds.

>>> import loopwright as lw
>>> with lw.start_run(experiment="churn", name="lr-0.1") as run:  # doctest: +SKIP
...     run.log_params({"model": "lr", "C": 0.1})
...     run.log_metric("loss", 0.42, step=1)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopwright import errors

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Client": "loopwright.client",
    "active_run": "loopwright.client",
    "connect": "loopwright.client",
    "end_run": "loopwright.client",
    "get_client": "loopwright.client",
    "get_run": "loopwright.client",
    "list_experiments": "loopwright.client",
    "log_artifact": "loopwright.client",
    "log_artifacts": "loopwright.client",
    "log_metric": "loopwright.client",
    "log_metrics": "loopwright.client",
    "log_param": "loopwright.client",
    "log_params": "loopwright.client",
    "metric_history": "loopwright.client",
    "search_runs": "loopwright.client",
    "set_tag": "loopwright.client",
    "set_tags": "loopwright.client",
    "start_run": "loopwright.client",
    "Run": "loopwright.tracking.run",
    "check_dataset": "loopwright.client",
    "dataset": "loopwright.client",
    "infer_schema": "loopwright.client",
    "list_datasets": "loopwright.client",
    "log_dataset": "loopwright.client",
    "save_schema": "loopwright.client",
    "CheckReport": "loopwright.data.checks",
    "CheckResult": "loopwright.data.checks",
    "data_check": "loopwright.data.checks",
    "DataSchema": "loopwright.data.schema",
    "ColumnSchema": "loopwright.data.schema",
    "DatasetVersion": "loopwright.data.versions",
    "Settings": "loopwright.settings",
    "ArtifactRecord": "loopwright.store.records",
    "Experiment": "loopwright.store.records",
    "Metric": "loopwright.store.records",
    "RunArtifact": "loopwright.store.records",
    "RunRecord": "loopwright.store.records",
    "RunStatus": "loopwright.store.records",
}

__all__ = [
    "ArtifactRecord",
    "CheckReport",
    "CheckResult",
    "Client",
    "ColumnSchema",
    "DataSchema",
    "DatasetVersion",
    "Experiment",
    "Metric",
    "Run",
    "RunArtifact",
    "RunRecord",
    "RunStatus",
    "Settings",
    "__version__",
    "active_run",
    "check_dataset",
    "connect",
    "data_check",
    "dataset",
    "end_run",
    "errors",
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

if TYPE_CHECKING:
    from loopwright.client import (
        Client,
        active_run,
        check_dataset,
        connect,
        dataset,
        end_run,
        get_client,
        get_run,
        infer_schema,
        list_datasets,
        list_experiments,
        log_artifact,
        log_artifacts,
        log_dataset,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        metric_history,
        save_schema,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from loopwright.data.checks import CheckReport, CheckResult, data_check
    from loopwright.data.schema import ColumnSchema, DataSchema
    from loopwright.data.versions import DatasetVersion
    from loopwright.settings import Settings
    from loopwright.store.records import (
        ArtifactRecord,
        Experiment,
        Metric,
        RunArtifact,
        RunRecord,
        RunStatus,
    )
    from loopwright.tracking.run import Run


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loopwright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
