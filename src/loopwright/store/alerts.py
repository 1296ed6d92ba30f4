"""Alert rules and alerts in the metadata store.

Kept apart from :mod:`loopwright.store.metadata` but on the same database and transaction rules. What the
rules *mean* (the condition, its duration, the messages) is :mod:`loopwright.monitoring.alerts`' business;
this module keeps the records and gives evaluation the one guarantee it needs from the database:

- **One open alert per rule, under concurrency.** :meth:`AlertCatalog.evaluate` reads a rule's latest alert
  and the monitor results after it, asks a pure ``judge`` what changed, and writes the changes, all in
  one write transaction that first locks the rule's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` takes the database's write lock). Two processes evaluating one rule at once are
  therefore serialised, and the second sees the first one's alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from loopwright.errors import NotFoundError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.records import from_ms
from loopwright.store.schema import alert_rules, alerts, monitor_results, monitors

__all__ = [
    "ALERT_STATUSES",
    "MAX_NEW_POINTS",
    "AlertCatalog",
    "AlertChange",
    "AlertRecord",
    "AlertRuleRecord",
    "ResultPoint",
    "RuleState",
]

ALERT_STATUSES = ("open", "resolved")
"""An alert is ``open`` while its rule's condition holds, ``resolved`` once it cleared."""

MAX_NEW_POINTS = 1_000
"""Most windows (beyond ``for_windows``) one evaluation of a rule judges: the newest ones."""


@dataclass(frozen=True, slots=True)
class AlertRuleRecord:
    """A stored alert rule: ``metric`` (of ``column``, or dataset-level when ``None``) of monitor
    ``monitor`` compared with ``threshold`` by ``operator`` for ``for_windows`` consecutive windows opens
    an alert of ``severity``, sent to ``channels`` (stored JSON: ``{"kind": "log"}``, ``{"kind":
    "webhook", "url": ...}``)."""

    id: int
    name: str
    monitor: str
    deployment: str
    metric: str
    column: str | None
    operator: str
    threshold: float
    for_windows: int
    severity: str
    channels: list[dict[str, Any]]
    created_at: datetime
    created_ms: int

    @property
    def condition(self) -> str:
        """The condition as written: ``drift_share > 0.3``, ``drift_score[amount] >= 0.1``."""
        subject = self.metric if self.column is None else f"{self.metric}[{self.column}]"
        return f"{subject} {self.operator} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert of rule ``rule``: ``open`` from ``opened_at`` until it is ``resolved`` at
    ``resolved_at``. ``last_value`` and the window are those of the latest window in which the condition
    held; ``notified`` records, per event (``opened``, ``resolved``) and channel, how delivery went."""

    id: int
    rule: str
    rule_id: int
    monitor: str
    deployment: str
    severity: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    last_value: float | None
    window_start_ms: int | None
    window_end_ms: int | None
    message: str
    notified: dict[str, Any]

    @property
    def window_start(self) -> datetime | None:
        """The start of the latest window in which the condition held (UTC)."""
        return from_ms(self.window_start_ms)

    @property
    def window_end(self) -> datetime | None:
        """The end of the latest window in which the condition held (UTC)."""
        return from_ms(self.window_end_ms)


@dataclass(frozen=True, slots=True)
class ResultPoint:
    """One window's value of the metric a rule watches (``None`` when the monitor stored no number)."""

    window_start_ms: int
    window_end_ms: int
    value: float | None


