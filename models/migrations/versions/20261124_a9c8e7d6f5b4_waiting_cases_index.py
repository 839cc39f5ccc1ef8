"""Waiting cases index: routing walks a queue's waiting cases (new, neither assigned nor offered) best first
through an index of those alone, so the walk does not grow with the queue's history (issue 4)

Revision ID: a9c8e7d6f5b4
Revises: e7f8a9b0c1d2
Create Date: 2026-11-24 14:40:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a9c8e7d6f5b4"
down_revision: str | None = "e7f8a9b0c1d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WAITING = sa.text("status = 'new' AND assignee_id IS NULL AND offered_to_id IS NULL")


def upgrade() -> None:
    op.create_index("ix_cases_waiting", "cases", ["queue_id", sa.text("priority DESC"), "queued_at", "id"],
                    postgresql_where=_WAITING, sqlite_where=_WAITING)


def downgrade() -> None:
    op.drop_index("ix_cases_waiting", table_name="cases")
