"""Reports: indexes or summaries for the report queries

Revision ID: f1a2b3c4d508
Revises: e3d0092b466c
Create Date: 2026-11-23 13:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "f1a2b3c4d508"
down_revision: str | None = "e3d0092b466c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
