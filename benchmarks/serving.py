"""Online serving, Loopwright against MLflow, on this machine: ``make bench``.

The same scikit-learn model (a ``LogisticRegression`` on 20 columns, whose predict costs microseconds, so
the figures are the servers' own cost) is served on 127.0.0.1 by:

* ``mlflow models serve --env-manager local`` (MLflow 3.17 in ``benchmarks/.venvs/mlflow``, with this
  venv's scikit-learn), requests to ``/invocations``;
* ``loopwright server`` with prediction logging on, and again with ``--no-log`` (each on its own copy of a
  workspace where the model was registered with ``lw.register_model`` and deployed with ``lw.deploy``),
  requests to ``/v1/deployments/bench/invocations`` -- the same MLflow-format body, byte for byte;
* ``loopwright server`` with logging on, on its own endpoint ``/v1/deployments/bench/predict`` with
  ``{"records": [...]}`` (reported, no target).

The load: one-row requests from ``--connections`` (4) concurrent keep-alive clients, by ``wrk`` (Debian's
package, installed with apt-get when missing; a Lua script sends the POST body) or, without it, by
``_http_load.py`` (raw asyncio sockets) in a process of its own. On a machine with two or more CPUs the
servers are pinned to one CPU and the load generator to another (``taskset``), so the generator does not
take the server's CPU (``--no-pin`` turns that off). The machine is shared and noisy, so the servers run
side by side and are measured in ``--rounds`` short interleaved rounds (the order rotates each round); the
figures are the medians over the rounds.

Targets (issue 6), with logging on against MLflow: throughput ≥ 3x, p50 ≤ 0.5x; and logging costs ≤ 10%
of throughput (logging on against off). Results: ``benchmarks/results/serving.json`` (``--quick``: under
``benchmarks/.work/``).

    .venv/bin/python benchmarks/serving.py            # about 6 minutes once MLflow is installed
    .venv/bin/python benchmarks/serving.py --quick    # about 2 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _serving_common import (
    DEPLOYMENT,
    Server,
    build_workspace,
    ensure_wrk,
    free_port,
    load,
    loopwright_command,
    pinned,
    running,
    scratch,
    train_model,
)
from registry import ensure_sklearn
from tracking import (
    BenchmarkError,
    Side,
    _first,
    _load,
    _now,
    ensure_mlflow_venv,
    installed_version,
    machine_info,
    run_task,
    say,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serving.json"

TARGETS = {"throughput_vs_mlflow": 3.0, "p50_vs_mlflow": 0.5, "logging_cost": 0.10}
FULL = {"rounds": 7, "duration": 10.0, "warmup": 3.0, "train_rows": 5_000}
QUICK = {"rounds": 3, "duration": 4.0, "warmup": 2.0, "train_rows": 2_000}

MLFLOW, LOGGED, UNLOGGED, NATIVE = "mlflow", "loopwright", "loopwright --no-log", "loopwright /predict"


def _cpus(pin: bool) -> tuple[str | None, str | None]:
    """(the servers' CPUs, the load generator's): the last CPU for the servers, the others for the load."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not pin or count < 2 or shutil.which("taskset") is None:
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    return str(allowed[-1]), ",".join(str(cpu) for cpu in allowed[:-1])


