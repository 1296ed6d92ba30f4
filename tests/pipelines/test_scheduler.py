"""The scheduler on SQLite and PostgreSQL: due occasions, catch-up, idempotence with two schedulers at once
(threads and processes), new-data firing, failures, lease expiry and takeover, and stopping cleanly.

Most tests inject a fake runner (the seam the scheduler offers); the tests at the end run real pipelines in
child processes with the default :class:`ProcessRunner`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, update

import loopwright as lw
from loopwright.client import Client
from loopwright.errors import InvalidInputError
from loopwright.pipelines.scheduler import FiringRequest, ProcessRunner, RunOutcome, Scheduler
from loopwright.settings import Settings
from loopwright.store.schema import pipeline_runs, triggers
from loopwright.store.triggers import FiringRecord, TriggerCatalog, TriggerRecord, trigger_lease

REGISTERED = datetime(2026, 11, 1, tzinfo=UTC)
"""When the tests' triggers are registered (their creation time is set to this)."""


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    opened = Client(settings)
    yield opened
    opened.close()


@pytest.fixture
def catalog(client: Client) -> TriggerCatalog:
    return TriggerCatalog(client.store)


def add_trigger(
    catalog: TriggerCatalog,
    pipeline: str,
    kind: str,
    spec: str,
    *,
    params: dict[str, str] | None = None,
    registered: datetime | None = REGISTERED,
    ref: str | None = None,
) -> TriggerRecord:
    """A trigger, registered at ``registered`` (None: now)."""
    record = catalog.add(pipeline, ref or f"jobs:{pipeline}", kind, spec, params=params)
    if registered is not None:
        with catalog._store._write() as connection:
            connection.execute(
                update(triggers)
                .where(triggers.c.id == record.id)
                .values(created_ms=round(registered.timestamp() * 1000))
            )
    return catalog.get(record.id)


class Recorder:
    """A fake runner: remembers each request, waits ``delay`` seconds, then does what it was told."""

    def __init__(self, outcome: RunOutcome | Exception | None = None, delay: float = 0.0) -> None:
        self.requests: list[FiringRequest] = []
        self.outcome = outcome or RunOutcome("finished")
        self.delay = delay
        self._lock = threading.Lock()

    def __call__(self, request: FiringRequest) -> RunOutcome:
        with self._lock:
            self.requests.append(request)
        time.sleep(self.delay)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [(request.trigger.pipeline, request.firing.fire_key) for request in self.requests]


# --- cron ----------------------------------------------------------------------------------------------


def test_a_cron_trigger_fires_each_scheduled_minute_once(client: Client, catalog: TriggerCatalog) -> None:
    trigger = add_trigger(catalog, "retrain", "cron", "0 3 * * *", params={"n": "5"})
    runner = Recorder()
    seen: list[tuple[str, str]] = []
    scheduler = Scheduler(
        client, run=runner, holder="s1", on_firing=lambda f: seen.append((f.fire_key, f.status))
    )

    assert scheduler.tick(utc(2026, 11, 28, 2, 59, 59)) != []  # the 27th's 03:00 was missed: caught up
    runner.requests.clear()
    seen.clear()

    [fired] = scheduler.tick(utc(2026, 11, 28, 3, 0, 5))
    assert (fired.trigger_id, fired.fire_key, fired.cause, fired.status, fired.scheduler) == (
        trigger.id,
        "cron:2026-11-28T03:00Z",
        "cron 0 3 * * * at 2026-11-28T03:00Z",
        "finished",
        "s1",
    )
    [request] = runner.requests
    assert (request.ref, request.params, request.cause) == ("jobs:retrain", {"n": "5"}, fired.cause)
    assert seen == [("cron:2026-11-28T03:00Z", "running"), ("cron:2026-11-28T03:00Z", "finished")]

    assert scheduler.tick(utc(2026, 11, 28, 3, 0, 50)) == []  # the same minute: fired already
    assert scheduler.tick(utc(2026, 11, 28, 15, 0)) == []  # no occasion since
    assert [firing.fire_key for firing in scheduler.tick(utc(2026, 11, 29, 3, 0))] == [
        "cron:2026-11-29T03:00Z"
    ]
    assert len(runner.requests) == 2
    assert catalog.lease(trigger_lease(trigger.id)) is None  # released after each firing
    assert catalog.get(trigger.id).last_checked_at is not None


