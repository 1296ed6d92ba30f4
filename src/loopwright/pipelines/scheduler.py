"""The scheduler: fires the workspace's due triggers, each occasion once, however many schedulers run.

``loopwright scheduler`` runs one; :meth:`Scheduler.tick` is one look at the triggers, and
:meth:`Scheduler.serve` ticks every ``poll_interval`` seconds until SIGTERM or Ctrl-C::

    from loopwright.pipelines.scheduler import Scheduler

    Scheduler(lw.get_client()).serve()

One tick, for each enabled trigger:

1. **Is it due?** A cron trigger is due for the latest scheduled minute at or before now, a new-data
   trigger for the latest version of its dataset that did not fail its blocking checks, an alert trigger
   for the latest alert its rule opened; each only if that occasion came after the trigger was
   registered and has not fired yet. *Catch-up policy:* when no scheduler ran for a while, only the
   latest missed occasion fires, once; older ones are skipped (a retraining pipeline wants the newest
   data, not a backlog of runs).
2. **Lease.** The scheduler takes the trigger's lease (``trigger:<id>``), renewed in the background while
   it holds it; a trigger leased by a live scheduler is left to that one.
3. **Claim.** It inserts the firing; ``(trigger, fire key)`` is unique, so the occasion is claimed by one
   scheduler only, even if leases were lost to a frozen process.
4. **Run** the pipeline with the trigger's parameters and the firing's cause, and record how it ended
   (``finished``, ``failed`` with the error, ``killed``) with the run's id.

A scheduler that dies mid-run leaves its firing ``running``; once its lease expires, the next tick of any
scheduler marks it ``abandoned``. Runs happen one at a time per scheduler; run more schedulers to run
more triggers at once. Times of leases are the schedulers' clocks, which must roughly agree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from loopwright._names import KEY_LENGTH
from loopwright.errors import InvalidInputError, LoopwrightError, NotFoundError
from loopwright.pipelines.triggers import (
    ALERT,
    CRON,
    NEW_DATA,
    alert_firing,
    cron_firing,
    latest_occasion,
    new_data_firing,
)
from loopwright.settings import Settings
from loopwright.store.metadata import now_ms
from loopwright.store.triggers import FiringRecord, TriggerCatalog, TriggerRecord, trigger_lease

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = [
    "FiringRequest",
    "ProcessRunner",
    "RunOutcome",
    "Runner",
    "Scheduler",
    "run_child",
    "run_in_process",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FiringRequest:
    """What a runner is asked to do: run ``trigger``'s pipeline for ``firing``."""

    trigger: TriggerRecord
    firing: FiringRecord

    @property
    def ref(self) -> str:
        return self.trigger.ref

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.trigger.params)

    @property
    def cause(self) -> str:
        return self.firing.cause


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a firing's run ended: ``status`` is ``finished``, ``failed`` or ``killed``."""

    status: str
    run_id: str | None = None
    error: str | None = None


Runner = Callable[[FiringRequest], RunOutcome]
"""Runs the pipeline of a firing and says how it ended. It may raise: the error is recorded as a failure.
A runner with an ``interrupt()`` method is asked to stop its run when the scheduler is stopped."""


