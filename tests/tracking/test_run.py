"""Runs through the public API, on SQLite and PostgreSQL workspaces."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopwright as lw
from loopwright.errors import (
    InvalidInputError,
    InvalidKeyError,
    InvalidMetricError,
    NotFoundError,
    ParamConflictError,
    RunStateError,
)
from loopwright.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[lw.Client]:
    opened = lw.connect(settings)
    yield opened
    opened.close()


def test_a_run_records_what_was_logged_and_ends_finished(client: lw.Client, tmp_path: Path) -> None:
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    with lw.start_run(experiment="churn", name="lr-0.1") as run:
        run.log_params({"model": "lr", "C": 0.1})
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"accuracy": 0.9, "f1": 0.8})
        run.log_artifact(artifact)
        run.set_tags({"team": "risk"})
        run.set_tag("stage", "dev")

    record = client.get_run(run.id)
    assert record.status is lw.RunStatus.FINISHED
    assert record.experiment == "churn"
    assert record.name == "lr-0.1"
    assert record.params == {"C": "0.1", "model": "lr"}
    assert record.metrics == {"accuracy": 0.9, "f1": 0.8, "loss": 0.2}
    assert record.tags == {"stage": "dev", "team": "risk"}
    assert record.end_time is not None
    assert record.end_time >= record.start_time
    assert [point.value for point in client.metric_history(run.id, "loss")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    (logged,) = client.run_artifacts(run.id)
    assert (logged.name, logged.direction, logged.artifact.size) == ("notes.txt", "output", 5)
    copy = client.download_artifact(run.id, "notes.txt", tmp_path / "copy.txt")
    assert copy.read_text() == "hello"


def test_a_run_records_where_it_ran(client: lw.Client) -> None:
    import platform
    import socket

    with lw.start_run(experiment="churn") as run:
        pass
    record = client.get_run(run.id)
    assert record.name == f"run-{run.id[:8]}"
    assert record.host == socket.gethostname()
    assert record.python_version == platform.python_version()
    assert record.environment["loopwright"] == lw.__version__
    assert record.environment["numpy"] == np.__version__
    assert record.pid is not None


def test_steps_default_to_the_next_step_of_each_key(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("loss", 0.9)
        run.log_metric("loss", 0.8)
        run.log_metric("loss", 0.5, step=10)
        run.log_metric("loss", 0.4)
        run.log_metric("accuracy", 0.7)
        run.log_metric("loss", 0.3, step=np.int64(20))
    steps = [(point.step, point.value) for point in client.metric_history(run.id, "loss")]
    assert steps == [(0, 0.9), (1, 0.8), (10, 0.5), (11, 0.4), (20, 0.3)]
    assert [point.step for point in client.metric_history(run.id, "accuracy")] == [0]


def test_numpy_scalars_nan_and_infinities_are_accepted(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("np", np.float32(0.5))
        run.log_metric("int", 3)
        run.log_metric("nan", float("nan"))
        run.log_metric("inf", math.inf)
        run.log_metric("ninf", -np.inf)
    metrics = client.get_run(run.id).metrics
    assert metrics["np"] == 0.5
    assert metrics["int"] == 3.0
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["ninf"] == -math.inf


def test_nested_runs_become_children_in_the_parents_experiment(client: lw.Client) -> None:
    with lw.start_run(experiment="cv", name="grid") as parent:
        for fold in range(3):
            with lw.start_run(name=f"fold-{fold}") as child:
                lw.log_metric("accuracy", 0.8 + fold / 100)
                assert lw.active_run() is child
        assert lw.active_run() is parent
        with lw.start_run(experiment="elsewhere", name="independent", nested=False) as independent:
            pass
    assert lw.active_run() is None
    children = client.store.search_runs(["cv"], parent_id=parent.id, order_by=["name"])
    assert [child.name for child in children] == ["fold-0", "fold-1", "fold-2"]
    assert all(child.experiment == "cv" for child in children)
    assert client.get_run(independent.id).parent_id is None
    explicit = client.start_run(parent=parent.id, name="late")
    explicit.end()
    assert client.get_run(explicit.id).parent_id == parent.id
    assert client.get_run(explicit.id).experiment == "cv"


def test_an_exception_marks_the_run_failed_with_its_traceback(client: lw.Client) -> None:
    with pytest.raises(ZeroDivisionError), lw.start_run(experiment="churn") as run:  # noqa: PT012
        run.log_metric("loss", 0.5)
        _ = 1 / 0
    record = client.get_run(run.id)
    assert record.status is lw.RunStatus.FAILED
    assert record.error is not None
    assert "ZeroDivisionError: division by zero" in record.error
    assert "Traceback (most recent call last)" in record.error
    assert record.metrics == {"loss": 0.5}


@pytest.mark.parametrize(
    ("interruption", "status"),
    [
        (KeyboardInterrupt(), lw.RunStatus.KILLED),
        (SystemExit(3), lw.RunStatus.KILLED),
        (SystemExit(0), lw.RunStatus.FINISHED),
    ],
)
def test_interruptions_mark_the_run_killed(
    client: lw.Client, interruption: BaseException, status: lw.RunStatus
) -> None:
    with pytest.raises(type(interruption)), lw.start_run(experiment="churn") as run:
        raise interruption
    assert client.get_run(run.id).status is status


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "A metric key must not be empty. Got '' instead."),
        (
            "a/b",
            "The metric key 'a/b' contains a slash ('/'); path separators are not allowed in keys. "
            "Use '.', '_' or '-' to group names, e.g. 'train.loss'.",
        ),
        (
            "a\\b",
            "The metric key 'a\\\\b' contains a backslash ('\\\\'); path separators are not allowed in "
            "keys. Use '.', '_' or '-' to group names, e.g. 'train.loss'.",
        ),
        ("x" * 251, f"The metric key {'x' * 40!r}... is 251 characters long; the limit is 250."),
        (" loss", "The metric key ' loss' has spaces at an end or control characters; remove them."),
        (7, "A metric key must be a text. Got 7 of type int instead."),
    ],
)
def test_bad_keys_are_refused_naming_the_key(client: lw.Client, key: object, message: str) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("good", 1.0)
        with pytest.raises(InvalidKeyError) as caught:
            run.log_metric(key, 1.0)  # type: ignore[arg-type]
        assert str(caught.value) == message
        assert caught.value.code == "invalid_input.key"
        with pytest.raises(InvalidKeyError):
            run.log_param(key, 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError):
            run.set_tag(key, 1)  # type: ignore[arg-type]
    assert client.get_run(run.id).metrics == {"good": 1.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.5", "Metric 'loss' must be a real number. Got '0.5' of type str instead."),
        (None, "Metric 'loss' must be a real number. Got None of type NoneType instead."),
        ([1.0], "Metric 'loss' must be a real number. Got [1.0] of type list instead."),
        (1 + 2j, "Metric 'loss' must be a real number. Got (1+2j) of type complex instead."),
    ],
)
def test_non_numeric_metric_values_are_refused_and_nothing_logged_is_lost(
    client: lw.Client, value: object, message: str
) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("loss", 0.9)
        with pytest.raises(InvalidMetricError) as caught:
            run.log_metric("loss", value)  # type: ignore[arg-type]
        assert str(caught.value) == message
        assert isinstance(caught.value, ValueError)
        with pytest.raises(InvalidMetricError):
            run.log_metrics({"accuracy": 0.5, "loss": value})  # type: ignore[dict-item]
        run.log_metric("loss", 0.8)
    assert [(point.step, point.value) for point in client.metric_history(run.id, "loss")] == [
        (0, 0.9),
        (1, 0.8),
    ]
    assert "accuracy" not in client.get_run(run.id).metrics


def test_a_parameter_logged_twice_with_another_value_is_refused(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_params({"lr": 0.1, "depth": 3})
        run.log_param("lr", 0.1)
        with pytest.raises(ParamConflictError) as caught:
            run.log_params({"lr": 0.2, "seed": 1})
        assert caught.value.details == {"run_id": run.id, "key": "lr", "old": "0.1", "new": "0.2"}
    assert client.get_run(run.id).params == {"depth": "3", "lr": "0.1"}


def test_bad_steps_and_long_values_are_refused(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        with pytest.raises(
            InvalidInputError, match="The step of metric 'loss' must be an integer. Got 'one'"
        ):
            run.log_metric("loss", 1.0, step="one")  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="The step of metric 'loss' must be an integer. Got 1.5"):
            run.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="is 70000 characters long; the limit is 65536"):
            run.log_param("notes", "x" * 70_000)


def test_nothing_can_be_logged_to_an_ended_run(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(RunStateError, match="has ended; nothing more can be logged to it"):
        run.log_metric("other", 1.0)
    with pytest.raises(RunStateError, match="has ended; nothing more can be logged to it"):
        run.log_metric("loss", 2.0)
    with pytest.raises(RunStateError):
        run.log_metrics({"loss": 2.0})
    with pytest.raises(RunStateError):
        run.log_params({"a": 1})
    run.end()  # ending twice is harmless


def test_module_helpers_need_an_active_run(client: lw.Client) -> None:
    with pytest.raises(RunStateError) as caught:
        lw.log_metric("loss", 1.0)
    assert str(caught.value) == (
        "lw.log_metric() needs an active run, and there is none. Start one first: "
        "`with lw.start_run(experiment=...) as run:`."
    )
    run = lw.start_run(experiment="churn", params={"a": 1}, tags={"t": "x"})
    lw.log_metric("loss", 0.5)
    lw.log_metrics({"accuracy": 0.9})
    lw.log_param("b", 2)
    lw.log_params({"c": 3})
    lw.set_tag("u", "y")
    lw.set_tags({"v": "z"})
    lw.end_run()
    record = lw.get_run(run.id)
    assert record.params == {"a": "1", "b": "2", "c": "3"}
    assert record.tags == {"t": "x", "u": "y", "v": "z"}
    assert record.metrics == {"accuracy": 0.9, "loss": 0.5}
    assert record.status is lw.RunStatus.FINISHED
    assert [experiment.name for experiment in lw.list_experiments()] == ["churn"]
    assert [point.value for point in lw.metric_history(run.id, "loss")] == [0.5]


def test_artifact_helpers(client: lw.Client, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "plots" / "roc.csv").write_text("0,1")
    with lw.start_run(experiment="churn") as run:
        lw.log_artifacts(folder)
        lw.log_artifact(folder / "summary.txt", "copy-of-summary.txt")
        run.log_text("some text", "notes/readme.md")
        run.log_dict({"b": 1, "a": [1, 2]}, "config.json")
        run.log_artifacts(folder, prefix="again")
        with pytest.raises(InvalidInputError, match="log_artifact takes a file"):
            run.log_artifact(folder)
        with pytest.raises(
            InvalidInputError,
            match="An artifact name must be a relative path without '..'. Got '../escape.txt' instead.",
        ):
            run.log_text("x", "../escape.txt")
        with pytest.raises(NotFoundError, match="does not exist"):
            run.log_artifacts(tmp_path / "missing")
    names = [item.name for item in client.run_artifacts(run.id)]
    assert names == [
        "again/plots/roc.csv",
        "again/summary.txt",
        "config.json",
        "copy-of-summary.txt",
        "notes/readme.md",
        "plots/roc.csv",
        "summary.txt",
    ]
    copy = client.download_artifact(run.id, "config.json", tmp_path / "config.json")
    assert copy.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}'
    with pytest.raises(NotFoundError, match="has no artifact 'nope.txt'"):
        client.download_artifact(run.id, "nope.txt", tmp_path / "x")


def test_search_runs_returns_a_dataframe_or_records(client: lw.Client) -> None:
    for model, accuracy in [("lr", 0.91), ("lr", 0.85), ("rf", 0.95)]:
        with lw.start_run(experiment="churn", params={"model": model}) as run:
            run.log_metric("accuracy", accuracy)
    frame = lw.search_runs(
        "churn", filter="metrics.accuracy > 0.9 and params.model = 'lr'", order_by="metrics.accuracy desc"
    )
    assert isinstance(frame, pd.DataFrame)
    assert frame["metrics.accuracy"].tolist() == [0.91]
    assert frame["params.model"].tolist() == ["lr"]
    assert {"run_id", "experiment", "name", "status", "start_time", "end_time", "duration_s"} <= set(frame)

    records = lw.search_runs(["churn"], order_by=["metrics.accuracy desc"], max_results=2, output="list")
    assert [record.metrics["accuracy"] for record in records] == [0.95, 0.91]
    empty = lw.search_runs("churn", filter="metrics.accuracy > 2")
    assert empty.empty
    assert "run_id" in empty.columns
    with pytest.raises(ValueError, match="output must be 'pandas' or 'list'"):
        client.search_runs("churn", output="xml")  # type: ignore[call-overload]


def test_metric_history_of_an_unknown_metric_names_the_known_ones(client: lw.Client) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(NotFoundError, match=f"Run {run.id} has no metric 'los'. Its metrics: 'loss'."):
        client.metric_history(run.id, "los")
    with pytest.raises(NotFoundError, match="Run 'missing' does not exist"):
        client.metric_history("missing", "loss")


def test_git_commit_and_dirty_flag_are_recorded_inside_a_repository(tmp_path: Path) -> None:
    repository = tmp_path / "project"
    repository.mkdir()
    script = repository / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import loopwright as lw
            lw.connect(lw.Settings(workspace={str(tmp_path / "ws")!r}))
            with lw.start_run(experiment="git") as run:
                pass
            print(run.id)
            """
        )
    )

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments],
            cwd=repository,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "train.py")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")

    def run_script() -> str:
        return subprocess.run(
            [sys.executable, str(script)], cwd=repository, check=True, capture_output=True, text=True
        ).stdout.strip()

    clean_id = run_script()
    script.write_text(script.read_text() + "\n# changed\n")
    dirty_id = run_script()

    client = lw.Client(lw.Settings(workspace=tmp_path / "ws"))
    clean, dirty = client.get_run(clean_id), client.get_run(dirty_id)
    assert (clean.git_commit, clean.git_dirty) == (head, False)
    assert (dirty.git_commit, dirty.git_dirty) == (head, True)
    assert clean.source is not None
    assert clean.source.endswith("train.py")
    client.close()


