"""automation: rollouts, rollout_events, retraining_policies, retrainings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=250), nullable=False),
        sa.Column("active_deployment", sa.String(length=250), nullable=True),
        sa.Column("model", sa.String(length=250), nullable=False),
        sa.Column("candidate", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Integer(), nullable=True),
        sa.Column("alias", sa.String(length=250), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        sa.UniqueConstraint("active_deployment", name=op.f("uq_rollouts_active_deployment")),
    )
    op.create_index(
        op.f("ix_rollouts_deployment_created_ms"), "rollouts", ["deployment", "created_ms"], unique=False
    )
    op.create_table(
        "rollout_events",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_events_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_events")),
    )
    op.create_index(
        op.f("ix_rollout_events_rollout_id_id"), "rollout_events", ["rollout_id", "id"], unique=False
    )
    op.create_table(
        "retraining_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=250), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retraining_policies")),
        sa.UniqueConstraint("deployment", name=op.f("uq_retraining_policies_deployment")),
    )
    op.create_table(
        "retrainings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=250), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.String(length=250), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=250), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("gates", sa.JSON(), nullable=True),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["runs.id"],
            name=op.f("fk_retrainings_pipeline_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_retrainings_rollout_id_rollouts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrainings")),
    )
    op.create_index(
        op.f("ix_retrainings_deployment_started_ms"),
        "retrainings",
        ["deployment", "started_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_retrainings_deployment_started_ms"), table_name="retrainings")
    op.drop_table("retrainings")
    op.drop_table("retraining_policies")
    op.drop_index(op.f("ix_rollout_events_rollout_id_id"), table_name="rollout_events")
    op.drop_table("rollout_events")
    op.drop_index(op.f("ix_rollouts_deployment_created_ms"), table_name="rollouts")
    op.drop_table("rollouts")