class Scheduler:
    """Fires the due triggers of ``client``'s workspace.

    ``run`` runs a firing's pipeline (default: :class:`ProcessRunner`, a fresh Python process per run).
    ``holder`` names this scheduler in leases and firings (default ``host:pid:random``).
    ``poll_interval`` is the time between ticks of :meth:`serve`, ``lease_ttl`` how long a lease outlives
    a scheduler that stopped renewing it. ``on_firing`` is called with each firing when it is claimed
    and when it ends (and with firings marked abandoned).

    >>> scheduler = Scheduler(client, run=lambda request: RunOutcome("finished"))  # doctest: +SKIP
    >>> scheduler.tick()  # doctest: +SKIP
    [FiringRecord(pipeline='retrain', fire_key='cron:2026-11-28T03:00Z', status='finished', ...)]
    """

    def __init__(
        self,
        client: Client,
        *,
        run: Runner | None = None,
        holder: str | None = None,
        poll_interval: float = 10.0,
        lease_ttl: float = 60.0,
        on_firing: Callable[[FiringRecord], None] | None = None,
    ) -> None:
        self.client = client
        self.catalog = TriggerCatalog(client.store)
        self.run = run if run is not None else ProcessRunner(client.settings)
        self.holder = _check_holder(holder) if holder is not None else _default_holder()
        self.poll_interval = _check_seconds("poll_interval", poll_interval)
        self.lease_ttl = _check_seconds("lease_ttl", lease_ttl)
        self.on_firing = on_firing
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"Scheduler(holder={self.holder!r}, poll_interval={self.poll_interval})"

    # --- one look at the triggers --------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[tuple[TriggerRecord, str, str]]:
        """The triggers due at ``now`` (default: the current time), each with the fire key and cause of
        its occasion. Reads only; the triggers are marked as checked."""
        now = now if now is not None else datetime.now(UTC)
        checked = self.catalog.list_triggers(enabled_only=True)
        found = []
        for trigger in checked:
            occasion = self._occasion(trigger, now)
            if occasion is not None and not self.catalog.has_fired(trigger.id, occasion[0]):
                found.append((trigger, *occasion))
        self.catalog.mark_checked((trigger.id for trigger in checked), now_ms())
        return found

    def tick(self, now: datetime | None = None) -> list[FiringRecord]:
        """Fire every trigger due at ``now`` (default: the current time) and return the firings this
        scheduler made, ended. Triggers another scheduler is firing are left to it."""
        for abandoned in self.catalog.abandon_stale_firings():
            logger.warning("Firing %s of %s was abandoned", abandoned.fire_key, abandoned.pipeline)
            self._notify(abandoned)
        fired = []
        for trigger, fire_key, cause in self.due(now):
            if self._stopping.is_set():
                break
            firing = self._fire(trigger, fire_key, cause)
            if firing is not None:
                fired.append(firing)
        return fired

    def _occasion(self, trigger: TriggerRecord, now: datetime) -> tuple[str, str] | None:
        try:
            if trigger.kind == CRON:
                occasion = latest_occasion(trigger.spec, now)
                if occasion.timestamp() * 1000 < trigger.created_ms:
                    return None  # scheduled before the trigger existed
                return cron_firing(trigger.spec, occasion)
            if trigger.kind == NEW_DATA:
                return self._new_version(trigger)
            if trigger.kind == ALERT:
                return self._new_alert(trigger)
        except Exception:  # one broken trigger (a spec this version cannot read) must not stop the others
            logger.exception("Cannot evaluate trigger %s (%s %s)", trigger.id, trigger.kind, trigger.spec)
        return None  # a kind this version does not fire (from a newer Loopwright)

    def _new_version(self, trigger: TriggerRecord) -> tuple[str, str] | None:
        from loopwright.store.datasets import DatasetCatalog

        try:
            version = DatasetCatalog(self.client.store).get_version(trigger.spec)
        except NotFoundError:
            return None  # no such dataset yet, or no version that passed its checks
        if version.created_at.timestamp() * 1000 < trigger.created_ms:
            return None  # logged before the trigger existed: not new to it
        return new_data_firing(trigger.spec, version.version)

    def _new_alert(self, trigger: TriggerRecord) -> tuple[str, str] | None:
        from loopwright.store.alerts import AlertCatalog

        alert = AlertCatalog(self.client.store).latest_opened(trigger.spec)
        if alert is None or alert.opened_at.timestamp() * 1000 < trigger.created_ms:
            return None  # no alert yet, or opened before the trigger existed
        return alert_firing(trigger.spec, alert.id)

    def _fire(self, trigger: TriggerRecord, fire_key: str, cause: str) -> FiringRecord | None:
        lease = trigger_lease(trigger.id)
        ttl_ms = round(self.lease_ttl * 1000)
        if not self.catalog.acquire_lease(lease, self.holder, ttl_ms):
            return None  # another scheduler is evaluating or running this trigger
        try:
            firing = self.catalog.claim_firing(trigger.id, fire_key, cause=cause, scheduler=self.holder)
            if firing is None:
                return None  # fired by another scheduler since we looked
            logger.info("Firing %s for %s: %s", trigger.pipeline, trigger.id[:8], cause)
            self._notify(firing)
            try:
                with self._renewing(lease, ttl_ms):
                    outcome = self._execute(FiringRequest(trigger, firing))
            except BaseException as error:  # Ctrl-C twice, SystemExit: say so before going
                self.catalog.finish_firing(firing.id, "killed", error=_describe(error))
                raise
            run_id = outcome.run_id or self.catalog.find_pipeline_run(
                trigger.pipeline, cause, round(firing.fired_at.timestamp() * 1000)
            )
            ended = self.catalog.finish_firing(firing.id, outcome.status, run_id=run_id, error=outcome.error)
            self._notify(ended)
            return ended
        finally:
            self.catalog.release_lease(lease, self.holder)

    def _execute(self, request: FiringRequest) -> RunOutcome:
        try:
            outcome = self.run(request)
        except Exception as error:
            return RunOutcome("failed", run_id=_run_id_of(error), error=_describe(error))
        if outcome.status not in ("finished", "failed", "killed"):
            return RunOutcome("failed", outcome.run_id, f"The run ended with status {outcome.status!r}.")
        return outcome

    @contextlib.contextmanager
    def _renewing(self, lease: str, ttl_ms: int) -> Iterator[None]:
        """Renew ``lease`` every third of its time to live while the body runs."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(ttl_ms / 3000):
                try:
                    if not self.catalog.acquire_lease(lease, self.holder, ttl_ms):
                        logger.warning("Lost lease %s to another scheduler during a run", lease)
                except Exception:  # a database blip: try again at the next beat
                    logger.warning("Could not renew lease %s", lease, exc_info=True)

        thread = threading.Thread(target=renew, name="loopwright-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _notify(self, firing: FiringRecord) -> None:
        if self.on_firing is not None:
            self.on_firing(firing)

    # --- the long-running loop -----------------------------------------------------------------------

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Tick every ``poll_interval`` seconds until :meth:`stop`, SIGTERM or Ctrl-C. ``on_ready`` is
        called once the signals are handled, before the first tick (say "started" there).

        A signal stops the scheduler cleanly: no new firing starts, and the run in progress is asked to
        stop (a :class:`ProcessRunner` sends its process SIGTERM, so the run ends ``killed``); a second
        signal acts as it would without the scheduler. A tick that fails (the database is unreachable)
        is logged and tried again at the next interval.
        """
        restore = self._handle_signals()
        try:
            if on_ready is not None:
                on_ready()
            while not self._stopping.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("A scheduler tick failed; trying again in %s s", self.poll_interval)
                self._stopping.wait(self.poll_interval)
        finally:
            restore()

    def stop(self) -> None:
        """Stop :meth:`serve` (from another thread or a signal handler) and interrupt the current run."""
        self._stopping.set()
        interrupt = getattr(self.run, "interrupt", None)
        if callable(interrupt):
            interrupt()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    def _handle_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # only the main thread may set handlers; stop() still works
        previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        def on_signal(number: int, frame: FrameType | None) -> None:
            logger.info("Received %s: stopping", signal.Signals(number).name)
            restore()  # a second signal is not caught again
            self.stop()

        for number in previous:
            signal.signal(number, on_signal)
        return restore


