"""``loopwright models …`` against a real SQLite workspace, with golden output.

Two versions of a threshold model are registered, evaluated and promoted through the SDK; the times the
store stamps are then replaced by fixed ones, so tables can be pinned exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy

import loopwright as lw
from loopwright.client import Client
from loopwright.settings import Settings, TrackingSettings
from tests.cli.conftest import T0_MS, Invoker, local_time, plain

USER = {"LOOPWRIGHT_USER": "tester"}
FRAME = pd.DataFrame(
    {
        "score": [0.9, 0.8, 0.2, 0.1, 0.6, 0.7, 0.4, 0.3, 0.55, 0.45],
        "region": ["EU"] * 5 + ["US"] * 5,
        "label": [1, 1, 0, 0, 0, 1, 1, 0, 0, 1],
    }
)


class Threshold(lw.PythonModel):
    """Predicts 1 where ``score`` exceeds the threshold (no probabilities)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: Any) -> Any:
        return (data["score"].to_numpy() > self.threshold).astype("int64")


@pytest.fixture
def registry(workspace: Path) -> Iterator[Client]:
    """Versions 1 (threshold 0.5) and 2 (0.35) of ``fraud``; 1 evaluated and in production."""
    client = Client(
        Settings(workspace=workspace, user="tester", tracking=TrackingSettings(capture_git=False))
    )
    client.log_dataset("eval", FRAME)
    client.register_model("fraud", Threshold(0.5), datasets=["eval:1"], description="first cut")
    client.register_model("fraud", Threshold(0.35), datasets=["eval:1"])
    client.evaluate("fraud/1", "eval:1", target="label", segments=["region"], task="classification")
    client.promote("fraud", 1, to="production")
    yield client
    client.close()


def fix_times(workspace: Path) -> None:
    """Version N registered at T0 + N minutes; every alias move, evaluation and role at T0 + 1 hour,
    + 2 hours, … in the order they happened."""
    engine = sqlalchemy.create_engine(
        f"sqlite:///{workspace / 'loopwright.db'}", poolclass=sqlalchemy.NullPool
    )
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE model_versions SET created_ms = :t0 + version * 60000"), {"t0": T0_MS}
        )
        for table, key in (
            ("alias_events", "id"),
            ("evaluations", "created_ms"),
            ("user_roles", "created_ms"),
        ):
            keys = connection.execute(
                sqlalchemy.text(f"SELECT {key} FROM {table} ORDER BY created_ms, {key}")
            ).scalars()
            for rank, value in enumerate(list(keys), start=1):
                connection.execute(
                    sqlalchemy.text(f"UPDATE {table} SET created_ms = :moment WHERE {key} = :key"),
                    {"moment": T0_MS + rank * 3_600_000, "key": value},
                )
        connection.execute(
            sqlalchemy.text("UPDATE model_aliases SET updated_ms = :t"), {"t": T0_MS + 3_600_000}
        )
    engine.dispose()


def hour(rank: int) -> str:
    return local_time(T0_MS + rank * 3_600_000)


def minute(version: int) -> str:
    return local_time(T0_MS + version * 60_000)


def test_list_says_how_to_start_on_an_empty_workspace(invoke: Invoker, workspace: Path) -> None:
    Client(Settings(workspace=workspace)).close()
    result = invoke("models", "list")
    assert result.exit_code == 0, result.output
    assert result.output == "No models yet. Register one with lw.register_model(NAME, model).\n"


def test_list_versions_and_aliases(invoke: Invoker, registry: Client, workspace: Path) -> None:
    fix_times(workspace)
    listed = invoke("models", "list")
    assert plain(listed.output) == (
        " name    versions   latest   aliases\n"
        "──────────────────────────────────────────\n"
        " fraud          2        2   production→1\n"
    )
    versions = invoke("models", "versions", "fraud")
    assert plain(versions.output) == (
        "Versions of fraud\n"
        " version   flavor   status   aliases      run   code   registered            description\n"
        "─────────────────────────────────────────────────────────────────────────────────────────\n"
        f"       1   python   active   production   —     —      {minute(1)}   first cut\n"
        f"       2   python   active   —            —     —      {minute(2)}\n"
    )
    aliases = invoke("models", "aliases", "fraud")
    assert plain(aliases.output) == (
        "Aliases of fraud\n"
        " alias        version   since                 gates\n"
        "────────────────────────────────────────────────────────\n"
        f" production         1   {hour(1)}   no policy\n"
    )


