"""The model registry: registering versions, finding and loading them, and moving their aliases.

:class:`Registry` is the service behind ``lw.register_model``, ``lw.load_model`` and the alias helpers;
:class:`~loopwright.registry.version.ModelVersion` is the handle users get back. Evaluation, promotion
through gates, lineage and model cards live in their own modules and are reached from here.

>>> version = registry.register("fraud", model, run=run, input_example=frame)   # doctest: +SKIP
>>> version.uri
'models:/fraud/1'
>>> registry.load("models:/fraud@production").predict(frame)                   # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwright._names import validate_key
from loopwright.errors import (
    ConflictError,
    DependentsWarning,
    InvalidInputError,
    NotFoundError,
)
from loopwright.registry.archive import MODEL_MEDIA_TYPE, materialize_model, write_archive
from loopwright.registry.references import (
    MODEL_URI_PREFIX,
    parse_model_reference,
    validate_alias,
    validate_model_name,
)
from loopwright.registry.version import ModelVersion
from loopwright.store.aliases import AliasEvent, AliasLedger, AliasRecord
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.models import ModelCatalog, ModelRecord, ModelVersionRecord
from loopwright.store.promotions import PromotionStore
from loopwright.tracking.validation import text_value

if TYPE_CHECKING:
    from loopwright.data.versions import Datasets, DatasetVersion
    from loopwright.registry.evaluation import Evaluation
    from loopwright.registry.format import LoadedModel

# ModelVersion and the naming helpers live in their own modules; they are re-exported here for callers
# that import them from the registry.
__all__ = [
    "MODEL_URI_PREFIX",
    "ModelVersion",
    "Registry",
    "parse_model_reference",
    "validate_alias",
    "validate_model_name",
]


class Registry:
    """Registered models of one workspace: versions, aliases, evaluations and promotions."""

    def __init__(
        self,
        store: MetadataStore,
        artifacts: ArtifactStore,
        datasets: Datasets,
        cache_dir: Path,
        *,
        user: str | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.datasets = datasets
        self.catalog = ModelCatalog(store)
        self.ledger = AliasLedger(store)
        self.promotions = PromotionStore(store)
        self._cache_dir = cache_dir
        self._user = user

    @property
    def user(self) -> str | None:
        """Who this registry records as the author of changes (the settings' user, else the OS user)."""
        if self._user is not None:
            return self._user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return None

    # --- registration ----------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model: Any,
        *,
        run_id: str | None = None,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        requirements: Any = None,
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        datasets: Sequence[DatasetVersion | str] | None = None,
        fine_tuned_from: ModelVersion | str | None = None,
    ) -> ModelVersion:
        """Save ``model`` (an object, a saved model folder, or a loaded model) as the next version of
        ``name``.

        Everything is checked and the model is serialised first; then the version, its training data and
        its lineage event are recorded in one transaction, so a failure leaves nothing half-registered.
        The training datasets default to the dataset versions the run read; the code version is the
        run's git commit.
        """
        validate_model_name(name)
        tag_texts = _tags(tags)
        run = self.store.get_run(run_id) if run_id is not None else None
        parent = self.resolve(fine_tuned_from) if fine_tuned_from is not None else None
        if datasets is not None:
            dataset_ids = [self.datasets.resolve(item).id for item in _sequence("datasets", datasets)]
        else:
            dataset_ids = self.catalog.run_input_dataset_ids(run_id) if run_id is not None else []
        scratch = Path(tempfile.mkdtemp(prefix="loopwright-register-"))
        try:
            model_dir, manifest = self._serialise(
                model,
                scratch,
                input_example=input_example,
                signature=signature,
                flavor=flavor,
                requirements=requirements,
                metadata=metadata,
            )
            tar_path = scratch / "model.tar"
            with open(tar_path, "wb") as handle:
                files = write_archive(model_dir, handle)
            blob = self.artifacts.put_file(tar_path, move=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        model_signature = getattr(manifest, "signature", None)
        record = self.catalog.create_version(
            name,
            artifact=(blob.digest, blob.size, MODEL_MEDIA_TYPE, {"files": files}),
            flavor=str(manifest.flavor),
            signature=model_signature.to_dict() if model_signature is not None else None,
            run_id=run_id,
            fine_tuned_from_id=parent.id if parent is not None else None,
            code_version=run.git_commit if run is not None else None,
            code_dirty=run.git_dirty if run is not None else None,
            description=description,
            tags=tag_texts,
            created_by=self.user,
            dataset_version_ids=dataset_ids,
        )
        return ModelVersion(record, self)

    def _serialise(
        self,
        model: Any,
        scratch: Path,
        *,
        input_example: Any,
        signature: Any,
        flavor: str | None,
        requirements: Any,
        metadata: Mapping[str, Any] | None,
    ) -> tuple[Path, Any]:
        """The folder to store and its manifest: the given folder as it is, or the model saved anew."""
        from loopwright.registry.format import LoadedModel, read_manifest, save_model

        if isinstance(model, str | Path) and Path(model).is_dir():
            return Path(model), read_manifest(Path(model))
        if isinstance(model, LoadedModel) and model.path is not None and Path(model.path).is_dir():
            return Path(model.path), model.manifest
        target = scratch / "model"
        manifest = save_model(
            model.raw if isinstance(model, LoadedModel) else model,
            target,
            flavor=flavor or (model.flavor if isinstance(model, LoadedModel) else None),
            input_example=input_example,
            signature=signature
            if signature is not None or not isinstance(model, LoadedModel)
            else model.signature,
            requirements=requirements,
            metadata=metadata,
        )
        return target, manifest

    # --- finding ---------------------------------------------------------------------------------------

    def resolve(
        self, target: ModelVersion | str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """A version from a :class:`ModelVersion`, a URI (``models:/fraud/3``, ``models:/fraud@production``,
        ``models:/fraud``), ``fraud/3``, ``fraud:3``, ``fraud@production``, or a name with ``version`` or
        ``alias`` (the latest version when neither is given)."""
        if isinstance(target, ModelVersion):
            return target
        if not isinstance(target, str):
            raise InvalidInputError(
                "A model version is a ModelVersion or a text such as 'models:/fraud/3' or "
                f"'fraud@production'. Got {target!r} of type {type(target).__name__} instead.",
                target=repr(target),
            )
        name, parsed_version, parsed_alias = parse_model_reference(target)
        if version is not None and (parsed_version is not None or parsed_alias is not None):
            raise InvalidInputError(
                f"Give the version either in {target!r} or as version={version}, not both.", target=target
            )
        version = version if version is not None else parsed_version
        alias = alias if alias is not None else parsed_alias
        if alias is not None:
            return self._by_alias(name, alias)
        return ModelVersion(self.catalog.get_version(name, version), self)

    def _by_alias(self, name: str, alias: str) -> ModelVersion:
        pointer = self.ledger.alias(name, alias)
        if pointer is None or pointer.version_id is None:
            known = [record.alias for record in self.ledger.aliases(name)]
            raise NotFoundError(
                f"Model {name!r} has no alias {alias!r}. Its aliases: "
                f"{', '.join(map(repr, known)) or 'none'}. Point one at a version with "
                f"lw.promote({name!r}, VERSION, to={alias!r}).",
                kind="model_alias",
                key=f"{name}@{alias}",
            )
        return self.get_by_id(pointer.version_id)

    def get_by_id(self, version_id: str) -> ModelVersion:
        """A version by its id."""
        return ModelVersion(self.catalog.get_version_by_id(version_id), self)

    def models(self) -> list[ModelRecord]:
        """Every registered model."""
        return self.catalog.list_models()

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of model ``name``, oldest first."""
        return [ModelVersion(record, self) for record in self.catalog.list_versions(name)]

    def training_datasets(self, version: ModelVersion) -> list[DatasetVersion]:
        """The dataset versions a model version was trained on."""
        from loopwright.data.versions import DatasetVersion

        return [
            DatasetVersion(self.datasets.catalog.get_version_by_id(dataset_id), self.datasets)
            for dataset_id in self.catalog.training_dataset_ids(version.id)
        ]

    def evaluations(
        self, target: ModelVersion | str | None = None, *, model: str | None = None
    ) -> list[Evaluation]:
        """Stored evaluations of one version, or of every version of ``model``, oldest first."""
        from loopwright.registry.evaluation import Evaluation

        if target is not None:
            records = self.promotions.evaluations(model_version_id=self.resolve(target).id)
        elif model is not None:
            records = self.promotions.evaluations(model_id=self.catalog.model_id(model))
        else:
            raise InvalidInputError("Give a model version or model=NAME to list evaluations.")
        return [Evaluation(record) for record in records]

    # --- loading ---------------------------------------------------------------------------------------

    def load(self, target: ModelVersion | str | Path) -> LoadedModel:
        """A model ready to predict, from a registered version (see :meth:`resolve`) or a model folder."""
        from loopwright.registry.format import load_model

        if isinstance(target, Path) or (
            isinstance(target, str) and not target.startswith(MODEL_URI_PREFIX) and Path(target).is_dir()
        ):
            return load_model(Path(target))
        version = self.resolve(target)
        folder = materialize_model(self.artifacts, version.record.digest, self._cache_dir)
        return load_model(folder)

    # --- aliases ---------------------------------------------------------------------------------------

    def aliases(self, name: str) -> list[AliasRecord]:
        """Where each alias of model ``name`` points now."""
        return self.ledger.aliases(name)

    def set_alias(
        self, target: ModelVersion | str, alias: str, version: int | None = None, *, reason: str | None = None
    ) -> AliasEvent | None:
        """Point ``alias`` at a version without gates (recorded in the history with ``reason``). An alias
        with a promotion policy can only be moved by :meth:`promote`."""
        validate_alias(alias)
        found = self.resolve(target, version)
        if alias in self.promotions.policies(found.record.model_id):
            raise ConflictError(
                f"Alias {alias!r} of model {found.name!r} has a promotion policy, so it moves only through "
                f"its gates: use lw.promote({found.name!r}, {found.version}, to={alias!r}).",
                model=found.name,
                alias=alias,
            )
        _check_active(found, alias)
        return self.move_alias(found, alias, action="set", reason=reason)

    def remove_alias(self, name: str, alias: str, *, reason: str | None = None) -> AliasEvent | None:
        """Remove ``alias`` from model ``name`` (recorded in the history)."""
        validate_alias(alias)
        current = self.ledger.alias(name, alias)
        if current is None or current.version_id is None:
            return None
        event = self.ledger.move_alias(
            name,
            alias,
            None,
            expected_revision=current.revision,
            action="remove",
            user=self.user,
            reason=reason,
        )
        self._warn_dependents(name, alias, current.version_id)
        return event

    def move_alias(
        self,
        version: ModelVersion,
        alias: str,
        *,
        action: str,
        reason: str | None = None,
        decided_on: AliasRecord | None = None,
        check_unchanged: bool = False,
        forced: bool = False,
        gates: Mapping[str, Any] | None = None,
    ) -> AliasEvent | None:
        """Move ``alias`` to ``version`` and record it.

        With ``check_unchanged``, ``decided_on`` is the alias as the caller saw it when deciding (``None``:
        it did not exist), and a move by someone else since then is a :class:`ConflictError`. Without it,
        a concurrent move is simply looked at again.
        """
        for _attempt in range(5):
            current = decided_on if check_unchanged else self.ledger.alias(version.name, alias)
            try:
                event = self.ledger.move_alias(
                    version.name,
                    alias,
                    version.id,
                    expected_revision=current.revision if current is not None else 0,
                    action=action,
                    user=self.user,
                    reason=reason,
                    forced=forced,
                    gates=gates,
                )
            except ConflictError:
                if not check_unchanged:
                    continue  # a plain alias move has no decision to invalidate: look again
                raise
            if event is not None and current is not None and current.version_id is not None:
                self._warn_dependents(version.name, alias, current.version_id, successor=version.id)
            return event
        raise ConflictError(  # pragma: no cover - five concurrent moves in a row
            f"Alias {alias!r} of model {version.name!r} kept moving; try again.",
            model=version.name,
            alias=alias,
        )

    def _warn_dependents(self, name: str, alias: str, version_id: str, successor: str | None = None) -> None:
        # The version taking the alias over is no dependent to warn about, even if fine-tuned from it.
        dependents = [record for record in self.catalog.dependents(version_id) if record.id != successor]
        if dependents:
            left = self.catalog.get_version_by_id(version_id)
            warnings.warn(
                _dependents_message(left, dependents, f"leaves alias {alias!r}"),
                DependentsWarning,
                stacklevel=3,
            )

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every recorded move of the aliases of ``name`` (or of one alias), oldest first."""
        self.catalog.model_id(name)
        return self.ledger.history(name, alias)

    def alias_at(self, name: str, alias: str, when: datetime | str | float) -> ModelVersion | None:
        """The version ``alias`` pointed at on date ``when`` (a datetime, ISO text or epoch seconds), or
        ``None`` when it pointed nowhere then."""
        event = self.ledger.alias_at(name, alias, _epoch_ms(when))
        if event is None or event.to_version is None:
            return None
        return ModelVersion(self.catalog.get_version(name, event.to_version), self)

    def archive(self, target: ModelVersion | str, version: int | None = None) -> ModelVersion:
        """Mark a version archived: it can no longer be promoted or aliased. A version that an alias
        points at must be moved off first; archiving one that others were fine-tuned from warns."""
        found = self.resolve(target, version)
        if found.aliases:
            raise ConflictError(
                f"Model {found.name!r} version {found.version} holds the aliases {', '.join(found.aliases)}; "
                "move them to another version before archiving it.",
                model=found.name,
                version=found.version,
            )
        self.catalog.set_status(found.id, "archived")
        dependents = self.catalog.dependents(found.id)
        if dependents:
            warnings.warn(
                _dependents_message(found.record, dependents, "is archived"), DependentsWarning, stacklevel=2
            )
        return self.get_by_id(found.id)


def _check_active(version: ModelVersion, alias: str) -> None:
    if version.status == "archived":
        raise ConflictError(
            f"Model {version.name!r} version {version.version} is archived; it cannot take the alias "
            f"{alias!r}.",
            model=version.name,
            version=version.version,
        )


def _dependents_message(
    version: ModelVersionRecord, dependents: Sequence[ModelVersionRecord], change: str
) -> str:
    names = ", ".join(f"{record.model}/{record.version}" for record in dependents)
    return (
        f"Model {version.model!r} version {version.version} {change}, and {len(dependents)} version(s) were "
        f"fine-tuned from it: {names}. They may need retraining on its successor (a correction cascade)."
    )


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInputError(
            f"tags must be a mapping of names to values. Got {tags!r} instead.", tags=repr(tags)
        )
    return {validate_key("tag", key): text_value("tag", key, value) for key, value in tags.items()}


def _sequence(field: str, value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _epoch_ms(when: datetime | str | float) -> int:
    if isinstance(when, datetime):
        return int(when.timestamp() * 1000)  # a naive datetime is local time, as the CLI shows times
    if isinstance(when, str):
        try:
            return _epoch_ms(datetime.fromisoformat(when))
        except ValueError:
            pass
    elif isinstance(when, int | float) and not isinstance(when, bool):
        return int(when * 1000)
    raise InvalidInputError(
        f"A date must be a datetime, ISO text such as '2026-03-01T12:00:00+00:00', or epoch seconds. "
        f"Got {when!r} instead.",
        when=repr(when),
    )
