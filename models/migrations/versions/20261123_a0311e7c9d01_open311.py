"""Open311 API keys and service definitions

Revision ID: a0311e7c9d01
Revises: b41f0c2e9a17
Create Date: 2026-11-23 11:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0311e7c9d01"
down_revision: str | None = "b41f0c2e9a17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_api_keys_created_by_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "service_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("datatype", sa.Enum("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist",
                                      name="attributedatatype", native_enum=False, create_constraint=True,
                                      length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("datatype_description", sa.String(length=500), nullable=False),
        sa.Column("is_variable", sa.Boolean(), nullable=False),
        sa.Column("is_required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"],
                                name=op.f("fk_service_attributes_category_id_categories"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_attributes")),
        sa.UniqueConstraint("category_id", "code", name=op.f("uq_service_attributes_category_id_code")),
    )
    op.create_index(op.f("ix_service_attributes_category_id"), "service_attributes", ["category_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_service_attributes_category_id"), table_name="service_attributes")
    op.drop_table("service_attributes")
    op.drop_table("api_keys")
