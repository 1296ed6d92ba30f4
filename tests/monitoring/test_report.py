"""The HTML report: built from a real monitor run, self-contained (no script, nothing fetched), every name
and value escaped, distributions equal to the logged data, and ``loopwright monitor report``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

import loopwright as lw
from loopwright.client import Client
from loopwright.monitoring import _svg
from loopwright.monitoring.report import render_report
from loopwright.settings import Settings, TrackingSettings
from loopwright.store.monitoring import MonitorCatalog, ResultRecord, WindowRecord
from tests.cli.conftest import Invoker
from tests.monitoring._traffic import HOUR, T0, deploy, hour_of_traffic, log, reference_frame

_VOID = {"meta", "br", "hr", "img", "input", "link"}
_SVG_VOID = {"rect", "line", "circle", "polyline"}  # written self-closing


class Structure(HTMLParser):
    """Checks that every element is closed in order, and collects what a page must not hold."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.titles: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in _VOID:
            self.stack.append(tag)
        self._in_title = tag == "title"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, tag
        assert self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.titles.append(data)


def parse(html: str) -> Structure:
    parsed = Structure()
    parsed.feed(html)
    parsed.close()
    assert parsed.stack == []
    return parsed


def assert_self_contained(html: str) -> Structure:
    parsed = parse(html)
    assert not {"script", "iframe", "link", "img", "object", "embed"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attributes if name in ("src", "href") or name.startswith("on")]
    assert re.findall(r"https?://[^\s\"'<]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")
    return parsed


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """Deployment 'fraud' with monitor 'fraud' (reference tx:1), four hours of traffic of which the last
    two drifted (amounts shifted by 40, a new city 'nice'), run once, with an alert rule that opened."""
    opened = lw.connect(
        Settings(
            workspace=tmp_path / "ws", tracking=TrackingSettings(capture_git=False, flush_interval_s=0.2)
        )
    )
    deploy(opened)
    opened.log_dataset("tx", reference_frame())
    drifted = ("lyon", "paris", "porto", "nice")
    log(opened, hour_of_traffic(0) + hour_of_traffic(1))
    log(
        opened,
        hour_of_traffic(2, shift=40.0, cities=drifted) + hour_of_traffic(3, shift=40.0, cities=drifted),
    )
    opened.monitor("fraud", reference="tx:1")
    opened.alert_rule(
        "fraud-drift", monitor="fraud", when="drift_share > 0.3", severity="critical", channels=[]
    )
    opened.run_monitors(now=T0 + 4 * HOUR)
    yield opened
    opened.close()


def report(client: Client, start: int = T0, end: int = T0 + 4 * HOUR) -> str:
    return render_report(client.monitors, client.alerts, client.prediction_log, "fraud", start=start, end=end)


def test_the_report_shows_alerts_drift_performance_operations_and_distributions(client: Client) -> None:
    html = report(client)
    parsed = assert_self_contained(html)
    assert "<h1>Monitoring report: deployment fraud</h1>" in html
    assert "4 windows in range · 1200 served predictions · reference dataset tx:1" in html
    [alert] = client.alerts.list_alerts()
    assert '<tr><td>fraud-drift</td><td class="critical">critical</td><td>open</td>' in html
    assert escape(alert.message) in html
    for heading in (
        "Drift over time",
        "Performance over time",
        "Operations",
        "Data quality",
        "Distributions: reference vs the range&#x27;s 1200 served predictions",
    ):
        assert f"<h3>{heading}</h3>" in html
    for title in (
        "Share of drifted columns",
        "Drift of amount: wasserstein (drift above the threshold)",
        "Drift of city: jensenshannon (drift above the threshold)",
        "Multivariate drift (pca_reconstruction)",
        "Error rate",
        "Performance (dashed: estimated from probabilities)",
        "Label coverage",
        "Latency",
        "Throughput",
        "city (categorical)",
    ):
        assert f'aria-label="{title}"' in html, title
    assert html.count("<svg") == 11
    assert "amount (numeric; outside " in html

    # The drift share of each window is a point of its chart, in order.
    shares = [text for text in parsed.titles if text.startswith("drift share ")]
    assert [text.rpartition(": ")[2] for text in shares] == ["0", "0", "1", "1"]


