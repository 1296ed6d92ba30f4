"""Alert rules on SQLite and PostgreSQL: firing after a duration, deduplication, resolution, windows
without a number, concurrency, the log and webhook channels (on a local receiver), and ``lw.on_alert``
triggers.

Monitor results are written straight through the monitor catalog, so each test states the exact series a
rule judges.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update

import loopwright as lw
from loopwright.client import Client
from loopwright.errors import AlertRuleError, InvalidInputError, NotFoundError
from loopwright.monitoring.alerts import AlertRule, judge
from loopwright.monitoring.channels import Webhook
from loopwright.monitoring.results import (
    DRIFT_METRICS,
    OPERATIONS_METRICS,
    PERFORMANCE_METRICS,
    QUALITY_METRICS,
)
from loopwright.pipelines.scheduler import FiringRequest, RunOutcome, Scheduler
from loopwright.pipelines.triggers import check_pipeline_triggers, sync_pipeline_triggers
from loopwright.settings import Settings
from loopwright.store import alerts as store_alerts
from loopwright.store.alerts import AlertRecord, AlertRuleRecord, ResultPoint, RuleState
from loopwright.store.monitoring import MonitorCatalog, ResultRecord, WindowRecord
from loopwright.store.schema import alert_rules
from loopwright.store.triggers import TriggerCatalog

HOUR = 3_600_000
T0 = round(datetime(2026, 11, 28, tzinfo=UTC).timestamp() * 1000)
"""The start of the tests' first window."""
DEFINED = round(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
"""When the tests' rules count as defined (their creation time is set to this)."""
METRICS = (*DRIFT_METRICS, *QUALITY_METRICS, *PERFORMANCE_METRICS, *OPERATIONS_METRICS)


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = Client(settings)
    MonitorCatalog(opened.store).create(
        "fraud",
        {
            "deployment": "fraud",
            "reference": {"dataset": "transactions", "version": 1},
            "window_ms": HOUR,
            "drift": {},
            "options": {},
        },
    )
    yield opened
    opened.close()


def window(client: Client, index: int, **values: float | None) -> None:
    """Record window ``index`` (hours after T0) with dataset-level ``values`` and, for ``amount=``, the
    column's drift score."""
    start, end = T0 + index * HOUR, T0 + (index + 1) * HOUR
    catalog = MonitorCatalog(client.store)
    monitor = catalog.get("fraud")
    results = [
        ResultRecord(start, end, "drift_score", "amount", value, {"test": "ks"})
        if metric == "amount"
        else ResultRecord(start, end, metric, None, value)
        for metric, value in values.items()
    ]
    catalog.save_window(WindowRecord(monitor.id, start, end, 100, None, "ok", None, end), results)


def define(client: Client, name: str = "fraud-drift", *, defined_ms: int = DEFINED, **options: Any) -> None:
    settings: dict[str, Any] = {"monitor": "fraud", "when": "drift_share > 0.3", "channels": []}
    settings.update(options)
    client.alert_rule(name, **settings)
    with client.store._write() as connection:
        connection.execute(
            update(alert_rules).where(alert_rules.c.name == name).values(created_ms=defined_ms)
        )


def events(client: Client) -> list[tuple[str, str, float | None]]:
    return [(event.event, event.alert.rule, event.alert.last_value) for event in client.alerts.evaluate()]


# --- rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"when": "drift share > 0.3"},
            "The 'when' of alert rule 'r' must be a condition '<metric> <operator> <number>' or "
            "'<metric>[<column>] <operator> <number>' with an operator among >, >=, <, <=, ==, !=, e.g. "
            "'drift_share > 0.3' or 'drift_score[amount] >= 0.1'. Got 'drift share > 0.3' instead.",
        ),
        (
            {"when": "drift_share > nan"},
            "The 'when' of alert rule 'r' must be a condition '<metric> <operator> <number>' or "
            "'<metric>[<column>] <operator> <number>' with an operator among >, >=, <, <=, ==, !=, e.g. "
            "'drift_share > 0.3' or 'drift_score[amount] >= 0.1'. Got 'drift_share > nan' instead. The "
            "threshold 'nan' is not a finite number.",
        ),
        (
            {"when": "drift_shares > 0.3"},
            "The 'when' of alert rule 'r' must name a metric of a monitor. 'drift_shares' is not a metric "
            "monitors record (did you mean 'drift_share'?); they record " + ", ".join(METRICS) + ".",
        ),
        (
            {"when": "drift_score < 0.05"},
            "The 'when' of alert rule 'r' must name a metric of a monitor. 'drift_score' is recorded per "
            "column: name one, e.g. 'drift_score[amount] ...'.",
        ),
        (
            {"when": "drift_share[amount] > 0.3"},
            "The 'when' of alert rule 'r' must name a metric of a monitor. 'drift_share' is recorded for the "
            "whole window, not per column: drop '[amount]'.",
        ),
        (
            {"for_windows": 0},
            "The 'for_windows' of alert rule 'r' must be a whole number of consecutive windows from 1 to "
            "10000. Got 0 instead.",
        ),
        (
            {"severity": "page"},
            "The 'severity' of alert rule 'r' must be one of info, warning, critical. Got 'page' instead.",
        ),
        (
            {"channels": ["log", "http://127.0.0.1:9/hook"]},
            "Each channel of alert rule 'r' must be 'store', 'log' or lw.Webhook(url). Got "
            "'http://127.0.0.1:9/hook' instead. For a webhook, use lw.Webhook(url).",
        ),
    ],
)
def test_a_bad_rule_is_refused_when_it_is_built(options: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"monitor": "fraud", "when": "drift_share > 0.3"}
    settings.update(options)
    with pytest.raises(AlertRuleError) as caught:
        AlertRule("r", **settings)
    assert str(caught.value) == message
    assert caught.value.code == "invalid_input.alert_rule"


