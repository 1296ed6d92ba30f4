"""Experiment tracking, Loopwright against MLflow, on this machine: ``make bench``.

What is measured (each side in a subprocess of its own interpreter, in a fresh folder under
``benchmarks/.work/``, both on SQLite; medians of repeats, compared as ratios):

1. per-call logging: ``mlflow.log_metric`` (synchronous, each point committed) against Loopwright's
   ``run.log_metric`` plus the ``run.flush()`` that makes every point durable; and Loopwright's caller-side
   cost per call alone;
2. batch logging: ``MlflowClient.log_batch`` of 1,000 metrics against ``run.log_metrics`` of 1,000 keys per
   step, plus the flush;
3. search: the top 10 of ``--runs`` runs (default 10,000) by a metric, and a filtered search, on stores
   seeded with identical runs through each tool's public API (seeding is timed but not compared);
4. ``import mlflow`` against ``import loopwright``, net of the interpreter's own start-up;
5. (no target) a whole short script in a fresh process: import, open an existing store, log one metric,
   end the run -- what a lazy import defers shows up here.

MLflow runs in its own virtual environment, created on first use at ``benchmarks/.venvs/mlflow``
(``mlflow==3.17.*``, or the newest 3.x when 3.17 is not on the index). The targets come from the tracking
issue; a table shows both medians, the ratio and PASS/FAIL, and the figures are written as JSON to
``benchmarks/results/tracking.json`` (``--quick`` writes under ``benchmarks/.work/`` instead).

    .venv/bin/python benchmarks/tracking.py            # the full run, several minutes
    .venv/bin/python benchmarks/tracking.py --quick    # a smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from _common import FILTER, PROGRESS_PREFIX, summarize

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
WORK = HERE / ".work"
RESULTS = HERE / "results" / "tracking.json"
MLFLOW_VENV = VENVS / "mlflow"
MLFLOW_WANTED = "3.17"
"""The MLflow series the anchor measurements (shared/peers/mlflow.md) were made with."""
INSTALLED_MARKER = ".loopwright-bench.json"
"""Written into the MLflow venv once its install has succeeded; a venv without it is rebuilt."""

TASKS = ("per-call", "batch", "search")
MEASUREMENTS = ("per-call", "batch", "search", "import", "first-metric")

# Default sizes: MLflow's per-call path costs ~4.5 ms a point, so it gets far fewer points than Loopwright.
FULL = {
    "repeats": 5,
    "import_repeats": 7,
    "mlflow_calls": 1_000,
    "loopwright_calls": 200_000,
    "batch_size": 1_000,
    "mlflow_batches": 10,
    "loopwright_batches": 200,
    "runs": 10_000,
}
QUICK = {
    "repeats": 3,
    "import_repeats": 3,
    "mlflow_calls": 200,
    "loopwright_calls": 20_000,
    "batch_size": 1_000,
    "mlflow_batches": 3,
    "loopwright_batches": 20,
    "runs": 300,
}

TARGETS = {
    "per_call": 100.0,  # Loopwright's durable per-call throughput >= 100x MLflow's
    "batch": 5.0,  # Loopwright's batch throughput >= 5x MLflow's log_batch
    "top10": 20.0,  # the top-10 query >= 20x faster
    "import_s": 0.3,  # `import loopwright` <= 0.3 s
}


TARGET_RUNS = 10_000
"""The store size the top-10 target is stated for; smaller stores report the ratio without a verdict."""


class BenchmarkError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


# --- environments -------------------------------------------------------------------------------------


def child_environment() -> dict[str, str]:
    """The environment of every measured process: no telemetry, no proxies, Loopwright's defaults."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOOPWRIGHT_", "MLFLOW_"))}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(key, None)
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
            "NO_PROXY": "localhost,127.0.0.1,::1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    env.pop("PYTHONPATH", None)
    return env


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two benchmarks must not build the same venv at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(python: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(python), "-m", "pip", *args, "--disable-pip-version-check"]
    return subprocess.run(command, capture_output=capture, text=True, check=False, env=child_environment())


