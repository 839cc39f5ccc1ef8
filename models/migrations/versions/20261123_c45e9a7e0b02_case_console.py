"""case page: links, macros, mentions

Revision ID: c45e9a7e0b02
Revises: a0311e7c9d01
Create Date: 2026-11-23 11:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c45e9a7e0b02"
down_revision: str | None = "a0311e7c9d01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("case_id < other_case_id", name=op.f("ck_case_links_ordered")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_links_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_case_id"], ["cases.id"], name=op.f("fk_case_links_other_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_case_links_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_links")),
        sa.UniqueConstraint("case_id", "other_case_id", name=op.f("uq_case_links_case_id_other_case_id")),
    )
    op.create_index("ix_case_links_other_case_id", "case_links", ["other_case_id"])
    op.create_table(
        "case_merges",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("into_case_id", sa.Integer(), nullable=False),
        sa.Column("merged_by_id", sa.Integer(), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_merges_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["into_case_id"], ["cases.id"], name=op.f("fk_case_merges_into_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merged_by_id"], ["users.id"], name=op.f("fk_case_merges_merged_by_id_users")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_merges")),
    )
    op.create_index(op.f("ix_case_merges_into_case_id"), "case_merges", ["into_case_id"])
    op.create_table(
        "macros",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_macros_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
        sa.UniqueConstraint("name", name=op.f("uq_macros_name")),
    )
    op.create_table(
        "macro_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("macro_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["macro_id"], ["macros.id"], name=op.f("fk_macro_variants_macro_id_macros"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macro_variants")),
        sa.UniqueConstraint("macro_id", "language", name=op.f("uq_macro_variants_macro_id_language")),
    )
    op.create_table(
        "mentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_mentions_interaction_id_interactions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_mentions_case_id_cases"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_mentions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentions")),
        sa.UniqueConstraint("interaction_id", "user_id", name=op.f("uq_mentions_interaction_id_user_id")),
    )
    op.create_index(op.f("ix_mentions_case_id"), "mentions", ["case_id"])
    op.create_index("ix_mentions_user_read", "mentions", ["user_id", "read_at"])


def downgrade() -> None:
    op.drop_table("mentions")
    op.drop_table("macro_variants")
    op.drop_table("macros")
    op.drop_table("case_merges")
    op.drop_table("case_links")
