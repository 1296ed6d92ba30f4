"""Error families: stable codes, builtin bases, and messages that say what to do."""

from __future__ import annotations

import pytest

from loopwright import errors


@pytest.mark.parametrize(
    ("error_type", "code", "builtin"),
    [
        (errors.LoopwrightError, "loopwright_error", Exception),
        (errors.InvalidInputError, "invalid_input", ValueError),
        (errors.InvalidKeyError, "invalid_input.key", ValueError),
        (errors.InvalidMetricError, "invalid_input.metric", ValueError),
        (errors.FilterSyntaxError, "invalid_input.filter", ValueError),
        (errors.SignatureError, "invalid_input.signature", ValueError),
        (errors.ModelError, "invalid_input.model", ValueError),
        (errors.ModelFormatError, "invalid_input.model_format", ValueError),
        (errors.MonitorDefinitionError, "invalid_input.monitor", ValueError),
        (errors.AlertRuleError, "invalid_input.alert_rule", ValueError),
        (errors.PayloadError, "invalid_input.payload", ValueError),
        (errors.MalformedPayloadError, "invalid_input.payload.malformed", ValueError),
        (errors.PayloadTooLargeError, "invalid_input.payload.too_large", ValueError),
        (errors.NotFoundError, "not_found", LookupError),
        (errors.ConflictError, "conflict", Exception),
        (errors.ParamConflictError, "conflict.param", ValueError),
        (errors.RunStateError, "conflict.run_state", Exception),
        (errors.StoreError, "store", Exception),
        (errors.StoreUnavailableError, "store.unavailable", ConnectionError),
        (errors.ArtifactIntegrityError, "store.integrity", Exception),
        (errors.TrackingWriteError, "store.tracking_write", Exception),
        (errors.PredictionLogError, "store.prediction_log", Exception),
        (errors.ServingError, "serving", Exception),
        (errors.DeploymentUnavailableError, "serving.unavailable", Exception),
        (errors.PredictionError, "serving.prediction", Exception),
        (errors.MissingExtraError, "missing_extra", ImportError),
        (errors.PermissionDeniedError, "permission_denied", PermissionError),
        (errors.PromotionError, "promotion", Exception),
        (errors.PromotionRefusedError, "promotion.refused", Exception),
        (errors.PromotionForbiddenError, "promotion.forbidden", Exception),
    ],
)
def test_codes_are_stable_and_families_inherit_the_nearest_builtin(
    error_type: type[errors.LoopwrightError], code: str, builtin: type[Exception]
) -> None:
    assert error_type.code == code
    assert issubclass(error_type, errors.LoopwrightError)
    assert issubclass(error_type, builtin)


def test_a_missing_extra_prints_the_pip_line() -> None:
    error = errors.MissingExtraError("A PostgreSQL metadata store", "psycopg", "postgres")
    assert str(error) == "A PostgreSQL metadata store requires psycopg: pip install 'loopwright[postgres]'"
    assert error.details == {
        "feature": "A PostgreSQL metadata store",
        "package": "psycopg",
        "extra": "postgres",
    }


def test_not_found_errors_carry_the_kind_and_key() -> None:
    error = errors.NotFoundError("Run 'x' does not exist.", kind="run", key="x")
    assert (error.kind, error.key, error.specific_code) == ("run", "x", "not_found.run")
    assert isinstance(error, LookupError)
