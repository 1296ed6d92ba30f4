"""Alert rules on monitor outputs, and the alerts they open and resolve.

A rule watches one series of a monitor's results, a metric (dataset-level, or of one column), and opens
an alert when a condition has held for a number of consecutive windows::

    import loopwright as lw

    lw.alert_rule(
        "fraud-drift",
        monitor="fraud",
        when="drift_share > 0.3",          # or "drift_score[amount] >= 0.1" for one column
        for_windows=2,
        severity="critical",
        channels=["log", lw.Webhook("https://hooks.example.com/loopwright")],
    )

**Semantics.** The windows of a rule are the monitor's windows that hold a number for its metric (and
column), in time order; a window without one (no labels yet for a performance metric, a NaN) neither
holds nor clears the condition and is skipped. An alert *opens* at the ``for_windows``-th consecutive
window in which the condition holds, and stays open, one per rule (deduplicated), with its value and
window following the latest window that still holds, until the first window in which it does not: then
it *resolves*. The next episode opens a new alert.

**When.** :meth:`Alerts.evaluate` judges the windows a rule has not judged yet: those that ended after
its latest alert's window, or, for a rule that never alerted, those that ended since the rule was
defined plus the ``for_windows`` windows before (a condition already holding counts at once). Results of
windows judged already (a backfill, late labels) do not reopen history. The monitor service evaluates
a monitor's rules after each run; opening and resolving are sent to the rule's channels
(:mod:`loopwright.monitoring.channels`) and can start a pipeline (``lw.on_alert("fraud-drift")``).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from loopwright._names import validate_key
from loopwright.errors import AlertRuleError, InvalidKeyError, NotFoundError
from loopwright.monitoring.channels import Webhook, channel_from_json, channel_key, parse_channels
from loopwright.monitoring.results import (
    DRIFT_METRICS,
    OPERATIONS_METRICS,
    PERFORMANCE_METRICS,
    QUALITY_METRICS,
)
from loopwright.store.alerts import (
    ALERT_STATUSES,
    AlertCatalog,
    AlertChange,
    AlertRecord,
    AlertRuleRecord,
    ResultPoint,
    RuleState,
)
from loopwright.store.metadata import MetadataStore, now_ms

__all__ = ["OPERATORS", "SEVERITIES", "AlertEvent", "AlertRule", "Alerts", "judge", "parse_condition"]

logger = logging.getLogger("loopwright.alerts")

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparisons a condition may use."""

SEVERITIES = ("info", "warning", "critical")
"""Alert severities, least to most urgent."""

