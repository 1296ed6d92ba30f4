"""Triggers: what starts a pipeline on its own, a cron schedule, a new version of a dataset or an alert.

A pipeline declares them where it is defined, and they are checked there, so a typo in a schedule fails
at import time and never at 03:00::

    import loopwright as lw

    @lw.pipeline(schedule="0 3 * * *", on=[lw.new_data("transactions"), lw.on_alert("fraud-drift")])
    def retrain(n_estimators: int = 200): ...

``loopwright triggers add`` adds more from the command line, and ``loopwright scheduler`` fires them
(:mod:`loopwright.pipelines.scheduler`). Cron schedules are read in UTC and fire at most once a minute,
so every occasion has a name, its *fire key* (``cron:2026-11-28T03:00Z``, ``dataset:transactions:v4``,
``alert:17``), which the store keeps unique per trigger.

This module stays import-light: the decorator imports it, and croniter (~70 ms to import) loads only when
a schedule is checked or evaluated.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright._names import validate_key
from loopwright.errors import InvalidInputError, InvalidKeyError, PipelineDefinitionError

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.store.triggers import TriggerRecord

__all__ = [
    "ALERT",
    "CRON",
    "NEW_DATA",
    "TriggerSpec",
    "alert_firing",
    "check_pipeline_triggers",
    "cron_firing",
    "cron_spec",
    "dataset_name",
    "describe",
    "importable_ref",
    "latest_occasion",
    "new_data",
    "new_data_firing",
    "next_occasion",
    "on_alert",
    "pipeline_trigger_specs",
    "sync_pipeline_triggers",
    "validate_schedule",
]

# The kinds of trigger the scheduler fires.
CRON = "cron"
NEW_DATA = "new_data"
ALERT = "alert"

_ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, or L for the last day"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat, where 0 and 7 are Sunday"),
)
_EXPECTED = (
    "a cron expression of five fields (minute hour day-of-month month day-of-week, in UTC), e.g. "
    "'0 3 * * *' for 03:00 every day, or one of @hourly, @daily, @weekly, @monthly, @yearly"
)
_PROBE_BASE = datetime(2000, 1, 1, tzinfo=UTC)  # where "does it ever match?" starts looking


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """One trigger as declared: its ``kind`` (``cron``, ``new_data`` or ``alert``) and its ``spec`` (the
    cron expression, the dataset name, or the alert rule's name). Build it with :func:`new_data`,
    :func:`on_alert` or :func:`cron_spec`.

    >>> new_data("transactions")
    TriggerSpec(kind='new_data', spec='transactions')
    """

    kind: str
    spec: str

    def describe(self) -> str:
        """How lists and messages show the trigger: ``cron 0 3 * * *``, ``new data in 'transactions'``."""
        return describe(self.kind, self.spec)


def describe(kind: str, spec: str) -> str:
    """A trigger in words, from its stored kind and spec."""
    if kind == NEW_DATA:
        return f"new data in {spec!r}"
    if kind == ALERT:
        return f"alert {spec!r}"
    return f"{kind} {spec}"


def new_data(dataset: str) -> TriggerSpec:
    """A trigger that runs the pipeline once for each new version of ``dataset``.

    Only versions logged after the trigger was registered count, and a version whose blocking checks
    failed never fires. When several versions arrive between two looks of the scheduler, the pipeline
    runs once, for the latest. Read the data in the pipeline with ``lw.latest(dataset)``.

    >>> import loopwright as lw
    >>> @lw.pipeline(on=[lw.new_data("transactions")])  # doctest: +SKIP
    ... def retrain(): ...
    """
    return TriggerSpec(NEW_DATA, dataset_name(dataset, subject="lw.new_data()"))


def on_alert(rule: str) -> TriggerSpec:
    """A trigger that runs the pipeline once for each alert that alert rule ``rule`` opens.

    Only alerts opened after the trigger was registered count. When several open between two looks of
    the scheduler, the pipeline runs once, for the latest. The rule need not exist yet: the trigger
    fires once it does and opens an alert.

    >>> on_alert("fraud-drift")
    TriggerSpec(kind='alert', spec='fraud-drift')
    """
    try:
        name = validate_key("alert rule", rule)
    except InvalidKeyError as error:
        raise InvalidInputError(
            f"lw.on_alert() needs the name of an alert rule. {error.message}", rule=repr(rule)
        ) from None
    return TriggerSpec(ALERT, name)


def dataset_name(dataset: Any, *, subject: str) -> str:
    """``dataset`` if it is a usable dataset name, else :class:`InvalidInputError` naming ``subject``."""
    try:
        return validate_key("dataset", dataset)
    except InvalidKeyError as error:
        raise InvalidInputError(
            f"{subject} needs the name of a dataset. {error.message}", dataset=repr(dataset)
        ) from None


def cron_spec(expression: str) -> TriggerSpec:
    """A cron trigger; the expression is checked (see :func:`validate_schedule`) and normalised.

    >>> cron_spec("0  3 * * *")
    TriggerSpec(kind='cron', spec='0 3 * * *')
    """
    return TriggerSpec(CRON, validate_schedule(expression))


# --- cron expressions --------------------------------------------------------------------------------


def validate_schedule(
    expression: Any,
    *,
    subject: str = "The schedule",
    error: type[InvalidInputError] = InvalidInputError,
) -> str:
    """``expression`` with its whitespace normalised, if it is a cron schedule Loopwright can fire; else
    ``error`` (an :class:`~loopwright.errors.InvalidInputError`) naming ``subject``, the value, and what
    is expected.

    Five fields (minute hour day-of-month month day-of-week) or an alias such as ``@daily``, read in UTC.
    Six- or seven-field expressions (seconds, years) are refused: a trigger fires at most once a minute.

    >>> validate_schedule("0 3 * * *")
    '0 3 * * *'
    >>> validate_schedule("61 * * * *")
    Traceback (most recent call last):
    ...
    loopwright.errors.InvalidInputError: The schedule must be a cron expression of five fields \
(minute hour day-of-month month day-of-week, in UTC), e.g. '0 3 * * *' for 03:00 every day, or one of \
@hourly, @daily, @weekly, @monthly, @yearly. Got '61 * * * *' instead: the minute field '61' is not valid \
(it takes 0-59).
    """
    if not isinstance(expression, str):
        raise error(
            f"{subject} must be {_EXPECTED}. Got {expression!r} of type {type(expression).__name__} instead.",
            value=repr(expression),
        )
    normalized = " ".join(expression.split())
    if normalized.startswith("@"):
        normalized = normalized.lower()
    problem = _cron_problem(normalized)
    if problem is not None:
        raise error(
            f"{subject} must be {_EXPECTED}. Got {expression!r} instead: {problem}.", value=expression
        )
    return normalized


def _cron_problem(expression: str) -> str | None:
    if not expression:
        return "it is empty"
    if expression.startswith("@"):
        if expression not in _ALIASES:
            return f"{expression!r} is not one of the aliases"
        return None
    fields = expression.split(" ")
    if len(fields) != len(_FIELDS):
        extra = (
            "; seconds and years are not supported, a trigger fires at most once a minute"
            if len(fields) in (6, 7)
            else ""
        )
        return f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5{extra}"
    if not _parses(expression):
        for position, (name, takes) in enumerate(_FIELDS):
            alone = ["*"] * len(_FIELDS)
            alone[position] = fields[position]
            if not _parses(" ".join(alone)):
                return f"the {name} field {fields[position]!r} is not valid (it takes {takes})"
        return "its fields do not combine into a schedule"  # pragma: no cover - each field alone parsed
    try:
        _croniter(expression, _PROBE_BASE).get_next(datetime)
    except Exception:  # croniter gives up looking: no date ever matches
        return "no date ever matches it"
    return None


def _parses(expression: str) -> bool:
    from croniter import croniter

    try:
        croniter(expression, _PROBE_BASE)
    except Exception:  # croniter raises several types (and sometimes builtins) for bad input
        return False
    return True


def _croniter(expression: str, base: datetime) -> Any:
    from croniter import croniter

    return croniter(expression, base)


def latest_occasion(expression: str, now: datetime) -> datetime:
    """The latest minute at or before ``now`` that the (valid) schedule names, in UTC.

    >>> latest_occasion("0 3 * * *", datetime(2026, 11, 28, 3, 0, 42, tzinfo=UTC))
    datetime.datetime(2026, 11, 28, 3, 0, tzinfo=datetime.timezone.utc)
    """
    minute = _minute(now) + timedelta(minutes=1)  # get_prev is strictly before its base
    return _as_utc(_croniter(expression, minute).get_prev(datetime))


def next_occasion(expression: str, now: datetime) -> datetime:
    """The first minute after ``now`` that the (valid) schedule names, in UTC."""
    return _as_utc(_croniter(expression, _minute(now)).get_next(datetime))


def _minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInputError(
            f"The scheduler's 'now' must be an aware datetime (with a time zone). Got {moment!r} instead.",
            now=repr(moment),
        )
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(fold=0)  # croniter may set fold, which UTC never needs


def cron_firing(expression: str, occasion: datetime) -> tuple[str, str]:
    """The fire key and the cause of a cron trigger's firing for ``occasion``.

    >>> cron_firing("0 3 * * *", datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    ('cron:2026-11-28T03:00Z', 'cron 0 3 * * * at 2026-11-28T03:00Z')
    """
    moment = occasion.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"cron:{moment}", f"cron {expression} at {moment}"


def new_data_firing(dataset: str, version: int) -> tuple[str, str]:
    """The fire key and the cause of a new-data trigger's firing for ``version`` of ``dataset``.

    >>> new_data_firing("transactions", 4)
    ('dataset:transactions:v4', "new version 4 of dataset 'transactions'")
    """
    return f"dataset:{dataset}:v{version}", f"new version {version} of dataset {dataset!r}"


def alert_firing(rule: str, alert_id: int) -> tuple[str, str]:
    """The fire key and the cause of an alert trigger's firing for alert ``alert_id`` of ``rule``.

    >>> alert_firing("fraud-drift", 17)
    ('alert:17', "alert 17 of rule 'fraud-drift'")
    """
    return f"alert:{alert_id}", f"alert {alert_id} of rule {rule!r}"


# --- triggers declared by pipelines ------------------------------------------------------------------


def check_pipeline_triggers(name: str, schedule: Any, on: Sequence[Any], location: str) -> None:
    """Check the ``schedule=`` and ``on=`` of ``@lw.pipeline`` where the pipeline is defined; raises
    :class:`~loopwright.errors.PipelineDefinitionError` pointing at ``location`` (file and line)."""
    if schedule is not None:
        validate_schedule(
            schedule,
            subject=f"The 'schedule' of pipeline {name!r} ({location})",
            error=PipelineDefinitionError,
        )
    for position, item in enumerate(on):
        if not isinstance(item, TriggerSpec):
            hint = (
                f" For a schedule, use schedule={item!r}."
                if isinstance(item, str) and _cron_problem(" ".join(item.split())) is None
                else ""
            )
            raise PipelineDefinitionError(
                f"The 'on' of pipeline {name!r} ({location}) must be a list of triggers such as "
                f"lw.new_data('transactions'). Got {item!r} (a {type(item).__name__}) at position "
                f"{position} instead.{hint}",
                pipeline=name,
                value=repr(item),
            )


def pipeline_trigger_specs(pipeline: Any) -> list[TriggerSpec]:
    """The triggers a pipeline declares: its ``schedule`` (as a cron spec) and its ``on`` specs."""
    specs: list[TriggerSpec] = []
    if pipeline.schedule is not None:
        specs.append(TriggerSpec(CRON, " ".join(str(pipeline.schedule).split())))
    specs.extend(spec for spec in pipeline.on if isinstance(spec, TriggerSpec))
    return list(dict.fromkeys(specs))  # one trigger per (kind, spec), in declared order


def sync_pipeline_triggers(client: Client, pipeline: Any, *, ref: str | None = None) -> list[TriggerRecord]:
    """Make the workspace's code triggers of ``pipeline`` (origin ``code``) match what it declares now:
    new ones are added, ones no longer declared are removed, and the reference is updated when the
    pipeline moved. Triggers added with ``loopwright triggers add`` (origin ``cli``) are left alone.

    Cheap when nothing changed (one read), so it can run on every pipeline run. The stored reference is
    :func:`importable_ref`'s: a pipeline that declares triggers must be importable by the scheduler.
    ``ref`` replaces the pipeline's own reference (the CLI passes ``/abs/path/file.py:name`` for a pipeline
    it loaded from a file).

    >>> sync_pipeline_triggers(lw.get_client(), retrain)  # doctest: +SKIP
    [TriggerRecord(pipeline='retrain', kind='cron', spec='0 3 * * *', origin='code', ...)]
    """
    from loopwright.store.triggers import TriggerCatalog

    specs = pipeline_trigger_specs(pipeline)
    ref = ref if ref is not None else str(pipeline.ref)
    if specs:
        ref = importable_ref(pipeline.name, ref)
    return TriggerCatalog(client.store).sync_code_triggers(
        pipeline.name, ref, [(spec.kind, spec.spec) for spec in specs]
    )


def importable_ref(name: str, ref: str) -> str:
    """A reference to pipeline ``name`` that another process (the scheduler) can import.

    ``module:qualname`` as it is; a pipeline defined in a script run directly (``__main__``) becomes
    ``/absolute/path/script.py:qualname``, which :func:`~loopwright.pipelines.pipeline.load_pipeline` imports
    without running the script's ``if __name__ == "__main__":`` block. One defined in a notebook or inside a
    function cannot be imported: :class:`~loopwright.errors.InvalidInputError`.
    """
    module, _, qualname = ref.partition(":")
    if module == "__main__" and "<locals>" not in qualname:
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        if script is not None and script.endswith(".py"):
            return f"{Path(script).resolve()}:{qualname}"
    if module == "__main__" or "<locals>" in qualname:
        where = "in a notebook or an interactive session" if module == "__main__" else "inside a function"
        short = qualname.rpartition(".")[2]
        raise InvalidInputError(
            f"Pipeline {name!r} declares triggers, but it is defined {where}, where the scheduler cannot "
            f"import it (reference {ref!r}). Move it into a module, e.g. pipelines/{name}.py, and register "
            f"it with `loopwright scheduler --pipeline pipelines.{name}:{short}`.",
            pipeline=name,
            ref=ref,
        )
    return ref
