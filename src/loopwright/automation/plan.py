"""Rollout plans: the steps a candidate goes out by, and the analysis each step is judged by.

::

    plan = lw.RolloutPlan(
        steps=[
            lw.RolloutStep.shadow(duration="1h", min_requests=500),  # a copy of every request, no answers
            lw.RolloutStep.canary(0.1, duration="30m"),              # 10% of the traffic
            lw.RolloutStep.canary(0.5, duration="30m"),
            lw.RolloutStep.canary(1.0, duration="30m"),
        ],
        analysis=lw.RolloutAnalysis(max_distance=0.1, metric="f1", max_metric_drop=0.02),
        notify=["log", lw.Webhook("https://hooks.example.com/loopwright")],
    )

A step ends once its ``duration`` has passed and the candidate answered (or shadowed) ``min_requests``
predictions, and its analysis passed; a failed check ends the rollout at once. ``timeout`` bounds how
long a step may wait for enough samples before the rollout is rolled back as inconclusive. After the
last step the candidate is promoted. Everything is checked when the plan is built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from loopwright.automation.analysis import RolloutAnalysis
from loopwright.errors import AlertRuleError, RolloutPlanError

__all__ = ["STEP_KINDS", "RolloutPlan", "RolloutStep", "parse_duration"]

STEP_KINDS = ("shadow", "canary")

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_STEP_FIELDS = ("kind", "weight", "duration", "min_requests", "timeout", "analysis")
_PLAN_FIELDS = ("steps", "analysis", "notify")


def parse_duration(value: Any, field: str) -> int | None:
    """``value`` (``"30s"``, ``"15m"``, ``"1h"``, ``"2d"``, a :class:`~datetime.timedelta`, or ``None``) in
    milliseconds.

    >>> parse_duration("15m", "duration")
    900000
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        milliseconds = round(value.total_seconds() * 1000)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise RolloutPlanError(
                f"The {field!r} of a rollout step must be a duration such as '30s', '15m', '1h' or '1d' (or "
                f"a timedelta). Got {value!r} instead.",
                field=field,
                value=repr(value),
            )
        milliseconds = int(match.group(1)) * _UNITS[match.group(2)]
    if milliseconds <= 0:
        raise RolloutPlanError(
            f"The {field!r} of a rollout step must be longer than zero. Got {value!r} instead.",
            field=field,
            value=repr(value),
        )
    return milliseconds


def _format(milliseconds: int) -> str:
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"  # pragma: no cover - every integer is a multiple of 1 ms


