"""Running pipelines: resumption after a failure, parallel steps, outputs by materializer, metrics logged
inside steps, workflow versioning (definition hash, code snapshot, git commit) and lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import loopwright as lw
from loopwright.pipelines.materializers import MATERIALIZER_VERSION as VERSION
from loopwright.pipelines.runner import code_snapshot
from loopwright.store.pipelines import PipelineCatalog
from tests.pipelines import example_flows as flows
from tests.pipelines.editing import EditableFlow


def statuses(run: lw.PipelineRun) -> dict[str, str]:
    return {execution.name: execution.cache_status for execution in run.steps}


# --- resumption ------------------------------------------------------------------------------------------


def test_a_failed_run_is_recorded_and_the_next_run_resumes_from_the_finished_steps(
    client: lw.Client, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    catalog = PipelineCatalog(client.store)
    with pytest.raises(lw.errors.StepFailedError) as failed:
        flows.resumable(flag=str(flag))
    run_id = failed.value.details["run_id"]
    assert str(failed.value) == (
        f"Step 'flaky' of pipeline 'resumable' failed (pipeline run {run_id}): RuntimeError: no flag file "
        f"at {flag}. Fix it and run the pipeline again: the steps that finished are reused from the cache."
    )
    assert failed.value.code == "pipeline.step_failed"
    assert failed.value.details == {"run_id": run_id, "step": "flaky"}
    assert isinstance(failed.value.__cause__, RuntimeError)

    record = catalog.get_pipeline_run(run_id)
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("step 'flaky' failed:\nTraceback (most recent call last):")
    assert record.error.endswith(f"RuntimeError: no flag file at {flag}\n")
    steps = {step.step: (step.status, step.cache_status) for step in catalog.steps(run_id)}
    assert steps == {"prepare": ("finished", "miss"), "flaky": ("failed", "miss")}  # finish never started
    flaky = next(step for step in catalog.steps(run_id) if step.step == "flaky")
    assert flaky.cache_key is None
    assert flaky.outputs == []
    assert str(lw.explain(run_id, "flaky")).replace(run_id, "<run>").splitlines() == [
        "step 'flaky' of pipeline run <run>: cache miss",
        "  - first execution of step 'flaky' in pipeline 'resumable'",
        "  - this execution failed, so it is not reused",
    ]

    flag.touch()  # the fix
    resumed = flows.resumable(flag=str(flag))
    assert resumed.status == "finished"
    assert catalog.get_pipeline_run(resumed.run_id).status == "finished"
    assert statuses(resumed) == {"prepare": "hit", "flaky": "miss", "finish": "miss"}
    assert resumed.step("prepare").source_run_id == catalog.steps(run_id)[0].run_id
    assert resumed.output == "total=6"
    failed_step = flaky.run_id
    assert str(lw.explain(resumed, "flaky")).replace(resumed.run_id, "<run>").splitlines() == [
        "step 'flaky' of pipeline run <run>: cache miss",
        f"  - the key equals that of run {failed_step}, but that execution failed",
    ]


# --- parallel execution ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_independent_steps_run_in_parallel_in_worker_processes(client: lw.Client, tmp_path: Path) -> None:
    # Each `slow` step sleeps 0.5 s, then waits for the other to have started: run one after the other, the
    # first would give up (and fail the run) instead of finishing.
    meeting = tmp_path / "parallel"
    meeting.mkdir()
    parallel = flows.parallel(folder=str(meeting))
    assert parallel.output == "A+B"
    assert statuses(parallel) == {"slow": "miss", "slow_2": "miss", "join": "miss"}
    catalog = PipelineCatalog(client.store)
    assert catalog.get_pipeline_run(parallel.run_id).executor == "process"

    # Each step logged, from its own worker process, when it really ran: the two runs overlap.
    metrics = [client.get_run(parallel.step(name).run_id).metrics for name in ("slow", "slow_2")]
    assert max(found["began"] for found in metrics) < min(found["ended"] for found in metrics)
    assert len({found["pid"] for found in metrics}) == 2
    assert os.getpid() not in {found["pid"] for found in metrics}
    # In the store, both overlap too, and join started after both of its inputs had finished.
    records = {record.step: record for record in catalog.steps(parallel.run_id)}
    first, second = records["slow"], records["slow_2"]
    assert first.end is not None
    assert second.end is not None
    assert max(first.start, second.start) < min(first.end, second.end)
    assert records["join"].start >= max(first.end, second.end)

    arrived = tmp_path / "inline"
    arrived.mkdir()
    for name in ("a", "b"):
        (arrived / name).touch()  # one at a time, no step would ever see the other start
    inline = lw.run_pipeline(flows.parallel, {"folder": str(arrived)}, executor="inline")
    assert inline.output == parallel.output
    # Same values in, same content out: the inline run's join is answered by the parallel run's.
    assert statuses(inline) == {"slow": "miss", "slow_2": "miss", "join": "hit"}
    assert inline.step("join").source_run_id == parallel.step("join").run_id
    assert [client.get_run(inline.step(name).run_id).metrics["pid"] for name in ("slow", "slow_2")] == [
        os.getpid(),
        os.getpid(),
    ]


@pytest.mark.slow
def test_a_step_failing_in_a_worker_process_fails_the_run_and_resumes_inline(
    client: lw.Client, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    with pytest.raises(lw.errors.StepFailedError) as failed:
        lw.run_pipeline(flows.resumable, {"flag": str(flag)}, executor="process", max_workers=2)
    assert f"RuntimeError: no flag file at {flag}. Fix it" in str(failed.value)
    assert failed.value.__cause__ is None  # the exception stayed in the worker; its traceback is stored
    flag.touch()
    resumed = lw.run_pipeline(flows.resumable, {"flag": str(flag)})
    assert statuses(resumed) == {"prepare": "hit", "flaky": "miss", "finish": "miss"}


@pytest.mark.slow
def test_a_pipeline_loaded_from_a_file_runs_in_worker_processes(client: lw.Client, tmp_path: Path) -> None:
    script = tmp_path / "file_pipeline_for_workers.py"
    script.write_text(
        "import os\n\nimport loopwright as lw\n\n\n@lw.step\ndef where(n: int) -> int:\n"
        "    return os.getpid()\n\n\n@lw.pipeline\ndef flow(n: int = 1):\n    return where(n)\n",
        encoding="utf-8",
    )
    run = lw.run_pipeline(f"{script}:flow", executor="process", max_workers=1)
    assert run.status == "finished"
    assert run.output != os.getpid()


@pytest.mark.slow
def test_workers_do_not_hang_when_this_process_already_used_polars(tmp_path: Path) -> None:
    # A child forked from a process whose polars runtime has run hangs in its next polars call, forever: so
    # workers start from a fork server. In a separate interpreter, so that a hang fails this test.
    script = tmp_path / "polars_then_workers.py"
    script.write_text(
        "import sys\n"
        "import loopwright as lw\n"
        "from tests.pipelines import example_flows as flows\n\n"
        "if __name__ == '__main__':\n"
        f"    lw.connect(lw.Settings(workspace={str(tmp_path / 'ws')!r}))\n"
        "    flows.materials()\n"
        "    flows.materials().output_of('make_polars')  # a cache hit: polars reads the file, here\n"
        "    run = lw.run_pipeline(flows.materials, executor='process', max_workers=2, cache=False)\n"
        "    print(run.output)\n",
        encoding="utf-8",
    )
    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (finished.returncode, finished.stdout) == (0, "('3|2|(2, 3)|fraud|7', [1, 2], 'two')\n"), (
        finished.stderr
    )


# --- outputs by materializer -----------------------------------------------------------------------------


def test_each_kind_of_output_is_stored_by_its_materializer_and_read_back(client: lw.Client) -> None:
    run = flows.materials()
    stored = {
        (execution.name, ref.name): (ref.kind, ref.materializer, ref.media_type, ref.properties)
        for execution in run.steps
        for ref in execution.outputs
    }
    assert stored == {
        ("make_pair", "output.0"): ("file", "json", "application/json", {"materializer_version": VERSION}),
        ("make_pair", "output.1"): ("file", "json", "application/json", {"materializer_version": VERSION}),
        ("make_pandas", "output"): (
            "dataset",
            "parquet.pandas",
            "application/vnd.apache.parquet",
            {"rows": 3, "columns": ["a", "b"], "materializer_version": VERSION},
        ),
        ("make_polars", "output"): (
            "dataset",
            "parquet.polars",
            "application/vnd.apache.parquet",
            {"rows": 2, "columns": ["a", "b"], "materializer_version": VERSION},
        ),
        ("make_array", "output"): (
            "file",
            "numpy",
            "application/x-npy",
            {"dtype": "float32", "shape": [2, 3], "materializer_version": VERSION},
        ),
        ("make_json", "output"): ("file", "json", "application/json", {"materializer_version": VERSION}),
        ("make_object", "output"): (
            "file",
            "pickle",
            "application/x-python-pickle",
            {"pickled": True, "type": "tests.pipelines.example_flows.Thing", "materializer_version": VERSION},
        ),
        ("describe", "output"): ("file", "json", "application/json", {"materializer_version": VERSION}),
    }
    # The artifacts table agrees: a DataFrame is a dataset artifact, with the same digest.
    pandas_step = run.step("make_pandas")
    (edge,) = client.store.run_artifacts(pandas_step.run_id, "output")
    assert (edge.name, edge.artifact.kind, edge.artifact.digest) == (
        "output",
        "dataset",
        pandas_step.outputs[0].digest,
    )
    assert edge.artifact.properties["materializer_version"] == VERSION
    assert {edge.name for edge in client.store.run_artifacts(run.step("make_pair").run_id, "output")} == {
        "output.0",
        "output.1",
    }
    assert run.output == ("3|2|(2, 3)|fraud|7", [1, 2], "two")

    # A second run is all hits: nothing ran, so every value is read back from the artifact store.
    again = flows.materials()
    assert set(statuses(again).values()) == {"hit"}
    assert again.output == run.output
    pd.testing.assert_frame_equal(
        again.output_of("make_pandas"),
        pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30]),
    )
    assert again.output_of("make_polars").equals(pl.DataFrame({"a": [1.5, 2.5], "b": [True, False]}))
    array = again.output_of("make_array")
    assert array.dtype == np.float32
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert again.output_of("make_json") == {
        "name": "fraud",
        "weights": [0.5, 1.0],
        "nested": {"ok": True, "none": None},
    }
    assert again.output_of("make_object") == flows.Thing(7)
    assert again.output_of("make_pair") == ([1, 2], "two")
    with pytest.raises(lw.errors.NotFoundError) as missing:
        again.output_of("nothing")
    assert str(missing.value) == (
        f"Pipeline run {again.run_id} has no step 'nothing'. Its steps: "
        f"{', '.join(execution.name for execution in again.steps)}."
    )


def test_outputs_cross_process_boundaries_through_the_artifact_store(client: lw.Client) -> None:
    run = lw.run_pipeline(flows.materials, executor="process", max_workers=2)
    assert run.output == ("3|2|(2, 3)|fraud|7", [1, 2], "two")
    assert statuses(run) == dict.fromkeys(statuses(run), "miss")


# --- metrics logged inside steps -------------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_metrics_logged_inside_a_step_land_on_its_step_run(client: lw.Client, executor: str) -> None:
    run = lw.run_pipeline(flows.metered, {"n": 3}, executor=executor)
    step_run = run.step("noisy").run_id
    history = client.store.metric_history(step_run, "loss")
    assert [(point.step, point.value) for point in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert client.get_run(step_run).metrics == {"loss": 1 / 3}
    assert client.get_run(run.run_id).metrics == {}  # not on the pipeline run


# --- workflow versioning ---------------------------------------------------------------------------------


def test_the_definition_hash_is_stable_across_runs_and_parameters(client: lw.Client) -> None:
    catalog = PipelineCatalog(client.store)
    first, second, other = flows.training(), flows.training(), flows.training(alpha=0.5)
    hashes = {catalog.get_pipeline_run(run.run_id).definition_hash for run in (first, second, other)}
    assert len(hashes) == 1
    (definition_hash,) = hashes
    assert len(definition_hash) == 64
    (summary,) = catalog.list_pipelines()
    assert (summary.name, summary.ref, summary.definition_hash, summary.runs, summary.last_run_id) == (
        "training",
        "tests.pipelines.example_flows:training",
        definition_hash,
        3,
        other.run_id,
    )
    assert summary.description == "Load, split, fit and score."


def test_the_definition_hash_changes_with_a_steps_code_and_with_the_wiring(
    client: lw.Client, editable: EditableFlow
) -> None:
    catalog = PipelineCatalog(client.store)

    def definition_hash() -> str:
        return catalog.get_pipeline_run(editable.run().run_id).definition_hash

    first = definition_hash()
    assert definition_hash() == first
    editable.edit(base_body="return n * 3  # a comment is not a change")
    assert definition_hash() == first
    editable.edit(base_body="return 3 * n")
    edited_step = definition_hash()
    editable.edit(offset=2)
    edited_helper = definition_hash()
    editable.edit(wiring="return shifted(value), gated(shifted(value))")
    rewired = definition_hash()
    assert len({first, edited_step, edited_helper, rewired}) == 4


def test_a_run_stores_a_snapshot_of_the_code_that_ran(client: lw.Client) -> None:
    run = flows.training()
    record = PipelineCatalog(client.store).get_pipeline_run(run.run_id)
    assert record.code_artifact_id is not None
    snapshot = code_snapshot(client, record.code_artifact_id)
    source = Path(flows.__file__)
    assert snapshot == {str(source): source.read_text(encoding="utf-8")}
    (edge,) = client.store.run_artifacts(run.run_id, "input")
    assert (edge.name, edge.artifact.id, edge.artifact.kind) == ("code", record.code_artifact_id, "file")
    assert edge.artifact.properties == {"code_snapshot": True}


def test_a_run_records_the_git_commit_of_its_repository(
    client: lw.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repository, check=True)
    (repository / "README").write_text("pipelines\n")
    subprocess.run([*git, "add", "README"], cwd=repository, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=repository, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, check=True, capture_output=True, text=True
    ).stdout.strip()

    monkeypatch.chdir(repository)  # under pytest, the working directory is the code's folder
    run = flows.training()
    catalog = PipelineCatalog(client.store)
    assert catalog.get_pipeline_run(run.run_id).git_commit == commit
    assert {client.get_run(step.run_id).git_commit for step in run.steps} == {commit}

    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert catalog.get_pipeline_run(flows.training(n=7).run_id).git_commit is None


# --- lineage ---------------------------------------------------------------------------------------------


def test_dataset_inputs_are_linked_to_the_pipeline_run_and_to_the_steps_that_read_them(
    client: lw.Client,
) -> None:
    version = lw.log_dataset("transactions", pd.DataFrame({"amount": [1.0, 2.0, 3.0]}))
    artifact_id, name = version.lineage_ref()
    for attempt in range(2):  # the run that executed the step, then the one that hit the cache
        run = flows.on_transactions()
        pipeline_inputs = {
            (edge.name, edge.artifact.id) for edge in client.store.run_artifacts(run.run_id, "input")
        }
        assert (name, artifact_id) in pipeline_inputs
        step_inputs = client.store.run_artifacts(run.step("count_rows").run_id, "input")
        assert [(edge.name, edge.artifact.id, edge.artifact.kind) for edge in step_inputs] == [
            ("frame", artifact_id, "dataset")
        ]
        assert run.step("count_rows").cache_status == ("hit" if attempt else "miss")
    assert PipelineCatalog(client.store).get_pipeline_run(run.run_id).params == {"expected": 3}


def test_step_outputs_feed_the_next_steps_inputs_in_lineage(client: lw.Client) -> None:
    run = flows.training()
    produced = {ref.name: ref.artifact_id for ref in run.step("split").outputs}
    consumed = {
        edge.name: edge.artifact.id for edge in client.store.run_artifacts(run.step("fit").run_id, "input")
    }
    assert consumed == {"train": produced["output.0"]}
    scored = {
        edge.name: edge.artifact.id for edge in client.store.run_artifacts(run.step("score").run_id, "input")
    }
    assert scored == {"model": run.step("fit").outputs[0].artifact_id, "test": produced["output.1"]}
    assert {client.get_run(step.run_id).parent_id for step in run.steps} == {run.run_id}
