"""Login security: a session epoch per reviewer (logout and password resets revoke cookies) and the
login throttle's counters (attempts are counted in the database before a password is checked).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-14 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # server_default: existing reviewers start in epoch 0 (their current cookies then carry no epoch
    # and are refused once, so everyone logs in again after the upgrade).
    with op.batch_alter_table('reviewers') as batch:
        batch.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_attempt', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_login_throttle_last_attempt', 'login_throttle', ['last_attempt'])


def downgrade() -> None:
    op.drop_index('ix_login_throttle_last_attempt', table_name='login_throttle')
    op.drop_table('login_throttle')
    with op.batch_alter_table('reviewers') as batch:
        batch.drop_column('session_epoch')
