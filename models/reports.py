"""Indexes for the supervisor reports (routing/reports.py); the report queries read the tables they index.

Each report scans one range of one timestamp. On PostgreSQL the indexes carry the columns the reports group
and measure by (INCLUDE), so a report over a month of a million cases is an index-only scan of that month;
SQLite gets the plain range index.
"""
from sqlalchemy import Index

from models.case import Case
from models.csat import SurveyResponse

# Volume, times, SLA attainment and equity: cases created in a range.
REPORT_COLUMNS = ("queue_id", "channel", "category_id", "language", "district", "assignee_id", "status",
                  "first_responded_at", "resolved_at", "first_response_due_at", "resolution_due_at",
                  "sla_paused_at")
CASES_CREATED = Index("ix_cases_report_created", Case.created_at, postgresql_include=list(REPORT_COLUMNS))
# Agents: cases resolved in a range.
# Only resolved cases: a range of `resolved_at` implies it is set, and routing's writes (unresolved cases) add
# nothing to it.
_RESOLVED = Case.resolved_at.is_not(None)
CASES_RESOLVED = Index("ix_cases_report_resolved", Case.resolved_at,
                       postgresql_include=["assignee_id", "created_at", "first_responded_at", "queue_id", "channel"],
                       postgresql_where=_RESOLVED, sqlite_where=_RESOLVED)
# Satisfaction: surveys sent in a range (answers have their own index).
SURVEYS_SENT = Index("ix_survey_responses_sent_at", SurveyResponse.sent_at)
