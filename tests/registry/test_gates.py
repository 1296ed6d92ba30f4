"""Promotion policies: every gate kind passing and failing, approvals and roles, forced and frozen promotions.

The models are thresholds on a ``score`` column, so every metric on the ten evaluation rows is known by
hand: threshold 0.5 ("weak") is right on 6 rows (EU 4 of 5, US 2 of 5), threshold 0.35 ("strong") on 8
(4 of 5 in each region).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

import loopwright as lw
from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    PromotionForbiddenError,
    PromotionRefusedError,
)

SCORES = [0.9, 0.8, 0.2, 0.1, 0.6, 0.7, 0.4, 0.3, 0.55, 0.45]
LABELS = [1, 1, 0, 0, 0, 1, 1, 0, 0, 1]
REGIONS = ["EU"] * 5 + ["US"] * 5


class Threshold(lw.PythonModel):
    """Predicts 1 where ``score`` exceeds the threshold; the score is the probability of 1."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: Any) -> Any:
        return (data["score"].to_numpy() > self.threshold).astype("int64")

    def predict_proba(self, data: Any) -> Any:
        score = data["score"].to_numpy()
        return np.column_stack([1 - score, score])


def passes(frame: pd.DataFrame) -> bool:
    return True


def fails(frame: pd.DataFrame) -> bool:
    return False


@pytest.fixture
def workspace(client: lw.Client) -> lw.Client:
    """Training data (checked, passing), evaluation data, and two versions: 1 weak, 2 strong."""
    frame = pd.DataFrame({"score": SCORES, "region": REGIONS, "label": LABELS})
    client.log_dataset("train", frame, checks=[passes])
    client.log_dataset("eval", frame)
    client.register_model("fraud", Threshold(0.5), datasets=["train:1"])
    client.register_model("fraud", Threshold(0.35), datasets=["train:1"])
    return client


def evaluate(client: lw.Client, version: int) -> None:
    client.evaluate(f"fraud/{version}", "eval:1", target="label", segments=["region"])


def report(client: lw.Client, version: int, policy: lw.PromotionPolicy) -> dict[str, tuple[bool, str]]:
    client.set_policy("fraud", "production", policy)
    found = client.check_promotion("fraud", version, to="production")
    return {result.name: (result.passed, result.message) for result in found.results}


def test_a_policy_is_checked_when_built() -> None:
    with pytest.raises(InvalidInputError) as metric:
        lw.PromotionPolicy(thresholds={"auc": 0.9})
    assert str(metric.value) == (
        "The 'thresholds' of a promotion policy must be a metric name (accuracy, precision, recall, f1, "
        "roc_auc, log_loss, mae, rmse, r2, mape). Got 'auc' instead."
    )
    with pytest.raises(
        InvalidInputError,
        match=r"^The 'min_improvement' of a promotion policy must be a number >= 0\. Got -0\.1 instead\.$",
    ):
        lw.PromotionPolicy(beat_metric="f1", min_improvement=-0.1)
    with pytest.raises(
        InvalidInputError,
        match=r"^The 'approver_role' of a promotion policy must be one of viewer, data-scientist, ml-engineer, reviewer, admin\. Got 'boss' instead\.$",
    ):
        lw.PromotionPolicy(approvals=1, approver_role="boss")
    with pytest.raises(
        InvalidInputError,
        match=r"^The 'approvals' of a promotion policy must be an integer >= 0\. Got True instead\.$",
    ):
        lw.PromotionPolicy(approvals=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="^A promotion policy has no field 'gates'"):
        lw.PromotionPolicy.from_dict({"gates": []})
    policy = lw.PromotionPolicy(thresholds={"f1": 0.8, "log_loss": 0.5}, beat_metric="f1", approvals=1)
    assert lw.PromotionPolicy.from_dict(policy.to_dict()) == policy
    assert policy.gates == ["evaluation", "threshold", "beats", "approval"]


def test_without_a_policy_promotion_has_no_gates(workspace: lw.Client) -> None:
    event = workspace.promote("fraud", 1, to="production")
    assert event is not None
    assert (event.action, event.to_version, event.forced, event.gates) == (
        "promote",
        1,
        False,
        {"passed": True, "evaluation": None, "results": []},
    )
    assert workspace.promote("fraud", 1, to="production") is None


