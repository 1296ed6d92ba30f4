"""Promotion: moving an alias through its policy's gates, human approvals, and the roles that may give them.

::

    lw.set_policy("fraud", "production", lw.PromotionPolicy(thresholds={"f1": 0.8}, approvals=1))
    lw.grant_role("alice", "ml-engineer")
    lw.approve("fraud", 3, alias="production", user="alice", comment="checked the EU segment")
    lw.promote("fraud", 3, to="production")

A refused promotion raises :class:`~loopwright.errors.PromotionRefusedError` with the report of every
gate. ``force=True`` overrides failing gates; it needs a reason, and the move is recorded as forced with
the reason and the report, so the audit trail shows who overrode what. A frozen alias refuses every
promotion, forced or not.

Who is acting is the workspace settings' ``user`` (else the operating-system user): server
authentication comes later, and until then roles record intent and keep honest people from mistakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopwright._names import validate_key
from loopwright.errors import (
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    PromotionForbiddenError,
    PromotionRefusedError,
)
from loopwright.registry.gates import ROLES, GateReport, PromotionPolicy, check_gates
from loopwright.registry.references import validate_alias
from loopwright.store.aliases import AliasEvent
from loopwright.store.promotions import ApprovalRecord, RoleGrant

if TYPE_CHECKING:
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = [
    "approve",
    "check_promotion",
    "get_policy",
    "grant_role",
    "promote",
    "revoke_role",
    "roles",
    "set_policy",
]


def set_policy(registry: Registry, name: str, alias: str, policy: PromotionPolicy | None) -> None:
    """Store ``policy`` for ``alias`` of model ``name`` (``None`` removes it)."""
    validate_alias(alias)
    model_id = registry.catalog.model_id(name)
    if policy is None:
        registry.promotions.delete_policy(model_id, alias)
        return
    if not isinstance(policy, PromotionPolicy):
        raise InvalidInputError(
            f"The policy must be a lw.PromotionPolicy or None. Got {type(policy).__name__} instead.",
            policy=repr(policy),
        )
    registry.promotions.set_policy(model_id, alias, policy.to_dict(), registry.user)


def get_policy(registry: Registry, name: str, alias: str) -> PromotionPolicy | None:
    """The policy of ``alias`` of model ``name``, or ``None``."""
    body = registry.promotions.policies(registry.catalog.model_id(name)).get(alias)
    return None if body is None else PromotionPolicy.from_dict(body)


def check_promotion(registry: Registry, version: ModelVersion, alias: str) -> GateReport:
    """What :func:`promote` would find, without moving anything (a dry run)."""
    validate_alias(alias)
    policy = get_policy(registry, version.name, alias)
    if policy is not None and policy.frozen:
        raise _frozen(version, alias)
    if policy is None:
        return GateReport(version.name, version.version, alias, [])
    return check_gates(registry, version, alias, policy)


def promote(
    registry: Registry,
    version: ModelVersion,
    alias: str,
    *,
    force: bool = False,
    reason: str | None = None,
) -> AliasEvent | None:
    """Move ``alias`` to ``version`` if every gate of its policy passes (or ``force`` with a reason).

    Returns the recorded move (its ``gates`` hold the report), or ``None`` when the alias already points
    at the version. If another promotion moved the alias while the gates were being checked, nothing is
    changed and :class:`ConflictError` is raised: the gates compared against a baseline that is gone.
    """
    validate_alias(alias)
    if not isinstance(force, bool):
        raise InvalidInputError(f"'force' must be True or False. Got {force!r} instead.", force=repr(force))
    if force and (not isinstance(reason, str) or not reason.strip()):
        raise InvalidInputError(
            f"A forced promotion needs a reason (it is recorded in the audit trail). Got {reason!r} instead.",
            reason=repr(reason),
        )
    if version.status == "archived":
        raise ConflictError(
            f"Model {version.name!r} version {version.version} is archived; it cannot be promoted.",
            model=version.name,
            version=version.version,
        )
    decided_on = registry.ledger.alias(version.name, alias)
    if decided_on is not None and decided_on.version_id == version.id:
        return None
    report = check_promotion(registry, version, alias)
    if not report.passed and not force:
        raise PromotionRefusedError(report)
    return registry.move_alias(
        version,
        alias,
        action="promote",
        reason=reason,
        decided_on=decided_on,
        check_unchanged=True,
        forced=force,
        gates=report.to_dict(),
    )


def approve(
    registry: Registry,
    version: ModelVersion,
    alias: str,
    *,
    comment: str | None = None,
    user: str | None = None,
) -> ApprovalRecord:
    """Record that ``user`` (default: this workspace's user) approves ``version`` for ``alias``.

    The user must hold the role the alias's policy names as approver (``ml-engineer`` when the alias has
    no policy), or ``admin``; otherwise :class:`PermissionDeniedError`.
    """
    validate_alias(alias)
    approver = _user(registry, user)
    policy = get_policy(registry, version.name, alias)
    role = policy.approver_role if policy is not None else "ml-engineer"
    held = [grant.role for grant in registry.promotions.roles(approver)]
    if role not in held and "admin" not in held:
        raise PermissionDeniedError(
            f"User {approver!r} cannot approve model {version.name!r} version {version.version} for "
            f"{alias!r}: approving needs the role {role!r} (or 'admin'), and {approver!r} has "
            f"{', '.join(map(repr, held)) or 'no role'}. A user can be given it with "
            f"`loopwright models roles grant {approver} {role}`.",
            user=approver,
            role=role,
        )
    if comment is not None and not isinstance(comment, str):
        raise InvalidInputError(f"'comment' must be text. Got {comment!r} instead.", comment=repr(comment))
    return registry.promotions.approve(version.id, alias, approver, comment)


def grant_role(registry: Registry, user: str, role: str) -> bool:
    """Give ``user`` the ``role`` (one of :data:`~loopwright.registry.gates.ROLES`); whether it is new."""
    return registry.promotions.grant(_user(registry, user), _role(role), registry.user)


def revoke_role(registry: Registry, user: str, role: str) -> bool:
    """Take ``role`` from ``user``; whether they had it. Their approvals stop counting."""
    return registry.promotions.revoke(_user(registry, user), _role(role))


def roles(registry: Registry, user: str | None = None) -> list[RoleGrant]:
    """Every role grant of the workspace (or of one user)."""
    return registry.promotions.roles(None if user is None else _user(registry, user))


def _user(registry: Registry, user: str | None) -> str:
    chosen = user if user is not None else registry.user
    if chosen is None:
        raise InvalidInputError("Who is acting is unknown: set LOOPWRIGHT_USER or pass user=NAME.")
    return validate_key("user", chosen)


def _role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(
            f"The 'role' must be one of {', '.join(ROLES)}. Got {role!r} instead.", role=repr(role)
        )
    return role


def _frozen(version: ModelVersion, alias: str) -> PromotionForbiddenError:
    return PromotionForbiddenError(
        f"Alias {alias!r} of model {version.name!r} is frozen by its promotion policy: no version can be "
        f"promoted to it, forced or not. Change the policy first (lw.set_policy({version.name!r}, "
        f"{alias!r}, ...)).",
        model=version.name,
        alias=alias,
    )