def test_the_current_distribution_is_the_logged_data(client: Client) -> None:
    html = report(client, start=T0 + 2 * HOUR)  # only the drifted hours
    chart = html[html.index('aria-label="city (categorical)"') :]
    chart = chart[: chart.index("</svg>")]
    bars = re.findall(r"<rect [^>]*fill=\"(#[0-9a-f]+)\"><title>([^<:]+): ([0-9.e-]+)</title>", chart)
    reference, current = _svg.PALETTE[0], _svg.PALETTE[1]
    traffic = hour_of_traffic(2, shift=40.0, cities=("lyon", "paris", "porto", "nice"))
    traffic += hour_of_traffic(3, shift=40.0, cities=("lyon", "paris", "porto", "nice"))
    cities = [entry.inputs["city"] for entry in traffic]
    expected = {city: cities.count(city) / len(cities) for city in set(cities)}
    assert {label: float(value) for colour, label, value in bars if colour == current} == pytest.approx(
        expected, abs=5e-5
    )
    training = reference_frame()["city"].value_counts(normalize=True).to_dict()
    shown = {label: float(value) for colour, label, value in bars if colour == reference}
    assert shown == pytest.approx({**training, "nice": 0.0}, abs=5e-5)


def test_every_name_and_value_is_escaped(tmp_path: Path) -> None:
    client = lw.connect(Settings(workspace=tmp_path / "ws", tracking=TrackingSettings(capture_git=False)))
    try:
        deploy(client)
        hostile = '<img src=x onerror="alert(1)">'
        catalog = MonitorCatalog(client.store)
        monitor = catalog.create(
            "fraud",
            {
                "deployment": "fraud",
                "reference": {"kind": "dataset", "name": "tx", "version": 1},
                "window_ms": HOUR,
                "drift": {},
                "options": {},
            },
        )
        catalog.save_window(
            WindowRecord(monitor.id, T0, T0 + HOUR, 10, None, "ok", None, T0 + HOUR),
            [
                ResultRecord(T0, T0 + HOUR, "drift_score", hostile, 0.01, {"test": "ks", "threshold": 0.05}),
                ResultRecord(T0, T0 + HOUR, "missing_share", hostile, 0.1, None),
                ResultRecord(T0, T0 + HOUR, "schema_violations", None, 1.0, None),
                ResultRecord(T0, T0 + HOUR, "schema_violation_rows", hostile, 4.0, {"check": "max"}),
            ],
        )
        client.alert_rule("hostile", monitor="fraud", when=f"drift_score[{hostile}] < 0.05", channels=[])
        client.alerts.evaluate()
        html = render_report(
            client.monitors, client.alerts, client.prediction_log, "fraud", start=T0, end=T0 + HOUR
        )
    finally:
        client.close()
    assert_self_contained(html)
    assert hostile not in html
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert f'aria-label="Drift of {escaped}: ks (p-value: drift below the threshold)"' in html
    assert f'<tr><td>{escaped}</td><td class="number">0.1000, 0.1000</td><td>—</td><td>—</td>' in html
    assert '<td class="number">4</td></tr></table><p>Data-schema checks failed in 1 of 1 windows.</p>' in html
    assert f"drift_score[{escaped}] &lt; 0.05 on monitor" in html  # the alert's message


def test_the_report_command_writes_the_file(client: Client, tmp_path: Path) -> None:
    invoke = Invoker(client.settings.workspace)
    output = tmp_path / "out" / "fraud.html"
    result = invoke(
        "monitor",
        "report",
        "fraud",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        str(T0 + 4 * HOUR),
        "-o",
        str(output),
    )
    assert (result.exit_code, result.output) == (0, f"Wrote the report of deployment 'fraud' to {output}.\n")
    html = output.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "4 windows in range" in html

    missing = invoke("monitor", "report", "nope", "-o", str(output))
    assert missing.exit_code == 1
    assert missing.output.startswith("error[not_found.deployment]: ")


def test_a_report_of_a_deployment_without_monitors_says_so(tmp_path: Path) -> None:
    client = lw.connect(Settings(workspace=tmp_path / "ws", tracking=TrackingSettings(capture_git=False)))
    try:
        deploy(client)
        html = render_report(client.monitors, client.alerts, client.prediction_log, "fraud", end=T0)
    finally:
        client.close()
    assert_self_contained(html)
    assert "Deployment fraud has no monitors." in html
    assert "2025-12-25 00:00 to 2026-01-01 00:00 (UTC)" in html  # the 7 days before the end