_LEFT_OPEN = """
import sys
import loopwright as lw
lw.connect(lw.Settings(workspace=sys.argv[1]))
run = lw.start_run(experiment="open")
run.log_metric("loss", 0.5)
print(run.id, flush=True)
if sys.argv[2] == "crash":
    raise RuntimeError("training diverged")
"""


@pytest.mark.parametrize(
    ("ending", "status", "error"),
    [
        ("exit", lw.RunStatus.FINISHED, None),
        ("crash", lw.RunStatus.FAILED, "RuntimeError: training diverged"),
    ],
)
def test_a_run_left_open_is_ended_at_interpreter_exit(
    tmp_path: Path, ending: str, status: lw.RunStatus, error: str | None
) -> None:
    script = tmp_path / "train.py"
    script.write_text(_LEFT_OPEN)
    finished = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ws"), ending],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == (0 if ending == "exit" else 1)
    client = lw.Client(lw.Settings(workspace=tmp_path / "ws"))
    record = client.get_run(finished.stdout.strip())
    client.close()
    assert record.status is status
    assert record.metrics == {"loss": 0.5}
    if error is None:
        assert record.error is None
    else:
        assert record.error is not None
        assert record.error.rstrip().endswith(error)


def test_runs_started_in_parallel_threads_do_not_nest_under_each_other(client: lw.Client) -> None:
    import threading

    barrier = threading.Barrier(2)
    started: dict[str, str] = {}

    def train(name: str) -> None:
        barrier.wait()
        with lw.start_run(experiment="threads", name=name) as run:
            barrier.wait()  # both runs are open at once
            lw.log_metric("loss", 0.1)
            started[name] = run.id

    workers = [threading.Thread(target=train, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert {client.get_run(run_id).parent_id for run_id in started.values()} == {None}
    assert all(client.get_run(run_id).metrics == {"loss": 0.1} for run_id in started.values())


def test_a_thread_without_a_run_of_its_own_logs_to_the_main_threads_run(client: lw.Client) -> None:
    import threading

    with lw.start_run(experiment="threads", name="main") as main:
        loader = threading.Thread(target=lambda: lw.log_metric("batches", 10))
        loader.start()
        loader.join(timeout=30)
        child: list[str] = []
        worker = threading.Thread(target=lambda: child.append(lw.start_run(name="child").id) or lw.end_run())
        worker.start()
        worker.join(timeout=30)
    assert client.get_run(main.id).metrics == {"batches": 10.0}
    assert client.get_run(child[0]).parent_id == main.id


_TERMINATED = """
import sys, time
import loopwright as lw
lw.connect(lw.Settings(workspace=sys.argv[1]))
with lw.start_run(experiment="term") as run:
    run.log_metric("loss", 0.5)
    print(run.id, flush=True)
    time.sleep(60)
"""


def test_sigterm_marks_the_run_killed_and_keeps_its_metrics(tmp_path: Path) -> None:
    import signal

    script = tmp_path / "train.py"
    script.write_text(_TERMINATED)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "ws")], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    child.stdout.close()
    client = lw.Client(lw.Settings(workspace=tmp_path / "ws"))
    record = client.get_run(run_id)
    client.close()
    assert record.status is lw.RunStatus.KILLED
    assert record.error == "SystemExit: 143"
    assert record.metrics == {"loss": 0.5}