def test_show_prints_attributes_data_and_evaluations(
    invoke: Invoker, registry: Client, workspace: Path
) -> None:
    fix_times(workspace)
    digest = registry.get_model_version("fraud", 1).record.digest[:12]
    size = registry.get_model_version("fraud", 1).record.size
    from loopwright.cli._render import format_size

    result = invoke("models", "show", "fraud@production")
    assert result.exit_code == 0, result.output
    assert plain(result.output) == (
        "Model fraud  version 1\n"
        "\n"
        "  description      first cut\n"
        "  flavor           python\n"
        "  status           active\n"
        "  aliases          production\n"
        f"  registered       {minute(1)} by tester\n"
        "  run              —\n"
        "  code             —\n"
        "  fine-tuned from  —\n"
        f"  artifact         sha256 {digest}, {format_size(size)}\n"
        "\n"
        "Training data\n"
        "   dataset version   rows   checks\n"
        "  ────────────────────────────────────\n"
        "   eval:1              10   unchecked\n"
        "\n"
        "Signature: none\n"
        "\n"
        "Evaluations\n"
        "   dataset   rows   evaluated             accuracy   precision   recall    f1   roc_auc   log_loss\n"
        "  ─────────────────────────────────────────────────────────────────────────────────────────────────\n"
        f"   eval:1      10   {hour(1)}        0.6         0.6      0.6   0.6         —          —\n"
    )


def test_promote_prints_the_gates_and_refuses_with_status_1(
    invoke: Invoker, registry: Client, workspace: Path
) -> None:
    registry.set_policy("fraud", "production", lw.PromotionPolicy(thresholds={"accuracy": 0.7}, approvals=1))
    registry.evaluate("fraud/2", "eval:1", target="label", segments=["region"], task="classification")
    refused = invoke("models", "promote", "fraud/2", "--to", "production", env=USER)
    assert refused.exit_code == 1
    assert plain(refused.output) == (
        " gate                 outcome   detail\n"
        "──────────────────────────────────────────────────────────────────────────────────────\n"
        " evaluation           passed    evaluated on eval:1 (10 rows).\n"
        " threshold accuracy   passed    accuracy 0.8 >= 0.7 on eval:1.\n"
        " approval             FAILED    0 of 1 approval(s) by a user with role 'ml-engineer'.\n"
        "Refused: fraud/2 was not promoted to production (1 gate(s) failed).\n"
    )
    no_role = invoke("models", "approve", "fraud/2", "--alias", "production", "--user", "bob")
    assert no_role.exit_code == 1
    assert no_role.output.startswith(
        "error[permission_denied]: User 'bob' cannot approve model 'fraud' version 2"
    )
    granted = invoke("models", "roles", "grant", "alice", "ml-engineer", env=USER)
    assert granted.output == "alice now has the role ml-engineer.\n"
    approved = invoke("models", "approve", "fraud/2", "--alias", "production", "--user", "alice")
    assert approved.output == "Approved fraud/2 for production by alice.\n"
    dry = invoke("models", "promote", "fraud/2", "--to", "production", "--dry-run")
    assert (dry.exit_code, dry.output.splitlines()[-1]) == (0, "fraud/2 would be promoted to production.")
    promoted = invoke("models", "promote", "fraud/2", "--to", "production", env=USER)
    assert promoted.exit_code == 0, promoted.output
    assert promoted.output.splitlines()[-1] == "Promoted fraud/2 to production; it was version 1."
    again = invoke("models", "promote", "fraud/2", "--to", "production", env=USER)
    assert again.output == "fraud@production already points at version 2.\n"


