"""Data versions, profiles and checks: Loopwright against Evidently and pandera, on this machine.

What is measured (each tool in a subprocess of its own interpreter, in a fresh folder under
``benchmarks/.work/``; medians of repeats, compared as ratios; peak resident memory of each call):

1. **version + profile**: ``lw.log_dataset("bench", frame)`` of a pandas DataFrame (canonical Parquet, content
   hash, DuckDB profile, artifact store, catalog), in a fresh workspace per repeat, against Evidently's
   ``DataSummaryPreset`` (``Dataset.from_pandas`` + ``Report.run``) on the same DataFrame; and
   ``lw.log_dataset("bench", path)`` of the Parquet file, against Evidently reading that file with pandas
   first;
2. **schema checks**: ``lw.check_dataset`` with the schema ``lw.infer_schema`` gave, against a
   ``pandera.pandas.DataFrameSchema`` built from the same schema (dtypes, nullable, ``in_range``,
   ``isin``; ``lazy=True``) validating the same DataFrame; and both on a drifted later batch that breaks
   ranges and categories (Loopwright adds value skew against version 1 there); the failing checks of the
   two tools are compared;
3. **bounded memory**: ``lw.log_dataset`` of a ``--big-rows`` Parquet file (10M rows by default), written in
   chunks so the generator stays small too; its peak RSS against the file size, the in-memory (Arrow) size
   of the data and the peak at ``--rows``;
4. where Loopwright's time goes: one log and one check under cProfile, summarised by phase.

The data: 20 numeric (normal, lognormal amounts, Poisson counts) and 5 text columns (5-50 levels), some
missing values, seeded (``_data_gen.py``), written once as Parquet under ``benchmarks/.work/data/``.

Evidently runs in its own virtual environment, created on first use at ``benchmarks/.venvs/evidently``
(the newest Evidently 0.7.x or later on the index, with ``pandas<3``: Evidently 0.7.23 does not import
under pandas 3). pandera runs in the project venv. Targets (data issue): on 1M rows x 25 columns, version +
profile <= 3 s, schema checks <= 1 s. Results: ``benchmarks/results/data.json`` (``--quick``: under
``benchmarks/.work/``), cProfile listings beside it.

    .venv/bin/python benchmarks/data.py            # the full run, several minutes
    .venv/bin/python benchmarks/data.py --quick    # a smoke run, about a minute
"""

from __future__ import annotations

import argparse
import datetime as dt
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