def test_a_webhook_is_checked_when_built() -> None:
    with pytest.raises(
        InvalidInputError, match=r"^The 'url' of a webhook must be an http:// or https:// URL"
    ):
        Webhook("ftp://example.com/hook")
    with pytest.raises(InvalidInputError, match=r"^The 'timeout_s' of a webhook .* Got 0 instead\.$"):
        Webhook("http://127.0.0.1/hook", timeout_s=0)
    with pytest.raises(InvalidInputError, match=r"^The 'retries' of a webhook .* Got -1 instead\.$"):
        Webhook("http://127.0.0.1/hook", retries=-1)


def test_a_rule_is_stored_changed_and_removed(client: Client) -> None:
    with pytest.raises(NotFoundError, match=r"^Monitor 'nope' does not exist\."):
        client.alert_rule("r", monitor="nope", when="drift_share > 0.3")
    hook = Webhook("http://127.0.0.1:9/hook", retries=0)
    first = client.alert_rule(
        "fraud-amount", monitor="fraud", when="drift_score[amount] < 0.05", channels=["log", hook]
    )
    assert (first.monitor, first.deployment, first.metric, first.column, first.condition) == (
        "fraud",
        "fraud",
        "drift_score",
        "amount",
        "drift_score[amount] < 0.05",
    )
    assert first.channels == [
        {"kind": "log"},
        {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "timeout_s": 5.0, "retries": 0, "headers": {}},
    ]
    changed = client.alert_rule("fraud-amount", monitor="fraud", when="drift_score[amount] <= 0.01")
    assert (changed.id, changed.condition, changed.channels) == (
        first.id,
        "drift_score[amount] <= 0.01",
        [{"kind": "log"}],
    )
    assert [rule.name for rule in client.alerts.rules("fraud")] == ["fraud-amount"]
    client.alerts.remove("fraud-amount")
    assert client.alerts.rules() == []


def test_the_module_helpers_use_the_default_workspace(settings: Settings) -> None:
    client = lw.connect(settings)
    try:
        MonitorCatalog(client.store).create(
            "fraud", {"deployment": "fraud", "reference": {}, "window_ms": HOUR, "drift": {}, "options": {}}
        )
        rule = lw.alert_rule("fraud-drift", monitor="fraud", when="drift_share>=0.5", severity="info")
        assert (rule.condition, rule.severity, rule.channels) == (
            "drift_share >= 0.5",
            "info",
            [{"kind": "log"}],
        )
        window(client, 0, drift_share=0.5)
        client.alerts.evaluate()
        assert [(alert.rule, alert.status) for alert in lw.alerts("open")] == [("fraud-drift", "open")]
        assert lw.alerts("resolved") == []
        with pytest.raises(AlertRuleError, match=r"^An alert's status is one of open, resolved\. Got 'gone'"):
            lw.alerts("gone")
    finally:
        client.close()


