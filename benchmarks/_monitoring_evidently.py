"""Evidently's side of the monitoring benchmark, run by ``benchmarks/.venvs/evidently``'s Python.

Evidently >= 0.7: ``Dataset.from_pandas`` of both DataFrames with the 20 numeric and 5 categorical
columns typed explicitly, then ``Report([DataDriftPreset()]).run(current_data=..., reference_data=...)``
(its default tests: at these sizes normalised Wasserstein and Jensen-Shannon at 0.1). Timed together;
each column's verdict is read from the snapshot's ``ValueDrift`` metrics. With ``agreement`` the preset
runs once more with ``num_method="ks"`` and ``cat_method="chisquare"``.
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
    import evidently

    return str(evidently.__version__)


def _verdicts(snapshot: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, threshold, value = str(config["method"]), float(config["threshold"]), float(metric["value"])
        # The preset's default methods carry display names ("K-S p_value"); forced ones their short names.
        p_value = "p_value" in method or method in ("ks", "chisquare", "z")
        found[str(config["column"])] = {
            "test": method,
            "statistic": value,
            "threshold": threshold,
            "drifted": shared.verdict(value, threshold, p_value),
        }
    return found


def drift(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``DataDriftPreset`` on the loaded DataFrames, ``repeats`` times."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current, facts = shared.load(config, "pandas")
    definition = DataDefinition(
        numerical_columns=list(config["numeric"]), categorical_columns=list(config["categorical"])
    )

    def report(before: Any, after: Any, preset: Any) -> tuple[Any, dict[str, float]]:
        started = time.perf_counter()
        current_data = Dataset.from_pandas(after, data_definition=definition)
        reference_data = Dataset.from_pandas(before, data_definition=definition)
        converted = time.perf_counter()
        snapshot = Report([preset]).run(current_data=current_data, reference_data=reference_data)
        return snapshot, {"from_pandas": converted - started, "run": time.perf_counter() - converted}

    rows = shared.WARM_UP_ROWS
    warm_up_s = shared.warm_up(
        "evidently", lambda: report(reference.head(rows), current.head(rows), DataDriftPreset())
    )
    latest: dict[str, Any] = {}

    def run() -> dict[str, float]:
        latest["snapshot"], phases = report(reference, current, DataDriftPreset())
        return phases

    summary, _ = shared.measure("evidently", f"{facts['rows']:,} rows", run, int(config["repeats"]))
    results: dict[str, Any] = {
        "data": facts,
        "warm_up_s": warm_up_s,
        **summary,
        "verdicts": _verdicts(latest.pop("snapshot")),
    }
    if config.get("agreement"):
        snapshot, phases = report(
            reference, current, DataDriftPreset(num_method="ks", cat_method="chisquare")
        )
        results["agreement_verdicts"] = _verdicts(snapshot)
        results["agreement_seconds"] = phases
    return results


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "evidently",
            _version,
            {"drift": drift},
            description="Evidently's side of benchmarks/monitoring.py",
        )
    )
