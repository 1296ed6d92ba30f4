"""The promotion controller: advances every active rollout, then promotes its candidate or rolls it back.

``loopwright controller`` runs one (``loopwright server`` runs one in a thread); :meth:`tick` is one look
at the rollouts, and tests and the demo pass the time in (``now=``)::

    controller = PromotionController(client)
    rollout = controller.start("fraud", "fraud@candidate", plan=lw.RolloutPlan())
    controller.tick()

One tick, for each active rollout (under a lease, so two controllers never advance the same one):

1. **Still ours?** The deployment must still serve the candidate as the step set it, and production must
   still be the version the rollout started against; otherwise the rollout is rolled back, saying why.
2. **Analyse** the step's window of the prediction log (:mod:`~loopwright.automation.analysis`). A failed
   check rolls back at once: the canary or shadow is removed, the ``candidate`` alias is taken off the
   version with the reason, and the rollout ends ``rolled_back``.
3. **Advance** once the step's duration has passed, its ``min_requests`` were reached and every check
   passed: the next step's traffic is set, or after the last step the candidate is promoted through the
   alias's gates and the deployment goes back to a single variant. A promotion the gates refuse (a
   human approval missing) waits, and is tried again at each tick.

Every step, measurement and decision is an event of the rollout, recorded in the transaction that makes
the change and then sent to the plan's channels (:mod:`~loopwright.automation.notify`).
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from loopwright.automation.analysis import AnalysisResult, VariantSample, analyse
from loopwright.automation.notify import notify
from loopwright.automation.plan import RolloutPlan, RolloutStep
from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    LoopwrightError,
    NotFoundError,
    PromotionError,
    PromotionRefusedError,
)
from loopwright.registry.gates import GateReport
from loopwright.serving.deployments import UNSET, Deployment
from loopwright.store.metadata import now_ms
from loopwright.store.rollouts import (
    ROLLOUT_STATUSES,
    EventDraft,
    RolloutEvent,
    RolloutRecord,
    RolloutStore,
)
from loopwright.store.triggers import TriggerCatalog

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.registry.version import ModelVersion

__all__ = ["CANDIDATE_ALIAS", "PromotionController", "epoch_ms"]

logger = logging.getLogger("loopwright.automation")

CANDIDATE_ALIAS = "candidate"
"""The alias a retrained version holds while it is judged; a rollback takes it off with the reason."""


def epoch_ms(now: datetime | int | float | None) -> int:
    """``now`` (an aware datetime, epoch milliseconds, or ``None`` for the current time) in milliseconds."""
    if now is None:
        return now_ms()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise InvalidInputError(
                f"The controller's 'now' must be an aware datetime (with a time zone). Got {now!r} instead.",
                now=repr(now),
            )
        return round(now.timestamp() * 1000)
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise InvalidInputError(
            f"The controller's 'now' must be a datetime or epoch milliseconds. Got {now!r} instead.",
            now=repr(now),
        )
    return int(now)


class PromotionController:
    """Starts, advances, promotes, rolls back and aborts the rollouts of ``client``'s workspace.

    ``holder`` names this controller in leases (default ``host:pid:random``); ``interval`` is the time
    between ticks of :meth:`serve`.

    >>> controller = PromotionController(client)                    # doctest: +SKIP
    >>> controller.start("fraud", 4, plan=lw.RolloutPlan())        # doctest: +SKIP
    >>> [event.kind for event in controller.tick()]                # doctest: +SKIP
    ['analysis', 'step']
    """

    def __init__(
        self,
        client: Client,
        *,
        holder: str | None = None,
        interval: float = 10.0,
        lease_ttl: float = 60.0,
    ) -> None:
        self.client = client
        self.store = RolloutStore(client.store)
        self.holder = holder or f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.interval = _seconds("interval", interval)
        self.lease_ttl = _seconds("lease_ttl", lease_ttl)
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"PromotionController(holder={self.holder!r}, interval={self.interval})"

    # --- starting and stopping rollouts ---------------------------------------------------------------

    def start(
        self,
        deployment: str,
        candidate: ModelVersion | str | int | tuple[str, int],
        plan: RolloutPlan | Mapping[str, Any] | None = None,
        *,
        cause: str | None = None,
        now: datetime | int | None = None,
    ) -> RolloutRecord:
        """Start rolling ``candidate`` (a version of the deployment's model: ``4``, ``"fraud/4"``,
        ``"fraud@candidate"``, a :class:`~loopwright.ModelVersion`) out on ``deployment`` by ``plan``
        (default :class:`RolloutPlan`), and set up its first step now.

        The candidate must pass the gates of the alias the deployment serves (a dry run of the promotion;
        a missing human approval may still come during the rollout); else
        :class:`~loopwright.errors.PromotionRefusedError`. A deployment has one active rollout at a time
        (:class:`~loopwright.errors.ConflictError`).
        """
        moment = epoch_ms(now)
        chosen = plan if isinstance(plan, RolloutPlan) else RolloutPlan.from_dict(plan or RolloutPlan())
        current = self.client.deployments.get(deployment)
        resolved = self.client.deployments.resolve(current)
        version = self._candidate(current, candidate)
        if version.version == resolved.production.version:
            raise InvalidInputError(
                f"Deployment {deployment!r} already serves version {version.version} of {version.name!r} in "
                "production; a rollout needs another version as its candidate.",
                deployment=deployment,
                candidate=version.version,
            )
        if version.status == "archived":
            raise ConflictError(
                f"Model {version.name!r} version {version.version} is archived; it cannot be rolled out.",
                model=version.name,
                version=version.version,
            )
        active = self.store.find_active(deployment)
        if active is not None:
            raise ConflictError(
                f"Deployment {deployment!r} has an active rollout already (rollout {active.id}, version "
                f"{active.candidate}). Wait for it to end, or abort it first: "
                f"`loopwright rollouts abort {active.id}`.",
                deployment=deployment,
                rollout=active.id,
            )
        gates = self._gates(version, current.alias)
        started = EventDraft(
            "started",
            f"Rolling version {version.version} of {version.name!r} out on {deployment!r} against version "
            f"{resolved.production.version}: {chosen.describe()}.",
            details={"plan": chosen.to_dict(), "gates": None if gates is None else gates.to_dict()},
        )
        record, events = self.store.create(
            {
                "deployment": deployment,
                "model": version.name,
                "candidate": version.version,
                "baseline": resolved.production.version,
                "alias": current.alias,
                "plan": chosen.to_dict(),
                "step": 0,
                "step_started_ms": moment,
                "state": {},
                "cause": cause,
                "created_by": self.client.registry.user,
            },
            [started],
            at_ms=moment,
        )
        self._notify(record, events)
        try:
            changes = self._apply(record, chosen.steps[0], 0)
        except LoopwrightError as error:
            return self._end(record, moment, "rolled_back", f"step 1 could not be set up: {error}")
        return self._save(record, {}, [self._step_event(record, chosen, 0, changes)], moment)

    def abort(
        self, rollout_id: int, *, reason: str | None = None, now: datetime | int | None = None
    ) -> RolloutRecord:
        """Stop an active rollout now: its canary or shadow is removed and it ends ``aborted``, with
        ``reason`` (recorded with who aborted it). Aborting an ended rollout is a
        :class:`~loopwright.errors.ConflictError`."""
        record = self.store.get(rollout_id)
        if not record.active:
            raise ConflictError(
                f"Rollout {rollout_id} of deployment {record.deployment!r} has ended already "
                f"({record.status.replace('_', ' ')}); only an active rollout can be aborted.",
                rollout=rollout_id,
            )
        user = self.client.registry.user
        text = f"aborted by {user or 'an unknown user'}" + (f": {reason}" if reason else "")
        return self._end(record, epoch_ms(now), "aborted", text)

    def get(self, rollout_id: int) -> RolloutRecord:
        """Rollout ``rollout_id``."""
        return self.store.get(rollout_id)

    def rollouts(
        self, *, deployment: str | None = None, status: str | None = None, limit: int | None = 100
    ) -> list[RolloutRecord]:
        """Rollouts, newest first (of ``deployment``; ``status`` is one of :data:`ROLLOUT_STATUSES`)."""
        if status is not None and status not in ROLLOUT_STATUSES:
            raise InvalidInputError(
                f"A rollout's status is one of {', '.join(ROLLOUT_STATUSES)}. Got {status!r} instead.",
                field="status",
                value=repr(status),
            )
        return self.store.list_rollouts(deployment=deployment, status=status, limit=limit)

    def events(self, rollout_id: int) -> list[RolloutEvent]:
        """Every recorded step, measurement and decision of a rollout, oldest first."""
        self.store.get(rollout_id)  # a missing rollout is NotFoundError, not an empty list
        return self.store.events(rollout_id)

    # --- one look at the rollouts ----------------------------------------------------------------------

    def tick(self, now: datetime | int | None = None) -> list[RolloutEvent]:
        """Advance every active rollout as of ``now`` (default: the current time); returns the events
        recorded. A rollout another controller holds is left to it; one that fails (the database is gone
        for a moment) is logged and tried again at the next tick."""
        moment = epoch_ms(now)
        leases = TriggerCatalog(self.client.store)
        recorded: list[RolloutEvent] = []
        for record in self.store.active():
            if self._stopping.is_set():
                break
            lease = f"rollout:{record.id}"
            if not leases.acquire_lease(lease, self.holder, round(self.lease_ttl * 1000)):
                continue
            try:
                before = self.store.get(record.id)  # what the lease holder sees now
                if before.active:
                    recorded += self._advance(before, moment)
            except ConflictError as error:
                logger.info("Rollout %s changed under this controller: %s", record.id, error)
            except Exception:
                logger.exception("Could not advance rollout %s; trying again at the next tick", record.id)
            finally:
                leases.release_lease(lease, self.holder)
        return recorded

    def _advance(self, record: RolloutRecord, moment: int) -> list[RolloutEvent]:
        mark = len(self.store.events(record.id))
        plan = RolloutPlan.from_dict(record.plan)
        try:
            deployment = self.client.deployments.get(record.deployment)
        except NotFoundError:
            self._end(record, moment, "aborted", f"deployment {record.deployment!r} no longer exists")
            return self.store.events(record.id)[mark:]
        production = self.client.deployments.resolve(deployment).production.version
        if production not in (record.baseline, record.candidate):
            self._end(
                record,
                moment,
                "rolled_back",
                f"production of {record.deployment!r} moved from version {record.baseline} to {production} "
                "outside the rollout",
            )
        elif record.step >= len(plan.steps):
            self._promote(record, plan, moment, [])
        else:
            self._judge(record, plan, deployment, moment)
        return self.store.events(record.id)[mark:]

    def _judge(self, record: RolloutRecord, plan: RolloutPlan, deployment: Deployment, moment: int) -> None:
        index = record.step
        step = plan.steps[index]
        expected = deployment.shadow if step.kind == "shadow" else deployment.canary
        if expected != record.candidate or (
            step.kind == "canary" and deployment.canary_weight != step.weight
        ):
            self._end(
                record,
                moment,
                "rolled_back",
                f"deployment {record.deployment!r} was changed outside the rollout: it no longer serves "
                f"version {record.candidate} as the step's {step.describe()}",
            )
            return
        analysis = plan.analysis_for(index)
        candidate, production = self._samples(
            record, step, analysis.metric is not None, analysis.label, moment
        )
        result = analyse(analysis, candidate, production, reference=record.state.get("reference"))
        elapsed = moment - record.step_started_ms
        label = f"step {index + 1} of {len(plan.steps)} ({step.describe()})"
        if result.verdict == "failed":
            failures = "; ".join(f"{check.name}: {check.message.rstrip('.')}" for check in result.failures)
            event = self._analysis_event(index, f"Analysis of {label} failed: {failures}.", result, elapsed)
            self._end(record, moment, "rolled_back", f"{label} failed its analysis: {failures}", [event])
            return
        ready = elapsed >= step.duration_ms and (
            step.min_requests is None or candidate.size >= step.min_requests
        )
        if result.verdict == "passed" and ready:
            event = self._analysis_event(
                index, f"Analysis of {label} passed: {result.describe()}.", result, elapsed
            )
            state = {"reference": result.reference}
            if index + 1 < len(plan.steps):
                changes = self._apply(record, plan.steps[index + 1], index + 1)
                fields = {"step": index + 1, "step_started_ms": moment, "state": state}
                self._save(
                    record, fields, [event, self._step_event(record, plan, index + 1, changes)], moment
                )
            else:
                record = self._save(record, {"step": index + 1, "state": state}, [event], moment)
                self._promote(record, plan, moment, [])
            return
        timeout = step.timeout_ms
        if timeout is not None and elapsed >= timeout:
            waiting = "; ".join(
                f"{check.name}: {check.message.rstrip('.')}"
                for check in result.checks
                if check.status == "waiting"
            )
            reason = f"{label} was inconclusive after {step.timeout}: " + (
                waiting or "its duration or requests were not reached"
            )
            event = self._analysis_event(index, f"Analysis of {label} timed out: {reason}.", result, elapsed)
            self._end(record, moment, "rolled_back", reason, [event])
            return
        latest = {**result.to_dict(), "elapsed_ms": elapsed, "candidate_requests": candidate.size}
        if record.state.get("analysis") != latest:
            self._save(record, {"state": {**record.state, "analysis": latest}}, [], moment)

    # --- the decisions ---------------------------------------------------------------------------------

    def _promote(
        self, record: RolloutRecord, plan: RolloutPlan, moment: int, events: list[EventDraft]
    ) -> None:
        from loopwright.registry.promotion import promote

        registry = self.client.registry
        version = registry.resolve(record.model, record.candidate)
        reason = f"rollout {record.id}: every step passed its analysis"
        if record.alias is not None:
            try:
                promote(registry, version, record.alias, reason=reason)
            except (PromotionError, ConflictError) as error:
                message = f"Promotion to {record.alias!r} is waiting: {error}"
                if record.state.get("blocked") != message:
                    blocked = EventDraft("promotion_blocked", message, step=record.step)
                    self._save(
                        record, {"state": {**record.state, "blocked": message}}, [*events, blocked], moment
                    )
                return
            self.client.deployments.update(record.deployment, canary=None, shadow=None, reason=reason)
        else:  # a pinned deployment: the candidate becomes the pinned version
            self.client.deployments.update(
                record.deployment,
                model=(record.model, record.candidate),
                canary=None,
                shadow=None,
                reason=reason,
            )
        target = f"alias {record.alias!r}" if record.alias is not None else "the deployment's pinned version"
        promoted = EventDraft(
            "promoted",
            f"Version {record.candidate} of {record.model!r} promoted to {target}; {record.deployment!r} "
            "serves it alone.",
            step=record.step,
        )
        self._save(
            record, {"status": "promoted", "reason": reason.split(": ", 1)[1]}, [*events, promoted], moment
        )

    def _end(
        self,
        record: RolloutRecord,
        moment: int,
        status: str,
        reason: str,
        events: list[EventDraft] | None = None,
    ) -> RolloutRecord:
        """Roll back (or abort): the candidate's canary or shadow removed, its ``candidate`` alias taken
        off with the reason, and the rollout ended with ``status``."""
        changes: dict[str, Any] = {}
        try:
            current = self.client.deployments.get(record.deployment)
            canary = None if current.canary == record.candidate else UNSET
            shadow = None if current.shadow == record.candidate else UNSET
            if canary is None or shadow is None:
                self.client.deployments.update(
                    record.deployment,
                    canary=canary,
                    shadow=shadow,
                    reason=f"rollout {record.id} {status.replace('_', ' ')}: {reason}",
                )
                changes = {"canary": None, "shadow": None}
        except NotFoundError:
            pass  # the deployment is gone: nothing serves the candidate any more
        registry = self.client.registry
        pointer = registry.ledger.alias(record.model, CANDIDATE_ALIAS)
        if pointer is not None and pointer.version == record.candidate:
            registry.remove_alias(
                record.model, CANDIDATE_ALIAS, reason=f"rejected by rollout {record.id}: {reason}"
            )
            changes["alias"] = f"{CANDIDATE_ALIAS!r} removed"
        verb = "rolled back" if status == "rolled_back" else status.replace("_", " ")
        final = EventDraft(
            status,
            f"Version {record.candidate} {verb}: {reason}.",
            step=record.step,
            details={"changes": changes},
        )
        return self._save(record, {"status": status, "reason": reason}, [*(events or []), final], moment)

    # --- helpers ---------------------------------------------------------------------------------------

    def _apply(self, record: RolloutRecord, step: RolloutStep, index: int) -> dict[str, Any]:
        """Set the deployment's traffic for step ``index``; returns what was set."""
        reason = f"rollout {record.id}: step {index + 1}, {step.describe()}"
        if step.kind == "shadow":
            self.client.deployments.update(
                record.deployment, shadow=record.candidate, canary=None, reason=reason
            )
            return {"shadow": record.candidate, "canary": None}
        self.client.deployments.update(
            record.deployment, canary=record.candidate, canary_weight=step.weight, shadow=None, reason=reason
        )
        return {"canary": record.candidate, "canary_weight": step.weight, "shadow": None}

    def _samples(
        self, record: RolloutRecord, step: RolloutStep, with_labels: bool, label_key: str, moment: int
    ) -> tuple[VariantSample, VariantSample]:
        """The candidate's and production's entries in the step's window, with their labels."""
        from loopwright.monitoring.performance import label_of

        empty = VariantSample([], np.empty(0), [])
        if moment <= record.step_started_ms:
            return empty, empty
        frame = self.client.prediction_log.query(record.deployment, record.step_started_ms, moment)
        if frame.empty:
            return empty, empty
        variants = frame["variant"].to_numpy(dtype=object)
        versions = frame["version"].to_numpy()
        masks = (
            (variants == step.variant) & (versions == record.candidate),
            variants == "production",
        )
        ids = frame["request_id"].to_numpy(dtype=object)
        labels: dict[str, Any] = {}
        if with_labels:
            known = self.client.feedback.get(record.deployment, list(dict.fromkeys(ids.tolist())))
            labels = {
                request_id: label_of(value, label_key)
                for request_id, value in zip(known["request_id"], known["value"], strict=True)
            }
        outputs = frame["outputs"].tolist()
        latency = frame["latency_ms"].to_numpy(dtype=np.float64)
        samples = []
        for mask in masks:
            positions = np.flatnonzero(mask)
            samples.append(
                VariantSample(
                    [_prediction(outputs[position]) for position in positions],
                    latency[positions],
                    [labels.get(ids[position]) for position in positions],
                )
            )
        return samples[0], samples[1]

    def _candidate(self, deployment: Deployment, candidate: Any) -> ModelVersion:
        from loopwright.registry.version import ModelVersion

        registry = self.client.registry
        if isinstance(candidate, ModelVersion):
            found = candidate
        elif isinstance(candidate, int) and not isinstance(candidate, bool):
            found = registry.resolve(deployment.model, candidate)
        elif isinstance(candidate, tuple) and len(candidate) == 2:
            found = registry.resolve(str(candidate[0]), int(candidate[1]))
        elif isinstance(candidate, str):
            found = registry.resolve(candidate)
        else:
            raise InvalidInputError(
                f"The candidate of a rollout must be a version of the deployment's model: 4, 'fraud/4', "
                f"'fraud@candidate' or a ModelVersion. Got {candidate!r} instead.",
                candidate=repr(candidate),
            )
        if found.name != deployment.model:
            raise InvalidInputError(
                f"The candidate of a rollout on deployment {deployment.name!r} must be a version of model "
                f"{deployment.model!r}, the model it serves. Got a version of {found.name!r} instead.",
                deployment=deployment.name,
                candidate=found.uri,
            )
        return found

    def _gates(self, version: ModelVersion, alias: str | None) -> GateReport | None:
        """The dry run of the final promotion; refuses when a gate other than a human approval fails."""
        from loopwright.registry.promotion import check_promotion

        if alias is None:
            return None
        report = check_promotion(self.client.registry, version, alias)
        blocking = [result for result in report.results if not result.passed and result.kind != "approval"]
        if blocking:
            raise PromotionRefusedError(
                GateReport(report.model, report.version, report.alias, blocking, report.evaluation)
            )
        return report

    def _analysis_event(self, index: int, message: str, result: AnalysisResult, elapsed: int) -> EventDraft:
        return EventDraft(
            "analysis", message, step=index, details={**result.to_dict(), "elapsed_ms": elapsed}
        )

    def _step_event(
        self, record: RolloutRecord, plan: RolloutPlan, index: int, changes: Mapping[str, Any]
    ) -> EventDraft:
        step = plan.steps[index]
        return EventDraft(
            "step",
            f"Step {index + 1} of {len(plan.steps)}: {step.describe()} (version {record.candidate}).",
            step=index,
            details={"deployment": dict(changes)},
        )

    def _save(
        self, record: RolloutRecord, fields: Mapping[str, Any], events: list[EventDraft], moment: int
    ) -> RolloutRecord:
        saved, recorded = self.store.update(record, fields, events, at_ms=moment)
        self._notify(saved, recorded)
        return saved

    def _notify(self, record: RolloutRecord, events: list[RolloutEvent]) -> None:
        channels = record.plan.get("notify") or []
        for event in events:
            text = f"[rollout {record.id}] {record.deployment}: {event.message}"
            outcomes = notify(channels, event.kind, text, record.to_dict(), event.details)
            if outcomes:
                self.store.record_notification(event.id, outcomes)

    # --- the long-running loop -------------------------------------------------------------------------

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Tick every ``interval`` seconds until :meth:`stop`, SIGTERM or Ctrl-C (in the main thread).
        ``on_ready`` is called once before the first tick. A tick that fails is logged and tried again."""
        restore = self._handle_signals()
        try:
            if on_ready is not None:
                on_ready()
            while not self._stopping.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("A controller tick failed; trying again in %s s", self.interval)
                self._stopping.wait(self.interval)
        finally:
            restore()

    def stop(self) -> None:
        """Stop :meth:`serve` (from another thread or a signal handler) after the rollout in progress."""
        self._stopping.set()

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


def _prediction(output: Any) -> Any:
    return output.get("prediction") if isinstance(output, dict) else None


def _seconds(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 86_400
    ):
        raise InvalidInputError(
            f"The {name!r} of the promotion controller must be a number of seconds above 0 and at most 86400 "
            f"(a day). Got {value!r} instead.",
            **{name: repr(value)},
        )
    return float(value)
