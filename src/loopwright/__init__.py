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
    "log_feedback": "loopwright.client",
    "predictions": "loopwright.client",
    "batch_predict": "loopwright.client",
    "deploy": "loopwright.client",
    "deployments": "loopwright.client",
    "Deployment": "loopwright.serving.deployments",
    "save_schema": "loopwright.client",
    "CheckReport": "loopwright.data.checks",
    "CheckResult": "loopwright.data.checks",
    "data_check": "loopwright.data.checks",
    "DataSchema": "loopwright.data.schema",
    "ColumnSchema": "loopwright.data.schema",
    "DatasetVersion": "loopwright.data.versions",
    "Settings": "loopwright.settings",
    "ColumnSpec": "loopwright.registry.signature",
    "Signature": "loopwright.registry.signature",
    "infer_signature": "loopwright.registry.signature",
    "PythonModel": "loopwright.registry.format",
    "save_model": "loopwright.registry.format",
    "explain": "loopwright.client",
    "CacheDisabledWarning": "loopwright.pipelines.runner",
    "Explanation": "loopwright.pipelines.explain",
    "Pipeline": "loopwright.pipelines.pipeline",
    "PipelineRun": "loopwright.pipelines.runner",
    "Step": "loopwright.pipelines.step",
    "StepExecution": "loopwright.pipelines.runner",
    "latest": "loopwright.pipelines.graph",
    "load_pipeline": "loopwright.pipelines.pipeline",
    "new_data": "loopwright.pipelines.triggers",
    "pipeline": "loopwright.pipelines.pipeline",
    "run_pipeline": "loopwright.pipelines.runner",
    "step": "loopwright.pipelines.step",
    "alias_history": "loopwright.client",
    "approve": "loopwright.client",
    "compare_evaluations": "loopwright.client",
    "evaluate": "loopwright.client",
    "get_model_version": "loopwright.client",
    "grant_role": "loopwright.client",
    "lineage": "loopwright.client",
    "list_models": "loopwright.client",
    "load_model": "loopwright.client",
    "model_card": "loopwright.client",
    "model_versions": "loopwright.client",
    "promote": "loopwright.client",
    "register_model": "loopwright.client",
    "set_alias": "loopwright.client",
    "set_policy": "loopwright.client",
    "Evaluation": "loopwright.registry.evaluation",
    "GateReport": "loopwright.registry.gates",
    "PromotionPolicy": "loopwright.registry.gates",
    "ModelVersion": "loopwright.registry.version",
    "ArtifactRecord": "loopwright.store.records",
    "Experiment": "loopwright.store.records",
    "Metric": "loopwright.store.records",
    "RunArtifact": "loopwright.store.records",
    "RunRecord": "loopwright.store.records",
    "RunStatus": "loopwright.store.records",
    "AlertRule": "loopwright.monitoring.alerts",
    "Webhook": "loopwright.monitoring.channels",
    "alert_rule": "loopwright.client",
    "alerts": "loopwright.client",
    "on_alert": "loopwright.pipelines.triggers",
    "Monitor": "loopwright.monitoring.monitors",
    "monitor": "loopwright.client",
    "monitor_results": "loopwright.client",
    "RecentPredictions": "loopwright.automation.retraining",
    "RetrainingPolicy": "loopwright.automation.retraining",
    "RolloutAnalysis": "loopwright.automation.analysis",
    "RolloutPlan": "loopwright.automation.plan",
    "RolloutStep": "loopwright.automation.plan",
    "retrain": "loopwright.client",
    "rollout": "loopwright.client",
    "rollouts": "loopwright.client",
    "set_retraining": "loopwright.client",
}

__all__ = [
    "AlertRule",
    "ArtifactRecord",
    "CacheDisabledWarning",
    "CheckReport",
    "CheckResult",
    "Client",
    "ColumnSchema",
    "ColumnSpec",
    "DataSchema",
    "DatasetVersion",
    "Deployment",
    "Evaluation",
    "Experiment",
    "Explanation",
    "GateReport",
    "Metric",
    "ModelVersion",
    "Monitor",
    "Pipeline",
    "PipelineRun",
    "PromotionPolicy",
    "PythonModel",
    "RecentPredictions",
    "RetrainingPolicy",
    "RolloutAnalysis",
    "RolloutPlan",
    "RolloutStep",
    "Run",
    "RunArtifact",
    "RunRecord",
    "RunStatus",
    "Settings",
    "Signature",
    "Step",
    "StepExecution",
    "Webhook",
    "__version__",
    "active_run",
    "alert_rule",
    "alerts",
    "alias_history",
    "approve",
    "batch_predict",
    "check_dataset",
    "compare_evaluations",
    "connect",
    "data_check",
    "dataset",
    "deploy",
    "deployments",
    "end_run",
    "errors",
    "evaluate",
    "explain",
    "get_client",
    "get_model_version",
    "get_run",
    "grant_role",
    "infer_schema",
    "infer_signature",
    "latest",
    "lineage",
    "list_datasets",
    "list_experiments",
    "list_models",
    "load_model",
    "load_pipeline",
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
    "new_data",
    "on_alert",
    "pipeline",
    "predictions",
    "promote",
    "register_model",
    "retrain",
    "rollout",
    "rollouts",
    "run_pipeline",
    "save_model",
    "save_schema",
    "search_runs",
    "set_alias",
    "set_policy",
    "set_retraining",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
]

if TYPE_CHECKING:
    from loopwright.automation.analysis import RolloutAnalysis
    from loopwright.automation.plan import RolloutPlan, RolloutStep
    from loopwright.automation.retraining import RecentPredictions, RetrainingPolicy
    from loopwright.client import (
        Client,
        active_run,
        alert_rule,
        alerts,
        alias_history,
        approve,
        batch_predict,
        check_dataset,
        compare_evaluations,
        connect,
        dataset,
        deploy,
        deployments,
        end_run,
        evaluate,
        explain,
        get_client,
        get_model_version,
        get_run,
        grant_role,
        infer_schema,
        lineage,
        list_datasets,
        list_experiments,
        list_models,
        load_model,
        log_artifact,
        log_artifacts,
        log_dataset,
        log_feedback,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        metric_history,
        model_card,
        model_versions,
        monitor,
        monitor_results,
        predictions,
        promote,
        register_model,
        retrain,
        rollout,
        rollouts,
        save_schema,
        search_runs,
        set_alias,
        set_policy,
        set_retraining,
        set_tag,
        set_tags,
        start_run,
    )
    from loopwright.data.checks import CheckReport, CheckResult, data_check
    from loopwright.data.schema import ColumnSchema, DataSchema
    from loopwright.data.versions import DatasetVersion
    from loopwright.monitoring.alerts import AlertRule
    from loopwright.monitoring.channels import Webhook
    from loopwright.monitoring.monitors import Monitor
    from loopwright.pipelines.explain import Explanation
    from loopwright.pipelines.graph import latest
    from loopwright.pipelines.pipeline import Pipeline, load_pipeline, pipeline
    from loopwright.pipelines.runner import CacheDisabledWarning, PipelineRun, StepExecution, run_pipeline
    from loopwright.pipelines.step import Step, step
    from loopwright.pipelines.triggers import new_data, on_alert
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.format import PythonModel, save_model
    from loopwright.registry.gates import GateReport, PromotionPolicy
    from loopwright.registry.signature import ColumnSpec, Signature, infer_signature
    from loopwright.registry.version import ModelVersion
    from loopwright.serving.deployments import Deployment
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