def test_datasets_read_inside_a_run_are_recorded_as_its_inputs(client: lw.Client) -> None:
    frame = pd.DataFrame({"amount": [1.0, 2.5, 4.0], "merchant": ["a", "b", "a"]})
    with lw.start_run(experiment="lineage", name="prepare") as prepare:
        produced = lw.log_dataset("transactions", frame)
    with lw.start_run(experiment="lineage", name="train") as train:
        used = lw.dataset("transactions")
        train.log_input(used, "training-data")
        with pytest.raises(InvalidInputError, match="run.log_input\\(\\) takes a dataset version"):
            train.log_input(42)
    assert used == produced
    outputs = [(item.direction, item.name) for item in client.run_artifacts(prepare.id)]
    inputs = [(item.direction, item.name) for item in client.run_artifacts(train.id)]
    assert outputs == [("output", "datasets/transactions/v1")]
    assert inputs == [("input", "datasets/transactions/v1"), ("input", "training-data")]
    assert {item.artifact.digest for item in client.run_artifacts(train.id)} == {produced.record.digest}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            {"step": 2**70},
            "The step of metric 'loss' must fit in 64 bits (between -2**63 and 2**63 - 1). Got "
            "1180591620717411303424 instead.",
        ),
        (
            {"timestamp": 1e20},
            "The timestamp of metric 'loss' must be a finite number of seconds since the epoch (e.g. "
            "time.time()). Got 1e+20 instead.",
        ),
        (
            {"timestamp": float("nan")},
            "The timestamp of metric 'loss' must be a finite number of seconds since the epoch (e.g. "
            "time.time()). Got nan instead.",
        ),
        (
            {"timestamp": 10**400},
            "The timestamp of metric 'loss' must be a finite number of seconds since the epoch (e.g. "
            f"time.time()). Got {10**400!r} instead.",
        ),
        (
            {"timestamp": -5.0},
            "The timestamp of metric 'loss' must be a finite number of seconds since the epoch (e.g. "
            "time.time()). Got -5.0 instead.",
        ),
    ],
)
def test_steps_and_times_that_cannot_be_stored_fail_at_the_call_and_block_nothing(
    client: lw.Client, call: dict[str, float], message: str
) -> None:
    with lw.start_run(experiment="churn") as run:
        run.log_metric("loss", 0.9)
        with pytest.raises(InvalidInputError) as caught:
            run.log_metric("loss", 0.5, **call)  # type: ignore[arg-type]
        assert str(caught.value) == message
        with pytest.raises(InvalidInputError):
            run.log_metrics({"loss": 0.5}, **call)  # type: ignore[arg-type]
        run.log_metric("loss", 0.8)
    assert [(point.step, point.value) for point in client.metric_history(run.id, "loss")] == [
        (0, 0.9),
        (1, 0.8),
    ]
    assert client.get_run(run.id).status is lw.RunStatus.FINISHED


