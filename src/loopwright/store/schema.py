"""The metadata schema: the lineage graph of DESIGN.md.

The shape is ML Metadata's: artifacts (immutable, content-addressed) and runs (executions) joined by events
(input / output edges); experiments group runs. Later layers hang datasets, models and deployments off
artifacts and runs. Times are integer milliseconds since the Unix epoch (UTC): portable across SQLite and
PostgreSQL, cheap to sort and compare, and the unit metric timestamps use anyway.

This module is the target of the Alembic migrations; change it only together with a new migration.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from loopwright._names import KEY_LENGTH

__all__ = [
    "alert_rules",
    "alerts",
    "alias_events",
    "approvals",
    "artifacts",
    "check_results",
    "data_schemas",
    "dataset_versions",
    "datasets",
    "deployment_events",
    "deployments",
    "evaluations",
    "events",
    "experiments",
    "feedback",
    "latest_metrics",
    "leases",
    "metadata",
    "metrics",
    "model_aliases",
    "model_version_datasets",
    "model_versions",
    "models",
    "monitor_results",
    "monitor_windows",
    "monitors",
    "params",
    "pipeline_runs",
    "pipelines",
    "promotion_policies",
    "retraining_policies",
    "retrainings",
    "rollout_events",
    "rollouts",
    "run_tags",
    "runs",
    "step_runs",
    "trigger_firings",
    "triggers",
    "user_roles",
]

# Stable constraint names, so migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only treats "INTEGER PRIMARY KEY" as the rowid alias; BIGINT there would be a slower extra key.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("name", String(KEY_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False, server_default="run"),
    Column("status", String(16), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("user", String(KEY_LENGTH), nullable=True),
    Column("host", String(KEY_LENGTH), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("source", Text, nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("python_version", String(32), nullable=True),
    Column("environment", JSON, nullable=True),
    Index(None, "experiment_id", "start_ms"),
    Index(None, "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key"),
)

# Every logged point. NaN is stored as value NULL with is_nan set, because SQLite turns NaN into NULL;
# +/-inf round-trip natively on both backends.
metrics = Table(
    "metrics",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    Column("is_nan", Boolean, nullable=False),
    Index(None, "run_id", "key", "step"),
)

# The last point of each (run, metric): what filters and order-by read, so ranking 10,000 runs by a
# metric is an index scan instead of an aggregate over every point.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    Column("is_nan", Boolean, nullable=False),
    Index(None, "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(KEY_LENGTH), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("properties", JSON, nullable=True),
    UniqueConstraint("kind", "digest"),
    Index(None, "digest"),
)

# Lineage edges: an artifact was an input to, or an output of, a run, under a name within that run.
events = Table(
    "events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("artifact_id", String(32), ForeignKey("artifacts.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("run_id", "direction", "name"),
    Index(None, "artifact_id"),
)

# --- data versions (migration 0002) -------------------------------------------------------------------

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

# One immutable version of a dataset: canonical Parquet (an artifact of kind "dataset") identified by the
# hash of its logical content, with its column types and its profile (statistics) inline.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("artifact_id", String(32), ForeignKey("artifacts.id"), nullable=False),
    Column("parent_id", String(32), ForeignKey("dataset_versions.id", ondelete="SET NULL"), nullable=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("columns", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("check_status", String(16), nullable=False, server_default="unchecked"),
    Column("source", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    UniqueConstraint("dataset_id", "content_hash"),
)

# A data schema (the editable YAML contract), versioned per dataset like the data itself.
data_schemas = Table(
    "data_schemas",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
)

# The outcome of one check on one dataset version.
check_results = Table(
    "check_results",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "dataset_version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(KEY_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("column", String(KEY_LENGTH), nullable=True),
    Column("failed_rows", BigInteger, nullable=True),
    Column("details", JSON, nullable=True),
    Column("schema_id", String(32), ForeignKey("data_schemas.id", ondelete="SET NULL"), nullable=True),
    Column("reference_id", String(32), ForeignKey("dataset_versions.id", ondelete="SET NULL"), nullable=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "dataset_version_id"),
)

# --- pipelines and triggers (migration 0003) -----------------------------------------------------------

# A pipeline known to the workspace: its import reference and the hash of its latest definition.
pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("ref", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("definition_hash", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# The pipeline-specific facts of a run of kind "pipeline": which definition ran, with which parameters,
# the snapshot of its code (an artifact), and the trigger firing that started it, if any.
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("code_artifact_id", String(32), ForeignKey("artifacts.id"), nullable=True),
    Column("params", JSON, nullable=False),
    Column("executor", String(KEY_LENGTH), nullable=False),
    Column("trigger_cause", Text, nullable=True),
    Index(None, "pipeline_id"),
)

# One execution of a step (a run of kind "step"): its cache key and the parts it was made of (so
# `explain` can say which part changed), whether it hit the cache, and the run that produced its outputs.
step_runs = Table(
    "step_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("pipeline_run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", String(KEY_LENGTH), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("key_parts", JSON, nullable=True),
    Column("cache_status", String(16), nullable=False),
    Column("source_run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("outputs", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "cache_key"),
    Index(None, "pipeline_run_id"),
)

# What starts a pipeline on its own: a cron schedule, a new version of a dataset, an alert.
triggers = Table(
    "triggers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(KEY_LENGTH), nullable=False),
    Column("ref", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("spec", String(KEY_LENGTH), nullable=False),
    Column("params", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("origin", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_checked_ms", BigInteger, nullable=True),
    UniqueConstraint("pipeline", "kind", "spec"),
)

# Every firing of a trigger, with its cause. (trigger_id, fire_key) is unique: the key names the occasion
# (a scheduled minute, a dataset version), so two schedulers can never start the same occasion twice.
trigger_firings = Table(
    "trigger_firings",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("trigger_id", String(32), ForeignKey("triggers.id", ondelete="CASCADE"), nullable=False),
    Column("fire_key", String(KEY_LENGTH), nullable=False),
    Column("cause", Text, nullable=False),
    Column("scheduler", String(KEY_LENGTH), nullable=False),
    Column("fired_ms", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("error", Text, nullable=True),
    UniqueConstraint("trigger_id", "fire_key"),
)

# Time-limited ownership of a named job (e.g. "scheduler"), renewed by its holder while it lives.
leases = Table(
    "leases",
    metadata,
    Column("name", String(KEY_LENGTH), primary_key=True),
    Column("holder", String(KEY_LENGTH), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# --- model registry (migration 0004) -------------------------------------------------------------------

# A registered model: the name its versions are numbered under.
models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# One immutable version of a model: its files are one artifact of kind "model" (a deterministic tar of the
# model folder). It points at the run that made it and the version it was fine-tuned from; the code
# version is the run's git commit, copied so it survives the run.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_id", String(32), ForeignKey("artifacts.id"), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column(
        "fine_tuned_from_id", String(32), ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    ),
    Column("flavor", String(64), nullable=False),
    Column("signature", JSON, nullable=True),
    Column("code_version", String(64), nullable=True),
    Column("code_dirty", Boolean, nullable=True),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("created_by", String(KEY_LENGTH), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
    Index(None, "run_id"),
    Index(None, "fine_tuned_from_id"),
)

# The dataset versions a model version was trained on.
model_version_datasets = Table(
    "model_version_datasets",
    metadata,
    Column(
        "model_version_id", String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "dataset_version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(16), nullable=False),
    Index(None, "dataset_version_id"),
)

# Where each alias of a model points now. A removed alias keeps its row (version NULL), so every move is a
# compare-and-swap on `revision`: of two concurrent moves, exactly one changes the row.
model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(KEY_LENGTH), primary_key=True),
    Column(
        "model_version_id", String(32), ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    ),
    Column("revision", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# The audit trail of alias moves: who, when, from which version to which, why, and the gate report of a
# promotion. Version numbers are copied so the trail reads the same after a version is deleted.
alias_events = Table(
    "alias_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(KEY_LENGTH), nullable=False),
    Column("action", String(16), nullable=False),
    Column(
        "from_version_id", String(32), ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    ),
    Column("to_version_id", String(32), ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("user", String(KEY_LENGTH), nullable=True),
    Column("reason", Text, nullable=True),
    Column("forced", Boolean, nullable=False),
    Column("gates", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "model_id", "alias", "created_ms"),
)

# The stored outcome of evaluating a model version on a dataset version: overall and per-segment metrics.
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "model_version_id", String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column(
        "dataset_version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("dataset", String(KEY_LENGTH), nullable=False),
    Column("target", String(KEY_LENGTH), nullable=False),
    Column("task", String(16), nullable=False),
    Column("segments", JSON, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("segment_metrics", JSON, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("created_by", String(KEY_LENGTH), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "model_version_id"),
    Index(None, "dataset_version_id"),
)

# The promotion policy (gates) of one alias of a model, as JSON.
promotion_policies = Table(
    "promotion_policies",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(KEY_LENGTH), primary_key=True),
    Column("body", JSON, nullable=False),
    Column("updated_by", String(KEY_LENGTH), nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)

# A person's approval of one version for one alias (the human gate of a promotion policy).
approvals = Table(
    "approvals",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column(
        "model_version_id", String(32), ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("alias", String(KEY_LENGTH), nullable=False),
    Column("user", String(KEY_LENGTH), nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("model_version_id", "alias", "user"),
)

# The workspace's users and their roles (who may approve). Server authentication comes later.
user_roles = Table(
    "user_roles",
    metadata,
    Column("user", String(KEY_LENGTH), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("granted_by", String(KEY_LENGTH), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)


# --- serving (migration 0005) ---------------------------------------------------------------------------

# A deployment: what one prediction endpoint serves. The production variant is the model's `alias` or a
# pinned `version` (exactly one is set); a canary version takes `canary_weight` of the traffic, optionally
# sticky by a key; a shadow version receives a copy of every request, never answering it. `revision` grows
# with every change, so an update is a compare-and-swap and serving runtimes notice changes cheaply.
deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("model", String(KEY_LENGTH), nullable=False),
    Column("alias", String(KEY_LENGTH), nullable=True),
    Column("version", Integer, nullable=True),
    Column("canary_version", Integer, nullable=True),
    Column("canary_weight", Double, nullable=False),
    Column("sticky_key", String(KEY_LENGTH), nullable=True),
    Column("shadow_version", Integer, nullable=True),
    Column("description", Text, nullable=True),
    Column("revision", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# The audit trail of a deployment: one row per revision, with the fields that changed (old and new).
deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("change", JSON, nullable=False),
    Column("user", String(KEY_LENGTH), nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("deployment_id", "revision"),
)

# Labels and outcomes that arrive after a prediction, joined to the prediction log by request id. The
# deployment is its name (not a key): feedback must read the same as the log, which records names.
feedback = Table(
    "feedback",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("deployment", String(KEY_LENGTH), nullable=False),
    Column("request_id", String(KEY_LENGTH), nullable=False),
    Column("value", JSON, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    UniqueConstraint("deployment", "request_id"),
)


# --- monitoring (migration 0006) -----------------------------------------------------------------------

# A monitor: scheduled computations over windows of one deployment's prediction log. The reference (a
# dataset version or a past window of predictions) is profiled once; the profile is an artifact of kind
# "file", so a window never re-reads the reference data. Windows are by time (`window_ms`) or by row
# count (`window_rows`), exactly one of them.
monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("deployment", String(KEY_LENGTH), nullable=False),
    Column("reference", JSON, nullable=False),
    Column("window_ms", BigInteger, nullable=True),
    Column("window_rows", BigInteger, nullable=True),
    Column("columns", JSON, nullable=True),
    Column("drift", JSON, nullable=False),
    Column("correction", String(16), nullable=True),
    Column("options", JSON, nullable=False),
    Column("profile_artifact_id", String(32), ForeignKey("artifacts.id"), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "deployment"),
)

# The windows a monitor has processed, so a run computes only new ones. `labels` is how many predictions
# of the window had feedback when it was computed: late labels make it stale, and a later run recomputes
# its performance.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labels", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("computed_ms", BigInteger, nullable=False),
    UniqueConstraint("monitor_id", "start_ms"),
)

# Monitor outputs as a compact time series: one number per (window, metric, column). `extra` holds a few
# small facts (the test used, a p-value, estimated=true), never a blob.
monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("metric", String(KEY_LENGTH), nullable=False),
    Column("column", String(KEY_LENGTH), nullable=True),
    Column("value", Double, nullable=True),
    Column("extra", JSON, nullable=True),
    Index(None, "monitor_id", "metric", "window_start_ms"),
    Index(None, "monitor_id", "window_start_ms"),
)

# A rule on a monitor output: `metric` (and `column`) compared with `threshold` by `operator`, true for
# `for_windows` consecutive windows, opens an alert of `severity` sent to `channels`.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(KEY_LENGTH), nullable=False),
    Column("column", String(KEY_LENGTH), nullable=True),
    Column("operator", String(8), nullable=False),
    Column("threshold", Double, nullable=False),
    Column("for_windows", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "monitor_id"),
)

# An alert: a rule's condition held. At most one open alert per rule; it resolves when the condition clears.
alerts = Table(
    "alerts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("rule_id", Integer, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger, nullable=True),
    Column("last_value", Double, nullable=True),
    Column("window_start_ms", BigInteger, nullable=True),
    Column("window_end_ms", BigInteger, nullable=True),
    Column("message", Text, nullable=True),
    Column("notified", JSON, nullable=True),
    Index(None, "rule_id", "status"),
)


# --- automation (migration 0007) ---------------------------------------------------------------------

# A rollout: a candidate version of a deployment's model going out step by step (shadow, canary weights)
# under a plan, judged on live data, then promoted or rolled back. `active_deployment` holds the
# deployment's name while the rollout is active and NULL afterwards: its unique constraint keeps one
# active rollout per deployment on both databases (NULLs never collide). `state` holds the latest analysis
# and the production measurements carried to a step where production takes no traffic. Every change is a
# compare-and-swap on `revision`.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(KEY_LENGTH), nullable=False),
    Column("active_deployment", String(KEY_LENGTH), nullable=True, unique=True),
    Column("model", String(KEY_LENGTH), nullable=False),
    Column("candidate", Integer, nullable=False),
    Column("baseline", Integer, nullable=True),
    Column("alias", String(KEY_LENGTH), nullable=True),
    Column("plan", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("step_started_ms", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
    Column("cause", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_by", String(KEY_LENGTH), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger, nullable=True),
    Index(None, "deployment", "created_ms"),
)

# Every step, measurement and decision of a rollout, oldest first: `details` holds the analysis (each
# check with its value, threshold and sample size) or the deployment change; `notified` how the channels
# took the event.
rollout_events = Table(
    "rollout_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("rollout_id", Integer, ForeignKey("rollouts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("step", Integer, nullable=True),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=True),
    Column("notified", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "rollout_id", "id"),
)

# How a deployment retrains: its training pipeline, parameters, data source, triggers and rollout plan
# (one policy per deployment, stored as JSON as promotion policies are).
retraining_policies = Table(
    "retraining_policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(KEY_LENGTH), nullable=False, unique=True),
    Column("policy", JSON, nullable=False),
    Column("created_by", String(KEY_LENGTH), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# One retraining of a deployment, step by step: why (`cause`), the data version it trained on, the
# pipeline run, the candidate version registered, the gates' report, and the rollout it started.
retrainings = Table(
    "retrainings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(KEY_LENGTH), nullable=False),
    Column("cause", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("dataset", String(KEY_LENGTH), nullable=True),
    Column("pipeline_run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("model", String(KEY_LENGTH), nullable=True),
    Column("version", Integer, nullable=True),
    Column("gates", JSON, nullable=True),
    Column("rollout_id", Integer, ForeignKey("rollouts.id", ondelete="SET NULL"), nullable=True),
    Column("error", Text, nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger, nullable=True),
    Index(None, "deployment", "started_ms"),
)
