"""Typed errors with stable codes.

Every error Loopwright raises on purpose is a :class:`LoopwrightError`. Each family also inherits the
nearest builtin, so ``except LookupError`` or ``except ValueError`` keep working for callers that do not
know Loopwright. Every class carries a stable ``code`` (also used by the HTTP API and the CLI) and its
message says what was wrong, the value received, and what to do next::

    >>> import loopwright as lw
    >>> try:
    ...     lw.get_run("no-such-run")
    ... except lw.errors.NotFoundError as error:
    ...     print(error.code, error.specific_code)
    not_found not_found.run
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlertRuleError",
    "ArtifactIntegrityError",
    "ConfigFileError",
    "ConflictError",
    "DataCheckError",
    "DataInputError",
    "DependentsWarning",
    "DeploymentUnavailableError",
    "FilterSyntaxError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidMetricError",
    "LoopwrightError",
    "LoopwrightWarning",
    "MalformedPayloadError",
    "MissingExtraError",
    "ModelError",
    "ModelFormatError",
    "MonitorDefinitionError",
    "NotFoundError",
    "ParamConflictError",
    "PayloadError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PipelineDefinitionError",
    "PredictionError",
    "PredictionLogError",
    "PromotionError",
    "PromotionForbiddenError",
    "PromotionRefusedError",
    "RetrainingPolicyError",
    "RolloutPlanError",
    "RunStateError",
    "SchemaFileError",
    "ServingError",
    "SignatureError",
    "StepFailedError",
    "StepOutputError",
    "StoreError",
    "StoreUnavailableError",
    "TrackingWriteError",
]


class LoopwrightError(Exception):
    """Base of every error Loopwright raises on purpose.

    ``code`` is stable across releases; ``details`` holds the structured facts in the message (names,
    values) for programs that want them without parsing text.
    """

    code: ClassVar[str] = "loopwright_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


# --- bad input -------------------------------------------------------------------------------------------


class InvalidInputError(LoopwrightError, ValueError):
    """A value given by the user does not fit what was expected."""

    code = "invalid_input"


class InvalidKeyError(InvalidInputError):
    """A metric, parameter or tag key is empty, too long, or contains forbidden characters."""

    code = "invalid_input.key"


class InvalidMetricError(InvalidInputError):
    """A metric value is not a real number."""

    code = "invalid_input.metric"


class FilterSyntaxError(InvalidInputError):
    """A run filter or order-by expression could not be parsed. ``position`` points at the bad token."""

    code = "invalid_input.filter"

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        pointer = f"\n    {expression}\n    {' ' * position}^"
        super().__init__(message + pointer, expression=expression, position=position)
        self.expression = expression
        self.position = position


class DataInputError(InvalidInputError):
    """Data handed to Loopwright cannot be read (unreadable, empty, mixed or unsupported types)."""

    code = "invalid_input.data"


class SchemaFileError(InvalidInputError):
    """A data schema file (or text) is not valid YAML or does not describe a schema."""

    code = "invalid_input.schema"


class ConfigFileError(InvalidInputError):
    """A workspace configuration file (``loopwright.yaml``) is not valid YAML or does not describe a
    workspace. The message names the file, the line and the field; ``details`` holds ``source``, and
    ``line`` and ``field`` when the YAML parsed but does not fit."""

    code = "invalid_input.config"


class SignatureError(InvalidInputError):
    """Data given to a model's ``predict`` does not fit its signature: a missing column, a type that does not
    widen safely to the expected one, or a tensor of the wrong shape. ``details`` names the ``column`` (or
    ``input``), the ``expected`` and the ``received`` type or shape."""

    code = "invalid_input.signature"


class ModelError(InvalidInputError):
    """A model cannot be saved (no flavor fits it, it cannot be serialised, a flavor option is wrong) or
    does not offer what was asked of it (``predict_proba`` on a regressor)."""

    code = "invalid_input.model"


class ModelFormatError(InvalidInputError):
    """A folder is not a readable Loopwright model: no manifest, a manifest that does not parse or does not
    describe a model, an unknown flavor, or missing model files."""

    code = "invalid_input.model_format"


class PipelineDefinitionError(InvalidInputError):
    """A pipeline or step cannot run as defined: a missing or unexpected argument, outputs whose annotated
    types do not fit the next step, a parameter of the wrong type, a bad cache or trigger setting. Raised
    when the pipeline is defined or submitted, never halfway through a run; the message points at the
    user's file and line where it can."""

    code = "invalid_input.pipeline"


class StepOutputError(InvalidInputError):
    """A step returned a value that does not fit its return annotation (the step fails; nothing of the
    value is stored)."""

    code = "invalid_input.step_output"


class MonitorDefinitionError(InvalidInputError):
    """A monitor cannot be built as defined: an unknown deployment or reference, a bad window, an unknown
    drift test, a threshold out of range. Raised when the monitor is created, never when it runs; ``details``
    names the ``field``, the ``value`` and what was expected."""

    code = "invalid_input.monitor"


class AlertRuleError(InvalidInputError):
    """An alert rule cannot be built as defined: a condition that does not parse, a duration or severity
    out of range, an unknown channel. Raised when the rule is defined; ``details`` names the ``field`` and
    the ``value``."""

    code = "invalid_input.alert_rule"


class RolloutPlanError(InvalidInputError):
    """A rollout plan or its analysis cannot be used as defined: no steps, a canary weight outside (0, 1],
    a duration that does not parse, a threshold or sample size out of range, an unknown metric or test.
    Raised when the plan is built; ``details`` names the ``field`` and the ``value``."""

    code = "invalid_input.rollout_plan"


