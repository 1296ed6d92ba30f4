"""The loop's workers that ``loopwright server`` runs beside the HTTP endpoints, each in a daemon thread.

* **scheduler**: fires due triggers (schedules, new data, alerts), a pipeline run per firing in a fresh
  process (:class:`~loopwright.pipelines.scheduler.Scheduler`);
* **monitors**: runs every enabled monitor over its new windows and evaluates their alert rules
  (:meth:`~loopwright.monitoring.service.MonitorService.run`), every ``interval`` seconds;
* **controller**: advances the active rollouts
  (:class:`~loopwright.automation.controller.PromotionController`).

Each one also runs alone (``loopwright scheduler``, ``loopwright controller``), and several copies may run
at once: triggers and rollouts are taken under leases, and a monitor's window is computed once. A worker
whose tick fails logs it and tries again at the next interval; it never stops the server.

>>> services = BackgroundServices(lw.connect(), interval=5)   # doctest: +SKIP
>>> services.start(); ...; services.stop()                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError

if TYPE_CHECKING:
    from loopwright.client import Client

__all__ = ["SERVICES", "BackgroundServices"]

logger = logging.getLogger("loopwright.server")

SERVICES = ("scheduler", "monitors", "controller")
"""The workers a server can run, in the order they start."""


class BackgroundServices:
    """The workers ``services`` (default: all of :data:`SERVICES`) of ``client``'s workspace, each ticking
    every ``interval`` seconds in its own daemon thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, client: Client, services: Iterable[str] = SERVICES, *, interval: float = 10.0) -> None:
        chosen = list(dict.fromkeys(services))
        unknown = [name for name in chosen if name not in SERVICES]
        if unknown:
            raise InvalidInputError(
                f"The server's background services must be among {', '.join(map(repr, SERVICES))}. Got "
                f"{unknown[0]!r} instead.",
                field="services",
                expected=", ".join(SERVICES),
                received=unknown[0],
            )
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not math.isfinite(interval)
            or not 0 < interval <= 3_600
        ):
            raise InvalidInputError(
                f"The 'interval' of the server's background services must be a number of seconds above 0 and "
                f"at most 3600. Got {interval!r} instead.",
                field="interval",
                expected="seconds in (0, 3600]",
                received=repr(interval),
            )
        self.client = client
        self.services = tuple(name for name in SERVICES if name in chosen)
        self.interval = float(interval)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stops: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"BackgroundServices(services={self.services!r}, interval={self.interval})"

    @property
    def running(self) -> bool:
        """Whether :meth:`start` was called and :meth:`stop` not yet."""
        return bool(self._threads) and not self._stopping.is_set()

    def start(self) -> None:
        """Start one daemon thread per service (a second call does nothing)."""
        if self._threads:
            return
        for name in self.services:
            target, stop = self._worker(name)
            self._stops.append(stop)
            thread = threading.Thread(
                target=self._guarded(name, target), name=f"loopwright-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        logger.info("Background services started: %s", ", ".join(self.services) or "none")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every service to stop after its current tick, and wait up to ``timeout`` seconds for each."""
        self._stopping.set()
        for stop in self._stops:
            stop()
        for thread in self._threads:
            thread.join(timeout)

    def _worker(self, name: str) -> tuple[Callable[[], None], Callable[[], None]]:
        """The loop of service ``name`` and how to stop it."""
        if name == "scheduler":
            from loopwright.pipelines.scheduler import Scheduler

            scheduler = Scheduler(self.client, poll_interval=self.interval)
            return scheduler.serve, scheduler.stop
        if name == "controller":
            from loopwright.automation.controller import PromotionController

            controller = PromotionController(self.client, interval=self.interval)
            return controller.serve, controller.stop
        return self._monitor_forever, lambda: None  # _stopping ends it

    def _monitor_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                for report in self.client.monitors.run():
                    if report.windows or report.updated or report.alerts:
                        logger.info("%s", report.summary())
            except Exception:
                logger.exception("A monitoring tick failed; trying again in %s s", self.interval)
            self._stopping.wait(self.interval)

    def _guarded(self, name: str, target: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception:  # a worker that dies must say so; the server goes on serving
                logger.exception("The %s stopped on an error", name)

        return run
