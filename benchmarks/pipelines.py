"""Pipelines, Loopwright against Prefect, on this machine: ``make bench``.

The pipeline (``_pipelines_shared.py``): five cheap steps on pandas and NumPy (make a DataFrame, add
features, aggregate, a least-squares "fit", a score), so what a run costs beyond calling the five functions
directly is the orchestrator's overhead. Each tool runs it in a subprocess of its own interpreter, in a
fresh folder under ``benchmarks/.work/``; every variant is timed once per round, interleaved, and the
medians over the rounds are compared as ratios. Two sizes: ``--rows`` (500: overhead dominates) and
``--big-rows`` (100,000 rows passed from step to step).

1. **per-step overhead**: (5-step run - the five direct calls) / 5, paired round by round. Loopwright with
   its cache on and new data every run (every step misses, runs and is recorded: a child run, inputs and
   outputs as artifacts, the cache key); Prefect out of the box and in its leanest local setup (no cache
   keys, no heartbeats, no API logs: see ``_prefect_pipelines.py``). Also split into a per-run cost (a
   1-step pipeline) and a marginal cost per extra step, and Loopwright with ``cache=False``;
2. **cached re-run**: the same 5-step run again, every step a cache hit: Loopwright's default against
   Prefect tasks with ``cache_policy=INPUTS + TASK_SOURCE``;
3. where Loopwright's per-step time goes: uncached and cached runs under cProfile (own time per package,
   and the listing in ``benchmarks/results/pipelines-profile.txt``).

Both sides time the value a caller gets back (Prefect's flow call returns it; Loopwright's ``run.output``).

Prefect runs in its own virtual environment, created on first use at ``benchmarks/.venvs/prefect``
(``prefect==3.9.1``, with the pandas and NumPy versions of the project venv), with its ephemeral API on
loopback and SQLite under a fresh ``PREFECT_HOME``: no server to start, nothing leaves the machine. Targets
(pipelines issue): per-step overhead <= 5 ms, a fully cached 5-step re-run <= 100 ms, >= 10x less
overhead than the peer. Results: ``benchmarks/results/pipelines.json`` (``--quick``: under
``benchmarks/.work/``).

    .venv/bin/python benchmarks/pipelines.py                  # the full run, 5-8 minutes
    .venv/bin/python benchmarks/pipelines.py --quick          # a smoke run, 2-3 minutes
    .venv/bin/python benchmarks/pipelines.py --quick --skip-prefect   # Loopwright alone, seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import summarize
from tracking import (
    BenchmarkError,
    Side,
    _cell,
    _file_lock,
    _load,
    _pip,
    _ratio,
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
RESULTS = HERE / "results" / "pipelines.json"
PREFECT_VENV = VENVS / "prefect"
PREFECT_VERSION = "3.9.1"
"""The Prefect release the figures are measured with (the newest 3.x when this benchmark was written)."""
INSTALLED_MARKER = ".loopwright-bench.json"
"""Written into the Prefect venv once its install has succeeded; a venv without it is rebuilt."""

FULL = {"rows": 500, "big_rows": 100_000, "repeats": 15, "big_repeats": 7, "profile_runs": 30}
QUICK = {"rows": 500, "big_rows": 100_000, "repeats": 3, "big_repeats": 2, "profile_runs": 5}

STEPS = 5
TARGET_MAX_ROWS = 1_000
"""The per-step and cached re-run targets are for cheap steps: sizes above this report without a verdict."""
TARGETS = {
    "per_step_ms": 5.0,  # per-step overhead <= 5 ms
    "cached_rerun_ms": 100.0,  # a fully cached 5-step re-run <= 100 ms
    "overhead_ratio": 10.0,  # >= 10x less overhead than Prefect
}


# --- the Prefect environment ------------------------------------------------------------------------------


def _choose_prefect(python: Path) -> str:
    """``prefect==3.9.1`` if the index has it, else the newest 3.x release (said so)."""
    listing = _pip(python, "index", "versions", "prefect", capture=True)
    match = re.search(r"Available versions:\s*(.+)", listing.stdout)
    if listing.returncode != 0 or match is None:
        say(
            f"`pip index versions prefect` failed ({listing.stderr.strip()[-200:]}); asking for 3.9.1 anyway."
        )
        return f"prefect=={PREFECT_VERSION}"
    versions = [item.strip() for item in match.group(1).split(",")]
    if PREFECT_VERSION in versions:
        return f"prefect=={PREFECT_VERSION}"
    release = [version for version in versions if re.fullmatch(r"3\.\d+\.\d+", version)]
    if not release:
        raise BenchmarkError(f"The package index has no Prefect 3.x release (it lists: {match.group(1)}).")
    newest = max(release, key=lambda version: tuple(int(part) for part in version.split(".")))
    say(f"Prefect {PREFECT_VERSION} is not on the index; using the newest 3.x, {newest}.")
    return f"prefect=={newest}"


def _requirements(python: Path) -> list[str]:
    """Prefect, with the project venv's pandas and NumPy: both sides run the steps on the same libraries."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("pandas", "numpy")]
    return [_choose_prefect(python), *pins]