def test_a_forced_promotion_needs_a_reason_and_shows_in_the_history(
    invoke: Invoker, registry: Client, workspace: Path
) -> None:
    registry.set_policy("fraud", "production", lw.PromotionPolicy(approvals=1))
    no_reason = invoke("models", "promote", "fraud/2", "--to", "production", "--force")
    assert no_reason.exit_code == 2
    assert no_reason.output == (
        "error[invalid_input]: A forced promotion needs a reason (it is recorded in the audit trail). Got None "
        "instead.\n"
    )
    forced = invoke(
        "models", "promote", "fraud/2", "--to", "production", "--force", "--reason", "hotfix", env=USER
    )
    assert forced.output.splitlines()[-1] == "Promoted fraud/2 to production (forced); it was version 1."
    fix_times(workspace)
    history = invoke("models", "history", "fraud")
    assert plain(history.output) == (
        " when                  alias        action             from   to   by       reason\n"
        "─────────────────────────────────────────────────────────────────────────────────────────\n"
        f" {hour(1)}   production   promote               —    1   tester\n"
        f" {hour(2)}   production   promote (forced)      1    2   tester   hotfix\n"
    )
    at = invoke("models", "history", "fraud", "--alias", "production", "--at", hour(1).replace(" ", "T"))
    assert at.output == f"fraud@production pointed at version 1 at {hour(1).replace(' ', 'T')}.\n"
    missing = invoke("models", "history", "fraud", "--at", "2026-01-01")
    assert (missing.exit_code, missing.output) == (
        2,
        "error[invalid_input]: --at needs --alias: say which alias to look up, e.g. --alias production.\n",
    )


def test_evaluate_prints_metrics_overall_and_per_segment(invoke: Invoker, registry: Client) -> None:
    result = invoke(
        "models",
        "evaluate",
        "fraud/2",
        "eval:1",
        "--target",
        "label",
        "--segment",
        "region",
        "--task",
        "classification",
    )
    assert result.exit_code == 0, result.output
    assert plain(result.output) == (
        "Evaluated fraud/2 on eval:1: 10 rows, classification.\n"
        "\n"
        "   metric       value\n"
        "  ────────────────────\n"
        "   accuracy       0.8\n"
        "   precision   0.7143\n"
        "   recall           1\n"
        "   f1          0.8333\n"
        "   roc_auc          —\n"
        "   log_loss         —\n"
        "\n"
        "By segment\n"
        "   segment   value   rows   accuracy   precision   recall       f1   roc_auc   log_loss\n"
        "  ──────────────────────────────────────────────────────────────────────────────────────\n"
        "   region    EU         5        0.8      0.6667        1      0.8         —          —\n"
        "   region    US         5        0.8        0.75        1   0.8571         —          —\n"
    )


def test_policy_roles_lineage_and_card(
    invoke: Invoker, registry: Client, workspace: Path, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("thresholds: {accuracy: 0.75}\napprovals: 1\napprover_role: reviewer\n")
    shown = invoke("models", "policy", "fraud", "--alias", "production", "--set", str(policy_file), env=USER)
    assert shown.exit_code == 0, shown.output
    assert plain(shown.output).splitlines()[:4] == [
        "Policy of fraud@production",
        "  require_data_checks  false",
        '  thresholds           {"accuracy": 0.75}',
        "  beat_metric          null",
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("approvals: -1\n")
    refused = invoke("models", "policy", "fraud", "--alias", "production", "--set", str(bad))
    assert refused.output == (
        "error[invalid_input]: The 'approvals' of a promotion policy must be an integer >= 0. Got -1 instead.\n"
    )
    aliases = invoke("models", "aliases", "fraud")
    assert "evaluation, threshold, approval" in aliases.output
    invoke("models", "roles", "grant", "alice", "reviewer", env=USER)
    fix_times(workspace)
    roles = invoke("models", "roles", "list")
    assert plain(roles.output) == (
        " user    role       granted by   since\n"
        "─────────────────────────────────────────────────────\n"
        f" alice   reviewer   tester       {hour(1)}\n"
    )
    lineage = invoke("models", "lineage", "fraud/1")
    assert lineage.output == (
        "fraud/1\n"
        "  upstream:\n"
        "    - dataset eval:1 (10 rows, checks unchecked)\n"
        "  downstream:\n"
        "    (no version derives from it)\n"
        "  deployments: none\n"
    )
    card = invoke("models", "card", "fraud/1")
    assert card.output.startswith("# Model card: fraud version 1\n")
    target = tmp_path / "card.html"
    written = invoke("models", "card", "fraud/1", "--html", "--output", str(target))
    assert written.output == f"Wrote {target}.\n"
    assert target.read_text().startswith("<!DOCTYPE html>")
