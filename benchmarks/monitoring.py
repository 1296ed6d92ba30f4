"""Drift detection: Loopwright against Evidently, NannyML and plain scipy, on this machine.

The workload: 20 numeric and 5 categorical columns (``_data_gen.py``, the data benchmark's tables), a
reference and a current batch of equal size (10k, 100k and 1M rows each) in which 7 columns drift by
construction (``num_00``-``num_02`` shifted by 0.15 standard deviations, ``amount_00`` scaled by 1.1,
``count_00``'s mean by 1.1, the level frequencies of ``cat_00`` and ``cat_01`` reversed; ``cat_02`` gets an
unseen level in 0.05% of rows).

Each tool runs in a fresh process of its own interpreter, loads both Parquet files before timing, warms up
on 1,000 rows, then times the whole drift computation ``repeats`` times (median reported, with its range)
under a peak-RSS window (``_data_memory.PeakMemory``):

* **Loopwright** (project venv): ``ReferenceProfile.from_data(reference)`` + ``detect_drift(profile,
  current)`` with the default tests, from the same pandas DataFrames Evidently gets, and again from Arrow
  tables (read straight from Parquet, no pandas); the test alone (profile stored, as a monitor runs it);
  once with the multivariate PCA method on;
* **Evidently** (``benchmarks/.venvs/evidently``, created on first use as in ``data.py``):
  ``Report([DataDriftPreset()]).run`` with the columns typed; at these sizes its default tests are the
  normalised Wasserstein distance and Jensen-Shannon at 0.1, Loopwright's defaults too;
* **NannyML** (``benchmarks/.venvs/nannyml``, created on first use): ``UnivariateDriftCalculator`` with
  the same methods, fit on the reference, the current data as one chunk;
* **plain scipy** (project venv): ``scipy.stats.wasserstein_distance`` / std and
  ``scipy.spatial.distance.jensenshannon`` of aligned ``value_counts``, column by column.

Speed is judged on CPU seconds (``time.process_time``, every thread of the process): this is a shared
2-core machine, and a process that waits for a core accrues wall-clock time but no CPU time. Wall-clock
times are reported too. Loopwright tests large windows on two threads, so its CPU time is the harsher
measure for it.

The verdicts of every column are compared with Evidently's (same tests, same thresholds: they must agree),
and at the smallest size also with ``ks`` for numeric and ``chisquare`` for categorical columns forced on
both. Targets (monitoring issue), at 100k and 1M rows: at least 15x faster than Evidently, peak RSS at most
0.6x Evidently's, and within 1.5x of plain scipy's time. Results: ``benchmarks/results/monitoring.json``
(``--quick``: under ``benchmarks/.work/``).

    .venv/bin/python benchmarks/monitoring.py            # 10k, 100k and 1M rows: ~15 minutes
    .venv/bin/python benchmarks/monitoring.py --quick    # 10k and 100k rows: a few minutes
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import _data_gen
from data import (
    INSTALLED_MARKER,
    Row,
    _display,
    _get,
    _git_state,
    _load,
    _now,
    ensure_evidently_venv,
    print_table,
)
from tracking import (
    BenchmarkError,
    Side,
    _file_lock,
    _pip,
    child_environment,
    installed_python,
    installed_version,
    machine_info,
    run_task,
    say,
)

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
WORK = HERE / ".work"
DATA = WORK / "data"
RESULTS = HERE / "results" / "monitoring.json"
NANNYML_VENV = VENVS / "nannyml"

FULL = {10_000: 5, 100_000: 3, 1_000_000: 2}
"""Rows of each side -> repeats."""
QUICK = {10_000: 3, 100_000: 2}
TARGET_SIZES = (100_000, 1_000_000)
TARGETS = {"speedup_vs_evidently": 15.0, "memory_vs_evidently": 0.6, "time_vs_scipy": 1.5}
DRIFTED = ["num_00", "num_01", "num_02", "amount_00", "count_00", "cat_00", "cat_01"]
"""The columns that drift by construction (``cat_02``'s 0.05% unseen level is too small to count)."""
TEST_NAMES = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "PSI": "psi",
    **{name: name for name in ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")},
}
"""Evidently's method names in Loopwright's terms."""


# --- the NannyML environment -----------------------------------------------------------------------------


def _choose_nannyml(python: Path) -> str:
    """``nannyml==<newest release >= 0.13>``, or ``nannyml>=0.13``."""
    listing = _pip(python, "index", "versions", "nannyml", capture=True)
    match = re.search(r"Available versions:\s*(.+)", listing.stdout)
    if listing.returncode != 0 or match is None:
        say(f"`pip index versions nannyml` failed ({listing.stderr.strip()[-200:]}); asking for >=0.13.")
        return "nannyml>=0.13"
    releases = [
        tuple(int(part) for part in version.split("."))
        for version in (item.strip() for item in match.group(1).split(","))
        if re.fullmatch(r"\d+\.\d+\.\d+", version)
    ]
    usable = [version for version in releases if version >= (0, 13, 0)]
    if not usable:
        raise BenchmarkError(f"The package index has no NannyML >= 0.13 (it lists: {match.group(1)}).")
    return "nannyml==" + ".".join(map(str, max(usable)))


def ensure_nannyml_venv(base_python: str) -> Path:
    """The NannyML venv's interpreter; created, with NannyML installed, on first use (about 2 GB)."""
    python = NANNYML_VENV / "bin" / "python"
    with _file_lock(VENVS / "nannyml.lock"):
        if python.exists() and (NANNYML_VENV / INSTALLED_MARKER).exists():
            return python
        if python.exists():
            say(f"{NANNYML_VENV} has no install marker; checking whether NannyML imports there.")
        else:
            say(
                f"Creating {NANNYML_VENV} with {base_python} -m venv "
                "(once; installing NannyML takes minutes)."
            )
            created = subprocess.run([base_python, "-m", "venv", str(NANNYML_VENV)], check=False)
            if created.returncode != 0:
                raise BenchmarkError(f"`{base_python} -m venv {NANNYML_VENV}` failed; see the output above.")
        started = time.perf_counter()
        # NannyML 0.13.1 imports statsmodels without declaring it; pyarrow reads the Parquet files.
        requirements = [_choose_nannyml(python), "statsmodels", "pyarrow"]
        say(f"Installing {' '.join(requirements)} ...")
        if _pip(python, "install", "--quiet", *requirements).returncode != 0:
            raise BenchmarkError(
                f"`pip install {' '.join(requirements)}` into {NANNYML_VENV} failed; see the output above."
            )
        check = subprocess.run(
            [str(python), "-c", "import nannyml, pandas; print(nannyml.__version__, pandas.__version__)"],
            capture_output=True,
            text=True,
            check=False,
            env={**child_environment(), "NML_DISABLE_USAGE_LOGGING": "1"},
        )
        if check.returncode != 0:
            raise BenchmarkError(f"`import nannyml` fails in {NANNYML_VENV}:\n{check.stderr[-2000:]}")
        nannyml, pandas = check.stdout.split()
        marker = {"requirements": requirements, "nannyml": nannyml, "pandas": pandas, "installed": _now()}
        (NANNYML_VENV / INSTALLED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        say(f"NannyML {nannyml} (pandas {pandas}) ready in {time.perf_counter() - started:,.0f} s.")
        return python


# --- data ------------------------------------------------------------------------------------------------


def prepare_data(sizes: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The reference and current Parquet files of each size (shared with ``data.py``; written once)."""
    files: dict[int, dict[str, Any]] = {}
    for rows in sizes:
        files[rows] = {}
        for label, drift in (("reference", False), ("current", True)):
            path = DATA / f"{label}-{rows}.parquet"
            if not path.exists():
                say(f"Writing {rows:,} rows to {_display(path)} ...")
            facts = _data_gen.ensure_parquet(path, rows, drift=drift)
            files[rows][label] = {"path": str(path), **facts}
    return files


# --- the table -------------------------------------------------------------------------------------------


def _seconds(results: Mapping[str, Any] | None, phase: str = "total") -> dict[str, Any] | None:
    return _get(results, "seconds", phase)


def _peak(results: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return _get(results, "memory", "peak_mb")


def agreement(ours: Mapping[str, Any] | None, theirs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Column by column: the same test, the same verdict, and how far apart the statistics are."""
    if not ours or not theirs:
        return None
    columns = sorted(set(ours) & set(theirs))
    differ = [name for name in columns if bool(ours[name]["drifted"]) != bool(theirs[name]["drifted"])]
    tests = [name for name in columns if ours[name].get("test") != TEST_NAMES.get(theirs[name].get("test"))]
    gaps = []
    for name in columns:
        # Evidently reports a p-value test's p-value as its value; Loopwright keeps both.
        mine = ours[name]["p_value"] if ours[name].get("p_value") is not None else ours[name]["statistic"]
        gaps.append(abs(float(mine) - float(theirs[name]["statistic"])))
    return {
        "columns": len(columns),
        "agree": len(columns) - len(differ),
        "differ": differ,
        "other_tests": tests,
        "max_statistic_gap": max(gaps) if gaps else None,
        "drifted": sorted(name for name in columns if ours[name]["drifted"]),
        "peer_drifted": sorted(name for name in columns if theirs[name]["drifted"]),
    }


def _agreement_note(found: Mapping[str, Any] | None, what: str) -> str:
    if not found:
        return f"{what}: not compared"
    text = f"{what}: {found['agree']}/{found['columns']} columns agree"
    if found["differ"]:
        text += f" (differ: {', '.join(found['differ'])})"
    text += f"; largest gap between the statistics {found['max_statistic_gap']:.2g}"
    if found["other_tests"]:
        text += f"; other tests on {', '.join(found['other_tests'])}"
    return text


def _numeric(verdicts: Mapping[str, Any] | None, keep: bool) -> dict[str, Any]:
    """The verdicts of the numeric columns (``keep``) or of the others."""
    numeric = set(_data_gen.NUMERIC)
    return {name: value for name, value in (verdicts or {}).items() if (name in numeric) == keep}


def build_rows(results: Mapping[int, Mapping[str, Any]]) -> list[Row]:
    """The comparison table: per size, time against each peer, memory, and verdict agreement."""
    table: list[Row] = []
    for rows, found in results.items():
        pandas, arrow = found.get("loopwright"), found.get("loopwright_arrow")
        evidently, nannyml, scipy = found.get("evidently"), found.get("nannyml"), found.get("scipy")
        targeted = rows in TARGET_SIZES
        size = f"{rows:,} rows x 25"

        # Speed is judged on CPU seconds: on a shared machine a process waiting for a core gains wall-clock
        # time but no CPU time. Loopwright's CPU time adds up its threads, so it is the harsher measure.
        row = Row(
            f"drift, {size} (CPU)",
            "s",
            _seconds(pandas, "cpu"),
            "Evidently DataDriftPreset",
            _seconds(evidently, "cpu"),
        )
        row.target = f"≥ {TARGETS['speedup_vs_evidently']:g}x faster at 100k, 1M"
        if targeted and row.speedup is not None:
            row.passed = row.speedup >= TARGETS["speedup_vs_evidently"]
        profile_s = _get(pandas, "seconds", "profile", "median") or 0
        row.note = (
            f"from pandas (as Evidently): wall clock profile {profile_s:.2f} s "
            f"+ test {(_get(pandas, 'seconds', 'detect', 'median') or 0):.2f} s; Evidently from_pandas "
            f"{(_get(evidently, 'seconds', 'from_pandas', 'median') or 0):.2f} s + run "
            f"{(_get(evidently, 'seconds', 'run', 'median') or 0):.2f} s"
        )
        table.append(row)
        row = Row("  wall clock", "s", _seconds(pandas), "Evidently", _seconds(evidently))
        row.note = "elapsed time: inflated for every tool by the machine's load (see the title)"
        table.append(row)
        row = Row(
            "  …from Arrow tables (CPU)", "s", _seconds(arrow, "cpu"), "Evidently", _seconds(evidently, "cpu")
        )
        row.note = "the same, the data read from Parquet into Arrow (no pandas)"
        table.append(row)
        row = Row(
            "  …test only, profile stored (wall)",
            "s",
            _seconds(pandas, "detect"),
            "Evidently",
            _seconds(evidently),
        )
        row.note = "what a monitor pays per window: the reference profile is computed once and stored"
        table.append(row)
        table.append(
            Row(
                "  vs NannyML (CPU)",
                "s",
                _seconds(pandas, "cpu"),
                "NannyML univariate",
                _seconds(nannyml, "cpu"),
                note="NannyML: fit + calculate, Wasserstein and Jensen-Shannon, one chunk",
            )
        )
        row = Row(
            "  vs plain scipy (CPU)",
            "s",
            _seconds(pandas, "cpu"),
            "scipy, same tests",
            _seconds(scipy, "cpu"),
        )
        row.target = f"≤ {TARGETS['time_vs_scipy']:g}x scipy's time"
        if targeted and row.speedup is not None:
            row.passed = row.speedup >= 1 / TARGETS["time_vs_scipy"]
        row.note = "wasserstein_distance / std and jensenshannon of value_counts, column by column"
        table.append(row)

        row = Row("  peak RSS of the process", "MiB", _peak(pandas), "Evidently", _peak(evidently))
        row.target = f"≤ {TARGETS['memory_vs_evidently']:g}x Evidently's at 100k, 1M"
        if targeted and row.speedup is not None:
            row.passed = row.speedup >= 1 / TARGETS["memory_vs_evidently"]
        row.note = (
            f"both hold the same DataFrames: {_get(pandas, 'data', 'data_mb') or 0:,.0f} MiB in pandas 3, "
            f"{_get(evidently, 'data', 'data_mb') or 0:,.0f} MiB in Evidently's pandas 2 (it does not import "
            f"under pandas 3); added by the call: "
            f"{_get(pandas, 'memory', 'added_mb', 'median') or 0:,.0f} vs "
            f"{_get(evidently, 'memory', 'added_mb', 'median') or 0:,.0f} MiB"
        )
        table.append(row)
        row = Row("  peak RSS, from Arrow tables", "MiB", _peak(arrow), "Evidently", _peak(evidently))
        row.note = (
            f"the Arrow tables hold {_get(arrow, 'data', 'data_mb') or 0:,.0f} MiB; added by the call: "
            f"{_get(arrow, 'memory', 'added_mb', 'median') or 0:,.0f} MiB"
        )
        table.append(row)
        if _get(pandas, "multivariate"):
            table.append(
                Row(
                    "  with the multivariate method (CPU)",
                    "s",
                    _seconds(pandas["multivariate"], "cpu"),
                    "Evidently (has none)",
                    _seconds(evidently, "cpu"),
                    note=(
                        f"PCA reconstruction, 2 more passes over the reference and 1 over the current data; "
                        f"peak RSS {_get(pandas['multivariate'], 'memory', 'peak_mb', 'median') or 0:,.0f} "
                        "MiB"
                    ),
                )
            )
        default = found.get("agreement")
        row = Row("  verdicts vs Evidently (defaults)", "", None, "Evidently", None)
        row.target = "all columns agree"
        if default:
            row.passed = not default["differ"] and not default["other_tests"]
        row.note = _agreement_note(default, "Wasserstein + Jensen-Shannon")
        if default:
            missed = sorted(set(DRIFTED) - set(default["drifted"]))
            found_text = "all 7 injected" if not missed else f"missed {missed}"
            row.note += f"; drifted columns found: {len(default['drifted'])} ({found_text})"
        table.append(row)
        forced = found.get("agreement_forced")
        if forced:
            ours, theirs = _get(pandas, "agreement_verdicts"), _get(evidently, "agreement_verdicts")
            ks = agreement(_numeric(ours, True), _numeric(theirs, True))
            chisquare = agreement(_numeric(ours, False), _numeric(theirs, False))
            row = Row("  verdicts vs Evidently (ks, chisquare)", "", None, "Evidently", None)
            row.target = "KS columns agree"
            row.passed = bool(ks) and not ks["differ"] and not ks["other_tests"]
            row.note = (
                f"{_agreement_note(ks, 'ks on the numeric columns')}; "
                f"{_agreement_note(chisquare, 'chisquare on the categorical ones')}: Evidently's chisquare "
                "is a goodness-of-fit test against the reference's shares (false positives when both "
                "samples vary), Loopwright's the test of homogeneity (docs/monitoring.md)"
            )
            table.append(row)
    return table


# --- command line ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Compare Loopwright's drift detection with Evidently, NannyML and plain scipy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only, fewer repeats")
    parser.add_argument(
        "--sizes", default=None, help="comma-separated rows per side (default: 10000,100000,1000000)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="repeats at every size (default: by size)")
    parser.add_argument("--skip-evidently", action="store_true", help="leave out Evidently (and its venv)")
    parser.add_argument("--skip-nannyml", action="store_true", help="leave out NannyML (and its venv)")
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the peers' venvs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per measurement")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the work folders under benchmarks/.work/"
    )
    parser.add_argument("--verbose", action="store_true", help="show everything the measured tools print")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)
    plan = dict(QUICK if args.quick else FULL)
    if args.sizes:
        try:
            sizes = [int(item.replace("_", "")) for item in args.sizes.split(",") if item.strip()]
        except ValueError:
            parser.error(f"--sizes must be whole numbers separated by commas. Got {args.sizes!r}.")
        if not sizes or min(sizes) < 2_000:
            parser.error("--sizes must name sizes of at least 2,000 rows (every tool warms up on 1,000).")
        plan = {rows: FULL.get(rows, 2) for rows in sizes}
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1.")
        plan = dict.fromkeys(plan, args.repeats)
    args.plan = plan
    if args.output is None:
        args.output = WORK / "monitoring-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 unless something failed (or, with --strict, missed)."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    project = Path(sys.executable)
    try:
        evidently_python = None if args.skip_evidently else ensure_evidently_venv(args.python)
        nannyml_python = None if args.skip_nannyml else ensure_nannyml_venv(args.python)
        files = prepare_data(list(args.plan))
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sides = {
        "loopwright": Side("loopwright", project, HERE / "_monitoring_loopwright.py"),
        "scipy": Side("scipy", project, HERE / "_monitoring_scipy.py"),
    }
    if evidently_python is not None:
        sides["evidently"] = Side("evidently", evidently_python, HERE / "_monitoring_evidently.py")
    if nannyml_python is not None:
        sides["nannyml"] = Side("nannyml", nannyml_python, HERE / "_monitoring_nannyml.py")
    options = {"keep": args.keep_work, "verbose": args.verbose, "timeout_s": args.timeout}
    smallest = min(args.plan)
    results: dict[int, dict[str, Any]] = {}
    try:
        for rows, repeats in args.plan.items():
            found: dict[str, Any] = {}
            config = {
                "reference": files[rows]["reference"]["path"],
                "current": files[rows]["current"]["path"],
                "repeats": repeats,
                "numeric": _data_gen.NUMERIC,
                "categorical": _data_gen.CATEGORICAL,
                "agreement": rows == smallest,
            }
            say(f"--- {rows:,} rows a side, {repeats} repeats ---")
            found["loopwright"] = run_task(
                sides["loopwright"], "drift", {**config, "form": "pandas", "multivariate": True}, **options
            )["results"]
            found["loopwright_arrow"] = run_task(
                sides["loopwright"], "drift", {**config, "form": "arrow", "agreement": False}, **options
            )["results"]
            found["scipy"] = run_task(sides["scipy"], "drift", config, **options)["results"]
            for peer in ("evidently", "nannyml"):
                if peer in sides:
                    found[peer] = run_task(sides[peer], "drift", config, **options)["results"]
            found["agreement"] = agreement(
                _get(found, "loopwright", "verdicts"), _get(found, "evidently", "verdicts")
            )
            found["agreement_forced"] = agreement(
                _get(found, "loopwright", "agreement_verdicts"),
                _get(found, "evidently", "agreement_verdicts"),
            )
            results[rows] = found
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    versions: dict[str, str] = {
        name: installed_version(project, name)
        for name in ("loopwright", "numpy", "scipy", "pandas", "pyarrow")
    }
    versions["python"] = installed_python(project)
    for peer, python in (("evidently", evidently_python), ("nannyml", nannyml_python)):
        if python is not None:
            for name in (peer, "pandas", "numpy", "scipy"):
                versions[f"{peer}_venv_{name}"] = installed_version(python, name)
            versions[f"{peer}_venv_python"] = installed_python(python)
    table = build_rows(results)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    load = f"{(load_before or ['?'])[0]} → {(machine['load_after'] or ['?'])[0]}"
    title = (
        f"Drift detection: Loopwright {versions['loopwright']} vs Evidently "
        f"{versions.get('evidently_venv_evidently', '—')}, NannyML "
        f"{versions.get('nannyml_venv_nannyml', '—')} and scipy {versions['scipy']} — 25 columns, "
        f"{machine['cpu_count']} CPUs, Python {versions['python']}, "
        f"1-min load {load}{' (--quick)' if args.quick else ''}"
    )
    print_table(table, title)
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "monitoring",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "git": _git_state(),
        "versions": versions,
        "config": {"plan": {str(rows): repeats for rows, repeats in args.plan.items()}},
        "targets": {**TARGETS, "target_sizes": list(TARGET_SIZES)},
        "comparisons": [row.to_json() for row in table],
        "raw": {str(rows): found for rows, found in results.items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {_display(args.output)} ({elapsed:,.0f} s in all).")
    missed = [row.name.strip() for row in table if row.passed is False]
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