@dataclass(frozen=True)
class RolloutStep:
    """One step of a rollout: the candidate as a ``shadow`` (it gets a copy of every request and never
    answers) or as a ``canary`` taking ``weight`` of the traffic. Build it with :meth:`shadow` or
    :meth:`canary`.

    >>> RolloutStep.canary(0.1, duration="30m").describe()
    'canary 10% for at least 30m'
    """

    kind: str
    weight: float = 0.0
    duration: str | None = None
    min_requests: int | None = None
    timeout: str | None = None
    analysis: RolloutAnalysis | None = None

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            _refuse_step("kind", self.kind, "'shadow' or 'canary'")
        weight = self.weight
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            _refuse_step("weight", weight, "a number between 0 and 1")
        if self.kind == "canary" and not 0 < weight <= 1:
            _refuse_step("weight", weight, "above 0 and at most 1 (the share of traffic the candidate takes)")
        if self.kind == "shadow" and weight != 0:
            _refuse_step("weight", weight, "0 for a shadow step (a shadow answers no traffic)")
        object.__setattr__(self, "weight", float(weight))
        for name in ("duration", "timeout"):
            milliseconds = parse_duration(getattr(self, name), name)
            object.__setattr__(self, name, None if milliseconds is None else _format(milliseconds))
        count = self.min_requests
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            _refuse_step("min_requests", count, "a whole number >= 1, or None")
        if self.analysis is not None:
            object.__setattr__(self, "analysis", RolloutAnalysis.from_dict(self.analysis))
        timeout = self.timeout_ms
        if timeout is not None and self.duration is not None and timeout <= self.duration_ms:
            _refuse_step("timeout", self.timeout, f"longer than the step's duration ({self.duration})")

    @classmethod
    def shadow(
        cls,
        duration: str | timedelta | None = None,
        *,
        min_requests: int | None = None,
        timeout: str | timedelta | None = None,
        analysis: RolloutAnalysis | None = None,
    ) -> RolloutStep:
        """A shadow step: the candidate predicts a copy of every request; callers only see production."""
        return cls("shadow", 0.0, duration, min_requests, timeout, analysis)  # type: ignore[arg-type]

    @classmethod
    def canary(
        cls,
        weight: float,
        *,
        duration: str | timedelta | None = None,
        min_requests: int | None = None,
        timeout: str | timedelta | None = None,
        analysis: RolloutAnalysis | None = None,
    ) -> RolloutStep:
        """A canary step: the candidate answers ``weight`` (0 < weight <= 1) of the traffic."""
        return cls("canary", weight, duration, min_requests, timeout, analysis)  # type: ignore[arg-type]

    @property
    def duration_ms(self) -> int:
        """The least time the step lasts, in milliseconds (0 when it has no duration)."""
        return parse_duration(self.duration, "duration") or 0

    @property
    def timeout_ms(self) -> int | None:
        """How long the step may wait for its samples, in milliseconds, or ``None`` (no limit)."""
        return parse_duration(self.timeout, "timeout")

    @property
    def variant(self) -> str:
        """The variant the candidate's predictions are logged as: ``shadow`` or ``canary``."""
        return self.kind

    def describe(self) -> str:
        """The step in words: ``shadow for at least 1h``, ``canary 10%, at least 500 requests``."""
        head = "shadow" if self.kind == "shadow" else f"canary {self.weight * 100:g}%"
        parts = [f" for at least {self.duration}"] if self.duration else []
        parts += [f", at least {self.min_requests} requests"] if self.min_requests else []
        parts += [f", at most {self.timeout}"] if self.timeout else []
        return head + "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The step as plain values (how plans store it)."""
        return {
            "kind": self.kind,
            "weight": self.weight,
            "duration": self.duration,
            "min_requests": self.min_requests,
            "timeout": self.timeout,
            "analysis": None if self.analysis is None else self.analysis.to_dict(),
        }

    @classmethod
    def from_dict(cls, document: Any) -> RolloutStep:
        """A step from :meth:`to_dict`'s form (a YAML mapping); unknown fields are refused."""
        if isinstance(document, RolloutStep):
            return document
        if not isinstance(document, Mapping):
            raise RolloutPlanError(
                "Each step of a rollout plan must be a RolloutStep or a mapping such as {'kind': 'canary', "
                f"'weight': 0.1}}. Got {document!r} instead.",
                field="steps",
                value=repr(document),
            )
        unknown = sorted(str(key) for key in document if key not in _STEP_FIELDS)
        if unknown:
            raise RolloutPlanError(
                f"A rollout step has no field {', '.join(map(repr, unknown))}. Its fields: "
                f"{', '.join(_STEP_FIELDS)}.",
                field="steps",
                value=repr(unknown),
            )
        values = {str(key): value for key, value in document.items()}
        if "kind" not in values:
            _refuse_step("kind", None, "'shadow' or 'canary'")
        if values.get("analysis") is not None:
            values["analysis"] = RolloutAnalysis.from_dict(values["analysis"])
        values.setdefault("weight", 0.0)
        return cls(**values)


def _default_steps() -> list[RolloutStep]:
    return [
        RolloutStep.shadow("1h"),
        RolloutStep.canary(0.1, duration="1h"),
        RolloutStep.canary(0.5, duration="1h"),
        RolloutStep.canary(1.0, duration="1h"),
    ]


