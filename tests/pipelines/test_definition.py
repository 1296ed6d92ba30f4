"""Bad input is refused before anything is recorded, with a message that points at the user's code.

Each pipeline below is wrong in one way. The tests pin the whole message (``where(marker)`` is the
``file:line`` of the line ending in ``# marker``) and check that the workspace holds no run afterwards.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import loopwright as lw
from loopwright.errors import PipelineDefinitionError, StepOutputError
from loopwright.store.pipelines import PipelineCatalog


def where(marker: str) -> str:
    """``file:line`` of the line of this file that ends with ``# marker``."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    (number,) = [index + 1 for index, line in enumerate(lines) if line.rstrip().endswith(f"# {marker}")]
    return f"{__file__}:{number}"


def assert_nothing_recorded(client: lw.Client) -> None:
    assert client.search_runs(output="list") == []
    assert PipelineCatalog(client.store).list_pipelines() == []


def refused(client: lw.Client, target: Any, params: dict[str, Any] | None = None, **options: Any) -> str:
    """The message of the :class:`PipelineDefinitionError` that running ``target`` raises."""
    with pytest.raises(PipelineDefinitionError) as error:
        lw.run_pipeline(target, params, **options)
    assert error.value.code == "invalid_input.pipeline"
    assert isinstance(error.value, ValueError)
    assert_nothing_recorded(client)
    return str(error.value)


# --- steps the pipelines below wire wrongly --------------------------------------------------------------


@lw.step
def number(n: int) -> int:
    return n


@lw.step
def combine(left: int, right: int) -> int:
    return left + right


@lw.step
def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n)})


@lw.step
def pair(n: int) -> tuple[int, int]:
    return n, n + 1


@lw.step
def half(value: float) -> float:
    return value / 2


@lw.step
def spread(*values: int) -> int:
    return sum(values)


# --- the graph: arguments and types ----------------------------------------------------------------------


@lw.pipeline
def missing_argument(n: int = 1) -> Any:
    return combine(number(n))  # missing-argument


@lw.pipeline
def unexpected_argument(n: int = 1) -> Any:
    return number(n, extra=2)  # type: ignore[call-arg]  # unexpected-argument


@lw.pipeline
def mismatched(n: int = 1) -> Any:
    return combine(table(n), 1)  # type: ignore[arg-type]  # mismatched


@lw.pipeline
def whole_tuple(n: int = 1) -> Any:
    return combine(pair(n), 1)  # type: ignore[arg-type]  # whole-tuple


@lw.pipeline
def widened(n: int = 3) -> Any:
    first, second = pair(n)
    return half(first), half(combine(first, second))  # int where float is expected: fine


@lw.pipeline
def star_step(n: int = 1) -> Any:
    return spread(n, n)


def test_a_missing_step_argument_is_refused(client: lw.Client) -> None:
    assert refused(client, missing_argument) == (
        f"Step 'combine' is called at {where('missing-argument')} in pipeline 'missing_argument' with "
        "arguments that do not fit combine(left: int, right: int) -> int: missing a required argument: "
        "'right'."
    )


def test_an_unexpected_step_argument_is_refused(client: lw.Client) -> None:
    assert refused(client, unexpected_argument) == (
        f"Step 'number' is called at {where('unexpected-argument')} in pipeline 'unexpected_argument' with "
        "arguments that do not fit number(n: int) -> int: got an unexpected keyword argument 'extra'."
    )


def test_an_output_whose_annotation_does_not_fit_the_input_is_refused(client: lw.Client) -> None:
    assert refused(client, mismatched) == (
        f"Step 'combine' (called at {where('mismatched')}) takes 'left' as int, but it is given the output "
        "of step 'table', annotated pandas.DataFrame."
    )
    assert refused(client, whole_tuple) == (
        f"Step 'combine' (called at {where('whole-tuple')}) takes 'left' as int, but it is given the output "
        "of step 'pair', annotated tuple."
    )


def test_an_int_output_may_feed_a_float_input(client: lw.Client) -> None:
    assert widened().output == (1.5, 3.5)