def test_missed_occasions_fire_only_the_latest_once(client: Client, catalog: TriggerCatalog) -> None:
    add_trigger(catalog, "hourly", "cron", "@hourly")
    runner = Recorder()
    scheduler = Scheduler(client, run=runner, holder="s1")
    # No scheduler ran for four weeks: one run, for the latest hour, not 672.
    assert [firing.cause for firing in scheduler.tick(utc(2026, 11, 28, 17, 42))] == [
        "cron @hourly at 2026-11-28T17:00Z"
    ]
    assert scheduler.tick(utc(2026, 11, 28, 17, 59)) == []
    assert runner.keys == [("hourly", "cron:2026-11-28T17:00Z")]


def test_occasions_before_the_trigger_was_registered_do_not_fire(
    client: Client, catalog: TriggerCatalog
) -> None:
    add_trigger(catalog, "retrain", "cron", "0 3 * * *", registered=utc(2026, 11, 28, 3, 0, 30))
    scheduler = Scheduler(client, run=Recorder(), holder="s1")
    assert scheduler.due(utc(2026, 11, 28, 3, 0, 45)) == []
    assert scheduler.tick(utc(2026, 11, 28, 23, 0)) == []
    assert [key for _, key, _ in scheduler.due(utc(2026, 11, 29, 3, 0))] == ["cron:2026-11-29T03:00Z"]


def test_a_trigger_of_an_unknown_kind_is_skipped_and_the_others_fire(
    client: Client, catalog: TriggerCatalog
) -> None:
    add_trigger(catalog, "reacting", "git_push", "main")  # a kind a later Loopwright fires
    add_trigger(catalog, "retrain", "cron", "* * * * *")
    runner = Recorder()
    assert len(Scheduler(client, run=runner, holder="s1").tick(utc(2026, 11, 28, 3, 0))) == 1
    assert runner.keys == [("retrain", "cron:2026-11-28T03:00Z")]


# --- new data ------------------------------------------------------------------------------------------


def frame(*amounts: float) -> pd.DataFrame:
    return pd.DataFrame({"amount": list(amounts)})


def test_a_new_data_trigger_fires_once_per_new_version(client: Client, catalog: TriggerCatalog) -> None:
    client.log_dataset("tx", frame(1.0))  # logged before the trigger: not new to it
    add_trigger(catalog, "retrain", "new_data", "tx", registered=None)
    add_trigger(catalog, "unrelated", "new_data", "other", registered=None)  # no such dataset yet
    runner = Recorder()
    scheduler = Scheduler(client, run=runner, holder="s1")
    assert scheduler.tick() == []

    client.log_dataset("tx", frame(1.0, 2.0))
    [fired] = scheduler.tick()
    assert (fired.fire_key, fired.cause, fired.status) == (
        "dataset:tx:v2",
        "new version 2 of dataset 'tx'",
        "finished",
    )
    assert scheduler.tick() == []  # not again for the same version
    client.log_dataset("tx", frame(1.0, 2.0))  # the same content: no new version
    assert scheduler.tick() == []

    # Two versions between two ticks: one run, for the latest.
    client.log_dataset("tx", frame(3.0))
    client.log_dataset("tx", frame(4.0))
    assert [firing.fire_key for firing in scheduler.tick()] == ["dataset:tx:v4"]
    assert runner.keys == [("retrain", "dataset:tx:v2"), ("retrain", "dataset:tx:v4")]


def test_a_version_that_failed_its_checks_does_not_fire(client: Client, catalog: TriggerCatalog) -> None:
    add_trigger(catalog, "retrain", "new_data", "tx", registered=None)
    schema = lw.DataSchema.from_yaml("columns:\n  amount: {type: float64, max: 10}\n")
    bad = client.log_dataset("tx", frame(1.0, 50.0), schema=schema, raise_on_failure=False)
    assert bad.check_status == "failed"
    runner = Recorder()
    scheduler = Scheduler(client, run=runner, holder="s1")
    assert scheduler.tick() == []
    client.log_dataset("tx", frame(1.0, 5.0), schema=schema)
    assert [firing.fire_key for firing in scheduler.tick()] == ["dataset:tx:v2"]


# --- outcomes ------------------------------------------------------------------------------------------