def ensure_prefect_venv(base_python: str) -> Path:
    """The Prefect venv's interpreter; the venv is created and Prefect installed on first use (or again
    when the pins change)."""
    python = PREFECT_VENV / "bin" / "python"
    marker_path = PREFECT_VENV / INSTALLED_MARKER
    wanted_pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("pandas", "numpy")]
    with _file_lock(VENVS / "prefect.lock"):
        if python.exists() and marker_path.exists():
            marker = json.loads(marker_path.read_text())
            if marker.get("requirements", [])[1:] == wanted_pins:
                return python
            say(
                f"{PREFECT_VENV} was built for {marker.get('requirements')}; rebuilding it for {wanted_pins}."
            )
        if PREFECT_VENV.exists():
            say(f"Rebuilding {PREFECT_VENV} (an interrupted install, or new pins).")
            shutil.rmtree(PREFECT_VENV)
        say(f"Creating {PREFECT_VENV} with {base_python} -m venv (once; installing Prefect takes minutes).")
        started = time.perf_counter()
        created = subprocess.run([base_python, "-m", "venv", str(PREFECT_VENV)], check=False)
        if created.returncode != 0:
            raise BenchmarkError(f"`{base_python} -m venv {PREFECT_VENV}` failed; see the output above.")
        requirements = _requirements(python)
        say(f"Installing {' '.join(requirements)} ...")
        if _pip(python, "install", "--quiet", *requirements).returncode != 0:
            raise BenchmarkError(
                f"`pip install {' '.join(requirements)}` into {PREFECT_VENV} failed; see the output above."
            )
        check = subprocess.run(
            [str(python), "-c", "import prefect, pandas; print(prefect.__version__, pandas.__version__)"],
            capture_output=True,
            text=True,
            check=False,
            env=child_environment(),
        )
        if check.returncode != 0:
            raise BenchmarkError(f"`import prefect` fails in {PREFECT_VENV}:\n{check.stderr[-2000:]}")
        prefect, pandas = check.stdout.split()
        marker = {"requirements": requirements, "prefect": prefect, "pandas": pandas, "installed": _now()}
        marker_path.write_text(json.dumps(marker, indent=2) + "\n")
        say(f"Installed Prefect {prefect} (pandas {pandas}) in {time.perf_counter() - started:,.0f} s.")
        return python


# --- from raw timings to comparisons ----------------------------------------------------------------------


def _series(timings: Mapping[str, Any], label: str) -> list[float] | None:
    found = timings.get(label)
    return None if not found else [float(value) for value in found["values"]]


def _ms(values: Sequence[float] | None) -> dict[str, Any] | None:
    return None if not values else summarize([value * 1000 for value in values])


