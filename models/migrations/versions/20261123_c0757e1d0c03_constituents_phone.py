"""constituent merges and calls

Revision ID: c0757e1d0c03
Revises: c45e9a7e0b02
Create Date: 2026-11-23 11:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0757e1d0c03"
down_revision: str | None = "c45e9a7e0b02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('constituent_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('merged_by_id', sa.Integer(), nullable=True),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merged_by_id'], ['users.id'], name=op.f('fk_constituent_merges_merged_by_id_users')),
    sa.ForeignKeyConstraint(['source_id'], ['constituents.id'], name=op.f('fk_constituent_merges_source_id_constituents')),
    sa.ForeignKeyConstraint(['target_id'], ['constituents.id'], name=op.f('fk_constituent_merges_target_id_constituents')),
    sa.ForeignKeyConstraint(['undone_by_id'], ['users.id'], name=op.f('fk_constituent_merges_undone_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_constituent_merges'))
    )
    with op.batch_alter_table('constituent_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_constituent_merges_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_constituent_merges_target_id'), ['target_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('constituent_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_constituent_merges_target_id'))
        batch_op.drop_index(batch_op.f('ix_constituent_merges_source_id'))
    op.drop_table('constituent_merges')