def test_a_step_with_star_args_is_refused(client: lw.Client) -> None:
    assert refused(client, star_step) == (
        "Step 'spread' takes *values: pipeline steps need named parameters, so their inputs can be "
        "recorded and cached by name."
    )


# --- the body: placeholders are not values ---------------------------------------------------------------


@lw.pipeline
def branching(n: int = 1) -> Any:
    value = number(n)  # branching
    if value:
        return combine(value, 1)
    return value


@lw.pipeline
def unpacking(n: int = 1) -> Any:
    first, second = number(n)  # unpacking
    return combine(first, second)


@lw.pipeline
def unpacking_too_many(n: int = 1) -> Any:
    first, _second, _third = pair(n)  # unpacking-too-many
    return first


@lw.pipeline
def arithmetic(n: int = 1) -> Any:
    return number(n) + 1  # type: ignore[operator]  # arithmetic


@lw.pipeline
def no_steps(n: int = 1) -> Any:
    return n * 2


@lw.pipeline
def step_itself(n: int = 1) -> Any:
    return combine(number, n)  # type: ignore[arg-type]  # step-itself


@lw.pipeline
def outer(n: int = 1) -> Any:
    return missing_argument(n)


def test_branching_on_a_step_output_in_the_body_is_refused(client: lw.Client) -> None:
    assert refused(client, branching) == (
        f"The output of step 'number' (called at {where('branching')}) is a placeholder while the pipeline "
        "is defined: its value exists only when the step runs. Branch inside a step instead of in the "
        "pipeline body."
    )


def test_unpacking_an_output_that_is_not_a_tuple_is_refused(client: lw.Client) -> None:
    assert refused(client, unpacking) == (
        f"The output of step 'number' (called at {where('unpacking')}) cannot be unpacked: its return "
        "annotation is int. Annotate it as a fixed tuple (-> tuple[pd.DataFrame, pd.DataFrame]) to return "
        "several outputs."
    )


def test_an_error_raised_by_the_body_names_the_users_line(client: lw.Client) -> None:
    placeholders = (
        "In the body, step calls return placeholders, not values: compute with values inside steps, and "
        "only call steps and pass their outputs along in the pipeline body."
    )
    assert refused(client, unpacking_too_many) == (
        f"The body of pipeline 'unpacking_too_many' raised ValueError at {where('unpacking-too-many')} while "
        f"its graph was built: not enough values to unpack (expected 3, got 2). {placeholders}"
    )
    assert refused(client, arithmetic) == (
        f"The body of pipeline 'arithmetic' raised TypeError at {where('arithmetic')} while its graph was "
        f"built: unsupported operand type(s) for +: 'StepOutput' and 'int'. {placeholders}"
    )


def test_a_pipeline_that_calls_no_step_is_refused(client: lw.Client) -> None:
    assert refused(client, no_steps) == (
        "Pipeline 'no_steps' calls no step. Decorate the functions it calls with @lw.step."
    )


def test_passing_a_step_instead_of_its_output_is_refused(client: lw.Client) -> None:
    assert refused(client, step_itself) == (
        f"Step 'combine' is given the step 'number' itself as 'left' at {where('step-itself')}. Call it to "
        "pass its output: number(...)."
    )


def test_a_pipeline_called_inside_another_is_refused(client: lw.Client) -> None:
    assert refused(client, outer) == (
        "Pipeline 'missing_argument' is called inside another pipeline's body. Call its steps from the "
        "outer pipeline instead (pipelines do not nest)."
    )


# --- parameters ------------------------------------------------------------------------------------------


@lw.pipeline
def typed(
    n: int = 1,
    rate: float = 0.5,
    day: dt.date = dt.date(2024, 1, 1),
    flag: bool = False,
    weights: list[float] | None = None,
    folder: Path = Path("data"),
) -> Any:
    return number(n)


@lw.pipeline
def required(n: int) -> Any:
    return number(n)


