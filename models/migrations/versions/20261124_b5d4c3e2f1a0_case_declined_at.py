"""Cases say when an offer of them was last declined or timed out, so that routing reads a case's declines
only when it has some since it joined its queue (issue 4)

Revision ID: b5d4c3e2f1a0
Revises: a9c8e7d6f5b4
Create Date: 2026-11-24 20:45:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5d4c3e2f1a0"
down_revision: str | None = "a9c8e7d6f5b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DECLINES = "FROM routing_decisions d WHERE d.outcome IN ('declined', 'timed_out')"


def upgrade() -> None:
    op.add_column("cases", sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(f"UPDATE cases SET declined_at = (SELECT max(coalesce(d.responded_at, d.created_at)) {_DECLINES} "
               f"AND d.case_id = cases.id) WHERE id IN (SELECT d.case_id {_DECLINES})")


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("declined_at")
