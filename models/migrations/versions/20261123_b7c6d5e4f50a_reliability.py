"""Reliability: what the fault tests needed

Revision ID: b7c6d5e4f50a
Revises: a9b8c7d6e509
Create Date: 2026-11-23 13:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "b7c6d5e4f50a"
down_revision: str | None = "a9b8c7d6e509"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
