"""NannyML's side of the monitoring benchmark, run by ``benchmarks/.venvs/nannyml``'s Python.

``UnivariateDriftCalculator`` with the same methods as Evidently's and Loopwright's defaults at these
sizes (Wasserstein for continuous columns, Jensen-Shannon for categorical ones), ``fit`` on the
reference and ``calculate`` on the current data as one chunk (the comparison the other tools make; NannyML
warns that one chunk is few, which is silenced). Its thresholds are learned from reference chunks, so its
verdicts are not compared; the statistics are recorded.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _monitoring_common as shared


def _version() -> str:
    import nannyml

    return str(nannyml.__version__)


def drift(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """``fit`` + ``calculate`` on the loaded DataFrames, ``repeats`` times."""
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # NannyML reports usage to Segment unless told not to
    import nannyml

    numeric, categorical = list(config["numeric"]), list(config["categorical"])
    reference, current, facts = shared.load(config, "pandas")

    def compute(before: Any, after: Any) -> tuple[Any, dict[str, float]]:
        started = time.perf_counter()
        calculator = nannyml.UnivariateDriftCalculator(
            column_names=[*numeric, *categorical],
            treat_as_categorical=categorical,
            continuous_methods=["wasserstein"],
            categorical_methods=["jensen_shannon"],
            chunk_number=1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calculator.fit(before)
            fitted = time.perf_counter()
            result = calculator.calculate(after)
        return result, {"fit": fitted - started, "calculate": time.perf_counter() - fitted}

    rows = shared.WARM_UP_ROWS
    warm_up_s = shared.warm_up("nannyml", lambda: compute(reference.head(rows), current.head(rows)))
    latest: dict[str, Any] = {}

    def run() -> dict[str, float]:
        latest["result"], phases = compute(reference, current)
        return phases

    summary, _ = shared.measure("nannyml", f"{facts['rows']:,} rows", run, int(config["repeats"]))
    frame = latest.pop("result").filter(period="analysis").to_df()
    statistics = {}
    for name in [*numeric, *categorical]:
        method = "jensen_shannon" if name in categorical else "wasserstein"
        statistics[name] = {"test": method, "statistic": float(frame[(name, method, "value")].iloc[-1])}
    return {"data": facts, "warm_up_s": warm_up_s, **summary, "statistics": statistics}


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "nannyml", _version, {"drift": drift}, description="NannyML's side of benchmarks/monitoring.py"
        )
    )
