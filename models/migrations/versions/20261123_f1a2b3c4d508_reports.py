"""Reports: range indexes for the report queries (covering on PostgreSQL; see models/reports.py)

Revision ID: f1a2b3c4d508
Revises: e3d0092b466c
Create Date: 2026-11-23 13:00:00+00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "f1a2b3c4d508"
down_revision: str | None = "e3d0092b466c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REPORT_COLUMNS = ["queue_id", "channel", "category_id", "language", "district", "assignee_id", "status",
                  "first_responded_at", "resolved_at", "first_response_due_at", "resolution_due_at", "sla_paused_at"]


def upgrade() -> None:
    op.create_index("ix_cases_report_created", "cases", ["created_at"], postgresql_include=REPORT_COLUMNS)
    op.create_index("ix_cases_report_resolved", "cases", ["resolved_at"],
                    postgresql_include=["assignee_id", "created_at", "first_responded_at", "queue_id", "channel"])
    op.create_index("ix_survey_responses_sent_at", "survey_responses", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_survey_responses_sent_at", table_name="survey_responses")
    op.drop_index("ix_cases_report_resolved", table_name="cases")
    op.drop_index("ix_cases_report_created", table_name="cases")