import _data_gen
from _common import summarize
from _data_memory import process_peak_mb
from tracking import (
    BenchmarkError,
    Side,
    _cell,
    _file_lock,
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
DATA = WORK / "data"
RESULTS = HERE / "results" / "data.json"
EVIDENTLY_VENV = VENVS / "evidently"
INSTALLED_MARKER = ".loopwright-bench.json"
"""Written into the Evidently venv once its install has succeeded; a venv without it is rebuilt."""

FULL = {"rows": 1_000_000, "repeats": 3, "big_rows": 10_000_000}
QUICK = {"rows": 100_000, "repeats": 2, "big_rows": 1_000_000}

TARGET_ROWS = 1_000_000
"""The size the time targets are stated for; other sizes report ratios without a verdict."""
TARGET_BIG_ROWS = 10_000_000
"""The size the bounded-memory target is stated for (smaller files are dominated by fixed costs)."""
TARGETS = {
    "version_profile_s": 3.0,  # version + profile of 1M x 25 <= 3 s
    "schema_checks_s": 1.0,  # schema checks of 1M x 25 <= 1 s
    "big_growth": 1.5,  # big file: peak RSS <= 1.5x the --rows file's, and below the data's size
}


# --- the Evidently environment ---------------------------------------------------------------------------


def _choose_evidently(python: Path) -> str:
    """``evidently==<newest release >= 0.7>`` (the API this benchmark uses), or ``evidently>=0.7``."""
    listing = _pip(python, "index", "versions", "evidently", capture=True)
    match = re.search(r"Available versions:\s*(.+)", listing.stdout)
    if listing.returncode != 0 or match is None:
        say(f"`pip index versions evidently` failed ({listing.stderr.strip()[-200:]}); asking for >=0.7.")
        return "evidently>=0.7"
    releases = [
        tuple(int(part) for part in version.split("."))
        for version in (item.strip() for item in match.group(1).split(","))
        if re.fullmatch(r"\d+\.\d+\.\d+", version)
    ]
    usable = [version for version in releases if version >= (0, 7, 0)]
    if not usable:
        raise BenchmarkError(f"The package index has no Evidently >= 0.7 (it lists: {match.group(1)}).")
    return "evidently==" + ".".join(map(str, max(usable)))


def ensure_evidently_venv(base_python: str) -> Path:
    """The Evidently venv's interpreter; the venv is created and Evidently installed on first use."""
    python = EVIDENTLY_VENV / "bin" / "python"
    with _file_lock(VENVS / "evidently.lock"):
        if python.exists() and (EVIDENTLY_VENV / INSTALLED_MARKER).exists():
            return python
        if EVIDENTLY_VENV.exists():
            say(f"{EVIDENTLY_VENV} is incomplete (an interrupted install?); rebuilding it.")
            shutil.rmtree(EVIDENTLY_VENV)
        say(
            f"Creating {EVIDENTLY_VENV} with {base_python} -m venv "
            "(once; installing Evidently takes minutes)."
        )
        started = time.perf_counter()
        created = subprocess.run([base_python, "-m", "venv", str(EVIDENTLY_VENV)], check=False)
        if created.returncode != 0:
            raise BenchmarkError(f"`{base_python} -m venv {EVIDENTLY_VENV}` failed; see the output above.")
        requirements = [_choose_evidently(python), "pandas<3", "pyarrow"]
        say(f"Installing {' '.join(requirements)} ...")
        if _pip(python, "install", "--quiet", *requirements).returncode != 0:
            raise BenchmarkError(
                f"`pip install {' '.join(requirements)}` into {EVIDENTLY_VENV} failed; see the output above."
            )
        check = subprocess.run(
            [str(python), "-c", "import evidently, pandas; print(evidently.__version__, pandas.__version__)"],
            capture_output=True,
            text=True,
            check=False,
            env=child_environment(),
        )
        if check.returncode != 0:
            raise BenchmarkError(f"`import evidently` fails in {EVIDENTLY_VENV}:\n{check.stderr[-2000:]}")
        evidently, pandas = check.stdout.split()
        marker = {"requirements": requirements, "evidently": evidently, "pandas": pandas, "installed": _now()}
        (EVIDENTLY_VENV / INSTALLED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        say(f"Installed Evidently {evidently} (pandas {pandas}) in {time.perf_counter() - started:,.0f} s.")
        return python


# --- data ------------------------------------------------------------------------------------------------


def prepare_data(rows: int, big_rows: int | None) -> dict[str, Any]:
    """The Parquet files (written once, then reused): reference and drifted batch at ``rows``, and the
    big file. Returns their paths and facts, with the generator's own peak memory."""
    files: dict[str, Any] = {}
    wanted = [("reference", rows, False), ("current", rows, True)]
    if big_rows:
        wanted.append(("big", big_rows, False))
    for label, count, drift in wanted:
        path = DATA / f"{'current' if drift else 'reference'}-{count}.parquet"
        if not path.exists():
            say(f"Writing {count:,} rows to {_display(path)} ...")
        facts = _data_gen.ensure_parquet(path, count, drift=drift)
        files[label] = {"path": str(path), **facts}
        state = "reused" if facts["reused"] else f"written in {facts['write_s']:.1f} s"
        say(
            f"{label}: {_display(path)}, {count:,} rows, {facts['bytes'] / 2**20:,.0f} MiB on disk, "
            f"{facts['arrow_bytes'] / 2**20:,.0f} MiB in Arrow ({state})"
        )
    files["generator_peak_mb"] = round(process_peak_mb(), 1)
    return files


# --- the table -------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: Loopwright's median and the peer's (with ranges), their ratio, the target."""

    name: str
    unit: str
    ours: dict[str, Any] | None
    peer: str = ""
    theirs: dict[str, Any] | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        """How many times smaller (faster, leaner) Loopwright's median is (>1: Loopwright ahead)."""
        if not self.ours or not self.theirs:
            return None
        ours, theirs = float(self.ours["median"]), float(self.theirs["median"])
        if ours <= 0 or theirs <= 0:
            return None
        return theirs / ours

    def to_json(self) -> dict[str, Any]:
        """The row as stored in the results file."""
        return {
            "name": self.name,
            "unit": self.unit,
            "loopwright": self.ours,
            "peer": self.peer or None,
            "peer_value": self.theirs,
            "loopwright_advantage": self.speedup,
            "target": self.target or None,
            "passed": self.passed,
            "note": self.note or None,
        }


def _get(document: Mapping[str, Any] | None, *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _plus(first: Mapping[str, Any] | None, seconds: float | None) -> dict[str, Any] | None:
    """A summary shifted by a constant (e.g. the time to read the file first)."""
    if not first or seconds is None:
        return None
    return summarize([value + seconds for value in first["values"]])


def _verdict(rows: int, value: Mapping[str, Any] | None, limit: float) -> bool | None:
    if rows != TARGET_ROWS or not value:
        return None
    return float(value["median"]) <= limit


def _pandera_pairs(failed: Sequence[str]) -> set[str]:
    """pandera's ``check:column`` labels in Loopwright's terms (``range:amount_00``)."""
    names = {"in_range": "range", "isin": "categories", "not_nullable": "nulls", "dtype": "type"}
    pairs = set()
    for label in failed:
        check, _, column = label.rpartition(":")
        pairs.add(f"{names.get(check.split('(', 1)[0], check)}:{column}")
    return pairs


def build_rows(results: Mapping[str, Any], rows: int, big_rows: int | None) -> list[Row]:
    """The comparison table from every side's raw results."""
    frame, path, big = results.get("lw_frame"), results.get("lw_path"), results.get("lw_big")
    evidently, pandera = results.get("evidently"), results.get("pandera")
    table: list[Row] = []
    size = f"{rows:,} x 25"

    ours = _get(frame, "seconds", "log")
    theirs = _get(evidently, "seconds", "total")
    row = Row(f"version + profile, DataFrame ({size})", "s", ours, "Evidently DataSummaryPreset", theirs)
    row.target = f"≤ {TARGETS['version_profile_s']:g} s at 1M"
    row.passed = _verdict(rows, ours, TARGETS["version_profile_s"])
    if evidently:
        row.note = (
            f"lw.log_dataset(frame) in a fresh workspace vs Dataset.from_pandas "
            f"({_get(evidently, 'seconds', 'from_pandas', 'median') or 0:.2f} s) + Report.run "
            f"({_get(evidently, 'seconds', 'run', 'median') or 0:.2f} s), "
            f"{evidently.get('metrics', '?')} metrics"
        )
    table.append(row)
    table.append(
        Row(
            "  peak RSS added by that call",
            "MiB",
            _get(frame, "memory", "log", "added_mb"),
            "Evidently",
            _get(evidently, "memory", "added_mb"),
            note=(
                f"above the process with its DataFrame loaded ({_get(frame, 'data', 'pandas_mb') or 0:,.0f} "
                f"MiB in pandas 3 / {_get(evidently, 'data', 'pandas_mb') or 0:,.0f} MiB in pandas 2); "
                f"peak RSS of the process: {_get(frame, 'memory', 'log', 'peak_mb', 'median') or 0:,.0f} vs "
                f"{_get(evidently, 'memory', 'peak_mb', 'median') or 0:,.0f} MiB"
            ),
        )
    )

    ours = _get(path, "seconds")
    read_s = _get(evidently, "data", "read_s")
    row = Row(
        f"version + profile, Parquet file ({size})",
        "s",
        ours,
        "Evidently, read_parquet first",
        _plus(theirs, read_s),
    )
    row.target = f"≤ {TARGETS['version_profile_s']:g} s at 1M"
    row.passed = _verdict(rows, ours, TARGETS["version_profile_s"])
    if path:
        row.note = (
            f"lw.log_dataset(path), streamed; peak RSS {_get(path, 'memory', 'peak_mb', 'median') or 0:,.0f} "
            f"MiB (+{_get(path, 'memory', 'added_mb', 'median') or 0:,.0f}) vs Evidently's "
            f"{_get(evidently, 'memory', 'peak_mb', 'median') or 0:,.0f} MiB"
        )
    table.append(row)

    clean = _get(pandera, "outcome", "clean", "passed")
    ours = _get(frame, "seconds", "check_schema")
    row = Row(
        f"schema checks, passing data ({size})",
        "s",
        ours,
        "pandera validate(lazy=True)",
        _get(pandera, "seconds", "clean"),
    )
    row.target = f"≤ {TARGETS['schema_checks_s']:g} s at 1M"
    row.passed = _verdict(rows, ours, TARGETS["schema_checks_s"])
    status = _get(frame, "verdicts", "check_schema", "status")
    row.note = (
        f"lw.check_dataset(schema=lw.infer_schema(...)): {status}; pandera "
        f"{'passed' if clean else 'FAILED'} ({_get(pandera, 'column_checks') or 0} column checks)"
    )
    if status != "passed" or clean is False:
        row.passed = False
    table.append(row)

    ours = _get(frame, "seconds", "check_cold")
    row = Row(
        "  …from a new client (verifies the file's sha256)",
        "s",
        ours,
        "pandera",
        _get(pandera, "seconds", "clean"),
    )
    row.target = f"≤ {TARGETS['schema_checks_s']:g} s at 1M"
    row.passed = _verdict(rows, ours, TARGETS["schema_checks_s"])
    row.note = "what a new process pays: the stored version's hash is checked once per process"
    table.append(row)

    ours = _get(frame, "seconds", "check_schema_skew")
    row = Row(
        "schema + value skew, drifted batch (fails)",
        "s",
        ours,
        "pandera (schema only)",
        _get(pandera, "seconds", "drifted"),
    )
    row.target = f"≤ {TARGETS['schema_checks_s']:g} s at 1M"
    row.passed = _verdict(rows, ours, TARGETS["schema_checks_s"])
    lw_failed = {
        item
        for item in _get(frame, "verdicts", "check_schema_skew", "failed") or []
        if "value_skew" not in item
    }
    pa_failed = _pandera_pairs(_get(pandera, "outcome", "drifted", "failed") or [])
    skewed = [
        item.split(":", 1)[1]
        for item in _get(frame, "verdicts", "check_schema_skew", "failed") or []
        if item.startswith("value_skew")
    ]
    if lw_failed and pa_failed:
        agree = lw_failed == pa_failed
        row.note = (
            f"{len(lw_failed)} failing schema checks, "
            f"{'the same in both tools' if agree else f'DIFFERENT: {sorted(lw_failed ^ pa_failed)}'}; "
            f"pandera lists {_get(pandera, 'outcome', 'drifted', 'failure_cases') or 0:,} failure cases; "
            f"skew flagged: {', '.join(skewed) or 'none'}"
        )
        if not agree:
            row.passed = False
    table.append(row)

    row = Row(
        "value skew alone (from stored profiles)",
        "s",
        _get(frame, "seconds", "check_skew"),
        "",
        None,
        note=(
            "PSI + KS per column from two stored profiles, no data read; Evidently DataDriftPreset at 1M "
            "took 129 s in shared/peers/monitoring.md (not rerun)"
        ),
    )
    table.append(row)

    if big_rows:
        big_facts = results.get("files", {}).get("big", {})
        arrow_mb = (big_facts.get("arrow_bytes") or 0) / 2**20
        file_mb = (big_facts.get("bytes") or 0) / 2**20
        row = Row(
            f"version + profile, Parquet file ({big_rows:,} x 25)",
            "s",
            _get(big, "seconds"),
            "Evidently" if results.get("evidently_big") else "",
            _get(results.get("evidently_big"), "seconds", "total"),
        )
        if big:
            row.note = (
                f"lw.log_dataset(path) of a {file_mb:,.0f} MiB file, 1 run; stored as "
                f"{(_get(big, 'stored_bytes') or 0) / 2**20:,.0f} MiB of canonical Parquet"
            )
        table.append(row)
        peak = _get(big, "memory", "peak_mb")
        small_peak = _get(path, "memory", "peak_mb", "median")
        row = Row(
            f"  peak RSS of that process ({big_rows:,} rows)",
            "MiB",
            peak,
            "Evidently" if results.get("evidently_big") else "",
            _get(results.get("evidently_big"), "memory", "peak_mb"),
        )
        row.target = f"< data in memory, ≤ {TARGETS['big_growth']:g}x the {rows:,}-row peak, at 10M"
        if peak and small_peak:
            value = float(peak["median"])
            bounded = value < arrow_mb and value <= TARGETS["big_growth"] * float(small_peak)
            row.passed = bounded if big_rows == TARGET_BIG_ROWS else None
            row.note = (
                f"data: {arrow_mb:,.0f} MiB in Arrow, {file_mb:,.0f} MiB on disk; peak at {rows:,} rows: "
                f"{small_peak:,.0f} MiB; process before the call {_get(big, 'baseline_mb') or 0:,.0f} MiB; "
                f"Arrow buffers peaked at {_get(big, 'arrow_pool_max_mb') or 0:,.0f} MiB "
                f"({_get(path, 'arrow_pool_max_mb') or 0:,.0f} at {rows:,} rows)"
            )
        in_pandas = _get(evidently, "data", "pandas_mb")
        if not results.get("evidently_big") and in_pandas:
            row.note += (
                f"; Evidently not run at {big_rows:,} rows: it needs the whole frame in pandas "
                f"(~{in_pandas * big_rows / rows / 1024:,.1f} GiB by the {rows:,}-row figure) plus its "
                "working memory (--evidently-big runs it)"
            )
        table.append(row)
    return table


def _ratio_text(row: Row) -> str:
    speedup = row.speedup
    if speedup is None:
        return "—"
    better, worse = ("less", "more") if row.unit == "MiB" else ("faster", "slower")
    if speedup >= 1:
        return f"x{_ratio(speedup)} {better}"
    return f"x{_ratio(1 / speedup)} {worse}"


def print_table(rows: Sequence[Row], title: str) -> None:
    """The comparison as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("Measure", style="bold", max_width=34)
    table.add_column("Loopwright\nmedian [range]", justify="right")
    table.add_column("Peer", max_width=18)
    table.add_column("Peer\nmedian [range]", justify="right")
    table.add_column("Loopwright vs peer", justify="right")
    table.add_column("Target", max_width=22)
    table.add_column("Result")
    table.add_column("Notes", style="dim", max_width=48)
    for row in rows:
        result = {True: "[green]PASS[/]", False: "[red bold]FAIL[/]", None: ""}[row.passed]
        if row.target and row.passed is None:
            result = "[yellow]n/a[/]"
        table.add_row(
            row.name,
            _cell(row.ours, row.unit),
            row.peer or "—",
            _cell(row.theirs, row.unit),
            _ratio_text(row),
            row.target,
            result,
            row.note,
        )
    Console(width=max(180, shutil.get_terminal_size().columns)).print(table)


def print_phases(phases: Mapping[str, Any]) -> None:
    """Where Loopwright's time goes: cumulative seconds per phase under cProfile."""
    from rich.console import Console
    from rich.table import Table

    for label, found in phases.items():
        table = Table(
            title=f"Loopwright, {label}: {found['wall_s']:.2f} s under cProfile (cumulative time per phase)",
            title_justify="left",
        )
        table.add_column("Phase")
        table.add_column("Seconds", justify="right")
        table.add_column("Share", justify="right")
        table.add_column("Calls", justify="right")
        total = found["wall_s"] or 1.0
        for item in found["phases"]:
            table.add_row(
                item["phase"],
                f"{item['seconds']:.3f}",
                f"{item['seconds'] / total:.0%}",
                f"{item['calls']:,}",
            )
        Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


# --- machine facts ---------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _load() -> list[float] | None:
    try:
        import os

        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


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


# --- command line ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; sizes left unset take the --quick or full defaults."""
    parser = argparse.ArgumentParser(
        description="Compare Loopwright's data versioning, profiling and checks with Evidently and pandera.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (about a minute)")
    for name, full in FULL.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"full: {full:,}; quick: {QUICK[name]:,}",
        )
    parser.add_argument("--skip-big", action="store_true", help="leave out the --big-rows file")
    parser.add_argument("--skip-evidently", action="store_true", help="leave out Evidently (and its venv)")
    parser.add_argument("--skip-profile", action="store_true", help="leave out the cProfile breakdown")
    parser.add_argument(
        "--evidently-big",
        action="store_true",
        help="also run Evidently on the --big-rows file (needs the whole frame in memory: many GiB)",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the Evidently venv")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per measurement")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the workspaces under benchmarks/.work/"
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
    if args.rows < 1_000:
        parser.error("--rows must be at least 1,000 (every tool warms up on 1,000 rows).")
    if args.skip_big:
        args.big_rows = None
    if args.output is None:
        args.output = WORK / "data-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 unless something failed (or, with --strict, missed)."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    project = Path(sys.executable)
    try:
        evidently_python = None if args.skip_evidently else ensure_evidently_venv(args.python)
        files = prepare_data(args.rows, args.big_rows)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sides = {
        "loopwright": Side("loopwright", project, HERE / "_data_loopwright.py"),
        "pandera": Side("pandera", project, HERE / "_data_pandera.py"),
    }
    if evidently_python is not None:
        sides["evidently"] = Side("evidently", evidently_python, HERE / "_data_evidently.py")
    reference, current = files["reference"]["path"], files["current"]["path"]
    columns = {"numeric": _data_gen.NUMERIC, "categorical": _data_gen.CATEGORICAL}
    results: dict[str, Any] = {"files": files}
    options = {"keep": args.keep_work, "verbose": args.verbose, "timeout_s": args.timeout}

    def run(key: str, side: str, task: str, config: Mapping[str, Any]) -> None:
        results[key] = run_task(sides[side], task, config, **options)["results"]

    try:
        common = {"data": reference, "repeats": args.repeats}
        run("lw_frame", "loopwright", "frame", {**common, "current": current})
        schema_yaml = results["lw_frame"]["schema_yaml"]
        run("pandera", "pandera", "validate", {**common, "current": current, "schema_yaml": schema_yaml})
        if "evidently" in sides:
            run("evidently", "evidently", "summary", {**common, **columns})
        run("lw_path", "loopwright", "path", {**common, "label": f"{args.rows:,}-row file"})
        if args.big_rows:
            big = {"data": files["big"]["path"], "repeats": 1, "label": f"{args.big_rows:,}-row file"}
            run("lw_big", "loopwright", "path", big)
            if args.evidently_big and "evidently" in sides:
                run("evidently_big", "evidently", "summary", {**big, **columns})
        if not args.skip_profile:
            run("phases", "loopwright", "phases", {"data": reference})
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    versions = {
        "loopwright": installed_version(project, "loopwright"),
        **{
            name: installed_version(project, name)
            for name in ("pandas", "pyarrow", "duckdb", "pandera", "numpy")
        },
        "python": installed_python(project),
    }
    if evidently_python is not None:
        for name in ("evidently", "pandas", "numpy", "pyarrow"):
            versions[f"evidently_venv_{name}"] = installed_version(evidently_python, name)
        versions["evidently_venv_python"] = installed_python(evidently_python)
    rows = build_rows(results, args.rows, args.big_rows)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    load = f"{(load_before or ['?'])[0]} → {(machine['load_after'] or ['?'])[0]}"
    title = (
        f"Data versions and checks: Loopwright {versions['loopwright']} vs Evidently "
        f"{versions.get('evidently_venv_evidently', '—')} and pandera {versions['pandera']} — "
        f"{args.rows:,} rows x 25 columns, {args.repeats} repeats, {machine['cpu_count']} CPUs, "
        f"Python {versions['python']}, "
        f"1-min load {load}{' (--quick)' if args.quick else ''}"
    )
    print_table(rows, title)
    phases = results.pop("phases", None)
    listing_path = args.output.with_name(args.output.stem + "-profile.txt")
    if phases:
        print_phases(phases)
        listing_path.parent.mkdir(parents=True, exist_ok=True)
        listing_path.write_text(
            "\n\n".join(f"=== {label} ===\n{found['listing']}" for label, found in phases.items())
        )
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "data",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "git": _git_state(),
        "versions": versions,
        "config": {"rows": args.rows, "repeats": args.repeats, "big_rows": args.big_rows},
        "targets": {**TARGETS, "target_rows": TARGET_ROWS, "target_big_rows": TARGET_BIG_ROWS},
        "comparisons": [row.to_json() for row in rows],
        "phases": (
            {
                label: {key: value for key, value in found.items() if key != "listing"}
                for label, found in phases.items()
            }
            if phases
            else None
        ),
        "raw": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {_display(args.output)} ({elapsed:,.0f} s in all).")
    if phases:
        print(f"cProfile listings written to {_display(listing_path)}.")
    missed = [row.name.strip() for row in rows if row.passed is False]
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