def test_a_run_ends_even_when_the_store_refused_some_of_its_points(client: lw.Client) -> None:
    from loopwright.errors import TrackingWriteError

    real = client.tracker.writer._store

    class Refusing:
        display_url = real.display_url

        def log_metrics(self, rows: list[tuple[str, str, float, int, int]]) -> None:
            if any(row[1] == "bad" for row in rows):
                raise ValueError("refused by the store")
            real.log_metrics(rows)

    client.tracker.writer._store = Refusing()  # type: ignore[assignment]
    try:
        run = lw.start_run(experiment="refusals")
        run.log_metric("good", 1.0)
        run.log_metric("bad", 2.0)
        with pytest.raises(TrackingWriteError, match="^The store refused 1 metric point"):
            run.end()
    finally:
        client.tracker.writer._store = real
    record = client.get_run(run.id)
    assert (record.status, record.metrics) == (lw.RunStatus.FINISHED, {"good": 1.0})
    assert lw.active_run() is None


def test_a_forked_worker_dies_quietly_on_sigterm(client: lw.Client) -> None:
    import os
    import signal
    import warnings

    with lw.start_run(experiment="fork"):
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, on Python >= 3.12
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_end)
            os.write(
                write_end, b"default" if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else b"custom"
            )
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            answer = pipe.read()
        os.waitpid(pid, 0)
    assert answer == "default"


