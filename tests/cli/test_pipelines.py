"""``loopwright pipelines run | list | runs | show | explain`` against a real SQLite workspace.

The pipeline is ``tests/cli/_pipeline_example.py``. Run ids and times come from the store and are put into
the expected output; durations, which vary, are masked as ``#.##s``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopwright.client import Client
from loopwright.store.pipelines import PipelineCatalog, PipelineRunRecord, StepRecord
from tests.cli import _pipeline_example
from tests.cli.conftest import Invoker, local_time, plain, seed_run

REF = "tests.cli._pipeline_example:train"
EXAMPLE = Path(_pipeline_example.__file__)

MISSED_TREE = (
    "  train\n"
    "  ├── ✓ load   finished    #.##s  cache miss\n"
    "  │   └── output    file  json       17 B\n"
    "  ├── ✓ split  finished    #.##s  cache miss\n"
    "  │   ├── output.0  file  json       13 B\n"
    "  │   └── output.1  file  json        5 B\n"
    "  ├── ✓ fit    finished    #.##s  cache miss\n"
    "  │   └── output    file  json       24 B\n"
    "  └── ✓ score  finished    #.##s  cache miss\n"
    "      └── output    file  json        3 B\n"
)


@pytest.fixture
def invoke(workspace: Path) -> Invoker:
    """The CLI on the test's workspace, without git facts (they depend on the checkout)."""
    invoker = Invoker(workspace)
    invoker.environment["LOOPWRIGHT_TRACKING__CAPTURE_GIT"] = "false"
    return invoker


@pytest.fixture
def catalog(client: Client) -> PipelineCatalog:
    """The pipeline records of the test's workspace, to put ids and times into expected output."""
    return PipelineCatalog(client.store)


def masked(text: str) -> str:
    """Output without trailing spaces, with every duration shown as ``#.##s``."""
    return re.sub(r"\b\d+\.\d+s\b", "#.##s", plain(text))


def latest(catalog: PipelineCatalog) -> tuple[PipelineRunRecord, dict[str, StepRecord]]:
    """The newest pipeline run and its steps by name."""
    record = catalog.pipeline_runs(limit=1)[0]
    return record, {step.step: step for step in catalog.steps(record.run_id)}


def start(record: PipelineRunRecord) -> str:
    return local_time(int(record.start.timestamp() * 1000))


# --- run -------------------------------------------------------------------------------------------------


def test_run_prints_the_run_id_its_steps_and_the_output(invoke: Invoker, catalog: PipelineCatalog) -> None:
    result = invoke("pipelines", "run", REF)

    assert result.exit_code == 0, result.stderr
    record, _ = latest(catalog)
    assert masked(result.stdout) == (
        f"Pipeline run train  {record.run_id}: finished in #.##s, 0 of 4 steps from the cache\n"
        f"{MISSED_TREE}"
        "\n"
        "Output: 4.0\n"
    )
    assert record.params == {"n": 8, "alpha": 0.5}
    assert (record.executor, record.trigger_cause) == ("inline", None)