def test_data_checks_gate(workspace: lw.Client) -> None:
    policy = lw.PromotionPolicy(require_data_checks=True)
    assert report(workspace, 2, policy) == {"data checks": (True, "train:1 passed their blocking checks.")}
    workspace.log_dataset("raw", pd.DataFrame({"score": SCORES, "label": LABELS}))
    workspace.log_dataset("bad", pd.DataFrame({"score": SCORES}), checks=[fails], raise_on_failure=False)
    workspace.register_model("fraud", Threshold(0.5), datasets=["raw:1", "bad:1"])
    assert report(workspace, 3, policy) == {
        "data checks": (False, "bad:1 failed a blocking check, raw:1 was never checked.")
    }
    workspace.register_model("fraud", Threshold(0.5), datasets=[])
    assert report(workspace, 4, policy)["data checks"][0] is False


def test_evaluation_and_threshold_gates(workspace: lw.Client) -> None:
    policy = lw.PromotionPolicy(thresholds={"accuracy": 0.7, "log_loss": 0.6})
    assert report(workspace, 1, policy) == {
        "evaluation": (
            False,
            "version 1 has no evaluation. Evaluate it first: lw.evaluate('models:/fraud/1', 'DATASET', target=...).",
        )
    }
    evaluate(workspace, 1)
    evaluate(workspace, 2)
    log_loss = sk.log_loss(LABELS, np.column_stack([1 - np.array(SCORES), SCORES]))
    assert report(workspace, 1, policy) == {
        "evaluation": (True, "evaluated on eval:1 (10 rows)."),
        "threshold accuracy": (False, "accuracy 0.6 < 0.7 on eval:1."),
        "threshold log_loss": (True, f"log_loss {log_loss:.4g} <= 0.6 on eval:1."),
    }
    assert report(workspace, 2, lw.PromotionPolicy(thresholds={"log_loss": 0.3}))["threshold log_loss"] == (
        False,
        f"log_loss {log_loss:.4g} > 0.3 on eval:1.",
    )
    assert report(workspace, 2, policy)["threshold accuracy"] == (True, "accuracy 0.8 >= 0.7 on eval:1.")
    restricted = lw.PromotionPolicy(thresholds={"accuracy": 0.7}, evaluation_dataset="holdout")
    assert report(workspace, 2, restricted)["evaluation"][0] is False


def test_beats_production_gate_evaluates_the_baseline_on_the_same_data(workspace: lw.Client) -> None:
    policy = lw.PromotionPolicy(beat_metric="accuracy", min_improvement=0.1)
    evaluate(workspace, 2)
    assert report(workspace, 2, policy)["beats production"] == (
        True,
        "no other version holds 'production': nothing to beat.",
    )
    workspace.set_policy("fraud", "production", None)
    workspace.promote("fraud", 1, to="production")
    assert workspace.get_model_version("fraud", 1).evaluations() == []
    assert report(workspace, 2, policy)["beats production"] == (
        True,
        "accuracy 0.8 vs 0.6 for version 1 on eval:1: +0.2 (needs at least +0.1).",
    )
    assert [e.dataset for e in workspace.get_model_version("fraud", 1).evaluations()] == ["eval:1"]
    strict = lw.PromotionPolicy(beat_metric="accuracy", min_improvement=0.25)
    assert report(workspace, 2, strict)["beats production"][0] is False
    workspace.set_policy("fraud", "production", None)
    workspace.promote("fraud", 2, to="production")
    assert report(workspace, 1, policy)["beats production"] == (
        False,
        "accuracy 0.6 vs 0.8 for version 2 on eval:1: -0.2 (needs at least +0.1).",
    )


def test_segment_consistency_gate(workspace: lw.Client) -> None:
    evaluate(workspace, 1)
    evaluate(workspace, 2)
    policy = lw.PromotionPolicy(segment_metric="accuracy", segment_tolerance=0.1)
    assert report(workspace, 1, policy)["segments accuracy"] == (
        False,
        "1 segment(s) worse than overall by more than 0.1: region=US 0.4 vs 0.6.",
    )
    assert report(workspace, 2, policy)["segments accuracy"] == (True, "2 segment(s) within 0.1 of overall.")
    workspace.set_policy("fraud", "production", None)
    workspace.promote("fraud", 2, to="production")
    against = lw.PromotionPolicy(
        segment_metric="accuracy", segment_tolerance=0.1, segment_reference="baseline"
    )
    assert report(workspace, 1, against)["segments accuracy"] == (
        False,
        "1 segment(s) worse than version 2's segments by more than 0.1: region=US 0.4 vs 0.8.",
    )


