"""Loopwright's side of the monitoring benchmark, run by the project venv's Python (see ``monitoring.py``).

Timed, from reference and current already in memory (a pandas DataFrame, as Evidently gets them, or an
Arrow table, read straight from Parquet): ``ReferenceProfile.from_data(reference)`` (sorted values and
category counts, computed once per reference; a monitor stores it) and ``detect_drift(profile, current)``
with the default tests (Evidently's table: at these sizes normalised Wasserstein and Jensen-Shannon).
The multivariate method is off in the timed runs (Evidently has none), and timed once on its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _monitoring_common as shared


def _version() -> str:
    import importlib.metadata

    return importlib.metadata.version("loopwright")


def _verdicts(report: Any) -> dict[str, dict[str, Any]]:
    return {
        result.column: {
            "test": result.test,
            "statistic": result.statistic,
            "p_value": result.p_value,
            "threshold": result.threshold,
            "drifted": result.drifted,
        }
        for result in report.columns
    }


def drift(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """The drift computation from loaded data, ``repeats`` times (see the module docstring)."""
    from loopwright.monitoring.stats import ReferenceProfile, detect_drift

    form = str(config.get("form", "pandas"))
    reference, current, facts = shared.load(config, form)
    head = (
        (lambda data: data.slice(0, shared.WARM_UP_ROWS))
        if form == "arrow"
        else (lambda data: data.head(shared.WARM_UP_ROWS))
    )
    tool = f"loopwright ({form})"
    warm_up_s = shared.warm_up(tool, lambda: detect_drift(head(reference), head(current), multivariate=True))
    latest: dict[str, Any] = {}

    def run() -> dict[str, float]:
        started = time.perf_counter()
        profile = ReferenceProfile.from_data(reference, multivariate=False)
        profiled = time.perf_counter()
        latest["report"] = detect_drift(profile, current, multivariate=False)
        return {"profile": profiled - started, "detect": time.perf_counter() - profiled}

    summary, _ = shared.measure(tool, f"{facts['rows']:,} rows", run, int(config["repeats"]))
    report = latest.pop("report")
    results: dict[str, Any] = {
        "data": facts,
        "warm_up_s": warm_up_s,
        **summary,
        "verdicts": _verdicts(report),
        "share": report.share,
        "dataset_drift": report.drifted,
    }
    if config.get("multivariate"):

        def run_multivariate() -> dict[str, float]:
            started = time.perf_counter()
            profile = ReferenceProfile.from_data(reference, multivariate=True)
            profiled = time.perf_counter()
            latest["report"] = detect_drift(profile, current, multivariate=True)
            return {"profile": profiled - started, "detect": time.perf_counter() - profiled}

        multivariate, _ = shared.measure(tool, "with the multivariate method", run_multivariate, 1)
        found = latest.pop("report").multivariate
        results["multivariate"] = {**multivariate, "result": found.to_dict() if found else None}
    if config.get("agreement"):
        tests = dict.fromkeys(config["numeric"], "ks") | dict.fromkeys(config["categorical"], "chisquare")
        report = detect_drift(reference, current, drift=tests, multivariate=False)
        results["agreement_verdicts"] = _verdicts(report)
    return results


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "loopwright",
            _version,
            {"drift": drift},
            description="Loopwright's side of benchmarks/monitoring.py",
        )
    )
