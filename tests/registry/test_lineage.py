"""Lineage: upstream to runs, dataset versions and code; fine-tuning ancestry; dependents downstream."""

from __future__ import annotations

import loopwright as lw
from tests.registry.conftest import fit, fraud_frame


def test_lineage_walks_up_to_the_data_its_producing_run_and_the_code(client: lw.Client) -> None:
    with client.start_run(experiment="etl") as etl:
        client.log_dataset("transactions", fraud_frame())
    with client.start_run(experiment="fraud") as training:
        train = client.dataset("transactions")
        base = client.register_model("fraud", fit(train.to_pandas()))
    found = client.lineage(base)
    commit = client.get_run(training.id).git_commit
    assert found.version == "fraud/1"
    assert [node.key for node in found.runs] == [training.id, etl.id]
    assert [node.key for node in found.datasets] == ["transactions:1"]
    assert [node.key for node in found.code] == ([commit] if commit else [])
    [run] = found.upstream
    assert (run.kind, run.details["experiment"]) == ("run", "fraud")
    dataset = next(link for link in run.links if link.kind == "dataset_version")
    assert [(link.kind, link.key) for link in dataset.links] == [("run", etl.id)]
    assert found.downstream == []
    assert found.deployments == []


def test_fine_tuning_links_ancestors_upstream_and_dependents_downstream(client: lw.Client) -> None:
    model = fit(fraud_frame())
    client.log_dataset("transactions", fraud_frame())
    base = client.register_model("base", model, datasets=["transactions:1"])
    child = client.register_model("fraud-eu", model, fine_tuned_from=base)
    grandchild = client.register_model("fraud-eu-small", model, fine_tuned_from=child)
    up = client.lineage(grandchild)
    assert [node.key for node in up.ancestors] == ["fraud-eu/1", "base/1"]
    assert [node.key for node in up.datasets] == ["transactions:1"]
    down = client.lineage("base/1")
    assert [node.key for node in down.dependents] == ["fraud-eu/1", "fraud-eu-small/1"]
    assert down.render().splitlines() == [
        "base/1",
        "  upstream:",
        "    - dataset transactions:1 (300 rows, checks unchecked)",
        "  downstream:",
        "    - model fraud-eu/1 (sklearn), fine-tuned from it",
        "      - model fraud-eu-small/1 (sklearn), fine-tuned from it",
        "  deployments: none",
    ]
    as_dict = down.to_dict()
    assert as_dict["downstream"][0]["links"][0]["key"] == "fraud-eu-small/1"
    assert as_dict["deployments"] == []


def test_a_model_read_by_a_run_is_upstream_of_what_the_run_registers(client: lw.Client) -> None:
    model = fit(fraud_frame())
    client.register_model("teacher", model)
    with client.start_run(experiment="distil"):
        client.load_model("teacher/1")
        student = client.register_model("student", model)
    assert [node.key for node in client.lineage(student).ancestors] == ["teacher/1"]
    [run] = client.lineage(student).upstream
    assert [
        (link.kind, link.details.get("relation")) for link in run.links if link.kind == "model_version"
    ] == [("model_version", "read by the run")]
