"""monitoring: monitors, monitor_windows, monitor_results, alert_rules, alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("deployment", sa.String(length=250), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("window_ms", sa.BigInteger(), nullable=True),
        sa.Column("window_rows", sa.BigInteger(), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("drift", sa.JSON(), nullable=False),
        sa.Column("correction", sa.String(length=16), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("profile_artifact_id", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_monitors_profile_artifact_id_artifacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_index(op.f("ix_monitors_deployment"), "monitors", ["deployment"], unique=False)
    op.create_table(
        "monitor_windows",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("labels", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("computed_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_windows_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
        sa.UniqueConstraint("monitor_id", "start_ms", name=op.f("uq_monitor_windows_monitor_id_start_ms")),
    )
    op.create_table(
        "monitor_results",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("column", sa.String(length=250), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_results_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_results")),
    )
    op.create_index(
        op.f("ix_monitor_results_monitor_id_metric_window_start_ms"),
        "monitor_results",
        ["monitor_id", "metric", "window_start_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_monitor_results_monitor_id_window_start_ms"),
        "monitor_results",
        ["monitor_id", "window_start_ms"],
        unique=False,
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("column", sa.String(length=250), nullable=True),
        sa.Column("operator", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("for_windows", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_alert_rules_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rules_name")),
    )
    op.create_index(op.f("ix_alert_rules_monitor_id"), "alert_rules", ["monitor_id"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_value", sa.Double(), nullable=True),
        sa.Column("window_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("notified", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alerts_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_rule_id_status"), "alerts", ["rule_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_rule_id_status"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_alert_rules_monitor_id"), table_name="alert_rules")
    op.drop_table("alert_rules")
    op.drop_index(op.f("ix_monitor_results_monitor_id_window_start_ms"), table_name="monitor_results")
    op.drop_index(op.f("ix_monitor_results_monitor_id_metric_window_start_ms"), table_name="monitor_results")
    op.drop_table("monitor_results")
    op.drop_table("monitor_windows")
    op.drop_index(op.f("ix_monitors_deployment"), table_name="monitors")
    op.drop_table("monitors")
