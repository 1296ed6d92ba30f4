"""The step cache: a hit and a miss for each part of the key, and what ``lw.explain`` says about it.

The key of a step execution is made of the step's code (with the user functions and constants it uses),
its parameters, the content of its inputs and the materializer version. Each test changes one part and
checks that exactly the steps it reaches run again, and pins the explanation word for word.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest

import loopwright as lw
from loopwright.pipelines import materializers, runner
from loopwright.store.metadata import now_ms
from tests.pipelines import example_flows as flows
from tests.pipelines.editing import EditableFlow


def statuses(run: lw.PipelineRun) -> dict[str, str]:
    return {execution.name: execution.cache_status for execution in run.steps}


def explained(run: lw.PipelineRun, step: str) -> str:
    """``lw.explain`` as text, with the pipeline run's own id masked."""
    return str(lw.explain(run, step)).replace(run.run_id, "<run>")


def header(step: str, outcome: str) -> str:
    return f"step {step!r} of pipeline run <run>: cache {outcome}"


def test_a_second_run_hits_every_step(client: lw.Client) -> None:
    first = flows.training()
    second = flows.training()
    assert statuses(first) == {"load": "miss", "split": "miss", "fit": "miss", "score": "miss"}
    assert statuses(second) == {"load": "hit", "split": "hit", "fit": "hit", "score": "hit"}
    assert second.output == first.output == 10.0
    producer = first.step("fit").run_id
    assert explained(second, "fit") == "\n".join(
        [header("fit", "hit"), f"  - same key as run {producer}, whose outputs were reused (nothing ran)"]
    )
    assert explained(first, "load") == "\n".join(
        [header("load", "miss"), "  - first execution of step 'load' in pipeline 'training'"]
    )


def test_formatting_and_comments_do_not_change_the_code_hash(editable: EditableFlow) -> None:
    editable.run()
    editable.edit(base_body="return n * 3  # a comment, and the same code")
    again = editable.run()
    assert statuses(again) == {"base": "hit", "shifted": "hit", "gated": "hit"}


def test_an_edited_step_runs_again_and_its_unchanged_output_keeps_the_rest_cached(
    editable: EditableFlow,
) -> None:
    first = editable.run()
    editable.edit(base_body="return 3 * n")  # other code, same result
    second = editable.run()
    assert statuses(second) == {"base": "miss", "shifted": "hit", "gated": "hit"}
    assert second.output == first.output == (7, True)
    assert explained(second, "base") == "\n".join(
        [header("base", "miss"), "  - the step's code changed (or code or constants it uses)"]
    )
    editable.edit(base_body="return n * 30")  # a new result: every step that reads it runs again
    third = editable.run()
    assert statuses(third) == {"base": "miss", "shifted": "miss", "gated": "miss"}
    assert third.output == (61, True)
    old, new = second.step("base").outputs[0].digest, third.step("base").outputs[0].digest
    assert explained(third, "shifted") == "\n".join(
        [header("shifted", "miss"), f"  - input 'value' changed (content {old[:12]} → {new[:12]})"]
    )


def test_an_edited_helper_function_reruns_only_the_step_that_calls_it(editable: EditableFlow) -> None:
    editable.run()
    editable.edit(offset=10)
    second = editable.run()
    assert statuses(second) == {"base": "hit", "shifted": "miss", "gated": "hit"}
    assert second.output == (16, True)
    assert explained(second, "shifted") == "\n".join(
        [header("shifted", "miss"), "  - the step's code changed (or code or constants it uses)"]
    )


def test_an_edited_module_constant_reruns_only_the_step_that_reads_it(editable: EditableFlow) -> None:
    editable.run()
    editable.edit(threshold=50)
    second = editable.run()
    assert statuses(second) == {"base": "hit", "shifted": "hit", "gated": "miss"}
    assert second.output == (7, False)
    assert explained(second, "gated") == "\n".join(
        [header("gated", "miss"), "  - the step's code changed (or code or constants it uses)"]
    )


# --- parameters and input content -------------------------------------------------------------------------


def test_a_changed_parameter_reruns_its_step_and_the_steps_downstream(client: lw.Client) -> None:
    flows.training(alpha=0.1)
    second = flows.training(alpha=0.2)
    assert statuses(second) == {"load": "hit", "split": "hit", "fit": "miss", "score": "miss"}
    assert explained(second, "fit") == "\n".join(
        [header("fit", "miss"), "  - parameter 'alpha' changed: 0.1 → 0.2"]
    )
    back = flows.training(alpha=0.1)
    assert statuses(back) == {"load": "hit", "split": "hit", "fit": "hit", "score": "hit"}