# --- runners -------------------------------------------------------------------------------------------


def run_in_process(client: Client) -> Runner:
    """A runner that runs each pipeline in the scheduler's own process (what tests and notebooks want).

    The pipeline's module is imported once, so code edited after the first run is not seen until the
    process restarts, and a stop waits for the run in progress; :class:`ProcessRunner` has neither limit.
    """

    def run(request: FiringRequest) -> RunOutcome:
        from loopwright.pipelines.runner import run_pipeline

        try:
            result = run_pipeline(request.ref, request.params, client=client, trigger_cause=request.cause)
        except Exception as error:
            return RunOutcome("failed", run_id=_run_id_of(error), error=_describe(error))
        return RunOutcome(str(result.status), run_id=result.run_id)

    return run


_CHILD = "from loopwright.pipelines.scheduler import run_child; run_child()"


class ProcessRunner:
    """Runs each firing's pipeline in a new Python process (``sys.executable``), in the scheduler's
    working directory, on the scheduler's workspace settings.

    A new process imports the pipeline's code as it is now, so edits are picked up without restarting
    the scheduler; a crash or leak of the run cannot take the scheduler down; and a stop can end the run
    (SIGTERM, then SIGKILL after ``grace_s`` seconds) instead of waiting for it.
    """

    def __init__(self, settings: Settings, *, grace_s: float = 30.0) -> None:
        self.settings = settings
        self.grace_s = _check_seconds("grace_s", grace_s, owner="a process runner")
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._interrupted = False

    def __call__(self, request: FiringRequest) -> RunOutcome:
        with tempfile.TemporaryDirectory(prefix="loopwright-firing-") as folder:
            result = Path(folder) / "result.json"
            payload = {
                "settings": self.settings.model_dump(mode="json"),
                "ref": request.ref,
                "params": request.params,
                "cause": request.cause,
                "result": str(result),
            }
            with self._lock:
                if self._interrupted:
                    return RunOutcome("killed", error="The scheduler was stopped before the run started.")
                process = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, text=True)
                self._process = process
            try:
                process.communicate(json.dumps(payload))
            finally:
                with self._lock:
                    self._process = None
            if result.exists():
                reported = json.loads(result.read_text(encoding="utf-8"))
                return RunOutcome(reported["status"], reported.get("run_id"), reported.get("error"))
        if self._interrupted:
            return RunOutcome("killed", error="The scheduler was stopped during the run.")
        ending = (
            f"was killed by {signal.Signals(-process.returncode).name}"
            if process.returncode < 0
            else f"exited with status {process.returncode}"
        )
        return RunOutcome("failed", error=f"The run's process {ending} before it reported how the run ended.")

    def interrupt(self) -> None:
        """Stop the run in progress: SIGTERM now (its runs end ``killed``), SIGKILL after ``grace_s``."""
        with self._lock:
            self._interrupted = True
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()

        def kill() -> None:
            if process.poll() is None:
                process.kill()

        timer = threading.Timer(self.grace_s, kill)
        timer.daemon = True
        timer.start()