def test_a_second_run_reuses_the_unchanged_steps_and_names_the_run_they_come_from(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    invoke("pipelines", "run", REF)
    _, first = latest(catalog)

    result = invoke("pipelines", "run", REF, "-p", "alpha=0.7", "-p", "n=8")

    assert result.exit_code == 0, result.stderr
    record, _ = latest(catalog)
    load, split = first["load"].run_id[:8], first["split"].run_id[:8]
    assert masked(result.stdout) == (
        f"Pipeline run train  {record.run_id}: finished in #.##s, 2 of 4 steps from the cache\n"
        "  train\n"
        f"  ├── ✓ load   finished    #.##s  cached from {load}\n"
        "  │   └── output    file  json       17 B\n"
        f"  ├── ✓ split  finished    #.##s  cached from {split}\n"
        "  │   ├── output.0  file  json       13 B\n"
        "  │   └── output.1  file  json        5 B\n"
        "  ├── ✓ fit    finished    #.##s  cache miss\n"
        "  │   └── output    file  json       24 B\n"
        "  └── ✓ score  finished    #.##s  cache miss\n"
        "      └── output    file  json        3 B\n"
        "\n"
        "Output: 4.0\n"
    )
    assert record.params == {"n": 8, "alpha": 0.7}


def test_no_cache_runs_every_step_again(invoke: Invoker, catalog: PipelineCatalog) -> None:
    invoke("pipelines", "run", REF)

    result = invoke("pipelines", "run", REF, "--no-cache")

    assert result.exit_code == 0, result.stderr
    record, steps = latest(catalog)
    assert masked(result.stdout) == (
        f"Pipeline run train  {record.run_id}: finished in #.##s, 0 of 4 steps from the cache\n"
        f"{MISSED_TREE.replace('cache miss', 'cache off')}"
        "\n"
        "Output: 4.0\n"
    )
    assert {step.cache_status for step in steps.values()} == {"disabled"}
    assert all(step.source_run_id is None for step in steps.values())


def test_a_failing_step_exits_1_with_the_steps_that_ran_and_its_traceback_and_a_rerun_resumes(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    result = invoke("pipelines", "run", REF, "-p", "alpha=-1")

    assert result.exit_code == 1
    record, steps = latest(catalog)
    assert masked(result.stdout) == (
        f"Pipeline run train  {record.run_id}: failed at step 'fit' in #.##s, 0 of 3 steps from the cache\n"
        "  train\n"
        "  ├── ✓ load   finished    #.##s  cache miss\n"
        "  │   └── output    file  json       17 B\n"
        "  ├── ✓ split  finished    #.##s  cache miss\n"
        "  │   ├── output.0  file  json       13 B\n"
        "  │   └── output.1  file  json        5 B\n"
        "  └── ✗ fit    failed      #.##s  cache miss\n"
        "      └── ValueError: alpha must be non-negative, got -1.0\n"
    )
    line = (
        EXAMPLE.read_text()
        .splitlines()
        .index('        raise ValueError(f"alpha must be non-negative, got {alpha}")')
    )
    errors = result.stderr.splitlines()
    assert errors[0] == f"Traceback of step 'fit' (run {steps['fit'].run_id[:8]}):"
    assert errors[1] == "Traceback (most recent call last):"
    assert f'  File "{EXAMPLE}", line {line + 1}, in fit' in errors
    assert errors[-2:] == [
        "ValueError: alpha must be non-negative, got -1.0",
        f"error[pipeline.step_failed]: Step 'fit' of pipeline 'train' failed (pipeline run {record.run_id}): "
        "ValueError: alpha must be non-negative, got -1.0. Fix it and run the pipeline again: the steps that "
        "finished are reused from the cache.",
    ]

    again = invoke("pipelines", "run", REF)

    assert again.exit_code == 0, again.stderr
    assert masked(again.stdout).splitlines()[0].endswith(": finished in #.##s, 2 of 4 steps from the cache")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["no_such_module:train"],
            "error[invalid_input.pipeline]: Cannot import module 'no_such_module' of pipeline reference "
            "'no_such_module:train': No module named 'no_such_module'.",
        ),
        (
            ["tests.cli._pipeline_example:nope"],
            "error[invalid_input.pipeline]: Module 'tests.cli._pipeline_example' has no attribute 'nope' "
            "(pipeline reference 'tests.cli._pipeline_example:nope').",
        ),
        (
            ["tests.cli._pipeline_example:fit"],
            "error[invalid_input.pipeline]: 'tests.cli._pipeline_example:fit' is a Step, not a pipeline. "
            "Decorate the function with @lw.pipeline.",
        ),
        (
            [REF, "-p", "n=eight"],
            "error[invalid_input.pipeline]: The parameter 'n' of pipeline 'train' must be int. Got 'eight' "
            "instead (invalid literal for int() with base 10: 'eight').",
        ),
        (
            [REF, "-p", "size=3"],
            "error[invalid_input.pipeline]: Pipeline 'train' has no parameter 'size'. Its parameters: n, alpha.",
        ),
        (
            [REF, "-p", "n"],
            "error[invalid_input]: A pipeline parameter is given as -p KEY=VALUE (e.g. -p n=100). Got 'n' "
            "instead.",
        ),
        (
            [REF, "-p", "n=3", "-p", "n=4"],
            "error[invalid_input]: The parameter 'n' is given twice, as '3' and '4'. Give it once.",
        ),
        (
            [REF, "--workers", "2"],
            "error[invalid_input]: --workers sets the worker processes of the process executor, but pipeline "
            "'train' runs with the inline executor. Add --executor process.",
        ),
    ],
    ids=[
        "unknown-module",
        "unknown-attribute",
        "not-a-pipeline",
        "wrong-type",
        "unknown-param",
        "no-equals",
        "twice",
        "workers-inline",
    ],
)
def test_bad_input_exits_2_before_anything_runs(
    invoke: Invoker, catalog: PipelineCatalog, arguments: list[str], message: str
) -> None:
    result = invoke("pipelines", "run", *arguments)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"
    assert catalog.pipeline_runs() == []


