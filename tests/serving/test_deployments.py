"""Deployments: created and changed through checked specs, every change recorded, on both backends."""

from __future__ import annotations

import pytest

import loopwright as lw
from loopwright.errors import ConflictError, InvalidInputError, NotFoundError
from loopwright.serving.deployments import Deployment
from tests.serving.deployment_models import (  # noqa: F401 - fixtures
    client_with_models,
    database_url,
    module_postgres_url,
)


def test_deploy_creates_a_deployment_that_follows_an_alias(client: lw.Client) -> None:
    deployment = lw.deploy("fraud", "fraud@production", description="card fraud", reason="launch")
    assert isinstance(deployment, Deployment)
    assert (deployment.name, deployment.model, deployment.alias, deployment.version) == (
        "fraud",
        "fraud",
        "production",
        None,
    )
    assert (deployment.canary, deployment.canary_weight, deployment.sticky, deployment.shadow) == (
        None,
        0.0,
        None,
        None,
    )
    assert deployment.production == "fraud@production"
    assert deployment.revision == 1
    assert repr(deployment) == "<Deployment fraud: fraud@production, revision 1>"
    assert lw.deployments() == [deployment]
    [event] = client.deployments.history("fraud")
    assert (event.revision, event.user, event.reason) == (1, "tester", "launch")
    assert event.change == {
        "model": [None, "fraud"],
        "alias": [None, "production"],
        "canary_weight": [None, 0.0],
        "description": [None, "card fraud"],
    }
    assert client.deployments.resolve("fraud").production.version == 1
    client.set_alias("fraud", "production", 2)
    assert client.deployments.resolve("fraud").production.version == 2


def test_a_bare_model_name_follows_production_and_versions_pin(client: lw.Client) -> None:
    assert lw.deploy("a", "fraud").production == "fraud@production"
    assert lw.deploy("b", "fraud/2").production == "fraud/2"
    assert lw.deploy("c", ("fraud", 3)).version == 3
    assert lw.deploy("d", "models:/fraud/1").version == 1
    assert lw.deploy("e", client.get_model_version("fraud", 2)).version == 2
    client.set_alias("fraud", "production", 3)
    assert client.deployments.resolve("b").production.version == 2


def test_canary_shadow_and_sticky_are_recorded(client: lw.Client) -> None:
    deployment = lw.deploy(
        "fraud", "fraud@production", canary=("fraud", 2), sticky="header:X-Customer", shadow="fraud/3"
    )
    assert (deployment.canary, deployment.canary_weight, deployment.sticky, deployment.shadow) == (
        2,
        0.1,
        "header:X-Customer",
        3,
    )
    assert repr(deployment) == (
        "<Deployment fraud: fraud@production, canary 2 at 10%, sticky by header:X-Customer, shadow 3, "
        "revision 1>"
    )
    resolved = client.deployments.resolve(deployment)
    assert [resolved.production.version, resolved.canary.version, resolved.shadow.version] == [1, 2, 3]  # type: ignore[union-attr]
    assert deployment.to_dict()["canary_weight"] == 0.1


def test_deploy_again_changes_to_exactly_the_new_spec_and_records_only_what_changed(
    client: lw.Client,
) -> None:
    lw.deploy("fraud", "fraud@production", canary=2, canary_weight=0.25, shadow=3)
    same = lw.deploy("fraud", "fraud@production", canary=2, canary_weight=0.25, shadow=3)
    assert same.revision == 1  # nothing changed: nothing recorded
    changed = lw.deploy("fraud", "fraud@production", reason="canary done")
    assert (changed.revision, changed.canary, changed.canary_weight, changed.shadow) == (2, None, 0.0, None)
    events = client.deployments.history("fraud")
    assert [event.revision for event in events] == [1, 2]
    assert events[1].change == {
        "canary_version": [2, None],
        "canary_weight": [0.25, 0.0],
        "shadow_version": [3, None],
    }
    assert events[1].reason == "canary done"


def test_update_changes_only_the_given_fields(client: lw.Client) -> None:
    service = client.deployments
    service.create("fraud", "fraud@production", shadow=3)
    with_canary = service.update("fraud", canary=2, reason="try v2")
    assert (with_canary.canary, with_canary.canary_weight, with_canary.shadow) == (2, 0.1, 3)
    heavier = service.update("fraud", canary_weight=0.5, sticky="field:customer")
    assert (heavier.canary, heavier.canary_weight, heavier.sticky, heavier.revision) == (
        2,
        0.5,
        "field:customer",
        3,
    )
    assert service.update("fraud", canary=2).canary_weight == 0.5  # an existing canary keeps its weight
    removed = service.update("fraud", canary=None, shadow=None, description="v1 only")
    assert (removed.canary, removed.canary_weight, removed.shadow, removed.sticky) == (
        None,
        0.0,
        None,
        "field:customer",
    )
    assert service.update("fraud", description="v1 only").revision == removed.revision
    pinned = service.update("fraud", model="fraud/3")
    assert (pinned.alias, pinned.version, pinned.production) == (None, 3, "fraud/3")