def run_child() -> None:
    """The entry point of a :class:`ProcessRunner` child: read the request from standard input, run the
    pipeline, write how it ended to the result file."""
    request = json.loads(sys.stdin.read())
    outcome: dict[str, Any] = {"status": "failed", "run_id": None, "error": None}
    try:
        from loopwright._context import open_client
        from loopwright.pipelines.runner import run_pipeline

        module = str(request["ref"]).partition(":")[0]
        if module.endswith(".py"):  # its sibling modules import as when the file runs as a script
            sys.path.insert(0, str(Path(module).resolve().parent))
        client = open_client(Settings.model_validate(request["settings"]))
        ran = run_pipeline(request["ref"], request["params"], client=client, trigger_cause=request["cause"])
        outcome = {"status": str(ran.status), "run_id": ran.run_id, "error": None}
    except BaseException as error:
        stopped = isinstance(error, KeyboardInterrupt | SystemExit)
        outcome = {"status": "killed" if stopped else "failed", "run_id": _run_id_of(error)}
        outcome["error"] = _describe(error)
        if stopped:
            raise
    finally:
        Path(request["result"]).write_text(json.dumps(outcome), encoding="utf-8")


# --- helpers -------------------------------------------------------------------------------------------


def _run_id_of(error: BaseException) -> str | None:
    details: Mapping[str, Any] = error.details if isinstance(error, LoopwrightError) else {}
    run_id = details.get("run_id", getattr(error, "run_id", None))
    return run_id if isinstance(run_id, str) else None


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return "SIGTERM" if error.code == 128 + signal.SIGTERM else f"SystemExit({error.code})"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _default_holder() -> str:
    return f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _check_holder(holder: Any) -> str:
    if not isinstance(holder, str) or not holder or len(holder) > KEY_LENGTH:
        raise InvalidInputError(
            f"The 'holder' of a scheduler must be a text of 1 to {KEY_LENGTH} characters. Got {holder!r} "
            "instead.",
            holder=repr(holder),
        )
    return holder


def _check_seconds(name: str, value: Any, *, owner: str = "the scheduler") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
        or value > 86_400
    ):
        raise InvalidInputError(
            f"The {name!r} of {owner} must be a number of seconds above 0 and at most 86400 (a day). "
            f"Got {value!r} instead.",
            **{name: repr(value)},
        )
    return float(value)
