"""CSAT surveys: one per resolved case, answered once

Revision ID: e3d0092b466c
Revises: 5a1a0f1e0f06
Create Date: 2026-11-23 12:56:01+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3d0092b466c"
down_revision: str | None = "5a1a0f1e0f06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = sa.Enum("email", "webform", "chat", "phone", "open311", name="channel", native_enum=False,
                  create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("channel", CHANNEL, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)",
                           name=op.f("ck_survey_responses_score_range")),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_survey_responses_agent_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_survey_responses_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["queue_id"], ["queues.id"], name=op.f("fk_survey_responses_queue_id_queues")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("case_id", name=op.f("uq_survey_responses_case_id")),
    )
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.create_index("ix_survey_responses_agent_answered", ["agent_id", "answered_at"], unique=False)
        batch_op.create_index("ix_survey_responses_answered_at", ["answered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_responses_answered_at")
        batch_op.drop_index("ix_survey_responses_agent_answered")
    op.drop_table("survey_responses")