def per_step(timings: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    """(run - direct calls) / 5 in ms, paired round by round (the two ran back to back)."""
    runs, direct = _series(timings, label), _series(timings, "direct")
    if not runs or not direct:
        return None
    return _ms([(run - base) / STEPS for run, base in zip(runs, direct, strict=True)])


def per_run(timings: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    """A 1-step run - the direct call of its step, in ms: what a run costs whatever its steps."""
    runs, direct = _series(timings, label), _series(timings, "direct_one")
    if not runs or not direct:
        return None
    return _ms([run - base for run, base in zip(runs, direct, strict=True)])


def marginal(timings: Mapping[str, Any], five: str, one: str) -> dict[str, Any] | None:
    """What each step beyond the first adds, net of its own work, in ms."""
    series = [_series(timings, label) for label in (five, "direct", one, "direct_one")]
    if any(not values for values in series):
        return None
    return _ms(
        [
            ((run5 - base5) - (run1 - base1)) / (STEPS - 1)
            for run5, base5, run1, base1 in zip(*series, strict=True)  # type: ignore[arg-type]
        ]
    )


def wall(timings: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    """A whole call, in ms."""
    return _ms(_series(timings, label))


@dataclass
class Row:
    """One line of the table: Prefect's and Loopwright's medians (with ranges), their ratio, the targets."""

    name: str
    unit: str
    peer: dict[str, Any] | None
    loopwright: dict[str, Any] | None
    limit: float | None = None
    ratio_target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times less Loopwright's median is (>1: Loopwright ahead)."""
        if not self.peer or not self.loopwright:
            return None
        ours, theirs = float(self.loopwright["median"]), float(self.peer["median"])
        if ours <= 0 or theirs <= 0:
            return None
        return theirs / ours

    @property
    def verdicts(self) -> list[bool]:
        found = []
        if self.limit is not None and self.loopwright:
            found.append(float(self.loopwright["median"]) <= self.limit)
        if self.ratio_target is not None and self.ratio is not None:
            found.append(self.ratio >= self.ratio_target)
        return found

    @property
    def passed(self) -> bool | None:
        return None if not self.verdicts else all(self.verdicts)

    @property
    def target(self) -> str:
        parts = []
        if self.limit is not None:
            parts.append(f"≤ {self.limit:g} {self.unit}")
        if self.ratio_target is not None:
            parts.append(f"≥ {self.ratio_target:g}x")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The row as stored in the results file."""
        return {
            "name": self.name,
            "unit": self.unit,
            "prefect": self.peer,
            "loopwright": self.loopwright,
            "ratio": self.ratio,
            "target": self.target or None,
            "passed": self.passed,
            "note": self.note or None,
        }


def _size_rows(size: int, theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> list[Row]:
    """The rows of one size, from both sides' timings at that size."""
    specs: list[tuple[str, Any, Any, float | None, float | None, str]] = [
        (
            "direct calls of the 5 functions",
            wall(theirs, "direct"),
            wall(ours, "direct"),
            None,
            None,
            "the baseline each side's overhead is net of (same code, same pandas)",
        ),
        (
            "per-step overhead vs Prefect defaults",
            per_step(theirs, "default_five"),
            per_step(ours, "default_five"),
            TARGETS["per_step_ms"],
            TARGETS["overhead_ratio"],
            "(5-step run - direct) / 5; Loopwright: cache on, new data (all miss, all recorded); Prefect "
            "out of the box (its heartbeat thread is joined at flow end: up to 1 s a run)",
        ),
        (
            "per-step overhead vs Prefect lean",
            per_step(theirs, "lean_five"),
            per_step(ours, "default_five"),
            TARGETS["per_step_ms"],
            TARGETS["overhead_ratio"],
            "Prefect: NO_CACHE, heartbeats off, no API logs (its fastest local setup)",
        ),
        (
            "per-step overhead, no cache",
            per_step(theirs, "lean_five"),
            per_step(ours, "nocache_five"),
            None,
            None,
            "Loopwright: run_pipeline(cache=False); Prefect lean",
        ),
        (
            "per-run cost (1-step run - direct)",
            per_run(theirs, "lean_one"),
            per_run(ours, "default_one"),
            None,
            None,
            "a pipeline of `make` alone; Prefect lean",
        ),
        (
            "marginal cost of each further step",
            marginal(theirs, "lean_five", "lean_one"),
            marginal(ours, "default_five", "default_one"),
            None,
            None,
            "((5-step - direct) - (1-step - direct)) / 4; Prefect lean",
        ),
        (
            "5-step run on new data, caching on",
            wall(theirs, "cached_five"),
            wall(ours, "default_five"),
            None,
            None,
            "Prefect: INPUTS + TASK_SOURCE, results persisted; all misses on both sides",
        ),
        (
            "fully cached 5-step re-run",
            wall(theirs, "cached_hit"),
            wall(ours, "default_hit"),
            TARGETS["cached_rerun_ms"],
            None,
            "the same inputs again: 5 hits on both sides (checked)",
        ),
    ]
    judged = size <= TARGET_MAX_ROWS
    rows = [
        Row(
            f"{name}, {size:,} rows",
            "ms",
            peer,
            mine,
            limit if judged else None,
            ratio if judged else None,
            note,
        )
        for name, peer, mine, limit, ratio, note in specs
    ]
    if not judged:
        rows[1].note += f"; the targets are for cheap steps (<= {TARGET_MAX_ROWS:,} rows)"
    return rows


def build_rows(results: Mapping[str, Any], sizes: Sequence[int]) -> list[Row]:
    """The comparison table from both sides' raw results."""
    rows: list[Row] = []
    ours_all = results.get("loopwright", {}).get("sizes", {})
    theirs_all = results.get("prefect", {}).get("sizes", {})
    for size in sizes:
        ours = ours_all.get(str(size), {}).get("timings", {})
        theirs = theirs_all.get(str(size), {}).get("timings", {})
        rows.extend(_size_rows(size, theirs, ours))
    first_ours = results.get("loopwright", {}).get("first_run_s")
    first_theirs = results.get("prefect", {}).get("first_run_s")
    rows.append(
        Row(
            "first run in a fresh process",
            "ms",
            None if first_theirs is None else summarize([first_theirs * 1000]),
            None if first_ours is None else summarize([first_ours * 1000]),
            note="Loopwright: new workspace (tables created); Prefect: ephemeral server start, new database",
        )
    )
    return rows


def _ratio_text(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "—"
    return f"x{_ratio(ratio)} less" if ratio >= 1 else f"x{_ratio(1 / ratio)} more"


def print_table(rows: Sequence[Row], title: str) -> None:
    """The comparison as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("Measurement", style="bold", max_width=34)
    table.add_column("Prefect\nmedian [range]", justify="right")
    table.add_column("Loopwright\nmedian [range]", justify="right")
    table.add_column("Loopwright vs Prefect", justify="right")
    table.add_column("Target")
    table.add_column("Result")
    table.add_column("Notes", style="dim", max_width=46)
    for row in rows:
        result = {True: "[green]PASS[/]", False: "[red bold]FAIL[/]", None: ""}[row.passed]
        table.add_row(
            row.name,
            _cell(row.peer, row.unit),
            _cell(row.loopwright, row.unit),
            _ratio_text(row),
            row.target,
            result,
            row.note,
        )
    Console(width=max(170, shutil.get_terminal_size().columns)).print(table)


def print_profile(profile: Mapping[str, Any]) -> None:
    """Loopwright's own time per package, per run, under cProfile."""
    for label, found in profile.items():
        parts = ", ".join(
            f"{name} {ms:.1f}" for name, ms in list(found["own_ms_per_run_by_package"].items())[:10]
        )
        print(
            f"Loopwright {label} run under cProfile: {found['ms_per_run']:.1f} ms a run; own time by package "
            f"(ms a run): {parts}"
        )


# --- command line ----------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _git_state() -> dict[str, Any]:
    """The commit measured and whether src/ differs from it (the editable install runs the working tree)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = [line.split(maxsplit=1)[-1] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "src_changes": changed}


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; sizes left unset take the --quick or full defaults."""
    parser = argparse.ArgumentParser(
        description="Compare the overhead of Loopwright's pipelines with Prefect's flows (this machine).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke run (2-3 min)")
    for name, full in FULL.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"full: {full:,}; quick: {QUICK[name]:,}",
        )
    parser.add_argument("--skip-big", action="store_true", help="leave out the --big-rows size")
    parser.add_argument("--skip-prefect", action="store_true", help="leave out Prefect (and its venv)")
    parser.add_argument("--skip-profile", action="store_true", help="leave out the cProfile breakdown")
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the Prefect venv")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per measurement")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the work folders under benchmarks/.work/"
    )
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
        args.output = WORK / "pipelines-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 unless something failed (or, with --strict, missed)."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    project = Path(sys.executable)
    try:
        prefect_python = None if args.skip_prefect else ensure_prefect_venv(args.python)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sides = {"loopwright": Side("loopwright", project, HERE / "_loopwright_pipelines.py")}
    if prefect_python is not None:
        sides["prefect"] = Side("prefect", prefect_python, HERE / "_prefect_pipelines.py")
    sizes = [{"rows": args.rows, "repeats": args.repeats}]
    if not args.skip_big:
        sizes.append({"rows": args.big_rows, "repeats": args.big_repeats})
    options = {"keep": args.keep_work, "verbose": args.verbose, "timeout_s": args.timeout}
    results: dict[str, Any] = {}
    try:
        for tool, side in sides.items():
            results[tool] = run_task(side, "pipelines", {"sizes": sizes}, **options)["results"]
        if not args.skip_profile:
            config = {"rows": args.rows, "runs": args.profile_runs}
            results["profile"] = run_task(sides["loopwright"], "profile", config, **options)["results"]
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    versions = {
        "loopwright": installed_version(project, "loopwright"),
        **{name: installed_version(project, name) for name in ("pandas", "numpy", "pyarrow", "sqlalchemy")},
        "python": installed_python(project),
    }
    if prefect_python is not None:
        for name in ("prefect", "pandas", "numpy"):
            versions[f"prefect_venv_{name}"] = installed_version(prefect_python, name)
        versions["prefect_venv_python"] = installed_python(prefect_python)
    row_sizes = [size["rows"] for size in sizes]
    rows = build_rows(results, row_sizes)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    load = f"{(load_before or ['?'])[0]} → {(machine['load_after'] or ['?'])[0]}"
    title = (
        f"Pipelines: Loopwright {versions['loopwright']} vs "
        f"Prefect {versions.get('prefect_venv_prefect', '—')} "
        f"(local, ephemeral API) — 5 steps, {args.repeats} / {args.big_repeats} rounds, "
        f"{machine['cpu_count']} CPUs, Python {versions['python']}, 1-min load {load}"
        f"{' (--quick)' if args.quick else ''}"
    )
    print_table(rows, title)
    profile = results.pop("profile", None)
    listing_path = args.output.with_name(args.output.stem + "-profile.txt")
    if profile:
        print_profile(profile)
        listing_path.parent.mkdir(parents=True, exist_ok=True)
        listing_path.write_text(
            "\n\n".join(f"=== {label} runs ===\n{found['listing']}" for label, found in profile.items())
        )
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "pipelines",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "git": _git_state(),
        "versions": versions,
        "config": {"sizes": sizes, "profile_runs": args.profile_runs},
        "targets": {**TARGETS, "target_max_rows": TARGET_MAX_ROWS},
        "comparisons": [row.to_json() for row in rows],
        "cprofile": (
            {
                label: {key: value for key, value in found.items() if key != "listing"}
                for label, found in profile.items()
            }
            if profile
            else None
        ),
        "raw": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {_display(args.output)} ({elapsed:,.0f} s in all).")
    if profile:
        print(f"cProfile listings written to {_display(listing_path)}.")
    missed = [row.name for row in rows if row.passed is False]
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
