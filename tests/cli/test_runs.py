"""``loopwright runs list | show | compare`` against a real SQLite workspace, with golden output."""

from __future__ import annotations

import json

import pytest

from loopwright.client import Client
from loopwright.store.records import RunStatus
from tests.cli.conftest import T0_MS, Invoker, SeededRun, local_time, plain, seed_run


def test_compare_prints_params_and_metrics_side_by_side_marking_differences_and_best(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "compare", "aaaa", "bbbb2222", "cccc3333000000000000000000000000")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Comparing 3 runs\n"
        "                        lr-C0.1    lr-C1      forest\n"
        "                        aaaa1111   bbbb2222   cccc3333\n"
        "───────────────────────────────────────────────────────\n"
        " status                 finished   finished   failed\n"
        " duration               1.50s      12.5s      2m 05s\n"
        "\n"
        " params.C           ≠   0.1        1          —\n"
        " params.max_depth   ≠   —          —          4\n"
        " params.model       ≠   lr         lr         rf\n"
        "\n"
        " metrics.accuracy   ≠   0.91       0.93 ★     0.93 ★\n"
        " metrics.f1         ≠   —          —          0.9\n"
        " metrics.loss       ≠   0.3123     0.25 ★     —\n"
        "≠ values differ   ★ best value (lowest for losses, errors and times)\n"
    )


def test_compare_only_differences_hides_rows_where_runs_agree(invoke: Invoker, client: Client) -> None:
    seed_run(client, "aaaa1111" + "0" * 24, "a", params={"model": "lr", "C": "0.1"}, metrics={"acc": 0.5})
    seed_run(client, "bbbb2222" + "0" * 24, "b", params={"model": "lr", "C": "1"}, metrics={"acc": 0.5})

    result = invoke("runs", "compare", "--only-differences", "aaaa", "bbbb")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Comparing 2 runs\n"
        "                    a          b\n"
        "                    aaaa1111   bbbb2222\n"
        "────────────────────────────────────────\n"
        " status             finished   finished\n"
        " duration           1.50s      1.50s\n"
        "\n"
        " params.C       ≠   0.1        1\n"
        "≠ values differ   ★ best value (lowest for losses, errors and times)\n"
    )


def test_compare_needs_two_different_runs(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "compare", "aaaa", "aaaa1111")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error[invalid_input]: runs compare needs at least two different runs. Got 1: aaaa, aaaa1111.\n"
    )


def test_list_prints_a_table_of_attributes_metrics_and_params(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "list", "-e", "golden")

    assert result.exit_code == 0, result.stderr
    first, second, third = (local_time(run.start_ms) for run in golden_runs)
    assert plain(result.stdout) == (
        "                                                                    metric   metric   metric   "
        "param   param       param\n"
        " id         name      status     start                 duration   accuracy       f1     loss   "
        "C       max_depth   model\n"
        "─────────────────────────────────────────────────────────────────────────────────────────────────"
        "────────────────────────\n"
        f" cccc3333   forest    failed     {third}     2m 05s       0.93      0.9        —   —       "
        "4           rf\n"
        f" bbbb2222   lr-C1     finished   {second}      12.5s       0.93        —     0.25   1       "
        "—           lr\n"
        f" aaaa1111   lr-C0.1   finished   {first}      1.50s       0.91        —   0.3123   0.1     "
        "—           lr\n"
    )


def test_list_orders_filters_and_puts_the_ordering_metric_first(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "list", "-f", "params.model = 'lr'", "-o", "metrics.loss asc")

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[1].split() == ["id", "name", "status", "start", "duration", "loss", "accuracy", "C", "model"]
    assert [line.split()[1] for line in lines[3:]] == ["lr-C1", "lr-C0.1"]


def test_list_shows_only_the_chosen_columns(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "--columns", "params.model,metrics.f1", "-c", "experiment")

    assert result.exit_code == 0, result.stderr
    header = plain(result.stdout).splitlines()[1].split()
    assert header == ["id", "name", "status", "start", "duration", "model", "f1", "experiment"]


