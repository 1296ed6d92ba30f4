"""Where the aliases of models point, and the audit trail of every move, in the metadata store.

Every alias has a row with a ``revision``; a move is ``UPDATE … WHERE revision = r`` in the transaction
that appends its event. Of two concurrent moves exactly one changes the row, on SQLite (where write
transactions are serialised by ``BEGIN IMMEDIATE``) and on PostgreSQL (where the second ``UPDATE`` waits
for the first and then finds the revision changed), so the history never shows two moves from the same
state. A removed alias keeps its row with no version, so later moves stay compare-and-swaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopwright.errors import ConflictError
from loopwright.store.metadata import MetadataStore, now_ms
from loopwright.store.models import ModelCatalog
from loopwright.store.records import from_ms
from loopwright.store.schema import alias_events, model_aliases, model_versions

__all__ = ["AliasEvent", "AliasLedger", "AliasRecord"]


@dataclass(frozen=True, slots=True)
class AliasRecord:
    """Where an alias of a model points now (``version`` is ``None`` once the alias was removed)."""

    model: str
    alias: str
    version: int | None
    version_id: str | None
    revision: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias: who moved it, when, from which version to which, and why.

    ``action`` is ``set`` (moved by hand), ``promote`` (through the gates; ``gates`` holds their report,
    and ``forced`` says whether failing gates were overridden) or ``remove``.
    """

    id: int
    model: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    user: str | None
    reason: str | None
    forced: bool
    created_at: datetime
    gates: dict[str, Any] | None = None