def test_approval_gate_needs_a_user_with_the_role(workspace: lw.Client) -> None:
    policy = lw.PromotionPolicy(approvals=1, approver_role="reviewer")
    workspace.set_policy("fraud", "production", policy)
    assert report(workspace, 2, policy) == {
        "approval": (False, "0 of 1 approval(s) by a user with role 'reviewer'.")
    }
    with pytest.raises(PermissionDeniedError) as denied:
        workspace.approve("fraud", 2, alias="production", user="bob")
    assert str(denied.value) == (
        "User 'bob' cannot approve model 'fraud' version 2 for 'production': approving needs the role "
        "'reviewer' (or 'admin'), and 'bob' has no role. A user can be given it with "
        "`loopwright models roles grant bob reviewer`."
    )
    assert workspace.grant_role("alice", "reviewer") is True
    assert workspace.grant_role("alice", "reviewer") is False
    workspace.approve("fraud", 2, alias="production", user="alice", comment="looked at the US rows")
    assert report(workspace, 2, policy)["approval"] == (
        True,
        "1 of 1 approval(s) by a user with role 'reviewer' (alice).",
    )
    workspace.revoke_role("alice", "reviewer")
    assert report(workspace, 2, policy)["approval"] == (
        False,
        "0 of 1 approval(s) by a user with role 'reviewer'; not counted, no longer holding the role: alice.",
    )
    workspace.grant_role("carol", "admin")
    workspace.approve("fraud", 2, alias="production", user="carol")
    assert report(workspace, 2, policy)["approval"][0] is True
    with pytest.raises(InvalidInputError, match="^The 'role' must be one of viewer"):
        workspace.grant_role("dave", "root")


def test_a_refused_promotion_reports_every_gate_and_moves_nothing(workspace: lw.Client) -> None:
    evaluate(workspace, 1)
    workspace.set_policy(
        "fraud",
        "production",
        lw.PromotionPolicy(require_data_checks=True, thresholds={"accuracy": 0.7}, approvals=1),
    )
    with pytest.raises(PromotionRefusedError) as refused:
        workspace.promote("fraud", 1, to="production")
    assert str(refused.value) == "\n".join(
        [
            "Model 'fraud' version 1 for alias 'production': 2 of 4 gates failed.",
            "  FAILED threshold accuracy: accuracy 0.6 < 0.7 on eval:1.",
            "  FAILED approval: 0 of 1 approval(s) by a user with role 'ml-engineer'.",
            "  passed data checks: train:1 passed their blocking checks.",
            "  passed evaluation: evaluated on eval:1 (10 rows).",
            "Fix what failed, or promote with force=True and a reason (it is recorded).",
        ]
    )
    assert [result.kind for result in refused.value.report.failures] == ["threshold", "approval"]
    assert workspace.alias_history("fraud") == []


def test_a_forced_promotion_needs_a_reason_and_is_audited(workspace: lw.Client) -> None:
    workspace.set_policy("fraud", "production", lw.PromotionPolicy(approvals=1))
    with pytest.raises(InvalidInputError) as no_reason:
        workspace.promote("fraud", 1, to="production", force=True)
    assert str(no_reason.value) == (
        "A forced promotion needs a reason (it is recorded in the audit trail). Got None instead."
    )
    event = workspace.promote("fraud", 1, to="production", force=True, reason="incident 42: roll back")
    assert event is not None
    [recorded] = workspace.alias_history("fraud", "production")
    assert (recorded.forced, recorded.reason, recorded.user, recorded.to_version) == (
        True,
        "incident 42: roll back",
        "tester",
        1,
    )
    assert recorded.gates is not None
    assert recorded.gates["passed"] is False
    assert [result["kind"] for result in recorded.gates["results"]] == ["approval"]


def test_a_frozen_alias_refuses_every_promotion(workspace: lw.Client) -> None:
    workspace.set_policy("fraud", "production", lw.PromotionPolicy(frozen=True))
    with pytest.raises(PromotionForbiddenError) as frozen:
        workspace.promote("fraud", 2, to="production", force=True, reason="please")
    assert str(frozen.value) == (
        "Alias 'production' of model 'fraud' is frozen by its promotion policy: no version can be promoted "
        "to it, forced or not. Change the policy first (lw.set_policy('fraud', 'production', ...))."
    )
    assert frozen.value.code == "promotion.forbidden"


def test_an_alias_with_a_policy_moves_only_through_promote(workspace: lw.Client) -> None:
    workspace.set_policy("fraud", "production", lw.PromotionPolicy())
    with pytest.raises(ConflictError) as error:
        workspace.set_alias("fraud", "production", 2)
    assert str(error.value) == (
        "Alias 'production' of model 'fraud' has a promotion policy, so it moves only through its gates: use "
        "lw.promote('fraud', 2, to='production')."
    )
