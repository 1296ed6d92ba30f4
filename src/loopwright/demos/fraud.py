"""The fraud demo: the whole loop, from a dataset to a model that recovers on its own after the world moved.

``loopwright demo fraud`` (and ``make demo``) runs it on the workspace, in a few minutes on two cores and
the same way for a given seed:

1. **Data.** Synthetic card transactions (:mod:`~loopwright.demos.fraud_data`, about 2% fraud) are logged
   as dataset ``transactions`` with a schema and a fraud-rate check, and a holdout beside it.
2. **Training.** Pipeline ``train-fraud`` (:mod:`~loopwright.demos.fraud_model`) fits a random forest.
3. **Registration and gates.** The model is registered, evaluated on the holdout, and promoted to
   ``production`` through the alias's gates (ROC AUC and recall floors).
4. **Deployment.** Deployment ``fraud`` serves ``fraud@production`` from a real server (``python -m
   loopwright.server`` on 127.0.0.1, a free port); canary traffic sticks to the card holder.
5. **Live traffic.** Transactions are sent over HTTP; their labels arrive a batch later through the
   feedback endpoint, as chargebacks do.
6. **The world moves.** A mobile app takes a third of the payments, amounts rise, more come from abroad,
   and a new fraud pattern appears (card testing: tiny payments through the app) that the model misses.
7. **Detection.** The monitor's windows show drift (alert ``fraud-drift``) and, once the labels are in,
   the recall falls (alert ``fraud-recall``).
8. **Retraining.** The recall alert fires the deployment's retraining trigger through the scheduler: the
   recent predictions joined with their labels become a dataset version, the pipeline trains on it, the
   result is registered as the ``candidate`` and passes the gates.
9. **Rollout.** The promotion controller shadows the candidate, then gives it half the traffic,
   comparing it with production on the live window each time (prediction distance, realised recall,
   errors, latency), and promotes it.
10. **Recovery.** Production's recall on the new traffic is back.

The result holds a timeline of every stage, the lineage that links them (alert → retraining → dataset
version → pipeline run → model version → rollout → promotion), recall and precision before and after,
and :attr:`FraudDemoResult.closed`: whether every stage really happened. Progress goes through
callbacks; the CLI decides how it looks.

>>> result = run_fraud_demo(lw.connect(), seed=0)   # doctest: +SKIP
>>> result.closed                                    # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopwright.demos._live import LiveServer, Served
from loopwright.demos.fraud_data import FEATURES, LABEL, ROUTING_KEY, transactions
from loopwright.errors import MissingExtraError

if TYPE_CHECKING:
    import pandas as pd

    from loopwright.client import Client

__all__ = [
    "STAGES",
    "FraudDemoProgress",
    "FraudDemoResult",
    "PhaseMetrics",
    "TimelineEvent",
    "run_fraud_demo",
]

STAGES = (
    "data",
    "training",
    "registration",
    "gates",
    "deployment",
    "traffic",
    "labels",
    "drift",
    "alert",
    "retraining",
    "rollout",
    "promotion",
    "recovery",
)
"""The stages of the loop, in order; the demo closes the loop only when every one happened."""

INPUTS = (ROUTING_KEY, *FEATURES)
"""The columns each request carries (the card holder, for sticky canary routing, and the features)."""


@dataclass(frozen=True, slots=True)
class FraudDemoProgress:
    """Where the demo is: its ``stage`` (one of :data:`STAGES`), a line for people, and for the traffic
    phases how many transactions of how many were sent."""

    stage: str
    description: str
    completed: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One thing that happened: seconds since the demo started, the stage, and what."""

    at_s: float
    stage: str
    message: str


@dataclass(frozen=True, slots=True)
class PhaseMetrics:
    """How production did on one phase's labelled traffic, computed from the answers the server gave."""

    phase: str
    versions: str
    transactions: int
    frauds: int
    recall: float
    precision: float


@dataclass
class FraudDemoResult:
    """What the demo did; ``closed`` says whether the loop closed (every stage happened, recall recovered)."""

    deployment: str
    url: str = ""
    timeline: list[TimelineEvent] = field(default_factory=list)
    metrics: list[PhaseMetrics] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def closed(self) -> bool:
        """Whether every stage of :data:`STAGES` happened and nothing failed."""
        return not self.failures and all(stage in self.reached for stage in STAGES)

    @property
    def missing(self) -> list[str]:
        """The stages that did not happen."""
        return [stage for stage in STAGES if stage not in self.reached]


ProgressCallback = Callable[[FraudDemoProgress], None]

_PHASES = ("before", "shifted", "rollout", "after")  # the traffic phases, each with its own stream


@dataclass
class _Sizes:
    training: int
    window: int
    batch: int

    @property
    def max_batches(self) -> int:
        return 12 * self.window // self.batch  # how long a phase may wait for what it waits for