def test_a_parameter_of_the_wrong_type_is_refused(client: lw.Client) -> None:
    assert refused(client, typed, {"n": 1.5}) == (
        "The parameter 'n' of pipeline 'typed' must be int. Got 1.5 (float) instead."
    )
    assert refused(client, typed, {"day": 20240203}) == (
        "The parameter 'day' of pipeline 'typed' must be datetime.date. Got 20240203 (int) instead."
    )
    with pytest.raises(PipelineDefinitionError) as error:
        typed(rate=[0.5])  # calling the pipeline checks the same way
    assert (
        str(error.value)
        == "The parameter 'rate' of pipeline 'typed' must be float. Got [0.5] (list) instead."
    )
    assert error.value.details == {
        "pipeline": "typed",
        "parameter": "rate",
        "expected": "float",
        "received": "list",
    }
    assert_nothing_recorded(client)


def test_text_parameters_are_parsed_by_their_annotation(client: lw.Client) -> None:
    text = {
        "n": "5",
        "rate": "0.25",
        "day": "2024-02-03",
        "flag": "yes",
        "weights": "[1, 2.5]",
        "folder": "x/y",
    }
    run = lw.run_pipeline(typed, text)  # as the CLI passes them: -p n=5 -p day=2024-02-03 ...
    assert run.output == 5
    assert run.params == {
        "n": 5,
        "rate": 0.25,
        "day": "2024-02-03",
        "flag": True,
        "weights": [1, 2.5],
        "folder": "x/y",
    }
    assert PipelineCatalog(client.store).get_pipeline_run(run.run_id).params == run.params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"n": "five"},
            "The parameter 'n' of pipeline 'typed' must be int. Got 'five' instead (invalid literal for int() "
            "with base 10: 'five').",
        ),
        (
            {"rate": "fast"},
            "The parameter 'rate' of pipeline 'typed' must be float. Got 'fast' instead (could not convert "
            "string to float: 'fast').",
        ),
        (
            {"day": "yesterday"},
            "The parameter 'day' of pipeline 'typed' must be datetime.date. Got 'yesterday' instead (Invalid "
            "isoformat string: 'yesterday').",
        ),
        (
            {"flag": "maybe"},
            "The parameter 'flag' of pipeline 'typed' must be bool. Got 'maybe' instead (not a boolean "
            "(true/false)).",
        ),
        (
            {"weights": "[1, 2"},
            "The parameter 'weights' of pipeline 'typed' must be list[float] | None. Got '[1, 2' instead "
            "(Expecting ',' delimiter: line 1 column 6 (char 5)).",
        ),
    ],
)
def test_text_that_does_not_parse_as_the_annotation_is_refused(
    client: lw.Client, params: dict[str, Any], message: str
) -> None:
    assert refused(client, typed, params) == message


def test_an_unknown_or_missing_parameter_is_refused(client: lw.Client) -> None:
    assert refused(client, typed, {"m": 1, "size": 2}) == (
        "Pipeline 'typed' has no parameter 'm', 'size'. Its parameters: n, rate, day, flag, weights, folder."
    )
    assert refused(client, required) == (
        "Pipeline 'required' needs a value for its parameter 'n' (int). Pass it as n=... or -p n=VALUE."
    )
    with pytest.raises(PipelineDefinitionError) as error:
        required(m=1)  # type: ignore[call-arg]  # calling-required
    assert str(error.value) == (
        f"Pipeline 'required' is called at {where('calling-required')} with arguments that do not fit "
        "required(n: int) -> Any: missing a required argument: 'n'."
    )
    assert_nothing_recorded(client)


def test_a_pipeline_with_star_args_is_refused_where_it_is_defined() -> None:
    def starred(*values: int) -> None:
        number(values[0])

    with pytest.raises(PipelineDefinitionError) as error:
        lw.pipeline(starred)
    assert str(error.value) == (
        f"Pipeline 'starred' ({__file__}:{starred.__code__.co_firstlineno}) takes *values: pipeline "
        "parameters must be named, so runs can record them and the CLI can set them with -p name=value."
    )


# --- options of steps and pipelines ----------------------------------------------------------------------


