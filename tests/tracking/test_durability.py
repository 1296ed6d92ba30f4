"""What survives: a kill -9 of the training process, and several processes logging to one workspace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import loopwright as lw
from loopwright.settings import Settings

pytestmark = pytest.mark.slow

FLUSH_INTERVAL_S = 0.2
# A point waits at most one flush interval in memory, then the time to commit its batch. The slack covers
# that write on a loaded 2-core machine; the test still proves the bound is a fraction of the run, with
# no gap in what was kept.
WRITE_SLACK_S = 1.0

_KILLED_TRAINER = """
import sys, time
import loopwright as lw
from loopwright.settings import Settings, TrackingSettings

settings = Settings(workspace=sys.argv[1], database_url=sys.argv[2],
                    tracking=TrackingSettings(flush_interval_s={interval}))
run = lw.connect(settings).start_run(experiment="crash", name="doomed")
run.log_param("lr", 0.1)
print("run", run.id, flush=True)
step = 0
while True:
    run.log_metric("loss", 1.0 / (step + 1), step=step)
    if step % 50 == 0:
        print("logged", step, time.monotonic(), flush=True)
    step += 1
    time.sleep(0.0005)
"""


def test_a_kill_9_loses_at_most_the_last_flush_interval(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "trainer.py"
    script.write_text(_KILLED_TRAINER.format(interval=FLUSH_INTERVAL_S))
    database_url = settings.resolved_database_url()
    child = subprocess.Popen(
        [sys.executable, str(script), str(settings.workspace), database_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().split()[1]
    progress: list[tuple[int, float]] = []
    started = time.monotonic()
    while time.monotonic() - started < 3.0:
        _, step, at = child.stdout.readline().split()
        progress.append((int(step), float(at)))
    os.kill(child.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    child.wait(timeout=10)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    client = lw.Client(settings)
    steps = [point.step for point in client.store.metric_history(run_id, "loss")]
    record = client.get_run(run_id)
    client.close()

    must_have = max(step for step, at in progress if at <= killed_at - FLUSH_INTERVAL_S - WRITE_SLACK_S)
    assert steps == list(range(len(steps))), "what survived must be a prefix with no gap"
    assert steps[-1] >= must_have
    assert record.params == {"lr": "0.1"}
    assert record.status is lw.RunStatus.RUNNING  # nobody could mark it; the points are what matters


_CONCURRENT_TRAINER = """
import pathlib, sys, time
import loopwright as lw
from loopwright.settings import Settings, TrackingSettings

workspace, database_url, worker, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), pathlib.Path(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
client = lw.connect(Settings(workspace=workspace, database_url=database_url,
                             tracking=TrackingSettings(flush_interval_s=0.05)))
shared = pathlib.Path(workspace) / f"shared-{{worker}}.txt"
shared.write_text("identical content in every worker")
own = pathlib.Path(workspace) / f"own-{{worker}}.txt"
own.write_text(f"worker {{worker}}")
for attempt in range({runs}):
    with lw.start_run(experiment="shared", name=f"w{{worker}}-{{attempt}}") as run:
        run.log_params({{"worker": worker, "attempt": attempt}})
        for step in range({points}):
            run.log_metrics({{"loss": 1 / (step + 1), "accuracy": step / {points}}}, step=step)
        run.log_artifact(shared, "shared.txt")
        run.log_artifact(own, "own.txt")
        run.set_tags({{"worker": worker}})
print("done", flush=True)
"""


@pytest.mark.parametrize("workers", [4])
def test_several_processes_log_to_one_new_workspace_without_errors_or_loss(
    settings: Settings, tmp_path: Path, workers: int
) -> None:
    runs, points = 3, 2_000
    settings.workspace.mkdir(parents=True)
    script = tmp_path / "trainer.py"
    script.write_text(_CONCURRENT_TRAINER.format(runs=runs, points=points))
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(settings.workspace),
                settings.resolved_database_url(),
                str(worker),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(workers)
    ]
    time.sleep(0.5)  # let every interpreter reach the starting line before anyone touches the database
    go.touch()
    outputs = [child.communicate(timeout=240) for child in children]
    for child, (stdout, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
        assert stdout.strip() == "done"
        assert "Traceback" not in stderr

    client = lw.Client(settings)
    (experiment,) = client.list_experiments()
    assert (experiment.name, experiment.run_count) == ("shared", workers * runs)
    records = client.search_runs("shared", output="list", max_results=None)
    assert {record.status for record in records} == {lw.RunStatus.FINISHED}
    assert sorted(record.name for record in records) == sorted(
        f"w{worker}-{attempt}" for worker in range(workers) for attempt in range(runs)
    )
    for record in records:
        assert client.store.count_metric_points(record.id) == 2 * points
        assert record.metrics == {"accuracy": (points - 1) / points, "loss": 1 / points}
        assert record.params == {
            "attempt": record.name.split("-")[1],
            "worker": record.name[1:].split("-")[0],
        }
    digests = {
        item.name: {
            artifact.artifact.digest
            for record in records
            for artifact in client.run_artifacts(record.id)
            if artifact.name == item.name
        }
        for item in client.run_artifacts(records[0].id)
    }
    assert len(digests["shared.txt"]) == 1
    assert len(digests["own.txt"]) == workers
    blobs = [path for path in (settings.workspace / "artifacts" / "sha256").rglob("*") if path.is_file()]
    assert len(blobs) == workers + 1
    client.close()


_POOL = """
import sys
from multiprocessing import get_context
import loopwright as lw

def train(i):
    lw.connect(lw.Settings(workspace=sys.argv[1]))
    with lw.start_run(experiment="pool", name=f"w{i}") as run:
        run.log_metric("loss", 1.0 / (i + 1))
    return i

if __name__ == "__main__":
    with get_context(sys.argv[2]).Pool(3) as pool:  # leaving the block sends SIGTERM to idle workers
        print(sum(1 for _ in pool.map(train, range(6))))
"""


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_process_pool_of_trainers_ends_quietly(tmp_path: Path, start_method: str) -> None:
    script = tmp_path / "pool.py"
    script.write_text(_POOL)
    finished = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ws"), start_method],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (finished.returncode, finished.stdout.strip(), finished.stderr) == (0, "6", "")
    client = lw.Client(lw.Settings(workspace=tmp_path / "ws"))
    records = client.search_runs("pool", output="list")
    client.close()
    assert sorted(record.name for record in records) == [f"w{index}" for index in range(6)]
    assert {record.status for record in records} == {lw.RunStatus.FINISHED}