# --- firing, deduplication, resolution -----------------------------------------------------------------


def test_an_alert_opens_after_its_duration_stays_one_and_resolves(client: Client) -> None:
    define(client, for_windows=2, severity="critical")
    window(client, 0, drift_share=0.4)
    assert events(client) == []  # one window is not yet "for 2 windows"
    window(client, 1, drift_share=0.2)
    window(client, 2, drift_share=0.5)
    assert events(client) == []  # the streak was broken
    window(client, 3, drift_share=0.6)
    assert events(client) == [("opened", "fraud-drift", 0.6)]
    [opened] = client.alerts.list_alerts(status="open", rule="fraud-drift")
    assert opened.message == (
        "drift_share > 0.3 on monitor 'fraud' (deployment 'fraud') for 2 consecutive windows, "
        "2026-11-28T02:00:00Z to 2026-11-28T04:00:00Z; latest value 0.6."
    )
    assert (opened.severity, opened.window_start_ms, opened.window_end_ms) == (
        "critical",
        T0 + 3 * HOUR,
        T0 + 4 * HOUR,
    )

    # Deduplicated: still holding, the same alert follows the latest window; nothing new is sent.
    window(client, 4, drift_share=0.7)
    window(client, 5, drift_share=0.35)
    assert events(client) == []
    assert events(client) == []  # nothing new to judge
    [held] = client.alerts.list_alerts()
    assert (held.id, held.status, held.last_value, held.window_end_ms) == (
        opened.id,
        "open",
        0.35,
        T0 + 6 * HOUR,
    )

    window(client, 6, drift_share=0.3)  # not > 0.3: the condition cleared
    assert events(client) == [("resolved", "fraud-drift", 0.35)]
    [resolved] = client.alerts.list_alerts()
    assert (resolved.id, resolved.status, resolved.resolved_at is not None) == (opened.id, "resolved", True)

    # A new episode opens a new alert.
    window(client, 7, drift_share=0.9)
    window(client, 8, drift_share=0.9)
    assert events(client) == [("opened", "fraud-drift", 0.9)]
    assert [(alert.status, alert.id > opened.id) for alert in client.alerts.list_alerts()] == [
        ("open", True),
        ("resolved", False),
    ]


def test_an_episode_within_one_evaluation_opens_and_resolves(client: Client) -> None:
    define(client)
    window(client, 0, drift_share=0.1)
    window(client, 1, drift_share=0.5)
    window(client, 2, drift_share=0.1)
    assert events(client) == [("opened", "fraud-drift", 0.5), ("resolved", "fraud-drift", 0.5)]


def test_windows_without_a_number_neither_hold_nor_clear(client: Client) -> None:
    define(client, when="accuracy < 0.9", for_windows=2)
    window(client, 0, accuracy=0.8)
    window(client, 1, accuracy=None)  # no labels yet
    window(client, 2, rows=10)  # no accuracy at all
    window(client, 3, accuracy=0.85)
    assert events(client) == [("opened", "fraud-drift", 0.85)]
    window(client, 4, accuracy=None)
    assert events(client) == []
    assert client.alerts.list_alerts()[0].status == "open"


def test_a_column_rule_watches_that_column(client: Client) -> None:
    define(client, when="drift_score[amount] < 0.05")
    window(client, 0, amount=0.2, drift_share=0.9)
    assert events(client) == []
    window(client, 1, amount=0.01)
    assert events(client) == [("opened", "fraud-drift", 0.01)]


def test_a_condition_already_holding_when_the_rule_is_defined_counts_at_once(client: Client) -> None:
    for index, share in enumerate([0.9, 0.1, 0.5, 0.6]):
        window(client, index, drift_share=share)
    # Defined after window 3 ended: it judges the 2 windows before, and older episodes stay in the past.
    define(client, for_windows=2, defined_ms=T0 + 4 * HOUR)
    assert events(client) == [("opened", "fraud-drift", 0.6)]


def test_one_evaluation_judges_the_newest_windows_only(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_alerts, "MAX_NEW_POINTS", 3)
    define(client, defined_ms=T0)  # the first window ends after the rule was defined
    for index, share in enumerate([0.9, 0.1, 0.1, 0.1, 0.2, 0.8]):
        window(client, index, drift_share=share)
    # The newest 3 + 1 windows are judged: the episode of window 0 is not, the one of window 5 is.
    assert [(event.event, event.alert.window_start_ms) for event in client.alerts.evaluate()] == [
        ("opened", T0 + 5 * HOUR)
    ]