def test_creating_twice_and_stale_updates_are_conflicts(client: lw.Client) -> None:
    service = client.deployments
    service.create("fraud", "fraud@production")
    with pytest.raises(ConflictError) as caught:
        service.create("fraud", "fraud/2")
    assert str(caught.value) == (
        "Deployment 'fraud' already exists. Change it with `loopwright deployments update fraud` or "
        "lw.deploy('fraud', ...)."
    )
    service.update("fraud", canary=2)  # revision 2
    with pytest.raises(ConflictError) as stale:
        service.store.update("fraud", {"canary_weight": 0.9}, expected_revision=1, user="bob", reason=None)
    assert str(stale.value) == (
        "Deployment 'fraud' was changed by someone else while this change was being decided; nothing was "
        "changed. Look at `loopwright deployments history fraud` and try again."
    )
    assert service.get("fraud").canary_weight == 0.1


def test_unknown_deployments_are_named(client: lw.Client) -> None:
    lw.deploy("fraud", "fraud@production")
    with pytest.raises(NotFoundError) as caught:
        client.deployments.get("churn")
    assert caught.value.specific_code == "not_found.deployment"
    assert str(caught.value) == (
        "Deployment 'churn' does not exist. Known deployments: 'fraud'. Create one with "
        "lw.deploy('churn', model='NAME@production')."
    )
    with pytest.raises(NotFoundError):
        client.deployments.update("churn", canary=2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"name": "fraud detector"},
            "The name of a deployment must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (it appears in URLs and file paths). Got 'fraud detector' instead.",
        ),
        (
            {"name": "../etc"},
            "The name of a deployment must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (it appears in URLs and file paths). Got '../etc' instead.",
        ),
        (
            {"canary": 2, "canary_weight": 1.5},
            "The 'canary_weight' of deployment 'fraud' must be a number between 0 and 1 (the share of "
            "traffic the canary takes). Got 1.5 instead.",
        ),
        (
            {"canary": 2, "canary_weight": True},
            "The 'canary_weight' of deployment 'fraud' must be a number between 0 and 1 (the share of "
            "traffic the canary takes). Got True instead.",
        ),
        (
            {"canary": 2, "canary_weight": float("nan")},
            "The 'canary_weight' of deployment 'fraud' must be a number between 0 and 1 (the share of "
            "traffic the canary takes). Got nan instead.",
        ),
        (
            {"canary_weight": 0.2},
            "The 'canary_weight' of deployment 'fraud' needs a canary to send traffic to. Give "
            "canary=VERSION too, or leave the weight out. Got canary_weight=0.2 without a canary.",
        ),
        (
            {"canary": "fraud@staging"},
            "The 'canary' of deployment 'fraud' must be a version of the deployment's model: 4, ('fraud', 4), "
            "'fraud/4' or a ModelVersion. Got 'fraud@staging' instead.",
        ),
        (
            {"canary": 0},
            "The 'canary' of deployment 'fraud' must be a version of the deployment's model: 4, ('fraud', 4), "
            "'fraud/4' or a ModelVersion. Got 0 instead.",
        ),
        (
            {"shadow": ("churn", 1)},
            "The 'shadow' of deployment 'fraud' must be a version of model 'fraud', the model it serves. "
            "Got a version of 'churn' instead.",
        ),
        (
            {"model": "fraud/latest"},
            "The 'model' of deployment 'fraud' must be an alias (followed as it moves) or a version: e.g. "
            "'fraud@production' or 'fraud/3'. 'latest' would change with every registration. Got "
            "'fraud/latest' instead.",
        ),
        (
            {"model": 3},
            "The 'model' of deployment 'fraud' must be a model alias or version: 'fraud@production', "
            "'fraud/3', ('fraud', 3) or a ModelVersion. Got 3 instead.",
        ),
        (
            {"sticky": "cookie:session"},
            "The 'sticky' key of deployment 'fraud' must be 'header:NAME' (an HTTP header, e.g. "
            "header:X-Customer) or 'field:NAME' (a field of each row, e.g. field:customer_id). Got "
            "'cookie:session' instead.",
        ),
        (
            {"description": 5},
            "The 'description' of deployment 'fraud' must be a text. Got 5 of type int instead.",
        ),
    ],
)
def test_bad_specs_are_refused_with_the_field_the_value_and_what_was_expected(
    client: lw.Client, arguments: dict[str, object], message: str
) -> None:
    spec: dict[str, object] = {"name": "fraud", "model": "fraud@production", **arguments}
    with pytest.raises(InvalidInputError) as caught:
        lw.deploy(**spec)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert client.deployments.all() == []


def test_versions_and_aliases_that_do_not_exist_are_refused_at_deploy_time(client: lw.Client) -> None:
    with pytest.raises(NotFoundError) as version:
        lw.deploy("fraud", "fraud@production", canary=9)
    assert (
        str(version.value)
        == "The 'canary' of deployment 'fraud': Model 'fraud' has no version 9. Its versions: 1, 2, 3."
    )
    with pytest.raises(NotFoundError) as alias:
        lw.deploy("fraud", "fraud@staging")
    assert alias.value.specific_code == "not_found.model_alias"
    with pytest.raises(NotFoundError) as model:
        lw.deploy("churn", "churn@production")
    assert model.value.specific_code == "not_found.model"
    assert client.deployments.all() == []


def test_deployments_are_listed_by_name(client: lw.Client) -> None:
    for name in ("zeta", "alpha", "mid"):
        lw.deploy(name, "fraud/1")
    assert [item.name for item in lw.deployments()] == ["alpha", "mid", "zeta"]