_CONDITION = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[(?P<column>[^\]]+)\])?\s*"
    r"(?P<operator>>=|<=|==|!=|>|<)\s*(?P<threshold>\S+)\s*$"
)
_CONDITION_EXPECTED = (
    "'<metric> <operator> <number>' or '<metric>[<column>] <operator> <number>' with an operator among "
    f"{', '.join(OPERATORS)}, e.g. 'drift_share > 0.3' or 'drift_score[amount] >= 0.1'"
)
_MAX_WINDOWS = 10_000
_METRICS = (*DRIFT_METRICS, *QUALITY_METRICS, *PERFORMANCE_METRICS, *OPERATIONS_METRICS)
# Metrics recorded only per column, and metrics recorded only for the whole window; the rest (performance
# and operations per segment, schema violations per column) are recorded both ways.
_PER_COLUMN = (
    "drift_score",
    "drift_detected",
    "prediction_drift_score",
    "prediction_drift_detected",
    "missing_share",
    "out_of_range_share",
    "unseen_category_share",
    "schema_violation_rows",
)
_WHOLE = (
    "drift_share",
    "dataset_drift",
    "multivariate_drift",
    "schema_violations",
    "rows",
    "label_coverage",
    "labels",
)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """An alert rule as defined, checked when built: ``when`` the condition holds on monitor
    ``monitor``'s results for ``for_windows`` consecutive windows, open an alert of ``severity`` and send
    it to ``channels`` (``"log"``, ``"store"``, :class:`~loopwright.monitoring.channels.Webhook`).

    >>> rule = AlertRule("fraud-drift", monitor="fraud", when="drift_share > 0.3", for_windows=2)
    >>> (rule.metric, rule.column, rule.operator, rule.threshold)
    ('drift_share', None, '>', 0.3)
    """

    name: str
    monitor: str
    when: str
    for_windows: int = 1
    severity: str = "warning"
    channels: Sequence[str | Webhook] = ("log",)
    metric: str = field(init=False)
    column: str | None = field(init=False)
    operator: str = field(init=False)
    threshold: float = field(init=False)

    def __post_init__(self) -> None:
        name = _key("alert rule", self.name, subject="The name of an alert rule")
        _key("monitor", self.monitor, subject=f"The 'monitor' of alert rule {name!r}")
        metric, column, comparison, threshold = parse_condition(self.when, rule=name)
        _check_metric(name, metric, column)
        for_windows = self.for_windows
        if (
            isinstance(for_windows, bool)
            or not isinstance(for_windows, int)
            or not 1 <= for_windows <= _MAX_WINDOWS
        ):
            raise AlertRuleError(
                f"The 'for_windows' of alert rule {name!r} must be a whole number of consecutive windows "
                f"from 1 to {_MAX_WINDOWS}. Got {for_windows!r} instead.",
                field="for_windows",
                value=repr(for_windows),
            )
        if self.severity not in SEVERITIES:
            raise AlertRuleError(
                f"The 'severity' of alert rule {name!r} must be one of {', '.join(SEVERITIES)}. Got "
                f"{self.severity!r} instead.",
                field="severity",
                value=repr(self.severity),
            )
        channels = tuple(channel_from_json(stored) for stored in parse_channels(self.channels, rule=name))
        for attribute, value in (
            ("metric", metric),
            ("column", column),
            ("operator", comparison),
            ("threshold", threshold),
            ("channels", channels),
        ):
            object.__setattr__(self, attribute, value)

    @property
    def condition(self) -> str:
        """The condition, normalised: ``drift_share > 0.3``."""
        subject = self.metric if self.column is None else f"{self.metric}[{self.column}]"
        return f"{subject} {self.operator} {self.threshold:g}"


def parse_condition(when: Any, *, rule: str = "?") -> tuple[str, str | None, str, float]:
    """``(metric, column, operator, threshold)`` of a condition such as ``drift_score[amount] >= 0.1``.

    >>> parse_condition("drift_share > 0.3")
    ('drift_share', None, '>', 0.3)
    >>> parse_condition("accuracy[] < 0.9")
    Traceback (most recent call last):
    ...
    loopwright.errors.AlertRuleError: The 'when' of alert rule '?' must be a condition \
'<metric> <operator> <number>' or '<metric>[<column>] <operator> <number>' with an operator among \
>, >=, <, <=, ==, !=, e.g. 'drift_share > 0.3' or 'drift_score[amount] >= 0.1'. Got 'accuracy[] < 0.9' \
instead.
    """
    found = _CONDITION.match(when) if isinstance(when, str) else None
    threshold = _number(found.group("threshold")) if found else None
    if found is None or threshold is None:
        problem = (
            f" The threshold {found.group('threshold')!r} is not a finite number."
            if found is not None and threshold is None
            else ""
        )
        raise AlertRuleError(
            f"The 'when' of alert rule {rule!r} must be a condition {_CONDITION_EXPECTED}. Got {when!r} "
            f"instead.{problem}",
            field="when",
            value=repr(when),
        )
    column = found.group("column")
    if column is not None:
        column = _key("column", column.strip(), subject=f"The column in the 'when' of alert rule {rule!r}")
    return found.group("metric"), column, found.group("operator"), threshold


