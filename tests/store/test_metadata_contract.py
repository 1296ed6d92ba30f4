"""The metadata store contract: every test runs against SQLite and against PostgreSQL."""

from __future__ import annotations

import math

import pytest

from loopwright.errors import (
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    NotFoundError,
    ParamConflictError,
)
from loopwright.store.engine import HEAD_REVISION, current_revision
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import RunStatus


@pytest.fixture
def store(database_url: str) -> MetadataStore:
    opened = MetadataStore(database_url)
    yield opened  # type: ignore[misc]
    opened.close()


def _run(store: MetadataStore, name: str, experiment: str = "churn", **params: str) -> str:
    experiment_id = store.get_or_create_experiment(experiment).id
    run_id = store.create_run(experiment_id, name)
    if params:
        store.log_params(run_id, params)
    return run_id


def test_a_new_database_is_migrated_to_head_and_reopening_is_a_no_op(database_url: str) -> None:
    first = MetadataStore(database_url)
    assert current_revision(first._engine) == HEAD_REVISION
    run_id = _run(first, "kept")
    first.close()

    second = MetadataStore(database_url)
    assert second.get_run(run_id).name == "kept"
    second.close()


def test_experiments_are_created_once_and_listed_with_run_counts(store: MetadataStore) -> None:
    first = store.get_or_create_experiment("churn")
    again = store.get_or_create_experiment("churn")
    assert first == again
    _run(store, "a")
    _run(store, "b")
    store.get_or_create_experiment("empty")

    listed = {experiment.name: experiment for experiment in store.list_experiments()}
    assert listed["churn"].run_count == 2
    assert listed["churn"].last_run_at is not None
    assert listed["empty"].run_count == 0
    assert listed["empty"].last_run_at is None


def test_a_missing_experiment_is_a_not_found_error_listing_the_known_ones(store: MetadataStore) -> None:
    store.get_or_create_experiment("churn")
    store.get_or_create_experiment("fraud")
    with pytest.raises(NotFoundError) as caught:
        store.get_experiment("chrun")
    assert str(caught.value) == "Experiment 'chrun' does not exist. Known experiments: 'churn', 'fraud'."
    assert caught.value.specific_code == "not_found.experiment"


def test_runs_record_their_life_cycle(store: MetadataStore) -> None:
    experiment_id = store.get_or_create_experiment("churn").id
    system = {"host": "trainer-1", "git_commit": "abc123", "git_dirty": True, "environment": {"numpy": "2.0"}}
    run_id = store.create_run(experiment_id, "lr-0.1", system=system)

    running = store.get_run(run_id)
    assert running.status is RunStatus.RUNNING
    assert running.end_time is None
    assert running.duration_s is None
    assert (running.host, running.git_commit, running.git_dirty) == ("trainer-1", "abc123", True)
    assert running.environment == {"numpy": "2.0"}

    store.end_run(run_id, RunStatus.FAILED, error="ValueError: boom")
    ended = store.get_run(run_id)
    assert ended.status is RunStatus.FAILED
    assert ended.error == "ValueError: boom"
    assert ended.end_time is not None
    assert ended.duration_s is not None
    assert ended.duration_s >= 0


def test_unknown_runs_are_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.get_run("nope")
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.end_run("nope", RunStatus.FINISHED)
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.log_params("nope", {"a": "1"})
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.set_tags("nope", {"a": "1"})
    experiment_id = store.get_or_create_experiment("churn").id
    with pytest.raises(NotFoundError, match="Run 'nope' does not exist"):
        store.create_run(experiment_id, "orphan", parent_id="nope")


def test_parameters_are_immutable_and_a_conflicting_batch_writes_nothing(store: MetadataStore) -> None:
    run_id = _run(store, "a", lr="0.1")
    store.log_params(run_id, {"lr": "0.1"})  # the same value again is fine

    with pytest.raises(ParamConflictError) as caught:
        store.log_params(run_id, {"depth": "3", "lr": "0.2"})
    assert str(caught.value) == (
        f"Parameter 'lr' of run {run_id} is already '0.1'; it cannot become '0.2'. Parameters are "
        "immutable: log the new value under another key or start a new run."
    )
    assert isinstance(caught.value, ValueError)
    assert store.get_run(run_id).params == {"lr": "0.1"}


