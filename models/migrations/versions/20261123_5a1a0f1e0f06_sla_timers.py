"""SLA timers: warning points, pause state and basis on cases; the warnings and breaches fired

Revision ID: 5a1a0f1e0f06
Revises: 1b0c5a7e0e05
Create Date: 2026-11-23 11:20:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5a1a0f1e0f06"
down_revision: str | None = "1b0c5a7e0e05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_response_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_paused_seconds", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("sla_basis", sa.String(length=32), nullable=True))
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("first_response", "resolution", name="slakind", native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column("stage", sa.Enum("warning", "breach", name="slastage", native_enum=False,
                                   create_constraint=True, length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_sla_events_case_id_cases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
        sa.UniqueConstraint("case_id", "kind", "stage", "due_at",
                            name=op.f("uq_sla_events_case_id_kind_stage_due_at")),
    )


def downgrade() -> None:
    op.drop_table("sla_events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("sla_basis")
        batch_op.drop_column("sla_paused_seconds")
        batch_op.drop_column("sla_paused_at")
        batch_op.drop_column("resolution_warn_at")
        batch_op.drop_column("first_response_warn_at")
