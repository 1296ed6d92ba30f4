"""Deployments: what each prediction endpoint serves, checked when it is set, with its history.

A deployment serves a model's alias (``fraud@production``, followed as the alias moves) or a pinned
version (``fraud/3``); optionally a canary version of the same model that takes a share of the traffic
(at random, or sticky by a key), and a shadow version that receives a copy of every request without ever
answering one. Everything is checked when the deployment is created or changed, never on its first
request: the names, the weight, the sticky key, and that every version (and the alias) exists.

>>> deployments.deploy("fraud", "fraud@production", canary=4, canary_weight=0.1)  # doctest: +SKIP
<Deployment fraud: fraud@production, canary 4 at 10%, revision 1>
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopwright.errors import InvalidInputError, NotFoundError
from loopwright.serving.router import StickyKey, parse_sticky
from loopwright.store.deployments import DeploymentEvent, DeploymentRecord, DeploymentStore

if TYPE_CHECKING:
    from loopwright.registry.registry import Registry
    from loopwright.registry.version import ModelVersion

__all__ = [
    "DEFAULT_ALIAS",
    "DEFAULT_CANARY_WEIGHT",
    "UNSET",
    "Deployment",
    "DeploymentEvent",
    "Deployments",
    "ResolvedDeployment",
    "validate_deployment_name",
]

DEFAULT_ALIAS = "production"
"""The alias a deployment follows when its model is given by name alone: ``fraud`` is ``fraud@production``."""

DEFAULT_CANARY_WEIGHT = 0.1
"""The share of traffic a new canary takes when no weight is given."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET = _Unset.UNSET
"""Marks a field that :meth:`Deployments.update` leaves as it is (``None`` removes a canary or shadow)."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment as it is now. ``production`` says what answers requests (``fraud@production`` or
    ``fraud/3``); ``canary`` and ``shadow`` are version numbers of the same model.

    >>> lw.deployments()[0].production   # doctest: +SKIP
    'fraud@production'
    """

    name: str
    model: str
    alias: str | None
    version: int | None
    canary: int | None
    canary_weight: float
    sticky: str | None
    shadow: int | None
    description: str | None
    revision: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: DeploymentRecord) -> Deployment:
        """The deployment a stored row describes."""
        return cls(
            name=record.name,
            model=record.model,
            alias=record.alias,
            version=record.version,
            canary=record.canary_version,
            canary_weight=record.canary_weight,
            sticky=record.sticky_key,
            shadow=record.shadow_version,
            description=record.description,
            revision=record.revision,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    def __repr__(self) -> str:
        parts = [self.production]
        if self.canary is not None:
            parts.append(f"canary {self.canary} at {self.canary_weight * 100:g}%")
            if self.sticky is not None:
                parts.append(f"sticky by {self.sticky}")
        if self.shadow is not None:
            parts.append(f"shadow {self.shadow}")
        return f"<Deployment {self.name}: {', '.join(parts)}, revision {self.revision}>"

    @property
    def production(self) -> str:
        """What answers requests: ``MODEL@ALIAS`` (followed as the alias moves) or ``MODEL/VERSION``."""
        return f"{self.model}@{self.alias}" if self.alias is not None else f"{self.model}/{self.version}"

    @property
    def sticky_key(self) -> StickyKey | None:
        """The parsed sticky key, or ``None``."""
        return None if self.sticky is None else parse_sticky(self.sticky, deployment=self.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO text), e.g. for JSON."""
        return {
            "name": self.name,
            "model": self.model,
            "production": self.production,
            "alias": self.alias,
            "version": self.version,
            "canary": self.canary,
            "canary_weight": self.canary_weight,
            "sticky": self.sticky,
            "shadow": self.shadow,
            "description": self.description,
            "revision": self.revision,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    """A deployment with the versions it serves right now (the alias looked up)."""

    deployment: Deployment
    production: ModelVersion
    canary: ModelVersion | None
    shadow: ModelVersion | None


class Deployments:
    """Creates, changes, lists and resolves the deployments of one workspace."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = DeploymentStore(registry.store)

    # --- changing --------------------------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        model: Any,
        *,
        canary: Any = None,
        canary_weight: float | None = None,
        sticky: str | None = None,
        shadow: Any = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Make deployment ``name`` serve exactly this (created if new, else changed to match: what is
        left out is removed). Returns it; a deployment that already matches is returned unchanged."""
        fields = self._fields(
            name,
            model,
            canary=canary,
            canary_weight=canary_weight,
            sticky=sticky,
            shadow=shadow,
            description=description,
        )
        current = self.store.find(name)
        if current is None:
            return Deployment.from_record(
                self.store.create(name, fields, user=self.registry.user, reason=reason)
            )
        changed = self.store.update(
            name, fields, expected_revision=current.revision, user=self.registry.user, reason=reason
        )
        return Deployment.from_record(changed or current)

    def create(
        self,
        name: str,
        model: Any,
        *,
        canary: Any = None,
        canary_weight: float | None = None,
        sticky: str | None = None,
        shadow: Any = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Create deployment ``name``; :class:`~loopwright.errors.ConflictError` if it exists."""
        fields = self._fields(
            name,
            model,
            canary=canary,
            canary_weight=canary_weight,
            sticky=sticky,
            shadow=shadow,
            description=description,
        )
        return Deployment.from_record(self.store.create(name, fields, user=self.registry.user, reason=reason))

    def update(
        self,
        name: str,
        *,
        model: Any = UNSET,
        canary: Any = UNSET,
        canary_weight: float | _Unset = UNSET,
        sticky: str | _Unset | None = UNSET,
        shadow: Any = UNSET,
        description: str | _Unset | None = UNSET,
        reason: str | None = None,
    ) -> Deployment:
        """Change the given fields of deployment ``name`` and keep the others; ``canary=None`` (or
        ``shadow=None``, ``sticky=None``) removes it. A new canary without a weight takes
        :data:`DEFAULT_CANARY_WEIGHT`."""
        current = Deployment.from_record(self.store.get(name))
        if canary is not UNSET and canary is not None and canary_weight is UNSET:
            canary_weight = current.canary_weight if current.canary is not None else DEFAULT_CANARY_WEIGHT
        elif canary is None and canary_weight is UNSET:
            canary_weight = 0.0
        fields = self._fields(
            name,
            current.production if model is UNSET else model,
            canary=current.canary if canary is UNSET else canary,
            canary_weight=current.canary_weight if canary_weight is UNSET else canary_weight,
            sticky=current.sticky if sticky is UNSET else sticky,
            shadow=current.shadow if shadow is UNSET else shadow,
            description=current.description if description is UNSET else description,
        )
        changed = self.store.update(
            name, fields, expected_revision=current.revision, user=self.registry.user, reason=reason
        )
        return Deployment.from_record(changed) if changed is not None else current

    # --- reading ---------------------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        """Deployment ``name``; :class:`~loopwright.errors.NotFoundError` if there is none."""
        return Deployment.from_record(self.store.get(name))

    def all(self) -> list[Deployment]:
        """Every deployment, by name."""
        return [Deployment.from_record(record) for record in self.store.all()]

    def history(self, name: str) -> list[DeploymentEvent]:
        """Every change of deployment ``name``, oldest first: revision, fields changed, who and why."""
        return self.store.history(name)

    def resolve(self, deployment: Deployment | str) -> ResolvedDeployment:
        """The versions ``deployment`` serves now: its alias looked up, its canary and shadow found."""
        found = self.get(deployment) if isinstance(deployment, str) else deployment
        registry = self.registry
        if found.alias is not None:
            production = registry.resolve(found.model, alias=found.alias)
        else:
            production = registry.resolve(found.model, found.version)
        return ResolvedDeployment(
            deployment=found,
            production=production,
            canary=None if found.canary is None else registry.resolve(found.model, found.canary),
            shadow=None if found.shadow is None else registry.resolve(found.model, found.shadow),
        )

    # --- checking --------------------------------------------------------------------------------------

    def _fields(
        self,
        name: str,
        model: Any,
        *,
        canary: Any,
        canary_weight: Any,
        sticky: Any,
        shadow: Any,
        description: Any,
    ) -> dict[str, Any]:
        """The stored fields of a deployment, every value checked (and every version looked up)."""
        validate_deployment_name(name)
        model_name, alias, version = self._production(name, model)
        canary_version = self._version_of(name, "canary", model_name, canary)
        shadow_version = self._version_of(name, "shadow", model_name, shadow)
        if canary_weight is None:
            weight = DEFAULT_CANARY_WEIGHT if canary_version is not None else 0.0
        else:
            weight = _weight(name, canary_weight)
            if canary_version is None and weight != 0.0:
                raise InvalidInputError(
                    f"The 'canary_weight' of deployment {name!r} needs a canary to send traffic to. Give "
                    f"canary=VERSION too, or leave the weight out. Got canary_weight={canary_weight!r} "
                    "without a canary.",
                    deployment=name,
                    field="canary_weight",
                )
        sticky_key = None if sticky is None else str(parse_sticky(sticky, deployment=name))
        if description is not None and not isinstance(description, str):
            raise InvalidInputError(
                f"The 'description' of deployment {name!r} must be a text. Got {description!r} of type "
                f"{type(description).__name__} instead.",
                deployment=name,
                field="description",
            )
        return {
            "model": model_name,
            "alias": alias,
            "version": version,
            "canary_version": canary_version,
            "canary_weight": weight,
            "sticky_key": sticky_key,
            "shadow_version": shadow_version,
            "description": description,
        }

    def _production(self, name: str, model: Any) -> tuple[str, str | None, int | None]:
        """``(model, alias, version)`` of what answers: an alias that exists now, or a version that does."""
        from loopwright.registry.references import parse_model_reference, validate_alias
        from loopwright.registry.version import ModelVersion

        if isinstance(model, ModelVersion):
            return model.name, None, model.version
        if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], str):
            number = _number(name, "model", model[1], model)
            self.registry.catalog.get_version(model[0], number)
            return model[0], None, number
        if not isinstance(model, str):
            raise _bad_reference(name, "model", model)
        if model.rstrip("/").endswith(("/latest", ":latest")):
            raise InvalidInputError(
                f"The 'model' of deployment {name!r} must be an alias (followed as it moves) or a version: "
                f"e.g. 'fraud@production' or 'fraud/3'. 'latest' would change with every registration. Got "
                f"{model!r} instead.",
                deployment=name,
                field="model",
            )
        model_name, version, alias = parse_model_reference(model)
        if version is not None:
            self.registry.catalog.get_version(model_name, version)
            return model_name, None, version
        alias = validate_alias(alias if alias is not None else DEFAULT_ALIAS)
        self.registry.resolve(model_name, alias=alias)  # the alias must point somewhere now
        return model_name, alias, None

    def _version_of(self, name: str, field: str, model_name: str, value: Any) -> int | None:
        """The version number a canary or shadow names: ``4``, ``("fraud", 4)``, ``"fraud/4"`` or a
        :class:`ModelVersion`, always of the deployment's model, and existing."""
        from loopwright.registry.references import parse_model_reference
        from loopwright.registry.version import ModelVersion

        if value is None:
            return None
        other: str | None = None
        if isinstance(value, ModelVersion):
            other, number = value.name, value.version
        elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
            other, number = value[0], _number(name, field, value[1], value)
        elif isinstance(value, str):
            try:
                other, parsed, alias = parse_model_reference(value)
            except InvalidInputError:
                raise _bad_reference(name, field, value) from None
            if parsed is None or alias is not None:
                raise _bad_reference(name, field, value)
            number = parsed
        else:
            number = _number(name, field, value, value)
        if other is not None and other != model_name:
            raise InvalidInputError(
                f"The {field!r} of deployment {name!r} must be a version of model {model_name!r}, the model "
                f"it serves. Got a version of {other!r} instead.",
                deployment=name,
                field=field,
            )
        try:
            self.registry.catalog.get_version(model_name, number)
        except NotFoundError as error:
            raise NotFoundError(
                f"The {field!r} of deployment {name!r}: {error.message}",
                kind=error.kind,
                key=error.key,
            ) from None
        return number


def validate_deployment_name(name: Any) -> str:
    """A usable deployment name: 1 to 128 letters, digits, ``.``, ``_`` or ``-``, starting with a letter
    or digit (it appears in URLs, metric labels and file paths)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            "The name of a deployment must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit (it appears in URLs and file paths). Got {name!r} instead.",
            field="name",
            value=repr(name),
        )
    return name


def _weight(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidInputError(
            f"The 'canary_weight' of deployment {name!r} must be a number between 0 and 1 (the share of "
            f"traffic the canary takes). Got {value!r} instead.",
            deployment=name,
            field="canary_weight",
            value=repr(value),
        )
    return float(value)


def _number(name: str, field: str, value: Any, given: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad_reference(name, field, given)
    return int(value)


def _bad_reference(name: str, field: str, value: Any) -> InvalidInputError:
    if field == "model":
        expected = "a model alias or version: 'fraud@production', 'fraud/3', ('fraud', 3) or a ModelVersion"
    else:
        expected = "a version of the deployment's model: 4, ('fraud', 4), 'fraud/4' or a ModelVersion"
    return InvalidInputError(
        f"The {field!r} of deployment {name!r} must be {expected}. Got {value!r} instead.",
        deployment=name,
        field=field,
        value=repr(value),
    )