def _check_metric(rule: str, metric: str, column: str | None) -> None:
    problem = None
    if metric not in _METRICS:
        close = difflib.get_close_matches(metric, _METRICS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problem = f"{metric!r} is not a metric monitors record{hint}; they record {', '.join(_METRICS)}"
    elif column is None and metric in _PER_COLUMN:
        problem = f"{metric!r} is recorded per column: name one, e.g. '{metric}[amount] ...'"
    elif column is not None and metric in _WHOLE:
        problem = f"{metric!r} is recorded for the whole window, not per column: drop '[{column}]'"
    if problem is not None:
        raise AlertRuleError(
            f"The 'when' of alert rule {rule!r} must name a metric of a monitor. {problem}.",
            field="when",
            value=metric if column is None else f"{metric}[{column}]",
        )


# --- judging -------------------------------------------------------------------------------------------


def judge(state: RuleState) -> list[AlertChange]:
    """What the new points of a rule change, in order: ``open`` at the ``for_windows``-th consecutive
    window that holds, ``hold`` while an open alert's condition still holds, ``resolve`` at the first
    window that does not. Pure: :meth:`AlertCatalog.evaluate` applies it in the rule's transaction."""
    rule = state.rule
    compare = OPERATORS[rule.operator]
    is_open = state.latest is not None and state.latest.status == "open"
    streak: list[ResultPoint] = []
    changes: list[AlertChange] = []
    for point in state.points:
        if point.value is None or math.isnan(point.value):
            continue  # no number for this window: it neither holds nor clears
        holds = compare(point.value, rule.threshold)
        if is_open:
            changes.append(AlertChange("hold" if holds else "resolve", point))
            is_open = holds
        elif holds:
            streak.append(point)
            if len(streak) >= rule.for_windows:
                changes.append(
                    AlertChange("open", point, _opening_message(rule, streak[-rule.for_windows :]))
                )
                is_open, streak = True, []
        else:
            streak = []
    return changes


def _opening_message(rule: AlertRuleRecord, streak: Sequence[ResultPoint]) -> str:
    first, last = streak[0], streak[-1]
    value = last.value if last.value is not None else math.nan
    windows = "1 window" if len(streak) == 1 else f"{len(streak)} consecutive windows"
    return (
        f"{rule.condition} on monitor {rule.monitor!r} (deployment {rule.deployment!r}) for {windows}, "
        f"{_time(first.window_start_ms)} to {_time(last.window_end_ms)}; latest value {value:.6g}."
    )


# --- the service ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert that opened or resolved during one evaluation (``event`` is ``opened`` or ``resolved``),
    with the rule it belongs to and the alert as it was at that event (what the channels were sent), with
    how the channels took it in ``notified``."""

    event: str
    alert: AlertRecord
    rule: AlertRuleRecord


class Alerts:
    """Alert rules and alerts of a workspace: ``client.alerts``.

    >>> rule = AlertRule("fraud-drift", monitor="fraud", when="drift_share > 0.3")
    >>> client.alerts.define(rule)  # doctest: +SKIP
    >>> [alert.rule for alert in client.alerts.list_alerts(status="open")]  # doctest: +SKIP
    ['fraud-drift']
    """

    def __init__(self, store: MetadataStore) -> None:
        self.catalog = AlertCatalog(store)

    def define(self, rule: AlertRule) -> AlertRuleRecord:
        """Store ``rule``, or update the rule of that name to it (its alerts are kept; an open alert is
        judged under the new condition from the next window on)."""
        if not isinstance(rule, AlertRule):
            raise AlertRuleError(
                f"An alert rule must be an lw.AlertRule. Got {rule!r} of type {type(rule).__name__} instead.",
                field="rule",
                value=repr(rule),
            )
        monitor_id = self.catalog.monitor_id(rule.monitor)
        record, _changed = self.catalog.put_rule(
            rule.name,
            monitor_id,
            {
                "metric": rule.metric,
                "column": rule.column,
                "operator": rule.operator,
                "threshold": rule.threshold,
                "for_windows": rule.for_windows,
                "severity": rule.severity,
                "channels": parse_channels(rule.channels, rule=rule.name),
            },
        )
        return record

    def rule(self, name: str) -> AlertRuleRecord:
        """The rule called ``name``."""
        return self.catalog.get_rule(name)

    def rules(self, monitor: str | None = None) -> list[AlertRuleRecord]:
        """Every rule (of ``monitor`` when given), by name."""
        return self.catalog.list_rules(monitor)

    def remove(self, name: str) -> AlertRuleRecord:
        """Delete rule ``name`` and its alerts."""
        return self.catalog.delete_rule(name)

    def list_alerts(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        monitor: str | None = None,
        limit: int | None = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest first; ``status`` is ``open`` or ``resolved``."""
        if status is not None and status not in ALERT_STATUSES:
            raise AlertRuleError(
                f"An alert's status is one of {', '.join(ALERT_STATUSES)}. Got {status!r} instead.",
                field="status",
                value=repr(status),
            )
        return self.catalog.list_alerts(rule=rule, status=status, monitor=monitor, limit=limit)

    def evaluate(self, monitor: str | None = None, *, now: datetime | None = None) -> list[AlertEvent]:
        """Judge the rules (of ``monitor``, or all) on their new windows, open and resolve alerts, and send
        each opening and resolution to the rule's channels; returns those events in order."""
        at_ms = now_ms() if now is None else round(now.timestamp() * 1000)
        events: list[AlertEvent] = []
        for rule in self.catalog.list_rules(monitor):
            try:
                changed = self.catalog.evaluate(rule.name, judge, at_ms=at_ms)
            except NotFoundError:
                continue  # removed since it was listed
            for event, alert in changed:
                events.append(AlertEvent(event, self._notify(rule, event, alert), rule))
        return events

    def _notify(self, rule: AlertRuleRecord, event: str, alert: AlertRecord) -> AlertRecord:
        outcomes: dict[str, Any] = {}
        payload: dict[str, Any] | None = None
        for stored in rule.channels:
            channel = channel_from_json(stored)
            if channel == "store":
                continue  # recorded already
            if channel == "log":
                _log(rule, event, alert)
                outcomes["log"] = {"ok": True}
                continue
            assert isinstance(channel, Webhook)
            payload = payload if payload is not None else event_payload(rule, event, alert)
            delivery = channel.post(payload)
            if not delivery.ok:
                logger.warning(
                    "Could not send alert %s (%s, %s) to %s after %d attempt(s): %s",
                    alert.id,
                    rule.name,
                    event,
                    channel.url,
                    delivery.attempts,
                    delivery.error,
                )
            outcomes[channel_key(channel)] = delivery.to_json()
        if not outcomes:
            return alert
        recorded = self.catalog.record_notification(alert.id, event, outcomes)
        return dataclasses.replace(alert, notified=recorded.notified)


def event_payload(rule: AlertRuleRecord, event: str, alert: AlertRecord) -> dict[str, Any]:
    """The JSON a webhook receives for ``event`` of ``alert`` (see :mod:`loopwright.monitoring.channels`)."""
    value = alert.last_value if alert.last_value is not None and math.isfinite(alert.last_value) else None
    return {
        "event": event,
        "text": _summary(rule, event, alert),
        "alert": {
            "id": alert.id,
            "rule": rule.name,
            "status": alert.status,
            "severity": rule.severity,
            "monitor": rule.monitor,
            "deployment": rule.deployment,
            "metric": rule.metric,
            "column": rule.column,
            "condition": rule.condition,
            "for_windows": rule.for_windows,
            "value": value,
            "window_start": _iso(alert.window_start),
            "window_end": _iso(alert.window_end),
            "opened_at": _iso(alert.opened_at),
            "resolved_at": _iso(alert.resolved_at),
            "message": alert.message,
        },
    }


def _summary(rule: AlertRuleRecord, event: str, alert: AlertRecord) -> str:
    if event == "resolved":
        return f"[resolved] {rule.name}: {rule.condition} no longer holds on monitor {rule.monitor!r}."
    return f"[{rule.severity}] {rule.name}: {alert.message}"


def _log(rule: AlertRuleRecord, event: str, alert: AlertRecord) -> None:
    level = logging.INFO
    if event == "opened":
        level = logging.ERROR if rule.severity == "critical" else logging.WARNING
    logger.log(level, "Alert %s %s: %s", alert.id, event, _summary(rule, event, alert))


def _key(kind: str, value: Any, *, subject: str) -> str:
    try:
        return validate_key(kind, value)
    except InvalidKeyError as error:
        raise AlertRuleError(
            f"{subject} is not usable. {error.message}", field=kind, value=repr(value)
        ) from None


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _time(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
