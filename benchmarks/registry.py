"""Model serving, Loopwright against MLflow, on this machine: ``make bench``.

What is measured, for two scikit-learn models trained here on a synthetic 20-column frame (a
``LogisticRegression``, whose predict is so cheap that it exposes any per-call overhead, and a
``GradientBoostingClassifier`` of 100 trees):

1. one-row predict: the raw model's ``predict`` on a one-row DataFrame against the loaded model's
   ``predict`` on the same frame (Loopwright: ``load_model(...).predict``, signature enforced;
   MLflow: ``mlflow.pyfunc.load_model(...).predict``, schema enforced), median of ``--repeats`` calls;
2. batch predict: the same on ``--batch-rows`` rows (default 100,000), median of ``--batch-repeats``;
3. load time: the first load in the process (imports included) and the median of the later ones.

Each tool runs in its own interpreter: Loopwright in this venv, MLflow in ``benchmarks/.venvs/mlflow``
(created on first use by ``tracking.py``'s helper, with this venv's scikit-learn version installed next to
it, so both unpickle the very same models). Each side times the raw model *in its own process*, interleaved
with its own loaded model, and the comparison is the ratio loaded / raw (targets: one row ≤ 1.2x, batch
≤ 1.1x). Figures are written to ``benchmarks/results/registry.json`` (``--quick``: under
``benchmarks/.work/``).

    .venv/bin/python benchmarks/registry.py            # the full run, a few minutes
    .venv/bin/python benchmarks/registry.py --quick    # a smoke run, under a minute once MLflow is installed
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracking import (
    BenchmarkError,
    Side,
    _file_lock,
    _first,
    _load,
    _now,
    _pip,
    ensure_mlflow_venv,
    installed_python,
    installed_version,
    machine_info,
    run_task,
    say,
)

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
WORK = HERE / ".work"
RESULTS = HERE / "results" / "registry.json"

TARGETS = {"one_row": 1.2, "batch": 1.1}
"""Loopwright's loaded-model predict at most this many times the raw model's (the registry issue)."""

FULL = {"repeats": 2_000, "batch_repeats": 7, "batch_rows": 100_000, "train_rows": 20_000, "load_repeats": 5}
QUICK = {"repeats": 300, "batch_repeats": 3, "batch_rows": 100_000, "train_rows": 5_000, "load_repeats": 3}
COLUMNS = 20
SEED = 20_240_601


def train_models(folder: Path, train_rows: int, batch_rows: int) -> list[str]:
    """Train the models and write them with the data both sides read (see ``_registry_common``)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    names = [f"f{index:02d}" for index in range(COLUMNS)]

    def frame(rows: int) -> pd.DataFrame:
        return pd.DataFrame(rng.normal(size=(rows, COLUMNS)), columns=names)

    train = frame(train_rows)
    score = train["f00"] + 0.5 * train["f01"] * train["f02"] - train["f03"] + rng.normal(0, 0.5, train_rows)
    labels = (score > 0).astype("int64")
    models = {
        "logistic": LogisticRegression(max_iter=1_000),
        "gradient_boosting": GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0),
    }
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(train, labels)
        say(
            f"trained {name} on {train_rows:,} rows x {COLUMNS} columns "
            f"in {time.perf_counter() - start:,.1f} s"
        )
        with (folder / f"{name}.pkl").open("wb") as handle:
            pickle.dump(model, handle, protocol=5)
    frame(1).to_parquet(folder / "one_row.parquet")
    frame(batch_rows).to_parquet(folder / "batch.parquet")
    train.head(5).to_parquet(folder / "example.parquet")
    return list(models)


def ensure_sklearn(python: Path, version: str) -> None:
    """Install scikit-learn ``version`` into the MLflow venv unless it is there: both sides must unpickle
    the same models with the same library."""
    with _file_lock(VENVS / "mlflow.lock"):
        if installed_version(python, "scikit-learn") == version:
            return
        say(f"Installing scikit-learn=={version} into the MLflow venv (to match this venv) ...")
        if _pip(python, "install", "--quiet", f"scikit-learn=={version}").returncode != 0:
            raise BenchmarkError(f"`pip install scikit-learn=={version}` into {python} failed; see above.")


# --- the table ----------------------------------------------------------------------------------------------


