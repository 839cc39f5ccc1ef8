"""SLA list indexes carry the warning point: (due, warn) of pending targets, for "at risk" filters

Revision ID: c3d4e5f6a70b
Revises: b7c6d5e4f50a
Create Date: 2026-11-23 13:30:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3d4e5f6a70b"
down_revision: str | None = "b7c6d5e4f50a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# clock -> (due, warn, met) columns
CLOCKS = {"first_response": ("first_response_due_at", "first_response_warn_at", "first_responded_at"),
          "resolution": ("resolution_due_at", "resolution_warn_at", "resolved_at")}


def _create(name: str, columns: list[str], met: str) -> None:
    pending = sa.text(f"{met} IS NULL")
    op.create_index(name, "cases", columns, postgresql_where=pending, sqlite_where=pending)


def upgrade() -> None:
    for clock, (due, warn, met) in CLOCKS.items():
        op.drop_index(f"ix_cases_{clock}_due_pending", table_name="cases")
        _create(f"ix_cases_{clock}_due_warn_pending", [due, warn], met)


def downgrade() -> None:
    for clock, (due, _warn, met) in CLOCKS.items():
        op.drop_index(f"ix_cases_{clock}_due_warn_pending", table_name="cases")
        _create(f"ix_cases_{clock}_due_pending", [due], met)
