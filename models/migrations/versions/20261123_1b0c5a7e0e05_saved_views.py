"""inbox saved views

Revision ID: 1b0c5a7e0e05
Revises: c4a7f00d0d04
Create Date: 2026-11-23 11:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1b0c5a7e0e05"
down_revision: str | None = "c4a7f00d0d04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOWHERE = sa.text("0")
LIST_INDEXES = {
    "ix_cases_priority_queued": [sa.text("priority DESC"), "queued_at", "id"],
    "ix_cases_queue_priority_queued": ["queue_id", sa.text("priority DESC"), "queued_at", "id"],
    "ix_cases_queue_activity": ["queue_id", "last_activity_at", "id"],
    "ix_cases_assignee_priority_activity": ["assignee_id", "priority", "last_activity_at", "id"],
    "ix_cases_activity": ["last_activity_at", "id"],
    "ix_cases_created": ["created_at", "id"],
}
SLA_INDEXES = {
    "ix_cases_first_response_due_pending": ("first_response_due_at", "first_responded_at"),
    "ix_cases_resolution_due_pending": ("resolution_due_at", "resolved_at"),
}


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("sort", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_saved_views_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("user_id", "scope", "name", name=op.f("uq_saved_views_user_id_scope_name")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_cases_subject_trgm", "cases", ["subject"], postgresql_using="gin",
                    postgresql_ops={"subject": "gin_trgm_ops"}, sqlite_where=_NOWHERE)
    op.create_index("ix_interactions_body_text_trgm", "interactions", ["body_text"], postgresql_using="gin",
                    postgresql_ops={"body_text": "gin_trgm_ops"}, sqlite_where=_NOWHERE)
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "cases", columns)
    for name, (column, met) in SLA_INDEXES.items():
        pending = sa.text(f"{met} IS NULL")
        op.create_index(name, "cases", [column], postgresql_where=pending, sqlite_where=pending)


def downgrade() -> None:
    for name in SLA_INDEXES:
        op.drop_index(name, table_name="cases")
    for name in reversed(LIST_INDEXES):
        op.drop_index(name, table_name="cases")
    op.drop_index("ix_interactions_body_text_trgm", table_name="interactions")
    op.drop_index("ix_cases_subject_trgm", table_name="cases")
    op.drop_table("saved_views")