def test_judging_is_pure_and_follows_the_streak() -> None:
    rule = AlertRuleRecord(
        1, "r", "m", "d", "rows", None, ">=", 10.0, 3, "info", [], datetime(2026, 1, 1, tzinfo=UTC), 0
    )
    points = [
        ResultPoint(index, index + 1, value) for index, value in enumerate([10, 11, 9, 10, 10, 12, 13, 1])
    ]
    actions = [(change.action, change.point.value) for change in judge(RuleState(rule, None, points))]
    assert actions == [("open", 12), ("hold", 13), ("resolve", 1)]


def test_concurrent_evaluations_open_one_alert(client: Client, settings: Settings) -> None:
    define(client)
    window(client, 0, drift_share=0.9)
    others = [Client(settings) for _ in range(3)]
    barrier = threading.Barrier(len(others))
    opened: list[int] = []

    def evaluate(other: Client) -> None:
        barrier.wait()
        opened.extend(event.alert.id for event in other.alerts.evaluate())

    threads = [threading.Thread(target=evaluate, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    assert len(opened) == 1
    assert [alert.id for alert in client.alerts.list_alerts()] == opened


# --- channels -------------------------------------------------------------------------------------------


def test_the_log_channel_writes_one_line_per_event(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    define(client, severity="critical", channels=["log"])
    window(client, 0, drift_share=0.5)
    window(client, 1, drift_share=0.1)
    with caplog.at_level(logging.INFO, logger="loopwright.alerts"):
        client.alerts.evaluate()
    alert_id = client.alerts.list_alerts()[0].id
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "ERROR",
            f"Alert {alert_id} opened: [critical] fraud-drift: drift_share > 0.3 on monitor 'fraud' (deployment "
            "'fraud') for 1 window, 2026-11-28T00:00:00Z to 2026-11-28T01:00:00Z; latest value 0.5.",
        ),
        (
            "INFO",
            f"Alert {alert_id} resolved: [resolved] fraud-drift: drift_share > 0.3 no longer holds on monitor "
            "'fraud'.",
        ),
    ]
    assert client.alerts.list_alerts()[0].notified == {
        "opened": {"log": {"ok": True}},
        "resolved": {"log": {"ok": True}},
    }


class Receiver:
    """A local HTTP receiver on 127.0.0.1: records each POST and answers with the next scripted status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), json.loads(body)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


def test_a_webhook_receives_each_event_as_json(client: Client, receiver: Receiver) -> None:
    hook = Webhook(receiver.url, headers={"Authorization": "Bearer s3cret"})
    define(client, when="drift_score[amount] < 0.05", severity="critical", channels=[hook])
    window(client, 0, amount=0.01)
    window(client, 1, amount=0.5)
    client.alerts.evaluate()
    alert = client.alerts.list_alerts()[0]
    assert len(receiver.requests) == 2
    headers, opened = receiver.requests[0]
    assert (headers["Content-Type"], headers["Authorization"]) == ("application/json", "Bearer s3cret")
    assert opened == {
        "event": "opened",
        "text": f"[critical] fraud-drift: {alert.message}",
        "alert": {
            "id": alert.id,
            "rule": "fraud-drift",
            "status": "open",
            "severity": "critical",
            "monitor": "fraud",
            "deployment": "fraud",
            "metric": "drift_score",
            "column": "amount",
            "condition": "drift_score[amount] < 0.05",
            "for_windows": 1,
            "value": 0.01,
            "window_start": "2026-11-28T00:00:00Z",
            "window_end": "2026-11-28T01:00:00Z",
            "opened_at": opened["alert"]["opened_at"],
            "resolved_at": None,
            "message": alert.message,
        },
    }
    resolved = receiver.requests[1][1]
    assert (resolved["event"], resolved["alert"]["status"], resolved["alert"]["resolved_at"] is not None) == (
        "resolved",
        "resolved",
        True,
    )
    key = f"webhook:{receiver.url}"
    assert alert.notified == {
        "opened": {key: {"ok": True, "attempts": 1, "status": 200}},
        "resolved": {key: {"ok": True, "attempts": 1, "status": 200}},
    }


def test_a_webhook_retries_server_errors_and_gives_up_on_client_errors(receiver: Receiver) -> None:
    waits: list[float] = []
    hook = Webhook(receiver.url, retries=3)
    receiver.statuses = [503, 500]
    assert hook.post({"event": "opened"}, sleep=waits.append).to_json() == {
        "ok": True,
        "attempts": 3,
        "status": 200,
    }
    assert waits == [0.5, 1.0]

    receiver.statuses = [404]
    assert hook.post({"event": "opened"}, sleep=waits.append).to_json() == {
        "ok": False,
        "attempts": 1,
        "status": 404,
        "error": "HTTP 404 Not Found",
    }

    receiver.statuses = [500, 500, 500, 500]
    assert hook.post({"event": "opened"}, sleep=waits.append).to_json() == {
        "ok": False,
        "attempts": 4,
        "status": 500,
        "error": "HTTP 500 Internal Server Error",
    }
    assert waits == [0.5, 1.0, 0.5, 1.0, 2.0]
    assert len(receiver.requests) == 3 + 1 + 4


def test_an_unreachable_webhook_is_recorded_and_never_stops_monitoring(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more
    define(client, channels=[Webhook(url, retries=0, timeout_s=2)])
    window(client, 0, drift_share=0.5)
    with caplog.at_level(logging.WARNING, logger="loopwright.alerts"):
        [event] = client.alerts.evaluate()
    outcome = event.alert.notified["opened"][f"webhook:{url}"]
    assert (outcome["ok"], outcome["attempts"], outcome["error"].startswith("ConnectionRefusedError")) == (
        False,
        1,
        True,
    )
    assert (
        caplog.records[0]
        .getMessage()
        .startswith(
            f"Could not send alert {event.alert.id} (fraud-drift, opened) to {url} after 1 attempt(s): "
        )
    )


# --- triggers -------------------------------------------------------------------------------------------


def test_an_alert_trigger_fires_once_per_opened_alert(client: Client) -> None:
    define(client)
    window(client, 0, drift_share=0.9)
    client.alerts.evaluate()  # opened before the trigger existed: not new to it
    triggers = TriggerCatalog(client.store)
    triggers.add("retrain", "jobs:retrain", "alert", "fraud-drift")
    triggers.add("unrelated", "jobs:unrelated", "alert", "no-such-rule")
    requests: list[FiringRequest] = []

    def run(request: FiringRequest) -> RunOutcome:
        requests.append(request)
        return RunOutcome("finished")

    scheduler = Scheduler(client, run=run, holder="s1")
    assert scheduler.tick() == []

    window(client, 1, drift_share=0.1)
    window(client, 2, drift_share=0.8)
    [event] = [event for event in client.alerts.evaluate() if event.event == "opened"]
    [fired] = scheduler.tick()
    assert (fired.fire_key, fired.cause, fired.status) == (
        f"alert:{event.alert.id}",
        f"alert {event.alert.id} of rule 'fraud-drift'",
        "finished",
    )
    assert scheduler.tick() == []  # once per alert, even while it stays open
    window(client, 3, drift_share=0.1)
    window(client, 4, drift_share=0.8)
    window(client, 5, drift_share=0.1)
    window(client, 6, drift_share=0.8)
    client.alerts.evaluate()  # two alerts between two ticks: one run, for the latest
    latest: AlertRecord = client.alerts.list_alerts()[0]
    assert [firing.fire_key for firing in scheduler.tick()] == [f"alert:{latest.id}"]
    assert [request.trigger.pipeline for request in requests] == ["retrain", "retrain"]


@dataclass
class DeclaredPipeline:
    """What sync_pipeline_triggers reads of a pipeline."""

    name: str
    ref: str
    schedule: str | None = None
    on: list[Any] = field(default_factory=list)


def test_on_alert_declares_a_trigger(client: Client) -> None:
    assert lw.on_alert("fraud-drift").describe() == "alert 'fraud-drift'"
    check_pipeline_triggers("retrain", None, [lw.on_alert("fraud-drift")], "jobs.py:3")
    [record] = sync_pipeline_triggers(
        client, DeclaredPipeline("retrain", "jobs:retrain", on=[lw.on_alert("fraud-drift")])
    )
    assert (record.kind, record.spec, record.origin) == ("alert", "fraud-drift", "code")
    with pytest.raises(InvalidInputError, match=r"^lw.on_alert\(\) needs the name of an alert rule\. "):
        lw.on_alert("")
