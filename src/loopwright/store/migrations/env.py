"""Alembic environment: always run on a connection that Loopwright hands over (see store/engine.py)."""

from __future__ import annotations

from alembic import context

from loopwright.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI by hand
    raise RuntimeError("Loopwright migrations run through loopwright.store.engine.ensure_schema().")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