@pytest.mark.parametrize(
    ("options", "error_type", "message"),
    [
        ({"params": {"": 1}}, InvalidKeyError, "A param key must not be empty. Got '' instead."),
        ({"tags": {"a/b": 1}}, InvalidKeyError, "The tag key 'a/b' contains a slash"),
        ({"params": [1]}, InvalidInputError, "start_run() params must be a mapping of keys to values"),
        ({"name": "\ud800"}, InvalidKeyError, "The run name key '\\ud800' is not valid Unicode text"),
        ({"params": {"s": "\ud800"}}, InvalidInputError, "The value of param 's' is not valid Unicode text"),
    ],
)
def test_bad_start_run_input_leaves_no_run_behind(
    client: lw.Client, options: dict[str, object], error_type: type[Exception], message: str
) -> None:
    with pytest.raises(error_type) as caught:
        lw.start_run(experiment="strict", **options)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert lw.active_run() is None
    assert client.search_runs(None, output="list") == []


def test_wrong_argument_types_and_unencodable_text_get_typed_errors(client: lw.Client) -> None:
    with lw.start_run(experiment="strict") as run:
        with pytest.raises(InvalidInputError, match=r"^log_metrics\(\) values must be a mapping"):
            run.log_metrics(None)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match=r"^log_params\(\) values must be a mapping"):
            run.log_params([("a", 1)])  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match=r"^set_tags\(\) values must be a mapping"):
            run.set_tags("team=risk")  # type: ignore[arg-type]
        with pytest.raises(InvalidKeyError, match="lone surrogate"):
            run.log_metric("\ud800", 1.0)
        with pytest.raises(InvalidMetricError, match="must be a real number"):
            run.log_metric("huge", 10**400)
        run.log_metric("ok", 1.0)
    assert client.get_run(run.id).metrics == {"ok": 1.0}