def plain(x: int, verbose: bool = False) -> int:
    return x


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"expire": 0},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got 0 instead.",
        ),
        (
            {"expire": -5.0},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got -5.0 "
            "instead.",
        ),
        (
            {"expire": dt.timedelta(seconds=-1)},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got -1.0 "
            "instead.",
        ),
        (
            {"expire": "1h"},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got '1h' "
            "instead.",
        ),
        (
            {"expire": float("nan")},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got nan "
            "instead.",
        ),
        (
            {"expire": True},
            "The 'expire' of step 'plain' must be a positive number of seconds or a timedelta. Got True "
            "instead.",
        ),
        (
            {"ignore": ["verbos"]},
            "The 'ignore' of step 'plain' names 'verbos', which is not a parameter of plain(). Its "
            "parameters: x, verbose.",
        ),
        (
            {"ignore": ["y", "z"]},
            "The 'ignore' of step 'plain' names 'y', 'z', which are not parameters of plain(). Its "
            "parameters: x, verbose.",
        ),
        (
            {"ignore": 3},
            "The 'ignore' of step 'plain' must be a list of its parameter names. Got 3 instead.",
        ),
        ({"cache": "no"}, "The 'cache' of step 'plain' must be True or False. Got 'no' instead."),
    ],
)
def test_bad_step_options_are_refused_where_the_step_is_defined(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(PipelineDefinitionError) as error:
        lw.step(**options)(plain)
    assert str(error.value) == message


def test_ignore_takes_one_name_as_text_and_expire_a_timedelta() -> None:
    built = lw.step(ignore="verbose", expire=dt.timedelta(minutes=2))(plain)
    assert built.cache_settings == lw.Step(plain, ignore=["verbose"], expire=120).cache_settings
    assert built.cache_settings.ignore == frozenset({"verbose"})
    assert built.cache_settings.expire_s == 120.0


def test_only_plain_functions_become_steps_and_pipelines() -> None:
    with pytest.raises(PipelineDefinitionError) as error:
        lw.step(len)  # type: ignore[arg-type]
    assert str(error.value) == "@lw.step decorates a plain function. Got <built-in function len> instead."
    with pytest.raises(PipelineDefinitionError) as error:
        lw.pipeline(number)
    assert str(error.value) == (
        f"@lw.pipeline decorates a plain function. Got <step 'number' ({__name__}.number)> instead."
    )


def test_bad_executors_are_refused_where_the_pipeline_is_defined_and_when_it_runs(client: lw.Client) -> None:
    location = f"{__file__}:{plain.__code__.co_firstlineno}"
    with pytest.raises(PipelineDefinitionError) as error:
        lw.pipeline(executor="ray")(plain)
    assert str(error.value) == (
        f"The 'executor' of pipeline 'plain' ({location}) must be one of 'inline', 'process'. Got 'ray' instead."
    )
    with pytest.raises(PipelineDefinitionError) as error:
        lw.pipeline(executor="process", max_workers=0)(plain)
    assert str(error.value) == (
        f"The 'max_workers' of pipeline 'plain' ({location}) must be a positive integer. Got 0 instead."
    )
    assert refused(client, typed, executor="threads") == (
        "The 'executor' of run of 'typed' must be one of 'inline', 'process'. Got 'threads' instead."
    )
    assert refused(client, typed, executor="process", max_workers=-1) == (
        "The 'max_workers' of run of 'typed' must be a positive integer. Got -1 instead."
    )


def test_steps_a_worker_process_cannot_import_are_refused_before_the_run(client: lw.Client) -> None:
    @lw.step
    def local(n: int) -> int:
        return n

    @lw.pipeline
    def with_local_step(n: int = 1) -> Any:
        return local(n)

    assert refused(client, with_local_step, executor="process") == (
        f"Step 'local' ({__name__}.test_steps_a_worker_process_cannot_import_are_refused_before_the_run."
        "<locals>.local) cannot run in a process worker of pipeline 'with_local_step': workers import steps "
        "by module and name, and this one is not a step at the top level of its module. Define it at the "
        "top level of a module, or run the pipeline with executor='inline'."
    )
    assert with_local_step().output == 1  # inline, it runs


# --- what a step returns at run time ---------------------------------------------------------------------


@lw.step
def wrong_type(n: int) -> str:
    return n  # type: ignore[return-value]


@lw.pipeline
def mistyped(n: int = 1) -> Any:
    return wrong_type(n)


@lw.step
def wrong_count(n: int) -> tuple[int, int]:
    return (n, n, n)  # type: ignore[return-value]


@lw.pipeline
def miscounted(n: int = 1) -> Any:
    return wrong_count(n)


def test_a_step_returning_the_wrong_type_fails_the_run_with_the_annotation_in_the_message(
    client: lw.Client,
) -> None:
    with pytest.raises(lw.errors.StepFailedError) as failed:
        lw.run_pipeline(mistyped)
    run_id = failed.value.details["run_id"]
    assert str(failed.value) == (
        f"Step 'wrong_type' of pipeline 'mistyped' failed (pipeline run {run_id}): "
        "loopwright.errors.StepOutputError: The value returned for step 'wrong_type' must be str, as "
        "annotated. Got an int instead. Fix it and run the pipeline again: the steps that finished are "
        "reused from the cache."
    )
    cause = failed.value.__cause__
    assert isinstance(cause, StepOutputError)
    assert cause.code == "invalid_input.step_output"
    assert cause.details == {"step": "wrong_type", "expected": "str", "received": "int"}
    (step,) = PipelineCatalog(client.store).steps(run_id)
    assert (step.status, step.outputs, step.cache_key) == ("failed", [], None)


def test_a_step_returning_a_tuple_of_the_wrong_length_fails_the_run(client: lw.Client) -> None:
    with pytest.raises(lw.errors.StepFailedError) as failed:
        lw.run_pipeline(miscounted)
    assert str(failed.value.__cause__) == (
        "Step 'wrong_count' must return a tuple of 2 values, as annotated (tuple[int, int]). "
        "Got a tuple of 3 instead."
    )


# --- load_pipeline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "no_colon",
            "A pipeline reference is 'module:attribute' (e.g. 'pipelines.fraud:train'). Got 'no_colon' "
            "instead.",
        ),
        (
            "module:",
            "A pipeline reference is 'module:attribute' (e.g. 'pipelines.fraud:train'). Got 'module:' "
            "instead.",
        ),
        (
            "no_such_module_here:train",
            "Cannot import module 'no_such_module_here' of pipeline reference 'no_such_module_here:train': No "
            "module named 'no_such_module_here'.",
        ),
        (
            "tests.pipelines.example_flows:nothing",
            "Module 'tests.pipelines.example_flows' has no attribute 'nothing' (pipeline reference "
            "'tests.pipelines.example_flows:nothing').",
        ),
        (
            "tests.pipelines.example_flows:load",
            "'tests.pipelines.example_flows:load' is a Step, not a pipeline. Decorate the function with "
            "@lw.pipeline.",
        ),
    ],
)
def test_load_pipeline_refuses_references_that_name_no_pipeline(ref: str, message: str) -> None:
    with pytest.raises(PipelineDefinitionError) as error:
        lw.load_pipeline(ref)
    assert str(error.value) == message
    assert error.value.details == {"ref": ref}


def test_load_pipeline_finds_pipelines_by_module_or_by_file(tmp_path: Path) -> None:
    loaded = lw.load_pipeline("tests.pipelines.example_flows:training")
    assert (loaded.name, loaded.ref) == ("training", "tests.pipelines.example_flows:training")
    script = tmp_path / "pipeline_script_for_loading.py"
    script.write_text(
        "import loopwright as lw\n\n@lw.step\ndef one() -> int:\n    return 1\n\n@lw.pipeline\ndef flow():\n"
        "    return one()\n",
        encoding="utf-8",
    )
    assert lw.load_pipeline(f"{script}:flow").name == "flow"
    missing = tmp_path / "missing.py"
    with pytest.raises(PipelineDefinitionError) as error:
        lw.load_pipeline(f"{missing}:flow")
    assert str(error.value) == (
        f"Cannot import module '{missing}' of pipeline reference '{missing}:flow': no file '{missing}'."
    )