def run_fraud_demo(
    client: Client,
    *,
    seed: int = 0,
    training_rows: int = 12_000,
    window_rows: int = 1_000,
    batch_rows: int = 200,
    on_progress: ProgressCallback | None = None,
) -> FraudDemoResult:
    """Run the fraud scenario on ``client``'s workspace; see the module docstring.

    ``window_rows`` is the size of the monitor's windows and of each rollout step's sample; the traffic
    is sent ``batch_rows`` transactions a request. Names are ``fraud`` (``fraud-2``, ... when a previous
    run left a deployment of that name).
    """
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise MissingExtraError("The fraud demo", error.name or "sklearn", "sklearn") from None
    # The server runs in a child process; this one only needs to know it can start there.
    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("The fraud demo", module, "server")
    sizes = _Sizes(training_rows, window_rows, batch_rows)
    scenario = _Scenario(client, seed, sizes, on_progress)
    try:
        scenario.run()
    finally:
        scenario.result.duration_s = time.perf_counter() - scenario.started
    return scenario.result


class _Scenario:
    """The demo's steps, in order, sharing the names, the server and what was observed."""

    def __init__(
        self, client: Client, seed: int, sizes: _Sizes, on_progress: ProgressCallback | None
    ) -> None:
        self.client = client
        self.seed = seed
        self.sizes = sizes
        self.on_progress = on_progress
        self.started = time.perf_counter()
        self.name = _free_name(client, "fraud")
        self.result = FraudDemoResult(self.name)
        self.next_id = 0
        self.draws: dict[str, int] = {}
        self.labelled = 0  # labels the feedback endpoint recorded
        self.pending: dict[str, int] = {}  # labels not sent yet: they arrive a batch late
        self.answers: list[tuple[str, Served, int]] = []  # (phase, answer, label)
        self.server: LiveServer | None = None

    # --- reporting ------------------------------------------------------------------------------------

    def progress(
        self, stage: str, description: str, completed: int | None = None, total: int | None = None
    ) -> None:
        if self.on_progress is not None:
            self.on_progress(FraudDemoProgress(stage, description, completed, total))

    def event(self, stage: str, message: str) -> None:
        self.result.timeline.append(TimelineEvent(time.perf_counter() - self.started, stage, message))
        if stage not in self.result.reached:
            self.result.reached.append(stage)
        self.progress(stage, message)

    def fail(self, message: str) -> None:
        self.result.failures.append(message)

    # --- the scenario ---------------------------------------------------------------------------------

    def run(self) -> None:
        from loopwright.demos import _stages

        _stages.prepare(self)
        with LiveServer(self.client.settings) as server:
            self.server = server
            self.result.url = server.url
            server.wait_until_serving(self.name, self.expected_serving())
            self.event("deployment", f"deployment {self.name!r} serves version 1 at {server.url}")
            _stages.live(self)
            self.server = None
        _stages.conclude(self)

    # --- helpers shared by the stages -----------------------------------------------------------------

    def expected_serving(self) -> dict[str, int]:
        """What the deployment should serve now, as the server reports it."""
        resolved = self.client.deployments.resolve(self.name)
        expected = {"production": resolved.production.version}
        if resolved.canary is not None:
            expected["canary"] = resolved.canary.version
        if resolved.shadow is not None:
            expected["shadow"] = resolved.shadow.version
        return expected

    def draw(self, phase: str, rows: int, *, shifted: bool) -> pd.DataFrame:
        """The next ``rows`` transactions of ``phase``: each phase's stream has its own seeds, so what
        one phase draws never depends on how long the phase before it lasted."""
        self.draws[phase] = index = self.draws.get(phase, 0) + 1
        seed = self.seed * 1_000_000 + _PHASES.index(phase) * 10_000 + index
        frame = transactions(rows, seed=seed, shifted=shifted, first_id=self.next_id)
        self.next_id += rows
        return frame

    def send(self, phase: str, *, shifted: bool) -> list[Served]:
        """Send one batch to the server, then the labels of the previous batch (they arrive late)."""
        assert self.server is not None
        frame = self.draw(phase, self.sizes.batch, shifted=shifted)
        ids = [f"{self.name}-{tid}" for tid in frame["transaction_id"]]
        rows: list[dict[str, Any]] = frame[list(INPUTS)].to_dict(orient="records")  # type: ignore[assignment]
        answers = self.server.predict(self.name, rows, ids)
        labels = dict(zip(ids, frame[LABEL].astype(int).tolist(), strict=True))
        for answer in answers:
            self.answers.append((phase, answer, labels[answer.request_id]))
        self.deliver_labels()
        self.pending = labels
        return answers

    def deliver_labels(self) -> int:
        """Send the labels still pending through the feedback endpoint."""
        assert self.server is not None
        if not self.pending:
            return 0
        recorded = self.server.feedback(self.name, self.pending)
        if recorded != len(self.pending):
            self.fail(f"the feedback endpoint recorded {recorded} of {len(self.pending)} labels")
        self.pending = {}
        self.labelled += recorded
        return recorded


def _free_name(client: Client, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, ... : the first name no deployment or model has yet."""
    taken = {deployment.name for deployment in client.deployments.all()}
    taken |= {model.name for model in client.registry.models()}
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name