def test_a_failing_run_is_recorded_as_failed_with_its_error(client: Client, catalog: TriggerCatalog) -> None:
    add_trigger(catalog, "retrain", "cron", "* * * * *")
    failing = Recorder(ValueError("the forest caught fire"))
    [fired] = Scheduler(client, run=failing, holder="s1").tick(utc(2026, 11, 28, 3, 0))
    assert (fired.status, fired.error, fired.run_id) == ("failed", "ValueError: the forest caught fire", None)

    with client.start_run(experiment="retrain", name="retrain") as run:
        pass
    reported = Recorder(RunOutcome("failed", run.id, "StepFailedError: Step 'fit' failed"))
    [fired] = Scheduler(client, run=reported, holder="s1").tick(utc(2026, 11, 28, 3, 1))
    assert (fired.status, fired.error, fired.run_id) == (
        "failed",
        "StepFailedError: Step 'fit' failed",
        run.id,
    )
    assert catalog.get_firing(fired.id) == fired

    strange = Recorder(RunOutcome("paused"))
    [fired] = Scheduler(client, run=strange, holder="s1").tick(utc(2026, 11, 28, 3, 2))
    assert (fired.status, fired.error) == ("failed", "The run ended with status 'paused'.")


def test_a_finished_run_is_linked_to_its_firing(client: Client, catalog: TriggerCatalog) -> None:
    add_trigger(catalog, "retrain", "cron", "* * * * *")

    def run(request: FiringRequest) -> RunOutcome:
        with client.start_run(experiment="retrain", name=request.cause) as started:
            pass
        return RunOutcome("finished", started.id)

    [fired] = Scheduler(client, run=run, holder="s1").tick(utc(2026, 11, 28, 3, 0))
    assert fired.run_id is not None
    assert client.get_run(fired.run_id).name == "cron * * * * * at 2026-11-28T03:00Z"


# --- two schedulers ------------------------------------------------------------------------------------


def test_two_schedulers_at_once_never_start_an_occasion_twice(
    client: Client, catalog: TriggerCatalog
) -> None:
    for index in range(4):
        add_trigger(catalog, f"p{index}", "cron", "* * * * *")
    runner = Recorder(delay=0.05)
    schedulers = [Scheduler(client, run=runner, holder=f"s{index}") for index in range(2)]
    barrier = threading.Barrier(2)
    fired: list[FiringRecord] = []

    def serve(scheduler: Scheduler) -> None:
        for minute in range(5):
            barrier.wait()
            fired.extend(scheduler.tick(utc(2026, 11, 28, 3, minute)))

    threads = [threading.Thread(target=serve, args=(scheduler,)) for scheduler in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runner.keys) == len(set(runner.keys)) == 20  # 4 triggers x 5 minutes, each once
    assert len(fired) == 20
    stored = catalog.firings(limit=None)
    assert len(stored) == 20
    assert all(firing.status == "finished" for firing in stored)


