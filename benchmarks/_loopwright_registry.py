"""Loopwright's side of the registry benchmark, run by the Loopwright venv's Python (see ``registry.py``):
``loopwright.registry.format.save_model`` with the input example (so the signature is enforced at every
predict), then ``load_model`` and ``LoadedModel.predict``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import _common
import _registry_common


def _version() -> str:
    import loopwright

    return str(loopwright.__version__)


def predict(workdir: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """Save, load and time every model (see ``_registry_common.measure_models``)."""
    from loopwright.registry.format import load_model, save_model

    def save(model: Any, folder: Path, example: Any) -> None:
        save_model(model, folder, input_example=example)

    results = _registry_common.measure_models("loopwright", workdir, config, save, load_model)
    # The overhead alone, which the noise of a busy machine hides in the ratios: the signature check that
    # every predict pays on the one-row frame (no model call).
    import pandas as pd

    one_row = pd.read_parquet(Path(config["shared"]) / "one_row.parquet")
    for name, found in results.items():
        signature = load_model(workdir / name).signature
        timing = _registry_common.interleaved(
            {"validate": lambda signature=signature: signature.validate(one_row)},
            int(config["repeats"]),
            int(config["warmup"]),
        )
        found["validate_one_row"] = timing["validate"]
        _common.progress(
            f"loopwright {name} signature check alone: {timing['validate']['median'] * 1e6:,.1f} µs"
        )
    return results


if __name__ == "__main__":
    sys.exit(
        _common.child_main(
            "loopwright", _version, {"predict": predict}, "Loopwright's side of benchmarks/registry.py"
        )
    )
