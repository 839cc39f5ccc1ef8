"""Trigram indexes for name search, duplicate suggestions and phone numbers typed in any format

Revision ID: d4e5f6a7b80c
Revises: c3d4e5f6a70b
Create Date: 2026-11-23 13:40:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e5f6a7b80c"
down_revision: str | None = "c3d4e5f6a70b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_constituents_display_name_trgm": ("constituents", "display_name"),
           "ix_contact_points_value_trgm": ("contact_points", "value")}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in INDEXES.items():
        op.create_index(name, table, [column], postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"},
                        sqlite_where=sa.text("0"))


def downgrade() -> None:
    for name, (table, _column) in INDEXES.items():
        op.drop_index(name, table_name=table)
