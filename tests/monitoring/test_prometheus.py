"""Monitor results and alert states on ``/metrics``: the families and their labels, read back with
Prometheus' own parser, and ``promtool check metrics`` (Debian's ``prometheus`` package; ``make test``
installs it) on the whole body a live server answers.

``promtool`` is required under ``CI=true``: a missing one fails the tests there instead of skipping them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import loopwright as lw
from loopwright.client import Client
from loopwright.monitoring.prometheus import MonitoringCollector, render_metrics
from loopwright.settings import Settings
from loopwright.store.monitoring import MonitorCatalog, ResultRecord, WindowRecord
from tests.conftest import IN_CI
from tests.server.conftest import FEATURES, LARGE, fraud_model, make_settings, running

HOUR = 3_600_000
T0 = 1_795_824_000_000  # 2026-11-28T00:00Z
DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "loopwright.json"


def dashboard_queries() -> list[str]:
    """Every PromQL query of the shipped Grafana dashboard, its variables filled in."""
    panels = json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    return [query.replace("$__rate_interval", "5m").replace("$deployment", ".*") for query in queries]


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (apt-get install prometheus, or `make test`)"
        if IN_CI:
            pytest.fail(message + "; it is required under CI=true", pytrace=False)
        pytest.skip(message)
    return found


def check(promtool: str, body: str) -> None:
    """``promtool check metrics`` exits 0 with nothing to say (no lint problem either)."""
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = Client(settings)
    yield opened
    opened.close()


def record(client: Client, monitor: str, deployment: str, index: int, results: list[tuple]) -> None:  # type: ignore[type-arg]
    catalog = MonitorCatalog(client.store)
    found = catalog.find(monitor) or catalog.create(
        monitor,
        {
            "deployment": deployment,
            "reference": {"dataset": "tx", "version": 1},
            "window_ms": HOUR,
            "drift": {},
            "options": {},
        },
    )
    start, end = T0 + index * HOUR, T0 + (index + 1) * HOUR
    catalog.save_window(
        WindowRecord(found.id, start, end, 500, None, "ok", None, end),
        [ResultRecord(start, end, metric, column, value, extra) for metric, column, value, extra in results],
    )


def fill(client: Client) -> None:
    """Two windows of monitor ``fraud``: realised accuracy only in the older one (labels arrive late)."""
    record(
        client,
        "fraud",
        "fraud",
        0,
        [
            ("accuracy", None, 0.91, {"estimated": False}),
            ("accuracy", "canary:v4", 0.88, {"estimated": False, "variant": "canary", "version": 4}),
            ("drift_share", None, 0.1, None),
        ],
    )
    record(
        client,
        "fraud",
        "fraud",
        1,
        [
            ("drift_score", "amount", 0.001, {"test": "ks", "threshold": 0.05, "drifted": True}),
            ("drift_detected", "amount", 1.0, None),
            (
                "drift_score",
                'country "x"\n',
                0.02,
                {"test": "jensenshannon", "threshold": 0.1, "drifted": False},
            ),
            ("drift_detected", 'country "x"\n', 0.0, None),
            ("drift_share", None, 0.5, None),
            ("dataset_drift", None, 1.0, {"threshold": 0.5}),
            ("multivariate_drift", None, 0.2, {"method": "pca", "threshold": 0.1, "drifted": True}),
            ("prediction_drift_score", "prediction", 0.3, {"test": "chisquare"}),
            ("prediction_drift_detected", "prediction", 0.0, None),
            ("missing_share", "amount", 0.05, None),
            ("out_of_range_share", "amount", 0.01, None),
            ("unseen_category_share", 'country "x"\n', 0.0, None),
            ("schema_violations", None, 2.0, None),
            ("schema_violation_rows", "amount", 3.0, {"check": "amount.max", "message": "above 160"}),
            ("schema_violation_rows", "amount", 1.0, {"check": "amount.type", "message": "not a number"}),
            ("rows", None, 500.0, None),
            ("label_coverage", None, 0.0, None),
            ("labels", None, 0.0, None),
            ("accuracy", None, None, {"estimated": False}),  # undefined: no labels yet
            ("estimated_accuracy", None, 0.87, {"estimated": True}),
            ("predictions", None, 520.0, None),
            ("predictions", "canary:v4", 50.0, {"variant": "canary", "version": 4}),
            ("throughput_per_s", None, 0.144, None),
            ("latency_p50_ms", None, 1.5, None),
            ("latency_p99_ms", "canary:v4", 9.0, {"variant": "canary", "version": 4}),
            ("error_rate", None, 0.002, None),
        ],
    )
    record(client, "idle", "other", 0, [])  # a monitor without results exposes nothing
    client.alert_rule(
        "fraud-drift", monitor="fraud", when="drift_share > 0.3", severity="critical", channels=[]
    )
    client.alert_rule("fraud-accuracy", monitor="fraud", when="accuracy < 0.5", channels=[])
    client.alerts.evaluate()


Key = tuple[str, frozenset[tuple[str, str]]]


def samples(body: str) -> dict[Key, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> Key:
    """A sample of monitor ``fraud`` of deployment ``fraud``."""
    return (name, frozenset({"deployment": "fraud", "monitor": "fraud", **labels}.items()))


def test_the_latest_window_and_alert_states_become_gauges(client: Client, promtool: str) -> None:
    fill(client)
    body = render_metrics(client.store).decode()
    odd = 'country "x"\n'
    canary = "canary:v4"
    assert samples(body) == {
        key("loopwright_monitor_last_window_end_timestamp_seconds"): (T0 + 2 * HOUR) / 1000,
        key("loopwright_monitor_window_rows"): 500.0,
        key("loopwright_drift_score", column="amount", test="ks"): 0.001,
        key("loopwright_drift_score", column=odd, test="jensenshannon"): 0.02,
        key("loopwright_drift_detected", column="amount", test="ks"): 1.0,
        key("loopwright_drift_detected", column=odd, test="jensenshannon"): 0.0,
        key("loopwright_dataset_drift_share"): 0.5,
        key("loopwright_dataset_drift_detected"): 1.0,
        key("loopwright_multivariate_drift_score", method="pca"): 0.2,
        key("loopwright_prediction_drift_score", column="prediction", test="chisquare"): 0.3,
        key("loopwright_prediction_drift_detected", column="prediction", test="chisquare"): 0.0,
        key("loopwright_data_quality", check="missing_share", column="amount"): 0.05,
        key("loopwright_data_quality", check="out_of_range_share", column="amount"): 0.01,
        key("loopwright_data_quality", check="unseen_category_share", column=odd): 0.0,
        key("loopwright_data_quality", check="schema_violations", column=""): 2.0,
        key("loopwright_schema_violation_rows", column="amount", check="amount.max"): 3.0,
        key("loopwright_schema_violation_rows", column="amount", check="amount.type"): 1.0,
        key("loopwright_label_coverage_ratio"): 0.0,
        # Realised accuracy from the older window (the latest has no labels yet), beside the estimate.
        key("loopwright_performance", metric="accuracy", segment="", estimated="false"): 0.91,
        key("loopwright_performance", metric="accuracy", segment=canary, estimated="false"): 0.88,
        key("loopwright_performance", metric="accuracy", segment="", estimated="true"): 0.87,
        key("loopwright_window_predictions", segment=""): 520.0,
        key("loopwright_window_predictions", segment=canary): 50.0,
        key("loopwright_window_predictions_per_second", segment=""): 0.144,
        key("loopwright_window_latency_seconds", segment="", percentile="p50"): 0.0015,
        key("loopwright_window_latency_seconds", segment=canary, percentile="p99"): 0.009,
        key("loopwright_window_error_ratio", segment=""): 0.002,
        key("loopwright_alert_active", rule="fraud-accuracy", severity="warning"): 0.0,
        key("loopwright_alert_active", rule="fraud-drift", severity="critical"): 1.0,
    }
    check(promtool, body)


def test_a_series_recorded_twice_is_exposed_once(client: Client, promtool: str) -> None:
    record(client, "fraud", "fraud", 0, [("drift_share", None, 0.5, None), ("drift_share", None, 0.7, None)])
    body = render_metrics(client.store).decode()
    assert samples(body)[key("loopwright_dataset_drift_share")] == 0.5
    assert body.count("loopwright_dataset_drift_share{") == 1
    check(promtool, body)


def test_an_empty_workspace_exposes_nothing(client: Client) -> None:
    assert render_metrics(client.store) == b""


def test_scrapes_within_the_cache_time_read_the_store_once(client: Client) -> None:
    fill(client)
    now = [0.0]
    collector = MonitoringCollector(client.store, cache_s=10.0, clock=lambda: now[0])
    first = list(collector.collect())
    client.alerts.remove("fraud-drift")
    assert list(collector.collect()) == first  # cached
    now[0] = 10.0
    active = next(family for family in collector.collect() if family.name == "loopwright_alert_active")
    assert [sample.labels["rule"] for sample in active.samples] == ["fraud-accuracy"]


def test_a_live_servers_metrics_pass_promtool(tmp_path: Path, promtool: str) -> None:
    client = lw.Client(make_settings(tmp_path / "ws"))
    try:
        client.register_model("fraud", fraud_model(), input_example=FEATURES.head())
        client.set_alias("fraud", "production", 1)
        client.deploy("fraud", "fraud@production")
        fill(client)
        with running(client) as server:
            assert server.predict({"records": [LARGE]}).status_code == 200
            assert (
                server.http.post("/v1/deployments/nope/predict", json={"records": [LARGE]}).status_code == 404
            )
            response = server.http.get("/metrics")
        assert response.status_code == 200
        families = {family.name for family in text_string_to_metric_families(response.text)}
        assert {"loopwright_requests", "loopwright_drift_score", "loopwright_alert_active"} <= families
        check(promtool, response.text)
        # Every series the dashboard queries is one the server exposes.
        exposed = {
            sample.name
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }
        queried = {name for query in dashboard_queries() for name in re.findall(r"\bloopwright_\w+", query)}
        assert queried - exposed == set()
    finally:
        client.close()


def test_the_dashboards_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) == 22
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard_query_{index}", "expr": query}
                    for index, query in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules), encoding="utf-8")  # JSON is YAML
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout
