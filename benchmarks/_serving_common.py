"""What ``serving.py`` and ``serving_load.py`` share: the model and its request, the Loopwright workspace
that deploys it, the servers (each a process of its own, optionally pinned to a CPU with ``taskset``) and
the load generators (``wrk`` with a Lua script, else ``_http_load.py``).

Runs in the Loopwright venv (it imports loopwright to build the workspace).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracking import BenchmarkError, child_environment, say

HERE = Path(__file__).resolve().parent
COLUMNS = 20
SEED = 20_240_601
DEPLOYMENT = "bench"
WRK_MARKER = "BENCH_JSON "


# --- the model and its request --------------------------------------------------------------------------


def train_model(folder: Path, train_rows: int) -> dict[str, Any]:
    """Fit a ``LogisticRegression`` on a synthetic ``COLUMNS``-column frame (a model whose predict costs
    microseconds, so the figures are the servers' overhead), pickle it to ``model.pkl``, save an input
    example, and return the one-row request in both payload formats with the expected prediction."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    names = [f"f{index:02d}" for index in range(COLUMNS)]
    train = pd.DataFrame(rng.normal(size=(train_rows, COLUMNS)), columns=names)
    labels = ((train["f00"] - train["f03"] + rng.normal(0, 0.5, train_rows)) > 0).astype("int64")
    model = LogisticRegression(max_iter=1_000).fit(train, labels)
    with (folder / "model.pkl").open("wb") as handle:
        pickle.dump(model, handle, protocol=5)
    train.head(5).to_parquet(folder / "example.parquet")
    row = train.iloc[[7]]
    values = [round(float(value), 6) for value in row.iloc[0]]
    expected = int(model.predict(pd.DataFrame([values], columns=names))[0])
    split = {"dataframe_split": {"columns": names, "data": [values]}}
    records = {"records": [dict(zip(names, values, strict=True))]}
    (folder / "body-split.json").write_text(json.dumps(split))
    (folder / "body-records.json").write_text(json.dumps(records))
    return {"expected": expected, "columns": names}


def build_workspace(folder: Path, shared: Path) -> None:
    """A Loopwright workspace at ``folder`` with the model registered as ``bench`` version 1, aliased
    ``production`` and deployed as deployment ``bench`` (``lw.register_model`` + ``lw.deploy``)."""
    import pandas as pd

    import loopwright as lw
    from loopwright.settings import Settings, TrackingSettings

    with (shared / "model.pkl").open("rb") as handle:
        model = pickle.load(handle)
    example = pd.read_parquet(shared / "example.parquet")
    client = lw.Client(Settings(workspace=folder, user="bench", tracking=TrackingSettings(capture_git=False)))
    try:
        client.register_model(DEPLOYMENT, model, input_example=example)
        client.set_alias(DEPLOYMENT, "production", 1)
        client.deploy(DEPLOYMENT, f"{DEPLOYMENT}@production")
    finally:
        client.close()


# --- servers ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pinned(command: Sequence[str], cpus: str | None) -> list[str]:
    """``command`` under ``taskset -c cpus`` (unless ``cpus`` is None or taskset is missing)."""
    if cpus is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", cpus, *command]


@dataclass
class Server:
    """A server process: its name, URL, the path and body file its requests use, and its log file."""

    name: str
    command: list[str]
    port: int
    path: str
    body: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        say(f"starting {self.name}: {' '.join(self.command)}")
        environment = {**child_environment(), **self.env}
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,
            )

    def wait_ready(self, expected: int, timeout_s: float = 180.0) -> None:
        """Poll with the real request until it answers 200 with the expected prediction."""
        deadline = time.monotonic() + timeout_s
        body = self.body.read_bytes()
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchmarkError(
                    f"{self.name} exited with status {self.process.returncode} before answering:\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            request = urllib.request.Request(
                self.url + self.path, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
            except OSError as error:
                last = str(error)
                time.sleep(0.5)
                continue
            predictions = answer.get("predictions", answer.get("outputs"))
            first = predictions[0] if isinstance(predictions, list) and predictions else predictions
            if isinstance(first, dict):
                first = first.get("prediction", next(iter(first.values()), None))
            if first != expected:
                raise BenchmarkError(f"{self.name} answered {answer!r}; expected prediction {expected}.")
            return
        raise BenchmarkError(f"{self.name} did not answer within {timeout_s:,.0f} s (last: {last}).")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()


@contextlib.contextmanager
def running(servers: Sequence[Server], expected: int) -> Iterator[None]:
    """Start every server, wait until each answers correctly, stop them all on exit."""
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(expected)
            say(f"{server.name} is answering at {server.url}{server.path}")
        yield
    finally:
        for server in servers:
            server.stop()


def loopwright_command(workspace: Path, port: int, *extra: str) -> list[str]:
    script = Path(sys.executable).with_name("loopwright")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "loopwright.cli"]
    return [
        *base,
        "--workspace",
        str(workspace),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    ]


# --- load generators ----------------------------------------------------------------------------------


def ensure_wrk(install: bool) -> str | None:
    """The path of ``wrk``; installed with apt-get (Debian's package) when missing and ``install``."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say("wrk is missing and cannot be installed here (no apt-get or not root); using _http_load.py.")
        return None
    say("wrk is missing; installing Debian's package (apt-get install -y wrk) ...")
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        say(f"apt-get install wrk failed ({done.stderr.strip()[-300:]}); using _http_load.py.")
        return None
    return shutil.which("wrk")


_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%f,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


def load(
    server: Server,
    *,
    connections: int,
    duration_s: float,
    wrk: str | None,
    cpus: str | None,
    work: Path,
) -> dict[str, Any]:
    """One measurement of ``server``: ``connections`` keep-alive clients for ``duration_s`` seconds."""
    if wrk is not None:
        script = work / (re.sub(r"[^a-z0-9]+", "_", server.name) + ".lua")
        script.write_text(_LUA.format(body=server.body.read_text(), marker=WRK_MARKER))
        command = pinned(
            [wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "30s", "-s", str(script)],
            cpus,
        )
        done = subprocess.run(
            [*command, server.url + server.path], capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith(WRK_MARKER)]
        if done.returncode != 0 or not lines:
            raise BenchmarkError(
                f"wrk failed on {server.name}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        raw = json.loads(lines[-1][len(WRK_MARKER) :])
        errors = {key: raw[key] for key in ("connect", "read", "write", "status", "timeout") if raw[key]}
        elapsed = raw["duration_us"] / 1e6
        good = raw["requests"] - raw["status"]
        return {
            "generator": "wrk",
            "requests": raw["requests"],
            "errors": errors,
            "non_2xx": raw["status"],
            "duration_s": elapsed,
            "throughput_rps": good / elapsed,
            "p50_ms": raw["p50_us"] / 1e3,
            "p99_ms": raw["p99_us"] / 1e3,
            "mean_ms": raw["mean_us"] / 1e3,
            "max_ms": raw["max_us"] / 1e3,
        }
    command = pinned(
        [
            sys.executable,
            str(HERE / "_http_load.py"),
            "--port",
            str(server.port),
            "--path",
            server.path,
            "--body-file",
            str(server.body),
            "--connections",
            str(connections),
            "--duration",
            str(duration_s),
        ],
        cpus,
    )
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=child_environment())
    if done.returncode != 0:
        raise BenchmarkError(f"_http_load.py failed on {server.name}:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def scratch(prefix: str) -> Path:
    work = HERE / ".work"
    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work))
