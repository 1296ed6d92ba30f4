"""Data check results as the CLI shows them: one table and one verdict line, whether the results were just
computed (a :class:`~loopwright.data.checks.CheckResult`) or read back from the store (a
:class:`~loopwright.store.datasets.CheckRecord`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text

from loopwright.cli._render import plain_table
from loopwright.data.checks import CheckResult
from loopwright.store.datasets import CheckRecord

__all__ = ["CheckOutcome", "checks_table", "latest_outcomes", "verdict"]

_MISSING = "—"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One check result, whichever way it reached the CLI."""

    name: str
    severity: str
    passed: bool
    message: str
    column: str | None = None
    failed_rows: int | None = None
    created_at: datetime | None = None

    @classmethod
    def from_result(cls, result: CheckResult) -> CheckOutcome:
        """A result just computed."""
        return cls(
            result.name, result.severity, result.passed, result.message, result.column, result.failed_rows
        )

    @classmethod
    def from_record(cls, record: CheckRecord) -> CheckOutcome:
        """A result read back from the store."""
        return cls(
            record.name,
            record.severity,
            record.passed,
            str(record.details.get("message", "")),
            record.column,
            record.failed_rows,
            record.created_at,
        )

    @property
    def blocking_failure(self) -> bool:
        """Whether this result stops the data."""
        return not self.passed and self.severity == "blocking"


def latest_outcomes(records: Sequence[CheckRecord]) -> list[CheckOutcome]:
    """The results of the latest check of a version (every check appends its results to the store)."""
    if not records:
        return []
    latest = max(record.created_at for record in records if record.created_at is not None)
    return [CheckOutcome.from_record(record) for record in records if record.created_at == latest]


def _order(outcome: CheckOutcome) -> int:
    if outcome.blocking_failure:
        return 0
    return 1 if not outcome.passed else 2


def checks_table(outcomes: Sequence[CheckOutcome]) -> Table:
    """Blocking failures first, then warnings, then the checks that passed; the message says which
    values failed."""
    table = plain_table()
    table.add_column("severity", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("column", max_width=20, overflow="fold")
    table.add_column("failed rows", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for outcome in sorted(outcomes, key=_order):
        if outcome.blocking_failure:
            severity = Text(f"✗ {outcome.severity}", style="bold red")
        elif not outcome.passed:
            severity = Text(f"! {outcome.severity}", style="bold yellow")
        else:
            severity = Text(f"✓ {outcome.severity}", style="green")
        table.add_row(
            severity,
            Text(outcome.name),
            Text(outcome.column or _MISSING, style="" if outcome.column else "dim"),
            Text(f"{outcome.failed_rows:,}" if outcome.failed_rows is not None else _MISSING),
            Text(outcome.message, style="" if not outcome.passed else "dim"),
        )
    return table


def verdict(label: str, status: str, outcomes: Sequence[CheckOutcome], *, recorded: bool) -> Text:
    """One line: passed, passed with warnings, or failed (and what that means for the version)."""
    blocking = sum(outcome.blocking_failure for outcome in outcomes)
    warnings = sum(not outcome.passed for outcome in outcomes) - blocking
    total = len(outcomes)
    checks = _count(total, "check")
    if status == "failed" or blocking:
        line = f"✗ {label} failed {_count(blocking, 'blocking check')}"
        line += f" and {_count(warnings, 'warning')}" if warnings else ""
        line += f" ({checks})"
        name = label.rpartition(":")[0]
        line += f"; it is marked failed and lw.dataset({name!r}) skips it." if recorded else "."
        return Text(line, style="bold red")
    if warnings:
        return Text(f"! {label} passed with {_count(warnings, 'warning')} ({checks}).", style="bold yellow")
    return Text(f"✓ {label} passed {checks}.", style="bold green")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
