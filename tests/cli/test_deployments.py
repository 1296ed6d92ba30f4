"""``loopwright deployments …`` and ``loopwright predict`` against a real SQLite workspace, golden output.

Model ``fraud`` has versions 1 to 3 (each predicts its own number), version 1 in production. Deployment
times are replaced by fixed ones before tables are pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy

from loopwright.client import Client
from loopwright.settings import Settings, TrackingSettings
from tests.cli.conftest import T0_MS, Invoker, local_time, plain
from tests.serving.deployment_models import EXAMPLE, Tagged

USER = {"LOOPWRIGHT_USER": "tester"}


@pytest.fixture
def registry(workspace: Path) -> Iterator[Client]:
    client = Client(
        Settings(workspace=workspace, user="tester", tracking=TrackingSettings(capture_git=False))
    )
    for tag in (1, 2, 3):
        client.register_model("fraud", Tagged(tag), input_example=EXAMPLE)
    client.set_alias("fraud", "production", 1)
    yield client
    client.close()


def fix_times(workspace: Path) -> None:
    """Deployments created at T0; revision N of each recorded (and last updated) at T0 + N minutes."""
    engine = sqlalchemy.create_engine(
        f"sqlite:///{workspace / 'loopwright.db'}", poolclass=sqlalchemy.NullPool
    )
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("UPDATE deployments SET created_ms = :t0, updated_ms = :t0 + revision * 60000"),
            {"t0": T0_MS},
        )
        connection.execute(
            sqlalchemy.text("UPDATE deployment_events SET created_ms = :t0 + revision * 60000"), {"t0": T0_MS}
        )
    engine.dispose()


def minute(revision: int) -> str:
    return local_time(T0_MS + revision * 60_000)


def test_list_says_how_to_start(invoke: Invoker, registry: Client, workspace: Path) -> None:
    result = invoke("deployments", "list")
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"No deployments yet. Create one with loopwright --workspace {workspace} deployments create NAME "
        "--model MODEL@production.\n"
    )


def test_create_update_list_show_and_history(invoke: Invoker, registry: Client, workspace: Path) -> None:
    created = invoke(
        "deployments",
        "create",
        "fraud",
        "--model",
        "fraud@production",
        "--canary",
        "2",
        "--canary-weight",
        "0.25",
        "--sticky",
        "header:X-Customer",
        "--reason",
        "launch",
        env=USER,
    )
    assert created.exit_code == 0, created.output
    assert created.output == (
        "Created fraud: serves fraud@production, canary 2 at 25%, sticky by header:X-Customer.\n"
    )
    updated = invoke(
        "deployments",
        "update",
        "fraud",
        "--no-canary",
        "--shadow",
        "fraud/3",
        "--reason",
        "v2 lost",
        env=USER,
    )
    assert updated.exit_code == 0, updated.output
    assert updated.output == "Updated fraud to revision 2: serves fraud@production, shadow 3.\n"
    again = invoke("deployments", "update", "fraud", "--shadow", "3")
    assert again.output == "fraud already serves that: serves fraud@production, shadow 3.\n"
    invoke("deployments", "create", "pinned", "--model", "fraud/2", "--description", "frozen for audit")
    fix_times(workspace)

    listed = invoke("deployments", "list")
    assert plain(listed.output) == (
        " name     serves             canary   sticky              shadow   revision   updated\n"
        "──────────────────────────────────────────────────────────────────────────────────────────────────\n"
        f" fraud    fraud@production   —        header:X-Customer        3          2   {minute(2)}\n"
        f" pinned   fraud/2            —        —                        —          1   {minute(1)}\n"
    )
    shown = invoke("deployments", "show", "fraud")
    assert plain(shown.output) == (
        "Deployment fraud\n"
        "  model       fraud\n"
        "  production  fraud@production (version 1 now)\n"
        "  canary      —\n"
        "  sticky      header:X-Customer\n"
        "  shadow      3\n"
        "  revision    2\n"
        f"  created     {local_time(T0_MS)}\n"
        f"  updated     {minute(2)}\n"
    )
    history = invoke("deployments", "history", "fraud")
    changes = (
        "model — → fraud; alias — → production; canary — → 2; canary_weight — → 0.25; sticky — → "
        "header:X-Customer"
    )
    assert plain(history.output) == (
        "History of fraud\n"
        f" revision   when                  by       change{' ' * 102}reason\n"
        f"{'─' * 164}\n"
        f"        1   {minute(1)}   tester   {changes}   launch\n"
        f"        2   {minute(2)}   tester   {'canary 2 → —; canary_weight 0.25 → 0; shadow — → 3':<{len(changes)}}   v2 lost\n"
    )


def test_show_says_when_a_deployment_cannot_serve(invoke: Invoker, registry: Client, workspace: Path) -> None:
    invoke("deployments", "create", "fraud", "--model", "fraud@production")
    registry.registry.remove_alias("fraud", "production")
    fix_times(workspace)
    shown = invoke("deployments", "show", "fraud")
    assert shown.exit_code == 0, shown.output
    assert plain(shown.output).endswith(
        "\nCannot serve: Model 'fraud' has no alias 'production'. Its aliases: none. Point one at a version "
        "with lw.promote('fraud', VERSION, to='production').\n"
    )


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            ["deployments", "create", "fraud", "--model", "fraud", "--canary-weight", "2"],
            2,
            "error[invalid_input]: The 'canary_weight' of deployment 'fraud' must be a number between 0 and 1 "
            "(the share of traffic the canary takes). Got 2.0 instead.",
        ),
        (
            ["deployments", "update", "fraud"],
            2,
            "error[invalid_input]: Nothing to change: give at least one of --model, --canary, --no-canary, "
            "--canary-weight, --sticky, --no-sticky, --shadow, --no-shadow or --description.",
        ),
        (
            ["deployments", "update", "fraud", "--canary", "2", "--no-canary"],
            2,
            "error[invalid_input]: Give --canary or --no-canary, not both.",
        ),
        (
            ["deployments", "show", "churn"],
            1,
            "error[not_found.deployment]: Deployment 'churn' does not exist. Known deployments: none yet. "
            "Create one with lw.deploy('churn', model='NAME@production').",
        ),
        (
            ["deployments", "create", "fraud", "--model", "fraud", "--canary", "9"],
            1,
            "error[not_found.model_version]: The 'canary' of deployment 'fraud': Model 'fraud' has no version "
            "9. Its versions: 1, 2, 3.",
        ),
        (
            ["predict", "--input", "data.csv"],
            2,
            "error[invalid_input]: Give exactly one of --deployment NAME or --model MODEL.",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr(
    invoke: Invoker, registry: Client, arguments: list[str], code: int, message: str
) -> None:
    result = invoke(*arguments)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == message + "\n"


def test_predict_scores_a_file_with_a_deployment_or_a_model(
    invoke: Invoker, registry: Client, tmp_path: Path
) -> None:
    pd.concat([EXAMPLE] * 50, ignore_index=True).to_csv(tmp_path / "in.csv", index=False)
    invoke("deployments", "create", "fraud", "--model", "fraud@production")
    target = tmp_path / "out.parquet"
    by_deployment = invoke(
        "predict",
        "--deployment",
        "fraud",
        "--input",
        str(tmp_path / "in.csv"),
        "--output",
        str(target),
        "--chunk-rows",
        "40",
    )
    assert by_deployment.exit_code == 0, by_deployment.output
    run_id = registry.search_runs(output="list")[0].id
    assert by_deployment.output == (
        f"Scored 100 rows with fraud/1 in 3 chunk(s): fraud-predictions:1, written to {target} (run "
        f"{run_id[:8]}).\n"
    )
    written = pd.read_parquet(target)
    assert list(written.columns) == ["amount", "customer", "prediction"]
    assert written["prediction"].tolist() == [1] * 100
    registry.log_dataset("payments", pd.concat([EXAMPLE] * 5, ignore_index=True))
    by_model = invoke(
        "predict", "--model", "fraud/3", "--input", "payments:1", "--dataset", "scored", "-c", "customer"
    )
    assert by_model.exit_code == 0, by_model.output
    assert by_model.output.startswith("Scored 10 rows with fraud/3 in 1 chunk(s): scored:1 (run ")
    assert registry.dataset("scored").to_pandas().columns.tolist() == ["customer", "prediction"]
