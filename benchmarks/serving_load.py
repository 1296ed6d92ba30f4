"""A bounded load test of ``loopwright server`` (issue 6, Reliability): ``make bench``.

A scikit-learn model is registered (``lw.register_model``) and deployed (``lw.deploy``) in a fresh
workspace, ``loopwright server`` (prediction logging on) serves it on 127.0.0.1, and ``--connections``
concurrent keep-alive clients (``_http_load.py``, raw asyncio sockets, in a process of its own) send
one-row requests for ``--duration`` seconds, each with a unique ``X-Request-ID``. A request counts as
acknowledged when it is answered 200 with its own id echoed back.

Passes when there were zero errors (no connection error, no timeout, no status other than 200, no echoed
id that differs) and every acknowledged request id is found with ``lw.predictions("bench")`` afterwards:
once while the server still runs (entries not compacted yet), and once after it stopped. Results:
``benchmarks/results/serving_load.json`` (``--quick``: under ``benchmarks/.work/``).

    .venv/bin/python benchmarks/serving_load.py            # 30 s of load, 8 clients
    .venv/bin/python benchmarks/serving_load.py --quick    # 10 s of load
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _serving_common import (
    DEPLOYMENT,
    HERE,
    Server,
    build_workspace,
    free_port,
    loopwright_command,
    running,
    scratch,
    train_model,
)
from tracking import BenchmarkError, _load, _now, child_environment, installed_version, machine_info, say

RESULTS = HERE / "results" / "serving_load.json"


def logged_ids(workspace: Path) -> tuple[int, set[str]]:
    """The number of production entries of deployment ``bench`` in the log, and their request ids."""
    import loopwright as lw
    from loopwright.settings import Settings, TrackingSettings

    client = lw.Client(
        Settings(workspace=workspace, user="bench", tracking=TrackingSettings(capture_git=False))
    )
    try:
        frame = client.predictions(DEPLOYMENT)
    finally:
        client.close()
    frame = frame[frame["variant"] == "production"]
    return len(frame), set(frame["request_id"].astype(str))


def check(acknowledged: Sequence[str], entries: int, found: set[str]) -> dict[str, Any]:
    unique = set(acknowledged)
    missing = unique - found
    return {
        "entries": entries,
        "found": len(unique) - len(missing),
        "missing": len(missing),
        "missing_examples": sorted(missing)[:10],
        "duplicate_entries": entries - len(found),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load `loopwright server` for a while; every acknowledged request must be in the log.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="10 s of load instead of 30 s")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load (default 30; quick 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--output", type=Path, default=None, help=f"results JSON (default: {RESULTS})")
    parser.add_argument("--keep-work", action="store_true", help="keep the workspace and the server's log")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 10.0 if args.quick else 30.0
    if args.duration <= 0 or args.connections < 1:
        parser.error("--duration must be positive and --connections at least 1.")
    if args.output is None:
        args.output = HERE / ".work" / "serving_load-quick.json" if args.quick else RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    shared = scratch("serving-load-")
    try:
        model = train_model(shared, 2_000)
        workspace = shared / "ws"
        say("registering and deploying the model (lw.register_model + lw.deploy)")
        build_workspace(workspace, shared)
        port = free_port()
        server = Server(
            "loopwright",
            loopwright_command(workspace, port),
            port,
            f"/v1/deployments/{DEPLOYMENT}/predict",
            shared / "body-records.json",
            shared / "server.log",
        )
        with running([server], model["expected"]):
            say(f"{args.connections} clients for {args.duration:g} s against {server.url}{server.path}")
            ids_file = shared / "acknowledged.txt"
            done = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "_http_load.py"),
                    "--port",
                    str(port),
                    "--path",
                    server.path,
                    "--body-file",
                    str(server.body),
                    "--connections",
                    str(args.connections),
                    "--duration",
                    str(args.duration),
                    "--request-ids",
                    f"load{int(time.time())}",
                    "--ids-out",
                    str(ids_file),
                ],
                capture_output=True,
                text=True,
                check=False,
                env=child_environment(),
            )
            if done.returncode != 0:
                raise BenchmarkError(f"_http_load.py failed:\n{done.stderr[-2000:]}")
            traffic: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            acknowledged = ids_file.read_text().split()
            say(
                f"{traffic['requests']:,} requests, {traffic['acknowledged']:,} acknowledged, "
                f"{traffic['throughput_rps']:,.0f} req/s, errors {traffic['errors'] or 0}, "
                f"statuses {traffic['statuses']}"
            )
            while_running = check(acknowledged, *logged_ids(workspace))
            say(
                f"while the server runs: {while_running['found']:,} of {len(acknowledged):,} found in the log"
            )
        after_stop = check(acknowledged, *logged_ids(workspace))
        say(f"after it stopped: {after_stop['found']:,} of {len(acknowledged):,} found in the log")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep_work:
            shutil.rmtree(shared, ignore_errors=True)

    errors = sum(traffic["errors"].values()) + traffic["non_2xx"] + traffic["mismatched_ids"]
    passed = (
        errors == 0 and while_running["missing"] == 0 and after_stop["missing"] == 0 and bool(acknowledged)
    )
    elapsed = time.perf_counter() - started
    document = {
        "benchmark": "serving_load",
        "date": _now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "profile": "quick" if args.quick else "full",
        "elapsed_s": round(elapsed, 1),
        "machine": {
            **machine_info(),
            "load_before": load_before,
            "load_after": _load(),
            "python": platform.python_version(),
        },
        "versions": {"loopwright": installed_version(Path(sys.executable), "loopwright")},
        "config": {"duration_s": args.duration, "connections": args.connections, "endpoint": server.path},
        "traffic": traffic,
        "acknowledged": len(acknowledged),
        "errors": errors,
        "log_while_running": while_running,
        "log_after_stop": after_stop,
        "passed": passed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(
        f"Load test: {traffic['requests']:,} requests from {args.connections} clients in "
        f"{traffic['duration_s']:,.1f} s ({traffic['throughput_rps']:,.0f} req/s, "
        f"p50 {traffic['p50_ms']:.1f} ms, "
        f"p99 {traffic['p99_ms']:.1f} ms); {errors} errors; {len(acknowledged):,} acknowledged; in the log: "
        f"{while_running['found']:,} while running, {after_stop['found']:,} after stopping "
        f"({after_stop['missing']:,} missing, {after_stop['duplicate_entries']:,} duplicate entries). "
        + ("PASS" if passed else "FAIL")
    )
    print(f"Results written to {args.output}.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
