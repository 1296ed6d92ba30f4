"""The plain numpy/scipy baseline of the monitoring benchmark, run by the project venv's Python.

The same tests as Loopwright's defaults at these sizes, written as a data scientist would with pandas
and scipy, from the same pandas DataFrames: per numeric column ``scipy.stats.wasserstein_distance`` over
the reference's standard deviation (Evidently's normalisation), per categorical column
``scipy.spatial.distance.jensenshannon`` of the two ``value_counts(normalize=True)``, aligned.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _monitoring_common as shared


def _version() -> str:
    import scipy

    return str(scipy.__version__)


def compute(reference: Any, current: Any, numeric: list[str], categorical: list[str]) -> dict[str, float]:
    """Every column's statistic: normalised Wasserstein (numeric), Jensen-Shannon (categorical)."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    scores: dict[str, float] = {}
    for name in numeric:
        before = reference[name].to_numpy(dtype=float, na_value=np.nan)
        after = current[name].to_numpy(dtype=float, na_value=np.nan)
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        scores[name] = float(wasserstein_distance(before, after) / max(float(np.std(before)), 0.001))
    for name in categorical:
        shares = pd.concat(
            [reference[name].value_counts(normalize=True), current[name].value_counts(normalize=True)], axis=1
        ).fillna(0.0)
        scores[name] = float(jensenshannon(shares.iloc[:, 0].to_numpy(), shares.iloc[:, 1].to_numpy()))
    return scores


def drift(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline from loaded DataFrames, ``repeats`` times."""
    numeric, categorical = list(config["numeric"]), list(config["categorical"])
    reference, current, facts = shared.load(config, "pandas")
    rows = shared.WARM_UP_ROWS
    warm_up_s = shared.warm_up(
        "scipy", lambda: compute(reference.head(rows), current.head(rows), numeric, categorical)
    )
    latest: dict[str, Any] = {}

    def run() -> dict[str, float]:
        latest["scores"] = compute(reference, current, numeric, categorical)
        return {}

    summary, _ = shared.measure("scipy", f"{facts['rows']:,} rows", run, int(config["repeats"]))
    scores = latest["scores"]
    return {
        "data": facts,
        "warm_up_s": warm_up_s,
        **summary,
        "verdicts": {name: {"statistic": score, "drifted": score >= 0.1} for name, score in scores.items()},
    }


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "scipy",
            _version,
            {"drift": drift},
            description="The plain scipy baseline of benchmarks/monitoring.py",
        )
    )