@dataclass(frozen=True)
class RolloutPlan:
    """How a candidate goes out: its ``steps`` in order, the ``analysis`` each step is judged by (a step
    may bring its own), and where each decision is sent (``notify``: ``"log"`` and
    :class:`~loopwright.Webhook`\\ s; every decision is recorded in the store whatever it says).

    The default plan shadows for an hour, then canaries 10%, 50% and 100% for an hour each.

    >>> RolloutPlan(steps=[RolloutStep.shadow("1h"), RolloutStep.canary(0.5)]).describe()
    'shadow for at least 1h → canary 50% → promote'
    """

    steps: Sequence[RolloutStep] = field(default_factory=_default_steps)
    analysis: RolloutAnalysis = field(default_factory=RolloutAnalysis)
    notify: Sequence[Any] = ("log",)

    def __post_init__(self) -> None:
        if isinstance(self.steps, str | Mapping) or not isinstance(self.steps, Sequence):
            _refuse("steps", self.steps, "a list of RolloutStep.shadow(...) and RolloutStep.canary(...)")
        steps = tuple(RolloutStep.from_dict(step) for step in self.steps)
        if not steps:
            _refuse("steps", list(self.steps), "at least one step")
        if steps[0].kind == "canary" and steps[0].weight == 1.0:
            # At 100% production serves nothing to compare with; an earlier step measures it first.
            _refuse(
                "steps",
                [step.describe() for step in steps],
                "a list whose first step leaves production some traffic (a shadow, or a canary below 100%), "
                "so that the candidate can be compared with it",
            )
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "analysis", RolloutAnalysis.from_dict(self.analysis))
        from loopwright.monitoring.channels import parse_channels

        try:
            channels = parse_channels(self.notify, rule="rollout plan")
        except AlertRuleError:
            _refuse("notify", self.notify, "a list of 'log' and lw.Webhook(url)")
        object.__setattr__(self, "notify", tuple(channels))

    def analysis_for(self, index: int) -> RolloutAnalysis:
        """The analysis that judges step ``index``: the step's own, else the plan's."""
        own = self.steps[index].analysis
        return own if own is not None else self.analysis

    def describe(self) -> str:
        """The steps in words, ending in the promotion."""
        return " → ".join([*(step.describe() for step in self.steps), "promote"])

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain values (how rollouts store it); ``notify`` in the channels' stored form."""
        return {
            "steps": [step.to_dict() for step in self.steps],
            "analysis": self.analysis.to_dict(),
            "notify": [dict(channel) for channel in self.notify],
        }

    @classmethod
    def from_dict(cls, document: Any) -> RolloutPlan:
        """A plan from :meth:`to_dict`'s form (a YAML mapping); unknown fields are refused."""
        if isinstance(document, RolloutPlan):
            return document
        if not isinstance(document, Mapping):
            raise RolloutPlanError(
                f"A rollout plan must be a mapping of {', '.join(_PLAN_FIELDS)}. Got {document!r} instead.",
                field="plan",
                value=repr(document),
            )
        unknown = sorted(str(key) for key in document if key not in _PLAN_FIELDS)
        if unknown:
            raise RolloutPlanError(
                f"A rollout plan has no field {', '.join(map(repr, unknown))}. Its fields: "
                f"{', '.join(_PLAN_FIELDS)}.",
                field="plan",
                value=repr(unknown),
            )
        values = {str(key): value for key, value in document.items()}
        return cls(**values)


def _refuse(name: str, value: Any, expected: str) -> NoReturn:
    raise RolloutPlanError(
        f"The '{name}' of a rollout plan must be {expected}. Got {value!r} instead.",
        field=name,
        value=repr(value),
    )


def _refuse_step(name: str, value: Any, expected: str) -> NoReturn:
    raise RolloutPlanError(
        f"The '{name}' of a rollout step must be {expected}. Got {value!r} instead.",
        field=name,
        value=repr(value),
    )
