"""``loopwright server``: refuses addresses beyond loopback, and serves until stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import loopwright as lw
from loopwright.cli import app
from tests.server.conftest import LARGE

ENVIRONMENT = {
    "COLUMNS": "200",
    "NO_COLOR": "1",
    "LOOPWRIGHT_WORKSPACE": None,
    "LOOPWRIGHT_DATABASE_URL": None,
}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.7", "::", "example.com"])
def test_a_host_beyond_loopback_is_refused(tmp_path: Path, host: str) -> None:
    result = CliRunner().invoke(
        app,
        ["--workspace", str(tmp_path / "ws"), "server", "--host", host],
        env=ENVIRONMENT,
        prog_name="loopwright",
    )
    assert result.exit_code == 2
    assert result.output == (
        f"error[invalid_input]: The server's 'host' must be a loopback address (127.0.0.1, ::1 or localhost). Got "
        f"{host!r} instead. Loopwright's server has no authentication yet, so it refuses to listen where other "
        "machines can reach it; put an authenticating reverse proxy in front of it on this machine.\n"
    )
    assert not (tmp_path / "ws").exists()


@pytest.mark.slow
def test_the_server_command_serves_until_sigterm(client: lw.Client, workspace: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "loopwright"),
        "--workspace",
        str(workspace),
        "server",
        "--port",
        "0",
    ]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LOOPWRIGHT_")}
    environment.update(NO_COLOR="1", LOOPWRIGHT_TRACKING__CAPTURE_GIT="false")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Loopwright server listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        assert process.stdout.readline() == "Deployments: fraud.\n"
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/v2/health/live").json() == {"live": True}
            response = http.post(
                "/v1/deployments/fraud/predict", json={"records": LARGE, "request_ids": ["cli-1"]}
            )
            assert response.json()["predictions"][0]["prediction"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout.endswith("Server stopped.\n")
    assert client.predictions("fraud")["request_id"].tolist() == ["cli-1"]
    assert client.prediction_log.lag().entries == 0  # closed and compacted on the way out