_PROCESS_SCHEDULER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta
    import loopwright as lw
    from loopwright.pipelines.scheduler import RunOutcome, Scheduler

    workspace, database_url, log_path, holder, start, go = sys.argv[1:]
    client = lw.Client(lw.Settings(workspace=workspace, database_url=database_url))

    def run(request):
        with open(log_path, "a") as log:
            log.write(f"{holder} {request.trigger.pipeline} {request.firing.fire_key}\\n")
        time.sleep(0.02)
        return RunOutcome("finished")

    scheduler = Scheduler(client, run=run, holder=holder)
    open(f"{go}.{holder}", "w").close()
    while not __import__("os").path.exists(go):
        time.sleep(0.005)
    for minute in range(8):
        scheduler.tick(datetime.fromisoformat(start) + timedelta(minutes=minute))
    client.close()
    """
)


@pytest.mark.slow
def test_two_scheduler_processes_never_start_an_occasion_twice(
    client: Client, catalog: TriggerCatalog, settings: Settings, tmp_path: Path
) -> None:
    for index in range(3):
        add_trigger(catalog, f"p{index}", "cron", "* * * * *")
    log = tmp_path / "runs.log"
    go = tmp_path / "go"
    arguments = [
        str(settings.workspace),
        settings.resolved_database_url(),
        str(log),
        "",
        "2026-11-28T03:00:00+00:00",
        str(go),
    ]
    processes = []
    for holder in ("a", "b"):
        arguments[3] = holder
        processes.append(subprocess.Popen([sys.executable, "-c", _PROCESS_SCHEDULER, *arguments]))
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{holder}").exists() for holder in ("a", "b")):
        assert time.monotonic() < deadline, "the scheduler processes did not start"
        assert all(process.poll() is None for process in processes)
        time.sleep(0.01)
    go.touch()
    assert [process.wait(timeout=120) for process in processes] == [0, 0]

    started = [tuple(line.split()[1:]) for line in log.read_text().splitlines()]
    assert len(started) == len(set(started))  # no occasion started twice
    stored = {(firing.pipeline, firing.fire_key) for firing in catalog.firings(limit=None)}
    assert stored == set(started)
    # An occasion may be skipped while the other process held the trigger's lease for a later one (the
    # catch-up policy), but the last minute always fires.
    assert {(f"p{index}", "cron:2026-11-28T03:07Z") for index in range(3)} <= stored


# --- leases --------------------------------------------------------------------------------------------


def test_a_dead_schedulers_trigger_is_taken_over_after_its_lease_expires(
    client: Client, catalog: TriggerCatalog
) -> None:
    trigger = add_trigger(catalog, "retrain", "cron", "* * * * *")
    # Scheduler "dead" claimed 03:00 and died during the run: its lease runs out in 1 s.
    expiry = time.monotonic() + 1.0
    assert catalog.acquire_lease(trigger_lease(trigger.id), "dead", 1_000)
    stale = catalog.claim_firing(trigger.id, "cron:2026-11-28T03:00Z", cause="c", scheduler="dead")
    assert stale is not None
    runner = Recorder()
    survivor = Scheduler(client, run=runner, holder="alive")
    assert survivor.tick(utc(2026, 11, 28, 3, 1)) == []  # the trigger is leased: left alone
    assert catalog.get_firing(stale.id).status == "running"

    time.sleep(expiry - time.monotonic() + 0.05)
    [fired] = survivor.tick(utc(2026, 11, 28, 3, 1))
    assert (fired.fire_key, fired.scheduler) == ("cron:2026-11-28T03:01Z", "alive")
    assert catalog.get_firing(stale.id).status == "abandoned"
    assert runner.keys == [("retrain", "cron:2026-11-28T03:01Z")]


def test_the_lease_is_renewed_while_a_long_run_lasts(client: Client, catalog: TriggerCatalog) -> None:
    trigger = add_trigger(catalog, "retrain", "cron", "* * * * *")
    runner = Recorder(delay=2.0)
    busy = Scheduler(client, run=runner, holder="busy", lease_ttl=0.5)
    other = Scheduler(client, run=runner, holder="other", lease_ttl=0.5)
    thread = threading.Thread(target=busy.tick, args=(utc(2026, 11, 28, 3, 0),))
    thread.start()
    time.sleep(1.2)  # more than twice the time to live: renewed, or the other would take over
    assert other.tick(utc(2026, 11, 28, 3, 1)) == []
    lease = catalog.lease(trigger_lease(trigger.id))
    assert lease is not None
    assert lease.holder == "busy"
    thread.join()
    assert [firing.status for firing in catalog.firings(trigger.id)] == ["finished"]
    assert runner.keys == [("retrain", "cron:2026-11-28T03:00Z")]


# --- serving and settings ------------------------------------------------------------------------------


def test_serve_ticks_until_stopped(client: Client, catalog: TriggerCatalog) -> None:
    add_trigger(catalog, "retrain", "cron", "* * * * *")
    fired = threading.Event()
    scheduler = Scheduler(
        client, run=Recorder(), holder="s1", poll_interval=0.05, on_firing=lambda firing: fired.set()
    )
    thread = threading.Thread(target=scheduler.serve)
    thread.start()
    assert fired.wait(10)
    scheduler.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert scheduler.stopping


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "poll_interval",
            0,
            "The 'poll_interval' of the scheduler must be a number of seconds above 0 and at most 86400 (a day). Got 0 instead.",
        ),
        (
            "lease_ttl",
            float("nan"),
            "The 'lease_ttl' of the scheduler must be a number of seconds above 0 and at most 86400 (a day). Got nan instead.",
        ),
        (
            "holder",
            "",
            "The 'holder' of a scheduler must be a text of 1 to 250 characters. Got '' instead.",
        ),
    ],
)
def test_bad_scheduler_settings_are_refused(client: Client, option: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Scheduler(client, **{option: value})  # type: ignore[arg-type]
    assert str(raised.value) == message


# --- real pipelines in child processes -----------------------------------------------------------------

JOBS = """
import time

import loopwright as lw


@lw.step
def double(n: int) -> int:
    return n * 2


@lw.pipeline
def doubler(n: int = 1) -> int:
    return double(n)


@lw.step
def explode(n: int) -> int:
    raise ValueError("the forest caught fire")