def test_changed_input_content_reruns_the_steps_that_read_it(client: lw.Client) -> None:
    first = flows.training(n=20)
    second = flows.training(n=40)
    assert statuses(second) == {"load": "miss", "split": "miss", "fit": "miss", "score": "miss"}
    old, new = first.step("load").outputs[0].digest, second.step("load").outputs[0].digest
    assert explained(second, "split") == "\n".join(
        [header("split", "miss"), f"  - input 'frame' changed (content {old[:12]} → {new[:12]})"]
    )
    assert explained(second, "load") == "\n".join(
        [header("load", "miss"), "  - parameter 'n' changed: 20 → 40"]
    )


def test_an_ignored_parameter_is_not_part_of_the_key(client: lw.Client) -> None:
    first = flows.training(verbose=False)
    second = flows.training(verbose=True)
    assert statuses(second) == {"load": "hit", "split": "hit", "fit": "hit", "score": "hit"}
    assert second.step("fit").source_run_id == first.step("fit").run_id
    recorded = lw.run_pipeline(flows.training, {"alpha": 0.3, "verbose": True}).step("fit")
    assert recorded.cache_status == "miss"  # the other parameters still count


# --- data inputs ----------------------------------------------------------------------------------------


def test_a_new_dataset_version_reruns_exactly_the_steps_that_depend_on_it(client: lw.Client) -> None:
    lw.log_dataset("transactions", pd.DataFrame({"amount": [1.0, 2.0, 3.0]}))
    first = flows.on_transactions()
    assert first.output == "3/3"
    assert statuses(flows.on_transactions()) == {"count_rows": "hit", "constant_rows": "hit", "report": "hit"}

    lw.log_dataset("transactions", pd.DataFrame({"amount": [4.0, 5.0, 6.0]}))  # new data, same row count
    second = flows.on_transactions()
    assert statuses(second) == {"count_rows": "miss", "constant_rows": "hit", "report": "hit"}
    old, new = (lw.dataset("transactions", version).content_hash for version in (1, 2))
    assert explained(second, "count_rows") == "\n".join(
        [header("count_rows", "miss"), f"  - input 'frame' changed (dataset {old[:12]} → {new[:12]})"]
    )

    lw.log_dataset("transactions", pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0]}))
    third = flows.on_transactions()
    assert statuses(third) == {"count_rows": "miss", "constant_rows": "hit", "report": "miss"}
    assert third.output == "4/3"


# --- the materializer version -----------------------------------------------------------------------------


