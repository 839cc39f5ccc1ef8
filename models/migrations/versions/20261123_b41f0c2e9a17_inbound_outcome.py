"""inbound outcome and message id

Revision ID: b41f0c2e9a17
Revises: 5db9ce0aa3a6
Create Date: 2026-11-23 09:20:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b41f0c2e9a17"
down_revision: str | None = "5db9ce0aa3a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_raw", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.String(length=998), nullable=True))
        batch_op.create_index(batch_op.f("ix_inbound_raw_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_raw", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_raw_message_id"))
        batch_op.drop_column("message_id")
        batch_op.drop_column("outcome")
