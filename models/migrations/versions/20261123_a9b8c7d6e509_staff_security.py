"""Staff security: two-factor (TOTP) for staff accounts

Revision ID: a9b8c7d6e509
Revises: f1a2b3c4d508
Create Date: 2026-11-23 13:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "a9b8c7d6e509"
down_revision: str | None = "f1a2b3c4d508"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
