"""live chat sessions

Revision ID: c4a7f00d0d04
Revises: c0757e1d0c03
Create Date: 2026-11-23 11:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a7f00d0d04"
down_revision: str | None = "c0757e1d0c03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.Enum("open", "ended", "message_left", name="chatstate", native_enum=False,
                                   create_constraint=True, length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("constituent_read_upto", sa.Integer(), nullable=True),
        sa.Column("agent_read_upto", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_chat_sessions_case_id_cases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
        sa.UniqueConstraint("case_id", name=op.f("uq_chat_sessions_case_id")),
    )


def downgrade() -> None:
    op.drop_table("chat_sessions")