def build_servers(shared: Path, mlflow_python: Path | None, server_cpus: str | None) -> list[Server]:
    """The servers under test (not started), each with its own port, workspace and log."""
    servers = []
    split, records = shared / "body-split.json", shared / "body-records.json"
    if mlflow_python is not None:
        port = free_port()
        bin_dir = mlflow_python.parent
        command = [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            str(shared / "mlflow-model"),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        servers.append(
            Server(
                MLFLOW,
                pinned(command, server_cpus),
                port,
                "/invocations",
                split,
                shared / "mlflow.log",
                environment,
            )
        )
    workspace = shared / "ws"
    say("registering and deploying the model in a Loopwright workspace (lw.register_model + lw.deploy)")
    build_workspace(workspace, shared)
    shutil.copytree(workspace, shared / "ws-nolog")
    for name, folder, extra, path, body in (
        (LOGGED, workspace, (), f"/v1/deployments/{DEPLOYMENT}/invocations", split),
        (UNLOGGED, shared / "ws-nolog", ("--no-log",), f"/v1/deployments/{DEPLOYMENT}/invocations", split),
    ):
        port = free_port()
        command = pinned(loopwright_command(folder, port, *extra), server_cpus)
        log = shared / f"{name.replace(' ', '_').replace('-', '')}.log"
        servers.append(Server(name, command, port, path, body, log))
    logged = next(server for server in servers if server.name == LOGGED)
    # the native endpoint of the logging server: the same process, another path and payload format
    servers.append(
        Server(
            NATIVE, logged.command, logged.port, f"/v1/deployments/{DEPLOYMENT}/predict", records, logged.log
        )
    )
    return servers


def measure(
    servers: Sequence[Server], args: argparse.Namespace, wrk: str | None, load_cpus: str | None, work: Path
) -> dict[str, list[dict[str, Any]]]:
    """A warm-up of each, then ``args.rounds`` interleaved rounds; every run of every server."""
    runs: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
    options = {"connections": args.connections, "wrk": wrk, "cpus": load_cpus, "work": work}
    for server in servers:
        warm = load(server, duration_s=args.warmup, **options)
        say(f"warm-up {server.name}: {warm['throughput_rps']:,.0f} req/s, p50 {warm['p50_ms']:.2f} ms")
    for round_number in range(args.rounds):
        shift = round_number % len(servers)
        for server in [*servers[shift:], *servers[:shift]]:
            result = load(server, duration_s=args.duration, **options)
            runs[server.name].append(result)
            failures = result["non_2xx"] + sum(result["errors"].values())
            say(
                f"round {round_number + 1}/{args.rounds} {server.name}: "
                f"{result['throughput_rps']:,.0f} req/s, "
                f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms"
                + (f", {failures} ERRORS {result['errors']}" if failures else "")
            )
    return runs


def summarize_runs(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per server: the median over the rounds of throughput, p50 and p99, the spread, and the errors."""
    summary = {}
    for name, results in runs.items():
        row: dict[str, Any] = {}
        for key in ("throughput_rps", "p50_ms", "p99_ms"):
            values = [result[key] for result in results]
            row[key] = statistics.median(values)
            row[f"{key}_min"], row[f"{key}_max"] = min(values), max(values)
        row["requests"] = sum(result["requests"] for result in results)
        row["errors"] = sum(result["non_2xx"] + sum(result["errors"].values()) for result in results)
        summary[name] = row
    return summary


def ratios(
    summary: Mapping[str, Mapping[str, Any]], runs: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """The targets, each with its measured ratio (of the medians) and verdict, and the median of the
    per-round ratios beside it (``paired``: round i of one server against round i of the other, which ran
    minutes apart at most, so it cancels slow drifts of the machine's load)."""

    def paired(key: str, top: str, bottom: str, transform: Any = None) -> float:
        values = [a[key] / b[key] for a, b in zip(runs[top], runs[bottom], strict=True)]
        return (
            statistics.median(transform(value) for value in values)
            if transform
            else statistics.median(values)
        )

    checks = []
    logged, unlogged, mlflow = summary.get(LOGGED), summary.get(UNLOGGED), summary.get(MLFLOW)
    if logged and mlflow:
        for key, label, target, passes in (
            ("throughput_rps", "throughput, logging on / MLflow", "≥ 3x", lambda v: v >= 3),
            ("p50_ms", "p50, logging on / MLflow", "≤ 0.5x", lambda v: v <= 0.5),
            ("p99_ms", "p99, logging on / MLflow", "", lambda v: None),
        ):
            value = logged[key] / mlflow[key]
            checks.append(
                {
                    "check": label,
                    "value": value,
                    "paired": paired(key, LOGGED, MLFLOW),
                    "target": target,
                    "passed": passes(value),
                }
            )
    if logged and unlogged:
        value = 1 - logged["throughput_rps"] / unlogged["throughput_rps"]
        checks.append(
            {
                "check": "throughput lost to logging (1 - on/off)",
                "value": value,
                "paired": paired("throughput_rps", LOGGED, UNLOGGED, lambda v: 1 - v),
                "target": "≤ 10%",
                "passed": value <= TARGETS["logging_cost"],
            }
        )
    return checks


def _spread(row: Mapping[str, Any], key: str, form: str) -> str:
    """The median, then the range over the rounds, dimmed."""
    low, high = form.format(row[f"{key}_min"]), form.format(row[f"{key}_max"])
    return f"{form.format(row[key])}  [dim]({low} to {high})[/]"


def print_report(
    summary: Mapping[str, Mapping[str, Any]], checks: Sequence[Mapping[str, Any]], title: str
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, shutil.get_terminal_size().columns))
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("Server", "Throughput (req/s)", "p50 (ms)", "p99 (ms)", "Requests", "Errors"):
        table.add_column(column, justify="left" if column == "Server" else "right")
    for name, row in summary.items():
        table.add_row(
            name,
            _spread(row, "throughput_rps", "{:,.0f}"),
            _spread(row, "p50_ms", "{:.2f}"),
            _spread(row, "p99_ms", "{:.2f}"),
            f"{row['requests']:,}",
            f"[red bold]{row['errors']:,}[/]" if row["errors"] else "0",
        )
    console.print(table)
    verdicts = Table(title="Targets (issue 6)", title_justify="left")
    for column in ("Check", "Measured (of medians)", "Median of per-round ratios", "Target", "Result"):
        verdicts.add_column(column)
    for check in checks:
        form = "{:.1%}" if check["target"] == "≤ 10%" else "{:.2f}x"
        result = {True: "[green]PASS[/]", False: "[red bold]FAIL[/]", None: ""}[check["passed"]]
        verdicts.add_row(
            check["check"], form.format(check["value"]), form.format(check["paired"]), check["target"], result
        )
    console.print(verdicts)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare `loopwright server` with `mlflow models serve` on one-row requests.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    sizes = parser.add_argument_group("sizes (default: full run; --quick: smaller)")
    for name, full in FULL.items():
        kind = float if isinstance(full, float) else int
        sizes.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"full: {full:g}; quick: {QUICK[name]:g}",
        )
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive clients")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure Loopwright only")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load generator to CPUs")
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "asyncio"), default="auto", help="auto: wrk if installable"
    )
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--python", default="python3", help="interpreter that creates the MLflow venv")
    parser.add_argument("--keep-work", action="store_true", help="keep the workspaces and server logs")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        elif getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive.")
    if args.connections < 1:
        parser.error("--connections must be at least 1.")
    if args.output is None:
        args.output = HERE / ".work" / "serving-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    sklearn_version = installed_version(Path(sys.executable), "scikit-learn")
    server_cpus, load_cpus = _cpus(not args.no_pin)
    wrk = None if args.generator == "asyncio" else ensure_wrk(install=True)
    if args.generator == "wrk" and wrk is None:
        print("error: --generator wrk, but wrk is not available.", file=sys.stderr)
        return 2
    mlflow_python = None
    try:
        if not args.skip_mlflow:
            mlflow_python = ensure_mlflow_venv(args.python)
            ensure_sklearn(mlflow_python, sklearn_version)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    versions = {
        "loopwright": installed_version(Path(sys.executable), "loopwright"),
        "scikit-learn": sklearn_version,
    }
    if mlflow_python is not None:
        versions["mlflow"] = installed_version(mlflow_python, "mlflow")
    shared = scratch("serving-")
    try:
        model = train_model(shared, args.train_rows)
        if mlflow_python is not None:
            side = Side("mlflow", mlflow_python, HERE / "_mlflow_serving.py")
            run_task(side, "save", {"shared": str(shared)}, keep=False, verbose=False, timeout_s=600)
        servers = build_servers(shared, mlflow_python, server_cpus)
        processes = [server for server in servers if server.name != NATIVE]
        with running(processes, model["expected"]):
            servers[-1].wait_ready(model["expected"])  # the native endpoint answers the same
            runs = measure(servers, args, wrk, load_cpus, shared)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep_work:
            shutil.rmtree(shared, ignore_errors=True)

    summary = summarize_runs(runs)
    checks = ratios(summary, runs)
    machine = {**machine_info(), "load_before": load_before, "load_after": _load()}
    generator = f"wrk -t1 -c{args.connections}" if wrk else f"_http_load.py ({args.connections} connections)"
    pinning = f"servers on CPU {server_cpus}, load on CPU {load_cpus}" if server_cpus else "not pinned"
    title = (
        f"One-row predict over HTTP: Loopwright {versions['loopwright']} vs MLflow "
        f"{versions.get('mlflow', '(skipped)')} — {generator}, {pinning}, median of {args.rounds} rounds of "
        f"{args.duration:g} s, {machine['cpu_count']} CPUs, 1-min load {_first(load_before)} → "
        f"{_first(machine['load_after'])}{' (--quick)' if args.quick else ''}"
    )
    print_report(summary, checks, title)
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "serving",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {**machine, "python": platform.python_version()},
        "versions": versions,
        "config": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "generator": generator,
            "pinning": pinning,
            "model": "LogisticRegression, 20 float columns",
            "train_rows": args.train_rows,
            "endpoints": {server.name: server.path for server in servers},
        },
        "targets": TARGETS,
        "summary": summary,
        "checks": checks,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {args.output} ({elapsed:,.0f} s in all).")
    errors = sum(row["errors"] for row in summary.values())
    missed = [check["check"] for check in checks if check["passed"] is False]
    if errors:
        print(f"{errors} requests failed; see the table.")
    if missed:
        print(f"Missed: {'; '.join(missed)}.")
    return 1 if errors or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