def build_rows(results: Mapping[str, Mapping[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """One row per model and measurement: the medians, each tool's ratio to the raw model, the verdict."""
    rows = []
    for model in models:
        ours, theirs = results.get("loopwright", {}).get(model), results.get("mlflow", {}).get(model)
        for key, label, unit, scale in (
            ("one_row", "one-row predict", "µs", 1e6),
            ("batch", "batch predict", "ms", 1e3),
        ):
            row: dict[str, Any] = {"model": model, "measurement": label, "unit": unit}
            if ours:
                raw, tool = ours[key]["raw"]["median"], ours[key]["loopwright"]["median"]
                row.update(raw=raw * scale, loopwright=tool * scale, loopwright_ratio=tool / raw)
                row["target"] = TARGETS[key]
                row["passed"] = tool / raw <= TARGETS[key]
                if key == "batch":
                    row["measurement"] = f"{ours['batch_rows']:,}-row predict"
            if theirs:
                raw, tool = theirs[key]["raw"]["median"], theirs[key]["mlflow"]["median"]
                row.update(mlflow_raw=raw * scale, mlflow=tool * scale, mlflow_ratio=tool / raw)
            rows.append(row)
        if ours and "validate_one_row" in ours:
            rows[-2]["loopwright_validate"] = ours["validate_one_row"]["median"] * 1e6
        load: dict[str, Any] = {"model": model, "measurement": "load (first / later)", "unit": "ms"}
        for tool, found in (("loopwright", ours), ("mlflow", theirs)):
            if found:
                load[tool] = found["load_s"]["median"] * 1e3
                load[f"{tool}_first"] = found["load_first_s"] * 1e3
        rows.append(load)
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def print_table(rows: Sequence[Mapping[str, Any]], title: str) -> None:
    """The comparison as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True, title_justify="left")
    for column, justify in (
        ("Model", "left"),
        ("Measurement", "left"),
        ("raw sklearn\n(Loopwright venv)", "right"),
        ("Loopwright", "right"),
        ("Loopwright\n/ raw", "right"),
        ("Target", "left"),
        ("Result", "left"),
        ("raw sklearn\n(MLflow venv)", "right"),
        ("MLflow pyfunc", "right"),
        ("MLflow\n/ raw", "right"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        unit = row["unit"]
        if row["measurement"].startswith("load"):
            ours = f"{_number(row.get('loopwright_first'))} / {_number(row.get('loopwright'))} {unit}"
            theirs = f"{_number(row.get('mlflow_first'))} / {_number(row.get('mlflow'))} {unit}"
            table.add_row(row["model"], row["measurement"], "", ours, "", "", "", "", theirs, "")
            continue
        result = {True: "[green]PASS[/]", False: "[red bold]FAIL[/]", None: ""}[row.get("passed")]
        table.add_row(
            row["model"],
            row["measurement"],
            f"{_number(row.get('raw'))} {unit}",
            f"{_number(row.get('loopwright'))} {unit}",
            f"{row['loopwright_ratio']:.3f}x" if "loopwright_ratio" in row else "—",
            f"≤ {row['target']:g}x" if "target" in row else "",
            result,
            f"{_number(row.get('mlflow_raw'))} {unit}",
            f"{_number(row.get('mlflow'))} {unit}",
            f"{row['mlflow_ratio']:.2f}x" if "mlflow_ratio" in row else "—",
        )
    Console(width=max(170, shutil.get_terminal_size().columns)).print(table)


# --- command line ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; sizes left unset take the --quick or full defaults."""
    parser = argparse.ArgumentParser(
        description="Compare a Loopwright-loaded model's predict with the raw model's and MLflow pyfunc's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a smaller training set")
    sizes = parser.add_argument_group("sizes (default: full run; --quick: smaller)")
    for name, full in FULL.items():
        sizes.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"full: {full:,}; quick: {QUICK[name]:,}",
        )
    parser.add_argument(
        "--skip-mlflow", action="store_true", help="measure Loopwright and the raw model only"
    )
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the MLflow venv")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds allowed per measurement script"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the models under benchmarks/.work/")
    parser.add_argument("--verbose", action="store_true", help="show everything the measured tools print")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        elif getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    if args.output is None:
        args.output = WORK / "registry-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 unless something failed (or, with --strict, missed)."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    sklearn_version = installed_version(Path(sys.executable), "scikit-learn")
    sides = {"loopwright": Side("loopwright", Path(sys.executable), HERE / "_loopwright_registry.py")}
    try:
        if not args.skip_mlflow:
            mlflow_python = ensure_mlflow_venv(args.python)
            ensure_sklearn(mlflow_python, sklearn_version)
            sides["mlflow"] = Side("mlflow", mlflow_python, HERE / "_mlflow_registry.py")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    versions = {tool: installed_version(side.python, tool) for tool, side in sides.items()}
    versions.update({f"python_{tool}": installed_python(side.python) for tool, side in sides.items()})
    versions["scikit-learn"] = sklearn_version
    WORK.mkdir(parents=True, exist_ok=True)
    shared = Path(tempfile.mkdtemp(prefix="registry-shared-", dir=WORK))
    results: dict[str, Any] = {}
    try:
        models = train_models(shared, args.train_rows, args.batch_rows)
        config = {
            "shared": str(shared),
            "models": models,
            "repeats": args.repeats,
            "warmup": max(10, args.repeats // 20),
            "batch_repeats": args.batch_repeats,
            "load_repeats": args.load_repeats,
        }
        for tool, side in sides.items():
            document = run_task(
                side, "predict", config, keep=args.keep_work, verbose=args.verbose, timeout_s=args.timeout
            )
            results[tool] = document["results"]
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep_work:
            shutil.rmtree(shared, ignore_errors=True)

    rows = build_rows(results, models)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    title = (
        f"Model predict: Loopwright {versions['loopwright']} vs "
        f"MLflow {versions.get('mlflow', '(skipped)')} — "
        f"scikit-learn {sklearn_version}, {COLUMNS} columns, {machine['cpu_count']} CPUs, 1-min load "
        f"{_first(load_before)} → {_first(machine['load_after'])}{' (--quick)' if args.quick else ''}"
    )
    print_table(rows, title)
    for row in rows:
        if "loopwright_validate" in row:
            print(
                f"{row['model']}: Loopwright's signature check alone costs "
                f"{row['loopwright_validate']:,.1f} µs a call."
            )
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "registry",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "versions": versions,
        "config": {**config, "shared": None, "train_rows": args.train_rows, "columns": COLUMNS},
        "targets": TARGETS,
        "comparisons": rows,
        "raw": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {args.output} ({elapsed:,.0f} s in all).")
    missed = [f"{row['model']} {row['measurement']}" for row in rows if row.get("passed") is False]
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