def _choose_mlflow(python: Path) -> str:
    """The requirement to install: ``mlflow==3.17.*`` if the index has it, else the newest 3.x."""
    listing = _pip(python, "index", "versions", "mlflow", capture=True)
    match = re.search(r"Available versions:\s*(.+)", listing.stdout)
    if listing.returncode != 0 or match is None:
        say(
            f"`pip index versions mlflow` failed ({listing.stderr.strip()[-200:]}); asking for 3.17.* anyway."
        )
        return f"mlflow=={MLFLOW_WANTED}.*"
    versions = [item.strip() for item in match.group(1).split(",")]
    if any(version.startswith(MLFLOW_WANTED + ".") for version in versions):
        return f"mlflow=={MLFLOW_WANTED}.*"
    release = [version for version in versions if re.fullmatch(r"3\.\d+\.\d+", version)]
    if not release:
        raise BenchmarkError(
            f"The package index has no MLflow 3.x release (it lists: {', '.join(versions)})."
        )
    newest = max(release, key=lambda version: tuple(int(part) for part in version.split(".")))
    say(f"MLflow {MLFLOW_WANTED}.* is not on the index; using the newest 3.x, {newest}.")
    return f"mlflow=={newest}"


def ensure_mlflow_venv(base_python: str) -> Path:
    """The MLflow venv's interpreter; the venv is created and MLflow installed on first use."""
    python = MLFLOW_VENV / "bin" / "python"
    with _file_lock(VENVS / "mlflow.lock"):
        if python.exists() and (MLFLOW_VENV / INSTALLED_MARKER).exists():
            return python
        if MLFLOW_VENV.exists():
            say(f"{MLFLOW_VENV} is incomplete (an interrupted install?); rebuilding it.")
            shutil.rmtree(MLFLOW_VENV)
        say(f"Creating {MLFLOW_VENV} with {base_python} -m venv (once; installing MLflow takes minutes).")
        started = time.perf_counter()
        created = subprocess.run([base_python, "-m", "venv", str(MLFLOW_VENV)], check=False)
        if created.returncode != 0:
            raise BenchmarkError(f"`{base_python} -m venv {MLFLOW_VENV}` failed; see the output above.")
        requirement = _choose_mlflow(python)
        say(f"Installing {requirement} ...")
        if _pip(python, "install", "--quiet", requirement).returncode != 0:
            raise BenchmarkError(
                f"`pip install {requirement}` into {MLFLOW_VENV} failed; see the output above."
            )
        version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
            capture_output=True,
            text=True,
            check=True,
            env=child_environment(),
        ).stdout.strip()
        marker = {"requirement": requirement, "mlflow": version, "installed": _now()}
        (MLFLOW_VENV / INSTALLED_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        say(f"Installed MLflow {version} in {time.perf_counter() - started:,.0f} s.")
        return python


# --- running the measurement scripts ----------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One tool under test: its name, interpreter and measurement script."""

    tool: str
    python: Path
    script: Path


def say(message: str) -> None:
    """A progress line of the driver."""
    print(f"{PROGRESS_PREFIX}{message}", file=sys.stderr, flush=True)


def _drain(stream: IO[str], kept: list[str], echo: bool) -> None:
    """Read ``stream`` to its end into ``kept``; echo progress lines (or every line) to stderr."""
    for line in stream:
        kept.append(line)
        if echo or line.startswith(PROGRESS_PREFIX):
            sys.stderr.write(line)
            sys.stderr.flush()


def run_task(
    side: Side, task: str, config: Mapping[str, Any], *, keep: bool, verbose: bool, timeout_s: float
) -> dict[str, Any]:
    """Run one measurement script in a fresh folder; returns its JSON results."""
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{side.tool}-{task}-", dir=WORK))
    command = [
        str(side.python),
        str(side.script),
        task,
        "--workdir",
        str(folder),
        "--config",
        json.dumps(dict(config)),
    ]
    say(f"{side.tool}: {task} in {folder.relative_to(HERE.parent)}")
    stdout: list[str] = []
    stderr: list[str] = []
    try:
        with subprocess.Popen(
            command,
            cwd=folder,
            env=child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            readers = [
                threading.Thread(target=_drain, args=(process.stdout, stdout, False), daemon=True),
                threading.Thread(target=_drain, args=(process.stderr, stderr, verbose), daemon=True),
            ]
            for reader in readers:
                reader.start()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise BenchmarkError(
                    f"{side.tool} {task} ran past {timeout_s:,.0f} s and was stopped."
                ) from None
            for reader in readers:
                reader.join(timeout=10)
        if process.returncode != 0:
            tail = "".join(stderr[-40:])
            raise BenchmarkError(f"{side.tool} {task} failed (exit {process.returncode}):\n{tail}")
        try:
            document: dict[str, Any] = json.loads(stdout[-1])
        except (IndexError, json.JSONDecodeError) as error:
            raise BenchmarkError(
                f"{side.tool} {task} wrote no JSON result; its stdout ended with {''.join(stdout)[-500:]!r}"
            ) from error
        return document
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def installed_version(python: Path, distribution: str) -> str:
    """The version of ``distribution`` installed for ``python``."""
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=False, env=child_environment()
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def installed_python(python: Path) -> str:
    """The version of the interpreter ``python``."""
    done = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


FIRST_METRIC_CODE = {
    "mlflow": (
        "import mlflow\n"
        "mlflow.set_tracking_uri('sqlite:///{folder}/mlflow.db')\n"
        "mlflow.set_experiment('bench')\n"
        "with mlflow.start_run():\n"
        "    mlflow.log_metric('loss', 0.5, step=0)\n"
    ),
    "loopwright": (
        "import loopwright as lw\n"
        "lw.connect(lw.Settings(workspace='{folder}'))\n"
        "with lw.start_run(experiment='bench') as run:\n"
        "    run.log_metric('loss', 0.5, step=0)\n"
    ),
}
"""A whole short script: import, open an existing store, log one metric durably, end the run."""


def time_fresh_processes(python: Path, code: str, repeats: int, cwd: Path) -> dict[str, Any]:
    """Seconds of ``python -c <code>`` net of ``python -c pass``: medians over fresh processes.

    One untimed warm-up run comes first (OS file cache, and a store that the code creates on first use).
    """
    env = child_environment()

    def wall(snippet: str) -> float:
        start = time.perf_counter()
        done = subprocess.run(
            [str(python), "-c", snippet], env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise BenchmarkError(f"`{python} -c {snippet!r}` failed:\n{done.stderr[-3000:]}")
        return elapsed

    wall(code)
    bare, loaded = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both series alike
        bare.append(wall("pass"))
        loaded.append(wall(code))
    net = [max(0.0, seconds - statistics.median(bare)) for seconds in loaded]
    return {"net_s": summarize(net), "total_s": summarize(loaded), "bare_s": summarize(bare)}


def measure_import(python: Path, module: str, repeats: int) -> dict[str, Any]:
    """``python -c "import <module>"`` net of the interpreter's start-up."""
    WORK.mkdir(parents=True, exist_ok=True)
    found = time_fresh_processes(python, f"import {module}", repeats, WORK)
    net_ms, bare_ms = found["net_s"]["median"] * 1000, found["bare_s"]["median"] * 1000
    say(f"import {module}: {net_ms:,.0f} ms net of {bare_ms:,.0f} ms for `python -c pass`")
    return {"module": module, **found}


def measure_first_metric(python: Path, tool: str, repeats: int, keep: bool) -> dict[str, Any]:
    """A whole short script in a fresh process (:data:`FIRST_METRIC_CODE`), net of the start-up."""
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{tool}-first-metric-", dir=WORK))
    try:
        code = FIRST_METRIC_CODE[tool].format(folder=folder.as_posix())
        found = time_fresh_processes(python, code, repeats, folder)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    say(f"{tool} import + open store + one durable metric: {found['net_s']['median'] * 1000:,.0f} ms")
    return found


# --- comparing and reporting ----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: the two medians (with ranges), their ratio and the target."""

    name: str
    unit: str
    mlflow: dict[str, Any] | None
    loopwright: dict[str, Any] | None
    higher_is_better: bool
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        """How many times better Loopwright's median is (>1: Loopwright ahead)."""
        if not self.mlflow or not self.loopwright:
            return None
        ours, theirs = float(self.loopwright["median"]), float(self.mlflow["median"])
        if ours <= 0 or theirs <= 0:
            return None
        return ours / theirs if self.higher_is_better else theirs / ours

    def to_json(self) -> dict[str, Any]:
        """The row as stored in the results file."""
        return {
            "name": self.name,
            "unit": self.unit,
            "mlflow": self.mlflow,
            "loopwright": self.loopwright,
            "loopwright_speedup": self.speedup,
            "target": self.target or None,
            "passed": self.passed,
            "note": self.note or None,
        }


def build_rows(results: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    """The comparison table from both sides' raw results."""
    mlflow, ours = results.get("mlflow", {}), results.get("loopwright", {})
    rows: list[Row] = []

    def ratio_row(name: str, unit: str, theirs: Any, mine: Any, higher: bool, target: float | None) -> Row:
        row = Row(name, unit, theirs, mine, higher)
        if target is not None:
            row.target = f"≥ {target:g}x"
            row.passed = None if row.speedup is None else row.speedup >= target
        rows.append(row)
        return row

    if "per-call" in mlflow or "per-call" in ours:
        m, o = mlflow.get("per-call", {}), ours.get("per-call", {})
        ratio_row(
            "log_metric per call, durable",
            "points/s",
            m.get("points_per_s"),
            o.get("points_per_s"),
            True,
            TARGETS["per_call"],
        ).note = (
            f"{m.get('calls', 0):,} mlflow.log_metric calls vs {o.get('calls', 0):,} run.log_metric "
            "calls + run.flush()"
        )
        ratio_row(
            "cost per call (caller side)", "µs", m.get("call_us"), o.get("call_us"), False, None
        ).note = "Loopwright: run.log_metric without the flush; MLflow: synchronous, so the same figure"
        ratio_row(
            "  …through lw.log_metric helper", "µs", m.get("call_us"), o.get("helper_call_us"), False, None
        ).note = "module-level lw.log_metric (the counterpart of mlflow.log_metric), without the flush"
        ratio_row(
            "  …lw.log_metric helper, durable",
            "points/s",
            m.get("points_per_s"),
            o.get("helper_points_per_s"),
            True,
            None,
        )
    if "batch" in mlflow or "batch" in ours:
        m, o = mlflow.get("batch", {}), ours.get("batch", {})
        ratio_row(
            "batch logging, durable",
            "points/s",
            m.get("points_per_s"),
            o.get("points_per_s"),
            True,
            TARGETS["batch"],
        ).note = (
            f"log_batch of {m.get('batch_size', 0):,} metrics x {m.get('batches', 0)} vs log_metrics of "
            f"{o.get('batch_size', 0):,} keys x {o.get('batches', 0)} steps + flush"
        )
    if "search" in mlflow or "search" in ours:
        m, o = mlflow.get("search", {}), ours.get("search", {})
        runs = m.get("runs") or o.get("runs") or 0
        top10 = ratio_row(
            f"top-10 by metric, {runs:,} runs",
            "ms",
            _scaled(m.get("top10_s"), 1000),
            _scaled(o.get("top10_s"), 1000),
            False,
            TARGETS["top10"],
        )
        if runs < TARGET_RUNS:
            top10.passed = None
            top10.note = f"the target is for {TARGET_RUNS:,} runs; "
        if m.get("top10_names") and o.get("top10_names"):
            same = m["top10_names"] == o["top10_names"]
            top10.note += "same 10 runs in the same order" if same else "DIFFERENT runs returned!"
            if not same:
                top10.passed = False
        filtered = ratio_row(
            "filtered search (all matches)",
            "ms",
            _scaled(m.get("filtered_s"), 1000),
            _scaled(o.get("filtered_s"), 1000),
            False,
            None,
        )
        if "filtered_rows" in m and "filtered_rows" in o:
            same = m.get("filtered_names") == o.get("filtered_names")
            filtered.note = (
                f"{FILTER}: {m['filtered_rows']:,} vs {o['filtered_rows']:,} rows"
                f"{', same runs' if same else ', DIFFERENT runs!'}"
            )
        ratio_row(
            "first top-10 query in the process",
            "ms",
            _single(m.get("top10_first_s"), 1000),
            _single(o.get("top10_first_s"), 1000),
            False,
            None,
        ).note = "one call each: includes lazy imports (Loopwright imports pandas here) and cold caches"
        ratio_row(
            "seeding (not a target)", "runs/s", _rate(m, runs), _rate(o, runs), True, None
        ).note = "MLflow: create_run + log_batch + set_terminated; Loopwright: start_run + log_metrics + end"
    if "import" in mlflow or "import" in ours:
        m, o = mlflow.get("import", {}), ours.get("import", {})
        row = ratio_row(
            "import time, net of `python -c pass`", "s", m.get("net_s"), o.get("net_s"), False, None
        )
        row.target = f"Loopwright ≤ {TARGETS['import_s']:g} s"
        row.passed = None if not o.get("net_s") else o["net_s"]["median"] <= TARGETS["import_s"]
        row.note = "Loopwright imports its submodules lazily, on first use"
    if "first-metric" in mlflow or "first-metric" in ours:
        m, o = mlflow.get("first-metric", {}), ours.get("first-metric", {})
        ratio_row(
            "short script: import, open store, 1 metric", "s", m.get("net_s"), o.get("net_s"), False, None
        ).note = "fresh process, existing SQLite store, net of `python -c pass` (what the lazy import defers)"
    return rows


def _scaled(summary: Mapping[str, Any] | None, factor: float) -> dict[str, Any] | None:
    if not summary:
        return None
    return {
        **summary,
        "median": summary["median"] * factor,
        "min": summary["min"] * factor,
        "max": summary["max"] * factor,
        "values": [value * factor for value in summary["values"]],
    }


def _single(value: float | None, factor: float) -> dict[str, Any] | None:
    return None if value is None else summarize([value * factor])


def _rate(results: Mapping[str, Any], runs: int) -> dict[str, Any] | None:
    seconds = results.get("seed_s")
    return None if not seconds else summarize([runs / seconds])


def _ratio(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(summary: Mapping[str, Any] | None, unit: str) -> str:
    if not summary:
        return "—"
    text = f"{_number(summary['median'])} {unit}"
    if summary.get("n", 1) > 1:
        text += f"\n[{_number(summary['min'])}-{_number(summary['max'])}]"
    return text


def _ratio_text(row: Row) -> str:
    speedup = row.speedup
    if speedup is None:
        return "—"
    if speedup >= 1:
        return f"x{_ratio(speedup)} faster"
    return f"x{_ratio(1 / speedup)} slower"


def print_table(rows: Sequence[Row], title: str) -> None:
    """The comparison as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("Measurement", style="bold")
    table.add_column("MLflow\nmedian [range]", justify="right")
    table.add_column("Loopwright\nmedian [range]", justify="right")
    table.add_column("Loopwright vs MLflow", justify="right")
    table.add_column("Target")
    table.add_column("Result")
    table.add_column("Notes", style="dim", max_width=44)
    for row in rows:
        result = {True: "[green]PASS[/]", False: "[red bold]FAIL[/]", None: ""}[row.passed]
        if row.target and row.passed is None:
            result = "[yellow]n/a[/]"
        table.add_row(
            row.name,
            _cell(row.mlflow, row.unit),
            _cell(row.loopwright, row.unit),
            _ratio_text(row),
            row.target,
            result,
            row.note,
        )
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)


# --- machine facts ------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "sqlite": sqlite3.sqlite_version,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
                break
    return info


def _first(load: Sequence[float] | None) -> str:
    return "?" if not load else f"{load[0]:.1f}"


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


# --- command line ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; sizes left unset take the --quick or full defaults."""
    parser = argparse.ArgumentParser(
        description="Compare Loopwright's experiment tracking with MLflow's (SQLite, this machine).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (< 1 min)")
    parser.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help=f"comma-separated measurements to run, of: {', '.join(MEASUREMENTS)}",
    )
    sizes = parser.add_argument_group("sizes (default: full run; --quick: smaller)")
    for name, full in FULL.items():
        sizes.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            help=f"full: {full:,}; quick: {QUICK[name]:,}",
        )
    parser.add_argument(
        "--search-repeats", type=int, default=None, help="timed repeats of each search (default: --repeats)"
    )
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the MLflow venv")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds allowed per measurement script"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the stores under benchmarks/.work/")
    parser.add_argument("--verbose", action="store_true", help="show everything the measured tools print")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        elif getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1.")
    if args.search_repeats is None:
        args.search_repeats = args.repeats
    if args.batch_size > 1_000:
        parser.error("--batch-size is at most 1,000 (MLflow's log_batch limit per request).")
    args.only = [item.strip() for item in args.only.split(",") if item.strip()]
    unknown = sorted(set(args.only) - set(MEASUREMENTS))
    if unknown:
        parser.error(
            f"--only: unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}."
        )
    if args.output is None:
        args.output = WORK / "tracking-quick.json" if args.quick else RESULTS
    return args


def task_configs(args: argparse.Namespace) -> dict[str, dict[str, dict[str, Any]]]:
    """Per tool, per task: the configuration passed to the measurement script."""
    configs: dict[str, dict[str, dict[str, Any]]] = {"mlflow": {}, "loopwright": {}}
    for tool in configs:
        configs[tool] = {
            "per-call": {"calls": getattr(args, f"{tool}_calls"), "repeats": args.repeats},
            "batch": {
                "batches": getattr(args, f"{tool}_batches"),
                "batch_size": args.batch_size,
                "repeats": args.repeats,
            },
            "search": {"runs": args.runs, "repeats": args.search_repeats},
        }
    return configs


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status is 0 unless something failed (or, with --strict, missed)."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    try:
        mlflow_python = ensure_mlflow_venv(args.python)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sides = {
        "mlflow": Side("mlflow", mlflow_python, HERE / "_mlflow_tracking.py"),
        "loopwright": Side("loopwright", Path(sys.executable), HERE / "_loopwright_tracking.py"),
    }
    configs = task_configs(args)
    results: dict[str, dict[str, Any]] = {"mlflow": {}, "loopwright": {}}
    versions = {tool: installed_version(side.python, tool) for tool, side in sides.items()}
    versions.update({f"python_{tool}": installed_python(side.python) for tool, side in sides.items()})
    try:
        for task in (task for task in TASKS if task in args.only):
            for tool, side in sides.items():
                document = run_task(
                    side,
                    task,
                    configs[tool][task],
                    keep=args.keep_work,
                    verbose=args.verbose,
                    timeout_s=args.timeout,
                )
                results[tool][task] = document["results"]
        if "import" in args.only:
            for tool, side in sides.items():
                results[tool]["import"] = measure_import(side.python, tool, args.import_repeats)
        if "first-metric" in args.only:
            for tool, side in sides.items():
                results[tool]["first-metric"] = measure_first_metric(
                    side.python, tool, args.import_repeats, args.keep_work
                )
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    rows = build_rows(results)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    title = (
        f"Experiment tracking: Loopwright {versions['loopwright']} vs MLflow {versions['mlflow']} — "
        f"SQLite, {machine['cpu_count']} CPUs, Python {versions['python_loopwright']} / "
        f"{versions['python_mlflow']}, 1-min load {_first(load_before)} → {_first(machine['load_after'])}"
        f"{' (--quick)' if args.quick else ''}"
    )
    print_table(rows, title)
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "tracking",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "versions": versions,
        "config": {**configs, "import_repeats": args.import_repeats},
        "targets": TARGETS,
        "comparisons": [row.to_json() for row in rows],
        "raw": _without_name_lists(results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {_display(args.output)} ({elapsed:,.0f} s in all).")
    missed = [row.name for row in rows if row.passed is False]
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if args.strict and missed else 0


def _without_name_lists(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The raw results without the long run-name lists (their agreement is in the comparisons)."""
    trimmed: dict[str, Any] = {}
    for tool, tasks in results.items():
        trimmed[tool] = {}
        for task, values in tasks.items():
            trimmed[tool][task] = {key: value for key, value in values.items() if key != "filtered_names"}
    return trimmed


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
