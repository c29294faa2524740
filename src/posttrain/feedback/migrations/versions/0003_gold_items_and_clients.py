"""Gold items (a known better answer seeded into a campaign, to check reviewers) and the client
(API key fingerprint) of each served response, for the loop's per-client deduplication and cap.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 17:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items') as batch:
        batch.add_column(sa.Column('gold', sa.Integer(), nullable=True))
    with op.batch_alter_table('served_responses') as batch:
        batch.add_column(sa.Column('client', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('served_responses') as batch:
        batch.drop_column('client')
    with op.batch_alter_table('items') as batch:
        batch.drop_column('gold')