@dataclass(frozen=True, slots=True)
class RuleState:
    """What a judge sees: the rule, its latest alert (open or resolved, or ``None``) and the points it
    has not judged yet, oldest first."""

    rule: AlertRuleRecord
    latest: AlertRecord | None
    points: list[ResultPoint]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What a judge decided about one window: ``open`` an alert (with ``message``), ``hold`` the open one
    (its condition still holds), or ``resolve`` it."""

    action: str
    point: ResultPoint
    message: str | None = None


Judge = Callable[[RuleState], Sequence[AlertChange]]


class AlertCatalog:
    """Alert rules and alerts in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- rules ---------------------------------------------------------------------------------------

    def monitor_id(self, monitor: str) -> int:
        """The id of the monitor called ``monitor``; :class:`NotFoundError` when there is none."""
        with self._store._read() as connection:
            found = connection.execute(select(monitors.c.id).where(monitors.c.name == monitor)).scalar()
        if found is None:
            raise NotFoundError(
                f"Monitor {monitor!r} does not exist. Create it with lw.monitor(...) or "
                "`loopwright monitor create`; list them with `loopwright monitor list`.",
                kind="monitor",
                key=monitor,
            )
        return int(found)

    def put_rule(self, name: str, monitor_id: int, values: Mapping[str, Any]) -> tuple[AlertRuleRecord, bool]:
        """Create rule ``name`` or update it to ``values`` (metric, column, operator, threshold,
        for_windows, severity, channels); returns the rule and whether anything changed. Updating keeps
        the rule's id and its alerts."""
        wanted = {"monitor_id": monitor_id, **values}
        with self._store._write() as connection:
            row = connection.execute(select(alert_rules).where(alert_rules.c.name == name)).first()
            if row is None:
                connection.execute(
                    self._store._insert(alert_rules)
                    .values(name=name, created_ms=now_ms(), **wanted)
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                changed = True
            else:
                changed = any(getattr(row, key) != value for key, value in wanted.items())
                if changed:
                    connection.execute(update(alert_rules).where(alert_rules.c.id == row.id).values(**wanted))
        return self.get_rule(name), changed

    def get_rule(self, name: str) -> AlertRuleRecord:
        """The rule called ``name``; :class:`NotFoundError` when there is none."""
        with self._store._read() as connection:
            row = connection.execute(_rule_query().where(alert_rules.c.name == name)).first()
        if row is None:
            raise NotFoundError(
                f"Alert rule {name!r} does not exist. Define it with lw.alert_rule({name!r}, ...).",
                kind="alert_rule",
                key=name,
            )
        return _rule(row)

    def list_rules(self, monitor: str | None = None) -> list[AlertRuleRecord]:
        """Rules by name (of one monitor when ``monitor`` is given)."""
        statement = _rule_query().order_by(alert_rules.c.name)
        if monitor is not None:
            statement = statement.where(monitors.c.name == monitor)
        with self._store._read() as connection:
            return [_rule(row) for row in connection.execute(statement)]

    def delete_rule(self, name: str) -> AlertRuleRecord:
        """Delete a rule with its alerts; returns what it was."""
        record = self.get_rule(name)
        with self._store._write() as connection:
            connection.execute(delete(alert_rules).where(alert_rules.c.id == record.id))
        return record

    # --- alerts --------------------------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        rule: str | None = None,
        status: str | None = None,
        monitor: str | None = None,
        limit: int | None = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest first, filtered by rule, status and monitor."""
        statement = _alert_query().order_by(alerts.c.id.desc())
        if rule is not None:
            statement = statement.where(alert_rules.c.name == rule)
        if status is not None:
            statement = statement.where(alerts.c.status == status)
        if monitor is not None:
            statement = statement.where(monitors.c.name == monitor)
        if limit is not None:
            statement = statement.limit(limit)
        with self._store._read() as connection:
            return [_alert(row) for row in connection.execute(statement)]

    def get_alert(self, alert_id: int) -> AlertRecord:
        """One alert by id."""
        with self._store._read() as connection:
            row = connection.execute(_alert_query().where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFoundError(f"Alert {alert_id} does not exist.", kind="alert", key=str(alert_id))
        return _alert(row)

    def latest_opened(self, rule: str) -> AlertRecord | None:
        """The alert of ``rule`` opened last (open or resolved since), or ``None``: what an
        ``lw.on_alert(rule)`` trigger fires for."""
        statement = _alert_query().where(alert_rules.c.name == rule).order_by(alerts.c.id.desc()).limit(1)
        with self._store._read() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _alert(row)

    def rule_states(self) -> list[tuple[AlertRuleRecord, AlertRecord | None]]:
        """Every rule, by name, with its open alert (or ``None``): two queries, for ``/metrics``."""
        with self._store._read() as connection:
            rules = [_rule(row) for row in connection.execute(_rule_query().order_by(alert_rules.c.name))]
            opened = connection.execute(_alert_query().where(alerts.c.status == "open").order_by(alerts.c.id))
            open_by_rule = {alert.rule_id: alert for alert in map(_alert, opened)}
        return [(rule, open_by_rule.get(rule.id)) for rule in rules]

    def record_notification(self, alert_id: int, event: str, outcomes: Mapping[str, Any]) -> AlertRecord:
        """Merge how the channels took ``event`` (``opened``, ``resolved``) into the alert's
        ``notified``."""
        with self._store._write() as connection:
            current = connection.execute(select(alerts.c.notified).where(alerts.c.id == alert_id)).scalar()
            notified = dict(current or {})
            notified[event] = {**dict(notified.get(event) or {}), **outcomes}
            connection.execute(update(alerts).where(alerts.c.id == alert_id).values(notified=notified))
        return self.get_alert(alert_id)

    # --- evaluation ----------------------------------------------------------------------------------

    def evaluate(self, rule: str, judge: Judge, *, at_ms: int | None = None) -> list[tuple[str, AlertRecord]]:
        """Judge rule ``rule`` on the results it has not judged yet, and apply what ``judge`` decides;
        returns the events, ``("opened", alert)`` and ``("resolved", alert)``, in order, each alert as it
        was right after that event (an episode may open and resolve in one evaluation).

        Which points are new: those of windows that ended after the latest alert's window. A rule that
        never alerted judges the windows that ended since it was created, and the ``for_windows`` windows
        before, so a condition already holding when the rule is defined counts at once. Of many new
        windows (a first run over a long log) only the newest :data:`MAX_NEW_POINTS` plus ``for_windows``
        are judged.
        """
        at_ms = at_ms if at_ms is not None else now_ms()
        events: list[tuple[str, AlertRecord]] = []
        with self._store._write() as connection:
            locked = connection.execute(
                select(alert_rules.c.id).where(alert_rules.c.name == rule).with_for_update()
            ).scalar()
            if locked is None:
                raise NotFoundError(f"Alert rule {rule!r} does not exist.", kind="alert_rule", key=rule)
            record = _rule(connection.execute(_rule_query().where(alert_rules.c.id == locked)).one())
            latest_row = connection.execute(
                _alert_query().where(alerts.c.rule_id == record.id).order_by(alerts.c.id.desc()).limit(1)
            ).first()
            latest = None if latest_row is None else _alert(latest_row)
            points = self._new_points(connection, record, latest)
            if not points:
                return []
            open_id = latest.id if latest is not None and latest.status == "open" else None
            for change in judge(RuleState(record, latest, points)):
                open_id = self._apply(connection, record, open_id, change, at_ms, events)
        return events

    def _new_points(
        self, connection: Connection, rule: AlertRuleRecord, latest: AlertRecord | None
    ) -> list[ResultPoint]:
        series = select(
            monitor_results.c.window_start_ms, monitor_results.c.window_end_ms, monitor_results.c.value
        ).where(
            monitor_results.c.monitor_id
            == select(alert_rules.c.monitor_id).where(alert_rules.c.id == rule.id).scalar_subquery(),
            monitor_results.c.metric == rule.metric,
            monitor_results.c.column.is_(None)
            if rule.column is None
            else monitor_results.c.column == rule.column,
        )
        # Newest first, by window start (what the index orders; windows of a monitor do not overlap), and
        # at most MAX_NEW_POINTS: the cost of a run stays bounded however long a rule went without an alert.
        newest_first = (monitor_results.c.window_start_ms.desc(), monitor_results.c.id.desc())
        limit = MAX_NEW_POINTS + rule.for_windows
        if latest is not None and latest.window_end_ms is not None:
            recent = series.where(monitor_results.c.window_start_ms >= latest.window_end_ms)
            rows = list(connection.execute(recent.order_by(*newest_first).limit(limit)))[::-1]
        else:
            after = list(
                connection.execute(
                    series.where(monitor_results.c.window_end_ms > rule.created_ms)
                    .order_by(*newest_first)
                    .limit(limit)
                )
            )[::-1]
            before = []
            if len(after) < limit:  # else the windows before are not next to those judged
                before = list(
                    connection.execute(
                        series.where(monitor_results.c.window_end_ms <= rule.created_ms)
                        .order_by(*newest_first)
                        .limit(rule.for_windows)
                    )
                )[::-1]
            rows = [*before, *after]
        # A recomputed window may appear twice; its newest value wins.
        by_window: dict[tuple[int, int], ResultPoint] = {}
        for row in rows:
            value = None if row.value is None else float(row.value)
            key = (int(row.window_start_ms), int(row.window_end_ms))
            by_window.pop(key, None)
            by_window[key] = ResultPoint(key[0], key[1], value)
        return sorted(by_window.values(), key=lambda point: (point.window_end_ms, point.window_start_ms))

    def _apply(
        self,
        connection: Connection,
        rule: AlertRuleRecord,
        open_id: int | None,
        change: AlertChange,
        at_ms: int,
        events: list[tuple[str, AlertRecord]],
    ) -> int | None:
        point = change.point
        window = {
            "last_value": point.value,
            "window_start_ms": point.window_start_ms,
            "window_end_ms": point.window_end_ms,
        }
        if change.action == "open" and open_id is None:
            opened = connection.execute(
                alerts.insert()
                .values(
                    rule_id=rule.id,
                    status="open",
                    opened_ms=at_ms,
                    message=change.message,
                    notified={},
                    **window,
                )
                .returning(alerts.c.id)
            ).scalar_one()
            events.append(("opened", _snapshot(connection, int(opened))))
            return int(opened)
        if change.action == "hold" and open_id is not None:
            connection.execute(update(alerts).where(alerts.c.id == open_id).values(**window))
            return open_id
        if change.action == "resolve" and open_id is not None:
            connection.execute(
                update(alerts).where(alerts.c.id == open_id).values(status="resolved", resolved_ms=at_ms)
            )
            events.append(("resolved", _snapshot(connection, open_id)))
            return None
        raise ValueError(f"A judge cannot {change.action!r} an alert of rule {rule.name!r} now.")


def _snapshot(connection: Connection, alert_id: int) -> AlertRecord:
    return _alert(connection.execute(_alert_query().where(alerts.c.id == alert_id)).one())


def _rule_query() -> Any:
    return select(alert_rules, monitors.c.name.label("monitor"), monitors.c.deployment).join(
        monitors, monitors.c.id == alert_rules.c.monitor_id
    )


def _alert_query() -> Any:
    return (
        select(
            alerts,
            alert_rules.c.name.label("rule"),
            alert_rules.c.severity,
            monitors.c.name.label("monitor"),
            monitors.c.deployment,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .join(monitors, monitors.c.id == alert_rules.c.monitor_id)
    )


def _rule(row: Row[Any]) -> AlertRuleRecord:
    created_at = from_ms(row.created_ms)
    assert created_at is not None
    return AlertRuleRecord(
        id=int(row.id),
        name=row.name,
        monitor=row.monitor,
        deployment=row.deployment,
        metric=row.metric,
        column=row.column,
        operator=row.operator,
        threshold=float(row.threshold),
        for_windows=int(row.for_windows),
        severity=row.severity,
        channels=[dict(channel) for channel in row.channels or []],
        created_at=created_at,
        created_ms=int(row.created_ms),
    )


def _alert(row: Row[Any]) -> AlertRecord:
    opened_at = from_ms(row.opened_ms)
    assert opened_at is not None
    return AlertRecord(
        id=int(row.id),
        rule=row.rule,
        rule_id=int(row.rule_id),
        monitor=row.monitor,
        deployment=row.deployment,
        severity=row.severity,
        status=row.status,
        opened_at=opened_at,
        resolved_at=from_ms(row.resolved_ms),
        last_value=None if row.last_value is None else float(row.last_value),
        window_start_ms=None if row.window_start_ms is None else int(row.window_start_ms),
        window_end_ms=None if row.window_end_ms is None else int(row.window_end_ms),
        message=row.message or "",
        notified=dict(row.notified or {}),
    )
