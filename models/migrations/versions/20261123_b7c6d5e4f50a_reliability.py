"""Reliability: what the fault tests needed; retention (issue 8): runs, legal hold, anonymised and purged marks

Revision ID: b7c6d5e4f50a
Revises: a9b8c7d6e509
Create Date: 2026-11-23 13:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7c6d5e4f50a"
down_revision: str | None = "a9b8c7d6e509"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Retention (issue 8): the runs of the retention job, legal hold details and the marks of what it removed.
MODE = sa.Enum("anonymise", "delete", name="retentionmode", native_enum=False, create_constraint=True, length=32)
_PURGED = ("attachments", "inbound_raw")


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", MODE, nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (
            "cases_anonymised", "cases_deleted", "constituents_anonymised", "constituents_deleted",
            "attachments_deleted", "files_deleted")),
        sa.Column("bytes_freed", sa.BigInteger(), nullable=False),
        sa.Column("raw_purged", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.create_index("ix_retention_runs_started_at", ["started_at"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_hold_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("legal_hold_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(op.f("fk_cases_legal_hold_by_id_users"), "users", ["legal_hold_by_id"], ["id"])
    with op.batch_alter_table("constituents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    for table in _PURGED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in _PURGED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("purged_at")
    with op.batch_alter_table("constituents", schema=None) as batch_op:
        batch_op.drop_column("anonymised_at")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_cases_legal_hold_by_id_users"), type_="foreignkey")
        batch_op.drop_column("anonymised_at")
        batch_op.drop_column("legal_hold_at")
        batch_op.drop_column("legal_hold_by_id")
        batch_op.drop_column("legal_hold_reason")
    with op.batch_alter_table("retention_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_retention_runs_started_at")
    op.drop_table("retention_runs")