@pytest.fixture
def module_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder holding ``cli_flow_module.py`` (a copy of the example); the module is forgotten after."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "cli_flow_module.py").write_text(EXAMPLE.read_text(), encoding="utf-8")
    yield folder
    sys.modules.pop("cli_flow_module", None)


def test_a_module_of_the_current_folder_is_importable_and_the_path_is_restored(
    invoke: Invoker, module_folder: Path, catalog: PipelineCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(module_folder)
    path_before = list(sys.path)

    result = invoke("pipelines", "run", "cli_flow_module:train", "-p", "n=4")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout).endswith("\nOutput: 2.0\n")
    assert sys.path == path_before
    assert [summary.ref for summary in catalog.list_pipelines()] == ["cli_flow_module:train"]


def test_a_file_path_reference_runs_the_pipeline_in_that_file(invoke: Invoker, module_folder: Path) -> None:
    result = invoke("pipelines", "run", f"{module_folder / 'cli_flow_module.py'}:train")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout).endswith("\nOutput: 4.0\n")


def test_an_error_importing_the_users_module_shows_its_traceback_and_exits_2(
    invoke: Invoker, tmp_path: Path
) -> None:
    broken = tmp_path / "broken_flow.py"
    broken.write_text("import loopwright as lw\n\nRATE = 1 / 0\n", encoding="utf-8")

    result = invoke("pipelines", "run", f"{broken}:train")

    sys.modules.pop("broken_flow", None)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Traceback (most recent call last):\n"
        f'  File "{broken}", line 3, in <module>\n'
        "    RATE = 1 / 0\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
        f"error[invalid_input.pipeline]: Importing '{broken}' for pipeline reference '{broken}:train' raised "
        f"ZeroDivisionError: division by zero ({broken}:3). Its traceback is above.\n"
    )