def test_tags_can_be_overwritten_and_deleted(store: MetadataStore) -> None:
    run_id = _run(store, "a")
    store.set_tags(run_id, {"team": "risk", "stage": "dev"})
    store.set_tags(run_id, {"stage": "prod"})
    assert store.get_run(run_id).tags == {"stage": "prod", "team": "risk"}
    store.delete_tag(run_id, "team")
    assert store.get_run(run_id).tags == {"stage": "prod"}


def test_metric_history_keeps_every_point_and_latest_follows_the_highest_step(store: MetadataStore) -> None:
    run_id = _run(store, "a")
    store.log_metrics([(run_id, "loss", 0.5, 2, 1000), (run_id, "loss", 0.9, 0, 1001)])
    store.log_metrics([(run_id, "loss", 0.7, 1, 1002)])  # an earlier step arriving later
    history = store.metric_history(run_id, "loss")
    assert [(point.step, point.value) for point in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]
    assert store.get_run(run_id).metrics == {"loss": 0.5}

    store.log_metrics([(run_id, "loss", 0.4, 2, 1003)])  # same step, later time wins
    assert store.get_run(run_id).metrics == {"loss": 0.4}
    assert store.count_metric_points(run_id) == 4
    assert store.metric_keys(run_id) == ["loss"]


def test_nan_and_infinities_round_trip(store: MetadataStore) -> None:
    run_id = _run(store, "a")
    store.log_metrics(
        [(run_id, "nan", math.nan, 0, 1), (run_id, "up", math.inf, 0, 1), (run_id, "down", -math.inf, 0, 1)]
    )
    metrics = store.get_run(run_id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["up"] == math.inf
    assert metrics["down"] == -math.inf
    assert math.isnan(store.metric_history(run_id, "nan")[0].value)


@pytest.fixture
def ranked(store: MetadataStore) -> dict[str, str]:
    """Five runs in 'churn' and one in 'fraud' with metrics, params and tags to search."""
    ids: dict[str, str] = {}
    rows = [
        ("lr-a", {"model": "lr", "C": "0.1"}, {"accuracy": 0.91, "loss": 0.3}, {"team": "risk"}),
        ("lr-b", {"model": "lr", "C": "1.0"}, {"accuracy": 0.85, "loss": 0.4}, {"team": "risk"}),
        ("rf-a", {"model": "rf", "depth": "4"}, {"accuracy": 0.95}, {"team": "growth"}),
        ("rf-b", {"model": "rf", "depth": "8"}, {"accuracy": 0.89}, {}),
        ("gb", {"model": "gb"}, {}, {}),
    ]
    for name, run_params, run_metrics, tags in rows:
        run_id = _run(store, name, **run_params)
        store.log_metrics([(run_id, key, value, 0, 1) for key, value in run_metrics.items()])
        store.set_tags(run_id, tags)
        ids[name] = run_id
    ids["other"] = _run(store, "other", experiment="fraud", model="lr")
    store.log_metrics([(ids["other"], "accuracy", 0.99, 0, 1)])
    store.end_run(ids["rf-b"], RunStatus.FAILED, error="boom")
    return ids


def _names(store: MetadataStore, **query: object) -> list[str]:
    experiments = query.pop("experiments", ["churn"])
    return [run.name for run in store.search_runs(experiments, **query)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("metrics.accuracy > 0.9", ["lr-a", "rf-a"]),
        ("metrics.accuracy > 0.9 and params.model = 'lr'", ["lr-a"]),
        ("params.model = 'rf' or metrics.loss >= 0.4", ["lr-b", "rf-a", "rf-b"]),
        ("(params.model = 'rf' or params.model = 'lr') and metrics.accuracy < 0.9", ["lr-b", "rf-b"]),
        ("params.model in ('gb', 'rf') and not metrics.accuracy > 0.9", ["gb", "rf-b"]),
        ("params.model not in ('lr', 'rf')", ["gb"]),
        ("tags.team like 'ri%'", ["lr-a", "lr-b"]),
        ("tags.team like 'RI%'", []),
        ("tags.team ilike 'RISK'", ["lr-a", "lr-b"]),
        ("tags.team is null", ["gb", "rf-b"]),
        ("metrics.loss is not null", ["lr-a", "lr-b"]),
        ("status = 'FAILED'", ["rf-b"]),
        ("attributes.status != 'failed' and params.depth = 4", ["rf-a"]),
        ("name like 'rf-%'", ["rf-a", "rf-b"]),
        ("metrics.`accuracy` = 0.95", ["rf-a"]),
        ("params.C != '0.1'", ["lr-b"]),
        ("start_time > '2000-01-01' and end_time is null and params.model = 'gb'", ["gb"]),
    ],
)
def test_filters(store: MetadataStore, ranked: dict[str, str], expression: str, expected: list[str]) -> None:
    assert sorted(_names(store, filter=expression)) == expected