def test_a_new_materializer_version_reruns_every_step(
    client: lw.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    flows.training()
    current, bumped = materializers.MATERIALIZER_VERSION, f"{materializers.MATERIALIZER_VERSION}-next"
    monkeypatch.setattr(runner, "MATERIALIZER_VERSION", bumped)
    monkeypatch.setattr(materializers, "MATERIALIZER_VERSION", bumped)
    second = flows.training()
    assert statuses(second) == {"load": "miss", "split": "miss", "fit": "miss", "score": "miss"}
    assert explained(second, "load") == "\n".join(
        [header("load", "miss"), f"  - the materializer version changed: {current} → {bumped}"]
    )
    assert second.step("load").outputs[0].properties["materializer_version"] == bumped
    assert statuses(flows.training()) == {"load": "hit", "split": "hit", "fit": "hit", "score": "hit"}


# --- switching the cache off ----------------------------------------------------------------------------

calls: list[int] = []


@lw.step(cache=False)
def stamped(n: int) -> int:
    calls.append(n)
    return n + 1


@lw.step
def doubled(value: int) -> int:
    return 2 * value


@lw.pipeline
def uncached(n: int = 1) -> Any:
    return doubled(stamped(n))


def test_a_step_with_cache_false_runs_every_time(client: lw.Client) -> None:
    calls.clear()
    uncached()
    second = uncached()
    assert calls == [1, 1]
    assert statuses(second) == {"stamped": "disabled", "doubled": "hit"}
    assert second.output == 4
    assert explained(second, "stamped") == "\n".join(
        [header("stamped", "disabled"), "  - cache=False on the step"]
    )


def test_a_run_with_cache_false_runs_every_step_and_later_runs_reuse_its_results(client: lw.Client) -> None:
    flows.training()
    forced = lw.run_pipeline(flows.training, cache=False)
    assert statuses(forced) == {
        "load": "disabled",
        "split": "disabled",
        "fit": "disabled",
        "score": "disabled",
    }
    assert explained(forced, "fit") == "\n".join(
        [header("fit", "disabled"), "  - the run was started with cache=False"]
    )
    after = flows.training()
    assert statuses(after) == {"load": "hit", "split": "hit", "fit": "hit", "score": "hit"}
    assert after.step("fit").source_run_id == forced.step("fit").run_id


def test_an_expired_result_is_not_reused(client: lw.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lw.run_pipeline(expiring)
    assert statuses(lw.run_pipeline(expiring)) == {"fresh": "hit", "kept": "hit"}
    later = now_ms() + 120_000  # two minutes on: older than expire=60, younger than nothing
    monkeypatch.setattr(runner, "now_ms", lambda: later)
    second = lw.run_pipeline(expiring)
    assert statuses(second) == {"fresh": "miss", "kept": "hit"}
    assert second.step("kept").source_run_id == first.step("kept").run_id
    assert explained(second, "fresh") == "\n".join(
        [header("fresh", "miss"), "  - the cached result is older than expire=60 s"]
    )


@lw.step(expire=60)
def fresh(n: int) -> int:
    return n


@lw.step
def kept(n: int) -> int:
    return n


@lw.pipeline
def expiring(n: int = 5) -> Any:
    return fresh(n), kept(n)


def test_a_missing_cached_artifact_makes_the_step_run_again(client: lw.Client) -> None:
    first = flows.training()
    producer = first.step("fit")
    client.artifacts.delete(producer.outputs[0].digest)
    second = flows.training()
    assert statuses(second) == {"load": "hit", "split": "hit", "fit": "miss", "score": "hit"}
    assert client.artifacts.exists(producer.outputs[0].digest)  # written again
    assert explained(second, "fit") == "\n".join(
        [
            header("fit", "miss"),
            f"  - the cached output 'output' of run {producer.run_id} is missing from the artifact store",
        ]
    )


# --- unhashable inputs ----------------------------------------------------------------------------------


class Opaque:
    """An object with no content hash (a connection, a client)."""


@lw.step
def measure(values: list[int], handle: object) -> int:
    return len(values)


@lw.step
def numbers(n: int) -> list[int]:
    return list(range(n))


@lw.pipeline
def with_handle(handle: object = None, n: int = 3) -> Any:
    return measure(numbers(n), handle)


@lw.step(ignore=["handle"])
def measure_ignoring(values: list[int], handle: object) -> int:
    return len(values)


@lw.pipeline
def with_ignored_handle(handle: object = None) -> Any:
    return measure_ignoring(numbers(3), handle)


def test_an_unhashable_input_disables_the_cache_of_its_step_with_a_warning(client: lw.Client) -> None:
    message = (
        "Step 'measure' of pipeline 'with_handle' runs without its cache: its input 'handle' is an object "
        "of type Opaque, which has no stable content hash. Pass data as a step output, a dataset version "
        "or a JSON-able value, or add 'handle' to the step's ignore=[...]."
    )
    for attempt in range(2):
        with pytest.warns(lw.CacheDisabledWarning) as caught:
            run = with_handle(Opaque())
        assert [str(warning.message) for warning in caught] == [message]
        assert caught[0].filename == __file__  # the step call in the pipeline body
        assert statuses(run) == {"numbers": "hit" if attempt else "miss", "measure": "disabled"}
        assert run.output == 3
    assert explained(run, "measure") == "\n".join(
        [
            header("measure", "disabled"),
            "  - input 'handle' has no stable content hash (an object of type Opaque)",
        ]
    )
    # A result computed without its whole key never answers a later run, even one that hashes.
    assert statuses(with_handle(None)) == {"numbers": "hit", "measure": "miss"}


def test_an_ignored_unhashable_input_keeps_the_cache_and_warns_nothing(client: lw.Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_ignored_handle(Opaque())
        second = with_ignored_handle(Opaque())
    assert statuses(second) == {"numbers": "hit", "measure_ignoring": "hit"}


# --- a hit is a full record -----------------------------------------------------------------------------


def test_a_hit_records_a_step_run_pointing_at_its_producer_with_the_same_lineage(client: lw.Client) -> None:
    first = flows.training()
    second = flows.training()
    for name in ("load", "split", "fit", "score"):
        producer, hit = first.step(name), second.step(name)
        assert hit.cache_status == "hit"
        assert hit.source_run_id == producer.run_id
        assert hit.run_id != producer.run_id
        record = client.get_run(hit.run_id)
        assert (record.kind, record.name, record.parent_id, record.status.value) == (
            "step",
            name,
            second.run_id,
            "finished",
        )
        for direction in ("input", "output"):
            linked = {
                (edge.name, edge.artifact.id) for edge in client.store.run_artifacts(hit.run_id, direction)
            }
            produced = {
                (edge.name, edge.artifact.id)
                for edge in client.store.run_artifacts(producer.run_id, direction)
            }
            assert linked == produced
            assert linked or (name == "load" and direction == "input")
        assert [ref.artifact_id for ref in hit.outputs] == [ref.artifact_id for ref in producer.outputs]
    assert {edge.name for edge in client.store.run_artifacts(second.step("score").run_id, "input")} == {
        "model",
        "test",
    }
