"""Staffing version: a token that triggers change with every write to queues, skills, memberships, skill
levels and users' names, languages and active flag, so that routing can keep those in memory (issue 4)

Revision ID: e7f8a9b0c1d2
Revises: d4e5f6a7b80c
Create Date: 2026-11-24 02:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.routing import staffing_ddl, staffing_undo_ddl

revision: str = "e7f8a9b0c1d2"
down_revision: str | None = "d4e5f6a7b80c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("staffing_version",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("token", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_staffing_version")))
    for statement in staffing_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in staffing_undo_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("staffing_version")