class AliasLedger:
    """The aliases of every model and their history, in ``store``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self._models = ModelCatalog(store)

    def model_id(self, name: str) -> int:
        """The id of model ``name`` (:class:`NotFoundError` naming the known models)."""
        return self._models.model_id(name)

    # --- aliases ---------------------------------------------------------------------------------------

    def aliases(self, name: str) -> list[AliasRecord]:
        """Every alias of model ``name`` that points at a version, by name."""
        model_id = self._models.model_id(name)
        with self._store._read() as connection:
            rows = connection.execute(
                _alias_query()
                .where(model_aliases.c.model_id == model_id, model_aliases.c.model_version_id.is_not(None))
                .order_by(model_aliases.c.alias)
            ).all()
        return [_alias(row, name) for row in rows]

    def alias(self, name: str, alias: str) -> AliasRecord | None:
        """Where ``alias`` of model ``name`` points now, or ``None`` if it was never set."""
        model_id = self._models.model_id(name)
        with self._store._read() as connection:
            row = connection.execute(
                _alias_query().where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
            ).first()
        return None if row is None else _alias(row, name)

    def aliases_of_version(self, version_id: str) -> list[str]:
        """The aliases that point at one version."""
        with self._store._read() as connection:
            return list(
                connection.execute(
                    select(model_aliases.c.alias)
                    .where(model_aliases.c.model_version_id == version_id)
                    .order_by(model_aliases.c.alias)
                ).scalars()
            )

    def move_alias(
        self,
        name: str,
        alias: str,
        to_version_id: str | None,
        *,
        expected_revision: int | None,
        action: str,
        user: str | None,
        reason: str | None = None,
        forced: bool = False,
        gates: Mapping[str, Any] | None = None,
    ) -> AliasEvent | None:
        """Point ``alias`` at ``to_version_id`` (``None`` removes it) and record the move, atomically.

        ``expected_revision`` is the alias's revision when the caller decided on the move (0 when the
        alias did not exist): if another move happened since, :class:`ConflictError` is raised and nothing
        changes. Moving an alias to where it already points records nothing and returns ``None``.
        """
        model_id = self._models.model_id(name)
        try:
            with self._store._write() as connection:
                row = connection.execute(
                    select(model_aliases.c.model_version_id, model_aliases.c.revision).where(
                        model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
                    )
                ).first()
                revision = 0 if row is None else row.revision
                from_version_id = None if row is None else row.model_version_id
                if expected_revision is not None and revision != expected_revision:
                    raise _moved(name, alias)
                if from_version_id == to_version_id:
                    return None
                moment = now_ms()
                if row is None:
                    connection.execute(
                        insert(model_aliases).values(
                            model_id=model_id,
                            alias=alias,
                            model_version_id=to_version_id,
                            revision=1,
                            updated_ms=moment,
                        )
                    )
                else:
                    changed = connection.execute(
                        update(model_aliases)
                        .where(
                            model_aliases.c.model_id == model_id,
                            model_aliases.c.alias == alias,
                            model_aliases.c.revision == revision,
                        )
                        .values(model_version_id=to_version_id, revision=revision + 1, updated_ms=moment)
                    )
                    if changed.rowcount != 1:
                        raise _moved(name, alias)
                numbers = dict(
                    connection.execute(
                        select(model_versions.c.id, model_versions.c.version).where(
                            model_versions.c.id.in_([v for v in (from_version_id, to_version_id) if v])
                        )
                    ).all()
                )
                result = connection.execute(
                    insert(alias_events)
                    .values(
                        model_id=model_id,
                        alias=alias,
                        action=action,
                        from_version_id=from_version_id,
                        to_version_id=to_version_id,
                        from_version=numbers.get(from_version_id),
                        to_version=numbers.get(to_version_id),
                        user=user,
                        reason=reason,
                        forced=forced,
                        gates=dict(gates) if gates is not None else None,
                        created_ms=moment,
                    )
                    .returning(alias_events.c.id)
                )
                event_id = int(result.scalar_one())
        except IntegrityError:
            raise _moved(name, alias) from None  # another process created the alias at the same moment
        return self._events(alias_events.c.id == event_id, name)[0]

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every recorded move of the model's aliases (or of one alias), oldest first."""
        model_id = self._models.model_id(name)
        condition = alias_events.c.model_id == model_id
        if alias is not None:
            condition = condition & (alias_events.c.alias == alias)
        return self._events(condition, name)

    def alias_at(self, name: str, alias: str, at_ms: int) -> AliasEvent | None:
        """The last move of ``alias`` at or before ``at_ms``: its ``to_version`` is where it pointed then."""
        model_id = self._models.model_id(name)
        statement = (
            select(alias_events)
            .where(
                alias_events.c.model_id == model_id,
                alias_events.c.alias == alias,
                alias_events.c.created_ms <= at_ms,
            )
            .order_by(alias_events.c.created_ms.desc(), alias_events.c.id.desc())
            .limit(1)
        )
        with self._store._read() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _event(row, name)

    def _events(self, condition: Any, name: str) -> list[AliasEvent]:
        with self._store._read() as connection:
            rows = connection.execute(
                select(alias_events).where(condition).order_by(alias_events.c.created_ms, alias_events.c.id)
            ).all()
        return [_event(row, name) for row in rows]


def _moved(name: str, alias: str) -> ConflictError:
    return ConflictError(
        f"Alias {alias!r} of model {name!r} was moved by someone else while this change was being decided; "
        "nothing was changed. Look at `loopwright models history` and try again.",
        model=name,
        alias=alias,
    )


def _alias_query() -> Any:
    return select(model_aliases, model_versions.c.version).outerjoin(
        model_versions, model_versions.c.id == model_aliases.c.model_version_id
    )


def _alias(row: Row[Any], name: str) -> AliasRecord:
    return AliasRecord(
        model=name,
        alias=row.alias,
        version=row.version,
        version_id=row.model_version_id,
        revision=row.revision,
        updated_at=from_ms(row.updated_ms),  # type: ignore[arg-type]
    )


def _event(row: Row[Any], name: str) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        model=name,
        alias=row.alias,
        action=row.action,
        from_version=row.from_version,
        to_version=row.to_version,
        user=row.user,
        reason=row.reason,
        forced=bool(row.forced),
        created_at=from_ms(row.created_ms),  # type: ignore[arg-type]
        gates=dict(row.gates) if row.gates is not None else None,
    )