def test_the_process_executor_runs_the_steps_in_worker_processes(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    result = invoke("pipelines", "run", REF, "--executor", "process", "--workers", "2", "-p", "n=12")

    assert result.exit_code == 0, result.stderr
    assert plain(result.stdout).endswith("\nOutput: 6.0\n")
    record, steps = latest(catalog)
    assert record.executor == "process"
    assert {step.status for step in steps.values()} == {"finished"}


def test_a_step_logging_a_metric_records_it_on_its_step_run(
    invoke: Invoker, tmp_path: Path, client: Client, catalog: PipelineCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metric_flow.py").write_text(
        "import loopwright as lw\n\n@lw.step\ndef fit(n: int) -> int:\n    lw.log_metric('rows', n)\n"
        "    return n\n\n@lw.pipeline\ndef train(n: int = 3):\n    return fit(n)\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "metric_flow", raising=False)

    result = invoke("pipelines", "run", "metric_flow:train")

    sys.modules.pop("metric_flow", None)
    assert result.exit_code == 0, result.stderr
    _, steps = latest(catalog)
    assert client.get_run(steps["fit"].run_id).metrics == {"rows": 3.0}


# --- list and runs ---------------------------------------------------------------------------------------


def test_list_prints_each_pipeline_with_its_latest_run(invoke: Invoker, catalog: PipelineCatalog) -> None:
    invoke("pipelines", "run", REF)
    invoke("pipelines", "run", REF, "-p", "alpha=-1")

    result = invoke("pipelines", "list")

    assert result.exit_code == 0, result.stderr
    record, _ = latest(catalog)
    assert plain(result.stdout) == (
        " name    ref                                 runs   last run   status   started\n"
        "────────────────────────────────────────────────────────────────────────────────────────────\n"
        f" train   {REF}      2   {record.run_id[:8]}   failed   {start(record)}\n"
    )


def test_list_and_runs_without_pipelines_say_how_to_run_one(
    invoke: Invoker, client: Client, workspace: Path
) -> None:
    hint = f"loopwright --workspace {workspace} pipelines run MODULE:PIPELINE"

    assert plain(invoke("pipelines", "list").stdout) == f"No pipelines yet. Run one with {hint}.\n"
    assert plain(invoke("pipelines", "runs").stdout) == f"No pipeline runs yet. Run one with {hint}.\n"


def test_runs_lists_runs_newest_first_with_cache_hits_and_trigger(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    invoke("pipelines", "run", REF)
    invoke("pipelines", "run", REF, "-p", "alpha=-1")
    invoke("pipelines", "run", REF, "-p", "alpha=0.7")
    third, second, first = catalog.pipeline_runs()

    result = invoke("pipelines", "runs")

    assert result.exit_code == 0, result.stderr
    assert masked(result.stdout) == (
        " id         pipeline   status     start                 duration   cached   trigger\n"
        "────────────────────────────────────────────────────────────────────────────────────\n"
        f" {third.run_id[:8]}   train      finished   {start(third)}      #.##s      2/4   manual\n"
        f" {second.run_id[:8]}   train      failed     {start(second)}      #.##s      2/3   manual\n"
        f" {first.run_id[:8]}   train      finished   {start(first)}      #.##s      0/4   manual\n"
    )
    limited = invoke("pipelines", "runs", "train", "--limit", "1")
    assert [line.split()[0] for line in plain(limited.stdout).splitlines()[2:]] == [
        third.run_id[:8],
        "Showing",
    ]
    assert plain(limited.stdout).splitlines()[-1] == (
        "Showing the newest 1 run; there are more. Raise --limit (-n) to see more."
    )


def test_runs_of_an_unknown_pipeline_names_the_known_ones(invoke: Invoker) -> None:
    invoke("pipelines", "run", REF)

    result = invoke("pipelines", "runs", "trian")

    assert result.exit_code == 1
    assert result.stderr == (
        "error[not_found.pipeline]: There is no pipeline named 'trian' in this workspace. Known pipelines: "
        "train.\n"
    )


# --- show and explain ------------------------------------------------------------------------------------


def test_show_prints_the_run_header_and_its_step_tree(invoke: Invoker, catalog: PipelineCatalog) -> None:
    invoke("pipelines", "run", REF)
    _, first = latest(catalog)
    invoke("pipelines", "run", REF, "-p", "alpha=0.7")
    record, _ = latest(catalog)

    result = invoke("pipelines", "show", record.run_id[:6])

    assert result.exit_code == 0, result.stderr
    assert masked(result.stdout) == (
        f"Pipeline run train  {record.run_id}\n"
        "\n"
        f"  name        {record.name}\n"
        "  status      finished\n"
        f"  started     {start(record)}\n"
        "  duration    #.##s\n"
        "  params      n=8, alpha=0.7\n"
        f"  definition  {record.definition_hash[:12]}\n"
        "  git commit  —\n"
        "  executor    inline\n"
        "  trigger     manual\n"
        "  code        stored (print it with --code)\n"
        "\n"
        "Steps (4, 2 from the cache)\n"
        "  train\n"
        f"  ├── ✓ load   finished    #.##s  cached from {first['load'].run_id[:8]}\n"
        "  │   └── output    file  json       17 B\n"
        f"  ├── ✓ split  finished    #.##s  cached from {first['split'].run_id[:8]}\n"
        "  │   ├── output.0  file  json       13 B\n"
        "  │   └── output.1  file  json        5 B\n"
        "  ├── ✓ fit    finished    #.##s  cache miss\n"
        "  │   └── output    file  json       24 B\n"
        "  └── ✓ score  finished    #.##s  cache miss\n"
        "      └── output    file  json        3 B\n"
    )


def test_show_of_a_failed_run_gives_the_failed_steps_last_error_line(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    invoke("pipelines", "run", REF, "-p", "alpha=-1")
    record, _ = latest(catalog)

    result = invoke("pipelines", "show", record.run_id)

    assert result.exit_code == 0, result.stderr
    lines = masked(result.stdout).splitlines()
    assert lines[3] == "  status      failed"
    assert lines[-3:] == [
        "  │   └── output.1  file  json        5 B",
        "  └── ✗ fit    failed      #.##s  cache miss",
        "      └── ValueError: alpha must be non-negative, got -1.0",
    ]


def test_show_code_prints_the_source_stored_with_the_run(invoke: Invoker, catalog: PipelineCatalog) -> None:
    invoke("pipelines", "run", REF)
    record, _ = latest(catalog)

    result = invoke("pipelines", "show", record.run_id, "--code")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"# {EXAMPLE}\n{EXAMPLE.read_text(encoding='utf-8').rstrip()}\n"


def test_show_of_a_run_that_is_not_a_pipeline_run_says_where_to_find_them(
    invoke: Invoker, client: Client
) -> None:
    seed_run(client, "dddd4444" + "0" * 24, "plain-run")

    result = invoke("pipelines", "show", "dddd4444")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error[not_found.pipeline_run]: Run {'dddd4444' + '0' * 24!r} is not a pipeline run. List them with "
        "`loopwright pipelines runs`.\n"
    )


def test_explain_says_which_part_of_the_key_changed_or_where_a_hit_came_from(
    invoke: Invoker, catalog: PipelineCatalog
) -> None:
    invoke("pipelines", "run", REF)
    _, first = latest(catalog)
    invoke("pipelines", "run", REF, "-p", "alpha=0.7")
    record, _ = latest(catalog)

    missed = invoke("pipelines", "explain", record.run_id[:8], "fit")
    hit = invoke("pipelines", "explain", record.run_id, "load")

    assert missed.exit_code == 0, missed.stderr
    assert plain(missed.stdout) == (
        f"Step 'fit' of pipeline run {record.run_id}: cache miss\n"
        "  - parameter 'alpha' changed: 0.5 → 0.7\n"
        f"Compared with the step's run {first['fit'].run_id}.\n"
    )
    assert plain(hit.stdout) == (
        f"Step 'load' of pipeline run {record.run_id}: cache hit\n"
        f"  - same key as run {first['load'].run_id}, whose outputs were reused (nothing ran)\n"
    )


def test_explain_of_an_unknown_step_names_the_steps(invoke: Invoker, catalog: PipelineCatalog) -> None:
    invoke("pipelines", "run", REF)
    record, _ = latest(catalog)

    result = invoke("pipelines", "explain", record.run_id, "evaluate")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error[not_found.step]: Pipeline run {record.run_id} has no step 'evaluate'. Its steps: load, split, "
        "fit, score.\n"
    )


def test_a_long_output_is_cut_and_says_how_much_is_left_out() -> None:
    from loopwright.cli.pipelines import _truncated

    assert _truncated("x" * 600) == "x" * 500 + "… (100 more characters)"
    assert _truncated("\n".join("abc" for _ in range(20))) == "\n".join("abc" for _ in range(12)) + (
        "… (32 more characters)"
    )
    assert _truncated("4.0") == "4.0"
