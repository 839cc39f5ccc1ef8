"""Fewer indexes on cases: routing changes a case's status and owner, so every write of it adds an entry to
each index of the table. Three indexes of the first schema that no query uses since the lists, the reports and
routing got their own go, and the report index of resolved cases holds only those (issue 4)

Revision ID: c6e5d4f3a2b1
Revises: b5d4c3e2f1a0
Create Date: 2026-11-25 00:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c6e5d4f3a2b1"
down_revision: str | None = "b5d4c3e2f1a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> columns, as the initial schema made them
_UNUSED = {"ix_cases_queue_status_priority_queued": ["queue_id", "status", "priority", "queued_at"],
           "ix_cases_assignee_status_activity": ["assignee_id", "status", "last_activity_at"],
           "ix_cases_status_created": ["status", "created_at"]}
_RESOLVED_INCLUDE = ["assignee_id", "created_at", "first_responded_at", "queue_id", "channel"]
_RESOLVED = sa.text("resolved_at IS NOT NULL")


def upgrade() -> None:
    for name in _UNUSED:
        op.drop_index(name, table_name="cases")
    op.drop_index("ix_cases_report_resolved", table_name="cases")
    op.create_index("ix_cases_report_resolved", "cases", ["resolved_at"], postgresql_include=_RESOLVED_INCLUDE,
                    postgresql_where=_RESOLVED, sqlite_where=_RESOLVED)


def downgrade() -> None:
    op.drop_index("ix_cases_report_resolved", table_name="cases")
    op.create_index("ix_cases_report_resolved", "cases", ["resolved_at"], postgresql_include=_RESOLVED_INCLUDE)
    for name, columns in _UNUSED.items():
        op.create_index(name, "cases", columns)