@lw.pipeline
def exploder(n: int = 1) -> int:
    return explode(n)


@lw.step
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@lw.pipeline
def sleeper(seconds: float = 60.0) -> float:
    return nap(seconds)
"""


@pytest.fixture
def jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of pipelines, importable from the working directory (as the scheduler's children see it)."""
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "scheduler_jobs.py").write_text(JOBS, encoding="utf-8")
    monkeypatch.chdir(folder)
    return "scheduler_jobs"


def trigger_cause(client: Client, run_id: str) -> str | None:
    with client.store._read() as connection:
        return connection.execute(
            select(pipeline_runs.c.trigger_cause).where(pipeline_runs.c.run_id == run_id)
        ).scalar()


@pytest.mark.slow
def test_a_process_runner_runs_the_pipeline_and_records_its_run(
    client: Client, catalog: TriggerCatalog, jobs: str
) -> None:
    add_trigger(catalog, "doubler", "cron", "* * * * *", params={"n": "21"}, ref=f"{jobs}:doubler")
    add_trigger(catalog, "exploder", "cron", "* * * * *", ref=f"{jobs}:exploder")
    add_trigger(catalog, "missing", "cron", "* * * * *", ref=f"{jobs}:missing")
    fired = {
        firing.pipeline: firing for firing in Scheduler(client, holder="s1").tick(utc(2026, 11, 28, 3, 0))
    }

    doubled = fired["doubler"]
    assert (doubled.status, doubled.error) == ("finished", None)
    assert doubled.run_id is not None
    assert trigger_cause(client, doubled.run_id) == "cron * * * * * at 2026-11-28T03:00Z"
    assert client.get_run(doubled.run_id).params["n"] == "21"

    exploded = fired["exploder"]
    assert exploded.status == "failed"
    assert exploded.run_id is not None
    assert exploded.error is not None
    assert exploded.error.startswith(
        f"StepFailedError: Step 'explode' of pipeline 'exploder' failed (pipeline run {exploded.run_id})"
    )
    assert "the forest caught fire" in exploded.error

    missing = fired["missing"]
    assert (missing.status, missing.run_id) == ("failed", None)
    assert missing.error == (
        f"PipelineDefinitionError: Module {jobs!r} has no attribute 'missing' (pipeline reference '{jobs}:missing')."
    )


@pytest.mark.slow
def test_stopping_the_scheduler_kills_the_run_in_progress(
    client: Client, catalog: TriggerCatalog, jobs: str
) -> None:
    add_trigger(catalog, "sleeper", "cron", "* * * * *", ref=f"{jobs}:sleeper")
    started = threading.Event()
    scheduler = Scheduler(
        client,
        run=ProcessRunner(client.settings, grace_s=10),
        holder="s1",
        on_firing=lambda firing: started.set(),
    )
    fired: list[FiringRecord] = []
    thread = threading.Thread(target=lambda: fired.extend(scheduler.tick(utc(2026, 11, 28, 3, 0))))
    thread.start()
    assert started.wait(30)
    deadline = time.monotonic() + 60
    while catalog.find_pipeline_run("sleeper", "cron * * * * * at 2026-11-28T03:00Z", 0) is None:
        assert time.monotonic() < deadline, "the child process did not start the pipeline run"
        time.sleep(0.05)
    scheduler.stop()
    thread.join(30)
    assert not thread.is_alive()
    [firing] = fired
    assert firing.status == "killed"
    assert firing.error == "SIGTERM"
    assert firing.run_id is not None
    # The child ended its run on SIGTERM instead of leaving it "running" (the pipeline runner records
    # SystemExit as failed, KeyboardInterrupt as killed).
    assert client.get_run(firing.run_id).status in ("killed", "failed")


@pytest.mark.slow
def test_the_scheduler_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    Client(Settings(workspace=workspace)).close()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LOOPWRIGHT_")}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "loopwright"),
            "--workspace",
            str(workspace),
            "scheduler",
            "--interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Scheduler "), first
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, first + output
    assert output.splitlines()[-1] == "Scheduler stopped."


def test_sigterm_is_handled_only_while_serving(client: Client) -> None:
    before = signal.getsignal(signal.SIGTERM)
    scheduler = Scheduler(client, run=Recorder(), holder="s1", poll_interval=0.05)
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGTERM))
    scheduler.serve(on_ready=timer.start)  # returns once the signal arrives
    timer.join()
    assert scheduler.stopping
    assert signal.getsignal(signal.SIGTERM) is before