def test_list_leaves_out_columns_that_do_not_fit_and_says_which(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "list", env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert lines[1].split() == ["id", "name", "status", "start", "duration", "accuracy"]
    assert " ".join(lines[-2:]) == (
        "Not shown for lack of width: metrics.f1, metrics.loss, params.C, params.max_depth and 1 more. "
        "Pick columns with --columns (-c)."
    )
    assert all(len(line) <= 80 for line in lines)


def test_list_says_when_more_runs_match_than_it_shows(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "-n", "2")

    assert result.exit_code == 0, result.stderr
    lines = plain(result.stdout).splitlines()
    assert [line.split()[0] for line in lines[3:5]] == ["cccc3333", "bbbb2222"]
    assert lines[-1] == "Showing the first 2 runs; more match. Raise --max-results (-n) to see more."


def test_list_as_json_keeps_full_ids_and_utc_times(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "--output", "json", "-o", "metrics.accuracy asc", "-n", "1")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "run_id": "aaaa1111000000000000000000000000",
            "experiment": "golden",
            "name": "lr-C0.1",
            "status": "finished",
            "start_time": "2023-11-14T22:13:20+00:00",
            "end_time": "2023-11-14T22:13:21.500000+00:00",
            "duration_s": 1.5,
            "parent_id": None,
            "user": None,
            "git_commit": None,
            "metrics": {"accuracy": 0.91, "loss": 0.3123456},
            "params": {"C": "0.1", "model": "lr"},
            "tags": {},
        }
    ]
    assert result.stderr == ("Showing the first 1 runs; more match. Raise --max-results (-n) to see more.\n")


def test_list_as_json_writes_non_finite_metrics_as_null(invoke: Invoker, client: Client) -> None:
    seed_run(client, "dddd4444" + "0" * 24, "diverged", metrics={"loss": float("nan"), "gain": float("inf")})

    result = invoke("runs", "list", "--output", "json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["metrics"] == {"gain": None, "loss": None}


def test_list_as_csv(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "--output", "csv", "-e", "golden")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "run_id,experiment,name,status,start_time,end_time,duration_s,parent_id,user,git_commit,"
        "metrics.accuracy,metrics.f1,metrics.loss,params.C,params.max_depth,params.model\n"
        "cccc3333000000000000000000000000,golden,forest,failed,2023-11-14T22:15:20+00:00,"
        "2023-11-14T22:17:25+00:00,125.0,,,,0.93,0.9,,,4,rf\n"
        "bbbb2222000000000000000000000000,golden,lr-C1,finished,2023-11-14T22:14:20+00:00,"
        "2023-11-14T22:14:32.500000+00:00,12.5,,,,0.93,,0.25,1,,lr\n"
        "aaaa1111000000000000000000000000,golden,lr-C0.1,finished,2023-11-14T22:13:20+00:00,"
        "2023-11-14T22:13:21.500000+00:00,1.5,,,,0.91,,0.3123456,0.1,,lr\n"
    )


def test_list_as_csv_with_chosen_columns(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "--output", "csv", "-c", "metrics.loss", "-n", "1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run_id,experiment,name,status,start_time,end_time,duration_s,parent_id,user,git_commit,metrics.loss",
        "cccc3333000000000000000000000000,golden,forest,failed,2023-11-14T22:15:20+00:00,"
        "2023-11-14T22:17:25+00:00,125.0,,,,",
    ]


def test_list_of_an_empty_workspace_says_how_to_record_runs(invoke: Invoker, client: Client) -> None:
    result = invoke("runs", "list")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"No runs yet. Record some with loopwright --workspace {invoke.workspace} demo.\n"


def test_list_with_a_filter_matching_nothing(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "-f", "metrics.accuracy > 0.99")

    assert (result.exit_code, result.stdout) == (0, "No runs match.\n")


def test_list_with_a_bad_filter_points_at_the_token(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "-f", "metrics.accuracy > 'high'")

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input.filter]: Metric 'accuracy' is compared with the text 'high' at position 19: "
        "metrics compare with numbers, e.g. metrics.accuracy > 0.9.\n"
        "    metrics.accuracy > 'high'\n"
        "                       ^\n"
    )


def test_list_of_an_unknown_experiment_names_the_known_ones(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "list", "-e", "nope")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[not_found.experiment]: Experiment 'nope' does not exist. Known experiments: 'golden'.\n"
    )