def test_order_by_a_metric_puts_runs_without_it_last_and_pages(
    store: MetadataStore, ranked: dict[str, str]
) -> None:
    assert _names(store, order_by=["metrics.accuracy desc"]) == ["rf-a", "lr-a", "rf-b", "lr-b", "gb"]
    assert _names(store, order_by=["metrics.accuracy asc"]) == ["lr-b", "rf-b", "lr-a", "rf-a", "gb"]
    assert _names(store, order_by=["metrics.accuracy desc"], max_results=2) == ["rf-a", "lr-a"]
    assert _names(store, order_by=["metrics.accuracy desc"], max_results=2, offset=2) == ["rf-b", "lr-b"]
    assert _names(store, order_by=["params.model", "metrics.accuracy desc"]) == [
        "gb",
        "lr-a",
        "lr-b",
        "rf-a",
        "rf-b",
    ]


def test_search_scopes_to_experiments(store: MetadataStore, ranked: dict[str, str]) -> None:
    assert _names(store, experiments=["fraud"]) == ["other"]
    assert len(_names(store, experiments=None)) == 6
    assert _names(
        store, experiments=["fraud", "churn"], order_by=["metrics.accuracy desc"], max_results=1
    ) == ["other"]
    with pytest.raises(NotFoundError, match="Experiment 'nope' does not exist"):
        store.search_runs(["nope"])


def test_search_returns_whole_records(store: MetadataStore, ranked: dict[str, str]) -> None:
    (record,) = store.search_runs(["churn"], filter="name = 'lr-a'")
    assert record.id == ranked["lr-a"]
    assert record.experiment == "churn"
    assert record.params == {"C": "0.1", "model": "lr"}
    assert record.metrics == {"accuracy": 0.91, "loss": 0.3}
    assert record.tags == {"team": "risk"}


def test_a_filter_with_text_that_looks_like_sql_is_just_text(
    store: MetadataStore, ranked: dict[str, str]
) -> None:
    injection = "params.model = 'lr''; DROP TABLE runs; --'"
    with pytest.raises(FilterSyntaxError):
        store.search_runs(["churn"], filter=injection)
    assert _names(store, filter="params.model = 'x\\' or 1=1 --'") == []
    assert len(_names(store)) == 5


def test_artifacts_are_recorded_once_per_content_and_linked_by_name(store: MetadataStore) -> None:
    run_id = _run(store, "a")
    digest = "a" * 64
    first = store.record_artifact("file", digest, 10, media_type="text/plain", properties={"rows": 3})
    again = store.record_artifact("file", digest, 10)
    assert first == again
    assert store.get_artifact(first.id).properties == {"rows": 3}

    store.link_artifact(run_id, first.id, "output", "model.pkl")
    store.link_artifact(run_id, first.id, "output", "model.pkl")  # the same link again is a no-op
    store.link_artifact(run_id, first.id, "input", "model.pkl")
    other = store.record_artifact("file", "b" * 64, 11)
    with pytest.raises(ConflictError, match="already has an output named 'model.pkl' with other content"):
        store.link_artifact(run_id, other.id, "output", "model.pkl")

    linked = store.run_artifacts(run_id)
    assert [(item.direction, item.name, item.artifact.digest) for item in linked] == [
        ("input", "model.pkl", digest),
        ("output", "model.pkl", digest),
    ]
    assert [item.direction for item in store.run_artifacts(run_id, "output")] == ["output"]
    with pytest.raises(NotFoundError):
        store.get_artifact("missing")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"max_results": -1}, "max_results must be a non-negative integer or None. Got -1 instead."),
        ({"max_results": 2.5}, "max_results must be a non-negative integer or None. Got 2.5 instead."),
        ({"offset": -3}, "offset must be a non-negative integer. Got -3 instead."),
        ({"offset": None}, "offset must be a non-negative integer. Got None instead."),
    ],
)
def test_paging_arguments_are_checked(store: MetadataStore, query: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        store.search_runs(["churn"], **query)  # type: ignore[arg-type]
    assert str(caught.value) == message