class RetrainingPolicyError(InvalidInputError):
    """A retraining policy cannot be used as defined: a pipeline reference that does not parse, a data
    source or trigger of the wrong kind, a parameter the pipeline does not take. Raised when the policy is
    built or set; ``details`` names the ``field`` and the ``value``."""

    code = "invalid_input.retraining_policy"


class PayloadError(InvalidInputError):
    """A prediction request's body does not have the shape its protocol (Loopwright's own, MLflow scoring,
    Open Inference Protocol v2) requires. ``details`` names the ``field`` (``records[2]``,
    ``inputs[0].shape``), the ``expected`` and the ``received`` value or type."""

    code = "invalid_input.payload"


class MalformedPayloadError(PayloadError):
    """A prediction request's body cannot be read at all: not JSON (or CSV), or not in the declared
    encoding (HTTP 400)."""

    code = "invalid_input.payload.malformed"


class PayloadTooLargeError(PayloadError):
    """A prediction request's body is larger than the server's limit (HTTP 413)."""

    code = "invalid_input.payload.too_large"


class DataCheckError(LoopwrightError):
    """A blocking data check failed. ``report`` (a ``CheckReport``) holds every result."""

    code = "data_check.failed"

    def __init__(self, report: Any) -> None:
        super().__init__(report.summary(), dataset=report.dataset, version=report.version)
        self.report = report


# --- state and conflicts ---------------------------------------------------------------------------------


class NotFoundError(LoopwrightError, LookupError):
    """Something that was asked for by name or id does not exist."""

    code = "not_found"

    def __init__(self, message: str, *, kind: str, key: str, **details: Any) -> None:
        super().__init__(message, kind=kind, key=key, **details)
        self.kind = kind
        self.key = key

    @property
    def specific_code(self) -> str:
        """The code with the kind of object appended, e.g. ``not_found.run``."""
        return f"{self.code}.{self.kind}"


class ConflictError(LoopwrightError):
    """The request contradicts what is already recorded."""

    code = "conflict"


class ParamConflictError(ConflictError, ValueError):
    """A parameter was logged twice for one run with different values (parameters are immutable)."""

    code = "conflict.param"


class RunStateError(ConflictError):
    """The run is not in a state that allows the operation (e.g. logging to a finished run)."""

    code = "conflict.run_state"


class StepFailedError(LoopwrightError):
    """A step of a pipeline run failed. ``run_id`` is the pipeline run, ``step`` the step; the step's own
    exception is the ``__cause__`` when it ran in this process, and its traceback is in the step run's
    ``error``. Running the pipeline again reuses every step that finished (they are cached)."""

    code = "pipeline.step_failed"


class PermissionDeniedError(LoopwrightError, PermissionError):
    """The user lacks the role an action needs (e.g. approving a promotion without the approver role)."""

    code = "permission_denied"


# --- promotion -------------------------------------------------------------------------------------------


class PromotionError(LoopwrightError):
    """A model version could not be promoted to an alias."""

    code = "promotion"


class PromotionRefusedError(PromotionError):
    """One or more gates of the alias's promotion policy failed. ``report`` (a ``GateReport``) holds the
    outcome of every gate; a forced promotion (with a reason) overrides them and is audited."""

    code = "promotion.refused"

    def __init__(self, report: Any) -> None:
        super().__init__(report.summary(), model=report.model, version=report.version, alias=report.alias)
        self.report = report


class PromotionForbiddenError(PromotionError):
    """The alias's promotion policy forbids promotions to it (it is frozen); force does not override it."""

    code = "promotion.forbidden"


# --- serving ---------------------------------------------------------------------------------------------


class ServingError(LoopwrightError):
    """A deployment could not answer a prediction request."""

    code = "serving"


class DeploymentUnavailableError(ServingError):
    """A deployment exists, but what it serves could not be loaded (its alias points nowhere, a model
    failed to load). The message says why; other deployments keep serving."""

    code = "serving.unavailable"


class PredictionError(ServingError):
    """A served model failed on a request: it raised, or returned a number of predictions that does not
    match the number of rows. ``details`` names the ``deployment``, ``model``, ``version`` and ``variant``."""

    code = "serving.prediction"


# --- storage ---------------------------------------------------------------------------------------------


class StoreError(LoopwrightError):
    """The metadata or artifact store failed."""

    code = "store"


class StoreUnavailableError(StoreError, ConnectionError):
    """The metadata store cannot be reached or opened."""

    code = "store.unavailable"


class ArtifactIntegrityError(StoreError):
    """An artifact's bytes no longer match the sha256 digest it was stored under."""

    code = "store.integrity"


class PredictionLogError(StoreError):
    """Prediction log entries could not be handed to the operating system (disk full, folder gone). The
    request they belong to must not be acknowledged; the failure is counted in ``write_errors``."""

    code = "store.prediction_log"


class TrackingWriteError(StoreError):
    """Buffered metrics could not be written to the store; they are kept and the write is retried."""

    code = "store.tracking_write"


# --- installation ----------------------------------------------------------------------------------------


class MissingExtraError(LoopwrightError, ImportError):
    """An optional dependency is not installed. The message prints the exact ``pip install`` line."""

    code = "missing_extra"

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} requires {package}: pip install 'loopwright[{extra}]'",
            feature=feature,
            package=package,
            extra=extra,
        )
        self.extra = extra


# --- warnings --------------------------------------------------------------------------------------------


class LoopwrightWarning(UserWarning):
    """Base of the warnings Loopwright emits: something worth knowing that is not an error."""


class DependentsWarning(LoopwrightWarning):
    """A model version that others were fine-tuned from is being changed (its alias moved away, or it was
    archived): the dependents may need retraining (a correction cascade)."""