def test_list_with_an_unknown_column(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "--columns", "accuracy")

    assert result.exit_code == 2
    assert result.stderr == (
        "error[invalid_input]: Unknown column 'accuracy': expected metrics.<key>, params.<key>, tags.<key> "
        "or one of end, experiment, git_commit, host, kind, parent, user.\n"
    )


def test_list_rejects_a_max_results_below_one(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "-n", "0")

    assert result.exit_code == 2
    assert "Invalid value for '--max-results' / '-n'" in result.stderr


def test_show_prints_attributes_params_metrics_and_the_error_of_a_failed_run(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "show", "cccc")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout) == (
        "Run forest  cccc3333000000000000000000000000\n"
        "\n"
        "  experiment  golden\n"
        "  status      failed\n"
        f"  started     {local_time(T0_MS + 120_000)}\n"
        f"  ended       {local_time(T0_MS + 245_000)}\n"
        "  duration    2m 05s\n"
        "  user        —\n"
        "  host        —\n"
        "  git commit  —\n"
        "  python      —\n"
        "  packages    —\n"
        "  source      —\n"
        "\n"
        "  ╭─ error ────────────────────────────╮\n"
        "  │ ValueError: the forest caught fire │\n"
        "  ╰────────────────────────────────────╯\n"
        "\n"
        "Params (2)\n"
        "  max_depth  4\n"
        "  model      rf\n"
        "\n"
        "Tags (0): none\n"
        "\n"
        "Latest metrics (2)\n"
        "  accuracy  0.93\n"
        "  f1         0.9\n"
        "\n"
        "Artifacts (0): none\n"
        "\n"
        "Children (0): none\n"
    )


def test_show_lists_children_artifacts_tags_and_recorded_system_details(
    invoke: Invoker, client: Client
) -> None:
    with client.start_run("nested", "parent", tags={"team": "fraud"}) as parent:
        parent.log_text("hello", "notes.txt")
        with client.start_run(name="child-1", params={"fold": 1}) as child:
            child.log_metric("accuracy", 0.875)

    result = invoke("runs", "show", parent.id)

    assert result.exit_code == 0, result.stderr
    output = plain(result.stdout)
    record = client.get_run(parent.id)
    assert f"Run parent  {parent.id}\n" in output
    assert f"  user        {record.user}\n" in output
    assert f"  python      {record.python_version}\n" in output
    assert "loopwright 0.1.0" in output
    assert "Tags (1)\n  team  fraud\n" in output
    assert "Artifacts (1)\n" in output
    assert "   notes.txt   output      file    5 B   2cf24dba5fb0\n" in output
    assert "Children (1)\n" in output
    assert f"   {child.id[:8]}   child-1   finished   " in output

    child_output = plain(invoke("runs", "show", child.id[:6]).stdout)
    assert f"  parent      {parent.id[:8]} (parent)\n" in child_output
    assert "Latest metrics (1)\n  accuracy  0.875\n" in child_output


def test_show_of_a_run_that_raised_shows_its_traceback(invoke: Invoker, client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.start_run("broken", "doomed") as run:
        _ = 1 / 0

    result = invoke("runs", "show", run.id[:8])

    assert result.exit_code == 0, result.stderr
    assert client.get_run(run.id).status is RunStatus.FAILED
    assert "╭─ error ─" in result.stdout
    assert "ZeroDivisionError: division by zero" in result.stdout


def test_list_as_csv_with_attribute_columns_keeps_raw_values(
    invoke: Invoker, golden_runs: list[SeededRun]
) -> None:
    result = invoke("runs", "list", "--output", "csv", "-c", "kind, end,experiment", "-n", "1")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run_id,experiment,name,status,start_time,end_time,duration_s,parent_id,user,git_commit,"
        "attributes.kind,attributes.end",
        "cccc3333000000000000000000000000,golden,forest,failed,2023-11-14T22:15:20+00:00,"
        "2023-11-14T22:17:25+00:00,125.0,,,,run,2023-11-14T22:17:25+00:00",
    ]


def test_list_puts_a_backquoted_ordering_key_first(invoke: Invoker, golden_runs: list[SeededRun]) -> None:
    result = invoke("runs", "list", "-o", "params.`max_depth` desc")

    assert result.exit_code == 0, result.stderr
    header = plain(result.stdout).splitlines()[1].split()
    assert header[5] == "max_depth"
