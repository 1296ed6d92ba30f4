"""``loopwright check``: the tests a model repository runs in CI before anything is merged or promoted.

From a :class:`~loopwright.automation.config.WorkspaceConfig` it runs, against the workspace:

- **data**: each dataset with a schema: its latest version checked against the file's schema (and for
  value skew against its ``reference`` version when one is given);
- **gates**: each declared model: its candidate (alias ``candidate`` unless the file says otherwise) through
  the gates of the alias it would take (``production``), a dry run of the promotion;
- **contract**: each deployment with an ``input_example``: the model it would serve (the candidate when the
  model is declared, else what the deployment serves now) must accept the example through its signature;
- **latency**: each deployment with a ``latency_budget_ms``: the median of :data:`LATENCY_REPEATS` one-row
  predictions must be within the budget.

The outcome is a :class:`CheckSuiteReport`: readable text, JUnit XML for CI systems, and ``passed``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopwright.automation.config import DeploymentDeclaration, WorkspaceConfig
from loopwright.errors import LoopwrightError, SignatureError

if TYPE_CHECKING:
    from loopwright.client import Client
    from loopwright.registry.version import ModelVersion

__all__ = ["LATENCY_REPEATS", "CheckOutcome", "CheckSuiteReport", "run_checks"]

LATENCY_REPEATS = 20
"""How many one-row predictions the latency check times (after one untimed warm-up call)."""

_SUITES = ("data", "gates", "contract", "latency")


@dataclass(frozen=True)
class CheckOutcome:
    """One test: its ``suite`` (``data``, ``gates``, ``contract``, ``latency``), what it tested (``name``),
    whether it ``passed``, what was found (``message``) and how long it took."""

    suite: str
    name: str
    passed: bool
    message: str
    seconds: float


@dataclass(frozen=True)
class CheckSuiteReport:
    """Every outcome of one ``loopwright check``.

    >>> report = run_checks(lw.get_client(), lw.load_config())  # doctest: +SKIP
    >>> report.passed, len(report.failures)                      # doctest: +SKIP
    (False, 1)
    """

    outcomes: list[CheckOutcome]

    @property
    def passed(self) -> bool:
        """Whether every test passed."""
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def failures(self) -> list[CheckOutcome]:
        """The tests that failed, in the order they ran."""
        return [outcome for outcome in self.outcomes if not outcome.passed]

    def summary(self) -> str:
        """``3 checks: 2 passed, 1 failed.``"""
        total = len(self.outcomes)
        failed = len(self.failures)
        return f"{total} check{'s' if total != 1 else ''}: {total - failed} passed, {failed} failed."

    def to_junit(self) -> str:
        """The outcomes as JUnit XML (one ``testsuite`` per suite), as CI systems read test reports."""
        from xml.etree import ElementTree

        root = ElementTree.Element("testsuites", name="loopwright check")
        for suite in _SUITES:
            members = [outcome for outcome in self.outcomes if outcome.suite == suite]
            if not members:
                continue
            element = ElementTree.SubElement(
                root,
                "testsuite",
                name=suite,
                tests=str(len(members)),
                failures=str(sum(not outcome.passed for outcome in members)),
                time=f"{sum(outcome.seconds for outcome in members):.3f}",
            )
            for outcome in members:
                case = ElementTree.SubElement(
                    element,
                    "testcase",
                    classname=f"loopwright.{suite}",
                    name=outcome.name,
                    time=f"{outcome.seconds:.3f}",
                )
                if outcome.passed:
                    ElementTree.SubElement(case, "system-out").text = outcome.message
                else:
                    failure = ElementTree.SubElement(case, "failure", message=outcome.message.splitlines()[0])
                    failure.text = outcome.message
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def run_checks(
    client: Client, config: WorkspaceConfig, *, clock: Callable[[], float] = time.perf_counter
) -> CheckSuiteReport:
    """Run every test ``config`` declares against ``client``'s workspace; never raises for a failed test
    (a workspace error becomes that test's failure). ``clock`` times the latency check.

    >>> run_checks(lw.get_client(), lw.load_config()).passed  # doctest: +SKIP
    True
    """
    outcomes: list[CheckOutcome] = []

    def run(suite: str, name: str, test: Callable[[], tuple[bool, str]]) -> None:
        started = time.perf_counter()
        try:
            passed, message = test()
        except LoopwrightError as error:
            passed, message = False, error.message
        outcomes.append(CheckOutcome(suite, name, passed, message, time.perf_counter() - started))

    for name, dataset in config.datasets.items():
        if dataset.schema is not None:
            run("data", name, lambda dataset=dataset: _data(client, dataset))  # type: ignore[misc]
    for name, check in config.model_checks.items():
        run("gates", f"{name}@{check.gate}", lambda check=check: _gates(client, config, check))  # type: ignore[misc]
    for name, deployment in config.deployments.items():
        if deployment.input_example is not None:
            run("contract", name, lambda deployment=deployment: _contract(client, config, deployment))  # type: ignore[misc]
        if deployment.latency_budget_ms is not None:
            run("latency", name, lambda deployment=deployment: _latency(client, config, deployment, clock))  # type: ignore[misc]
    return CheckSuiteReport(outcomes)


def _data(client: Client, dataset: Any) -> tuple[bool, str]:
    report = client.check_dataset(
        dataset.name,
        schema=dataset.schema,
        reference=dataset.reference,
        psi_threshold=dataset.psi_threshold,
        record=False,
    )
    return report.passed, report.summary()


def _candidate(client: Client, model: str, candidate: str | int) -> ModelVersion:
    if isinstance(candidate, int):
        return client.registry.resolve(model, candidate)
    return client.registry.resolve(model, alias=candidate)


def _gates(client: Client, config: WorkspaceConfig, check: Any) -> tuple[bool, str]:
    from loopwright.registry.gates import check_gates

    version = _candidate(client, check.model, check.candidate)
    # The file's policy, when it declares one: CI tests the change before `apply` stores it.
    policy = config.policies.get((check.model, check.gate))
    if policy is None:
        report = client.check_promotion(version, to=check.gate)
    elif policy.frozen:
        return False, f"Alias {check.gate!r} of model {check.model!r} is frozen: no version may take it."
    else:
        report = check_gates(client.registry, version, check.gate, policy)
    label = f"Version {version.version} of model {check.model!r} for alias {check.gate!r}"
    if not report.results:
        return True, f"{label}: no gates to pass."
    if report.passed:
        return True, f"{label} passed {len(report.results)} gate(s)."
    lines = [f"{label} failed {len(report.failures)} of {len(report.results)} gate(s):"]
    lines += [f"  {result.name}: {result.message}" for result in report.failures]
    return False, "\n".join(lines)


def _tested_version(
    client: Client, config: WorkspaceConfig, deployment: DeploymentDeclaration
) -> ModelVersion:
    """The candidate when the deployment's model is declared under ``models``, else what it serves."""
    from loopwright.registry.references import parse_model_reference

    model = parse_model_reference(deployment.model)[0]
    check = config.model_checks.get(model)
    if check is not None:
        return _candidate(client, model, check.candidate)
    return client.registry.resolve(deployment.model)


def _contract(client: Client, config: WorkspaceConfig, deployment: DeploymentDeclaration) -> tuple[bool, str]:
    version = _tested_version(client, config, deployment)
    model = client.registry.load(version)
    rows = deployment.input_example or []
    label = f"Model {version.name!r} version {version.version}"
    try:
        model.predict(rows)
    except SignatureError as error:
        return False, f"{label} does not accept the input example of deployment {deployment.name!r}: {error}"
    return True, f"{label} accepts the {len(rows)}-row input example."


def _latency(
    client: Client, config: WorkspaceConfig, deployment: DeploymentDeclaration, clock: Callable[[], float]
) -> tuple[bool, str]:
    budget = deployment.latency_budget_ms
    assert budget is not None  # only called for deployments with a budget
    if not deployment.input_example:
        return False, "A latency budget needs an 'input_example' to predict on; add one to the deployment."
    version = _tested_version(client, config, deployment)
    model = client.registry.load(version)
    row = deployment.input_example[:1]
    model.predict(row)  # warm-up: the first call pays for lazy imports and caches
    timings = []
    for _ in range(LATENCY_REPEATS):
        started = clock()
        model.predict(row)
        timings.append((clock() - started) * 1000)
    median = statistics.median(timings)
    label = (
        f"One-row predict of model {version.name!r} version {version.version}: median {median:.2f} ms "
        f"over {LATENCY_REPEATS} calls"
    )
    if median > budget:
        return False, f"{label}, over the budget of {budget:g} ms."
    return True, f"{label}, within the budget of {budget:g} ms."
