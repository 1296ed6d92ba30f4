"""The handle of one registered model version: what it is, and the actions that start from it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from loopwright.registry.references import MODEL_URI_PREFIX
from loopwright.store.models import ModelVersionRecord

if TYPE_CHECKING:
    from loopwright.data.versions import DatasetVersion
    from loopwright.registry.card import ModelCard
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.format import LoadedModel
    from loopwright.registry.lineage import Lineage
    from loopwright.registry.registry import Registry

__all__ = ["ModelVersion"]


class ModelVersion:
    """One immutable version of a registered model: its files, the run and data that made it, its aliases.

    >>> version = lw.get_model_version("fraud", 3)   # doctest: +SKIP
    >>> version.uri, version.flavor, version.aliases
    ('models:/fraud/3', 'sklearn', ['production'])
    """

    def __init__(self, record: ModelVersionRecord, registry: Registry) -> None:
        self.record = record
        self._registry = registry

    def __repr__(self) -> str:
        return f"<ModelVersion {self.name}/{self.version} ({self.flavor}), {self.status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVersion) and other.record.id == self.record.id

    def __hash__(self) -> int:
        return hash(self.record.id)

    @property
    def id(self) -> str:
        """The version's unique id."""
        return self.record.id

    @property
    def name(self) -> str:
        """The model's name."""
        return self.record.model

    @property
    def version(self) -> int:
        """The version number (1, 2, … per model)."""
        return self.record.version

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``, accepted by :func:`loopwright.load_model`."""
        return f"{MODEL_URI_PREFIX}{self.name}/{self.version}"

    @property
    def flavor(self) -> str:
        """The model's flavor (``sklearn``, ``xgboost``, ``torch``, ``python``, …)."""
        return self.record.flavor

    @property
    def status(self) -> str:
        """``active`` or ``archived``."""
        return self.record.status

    @property
    def run_id(self) -> str | None:
        """The run that produced the model, if known."""
        return self.record.run_id

    @property
    def code_version(self) -> str | None:
        """The git commit of the run's code."""
        return self.record.code_version

    @property
    def description(self) -> str | None:
        """What this version is."""
        return self.record.description

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags."""
        return dict(self.record.tags)

    @property
    def created_at(self) -> datetime:
        """When the version was registered (UTC)."""
        return self.record.created_at

    @property
    def signature(self) -> dict[str, Any] | None:
        """The model's input (and output) signature, as stored in its manifest."""
        return self.record.signature

    @property
    def aliases(self) -> list[str]:
        """The aliases that point at this version now."""
        return self._registry.ledger.aliases_of_version(self.id)

    @property
    def fine_tuned_from(self) -> ModelVersion | None:
        """The version this one was fine-tuned from, if recorded."""
        parent = self.record.fine_tuned_from_id
        return None if parent is None else self._registry.get_by_id(parent)

    def lineage_ref(self) -> tuple[str, str]:
        """``(artifact id, name)`` under which a run records this version as an input or output."""
        return self.record.artifact_id, f"models/{self.name}/v{self.version}"

    def datasets(self) -> list[DatasetVersion]:
        """The dataset versions the model was trained on."""
        return self._registry.training_datasets(self)

    def load(self) -> LoadedModel:
        """The model, ready to ``predict``; see :func:`loopwright.load_model`."""
        return self._registry.load(self)

    def evaluations(self) -> list[Evaluation]:
        """Every stored evaluation of this version, oldest first."""
        return self._registry.evaluations(self)

    def lineage(self) -> Lineage:
        """Where this version came from and what derives from it; see :func:`loopwright.lineage`."""
        from loopwright.registry.lineage import build_lineage

        return build_lineage(self._registry, self)

    def card(self) -> ModelCard:
        """The version's model card (render it with ``.to_markdown()`` or ``.to_html()``)."""
        from loopwright.registry.card import build_card

        return build_card(self._registry, self)
