"""Initial tables: campaigns, items, answers, reviewers, assignments, judgements, ratings,
served responses and their feedback, settings.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 12:47:45.768641
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('judgements_per_item', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('reviewers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('served_responses',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('prompt', sa.JSON(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('items',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('prompt', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'position')
    )
    op.create_index('ix_items_campaign_id', 'items', ['campaign_id'])
    op.create_table('served_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.String(length=200), nullable=False),
    sa.Column('thumbs', sa.String(length=4), nullable=True),
    sa.Column('preferred', sa.Integer(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.CheckConstraint("thumbs IN ('up', 'down')", name='ck_served_feedback_thumbs'),
    sa.ForeignKeyConstraint(['response_id'], ['served_responses.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_served_feedback_created', 'served_feedback', ['created'])
    op.create_index('ix_served_feedback_response_id', 'served_feedback', ['response_id'])
    op.create_table('answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'position')
    )
    op.create_index('ix_answers_item_id', 'answers', ['item_id'])
    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('answer_order', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'reviewer_id')
    )
    op.create_index('ix_assignments_item_id', 'assignments', ['item_id'])
    op.create_index('ix_assignments_reviewer_id', 'assignments', ['reviewer_id'])
    op.create_table('judgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('preferred', sa.Integer(), nullable=True),
    sa.Column('harmful', sa.Boolean(), nullable=False),
    sa.Column('better_answer', sa.Text(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('answer_order', sa.JSON(), nullable=False),
    sa.Column('submission_id', sa.String(length=64), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('submission_id')
    )
    op.create_index('ix_judgements_created', 'judgements', ['created'])
    op.create_index('ix_judgements_item_id', 'judgements', ['item_id'])
    op.create_index('ix_judgements_reviewer_id', 'judgements', ['reviewer_id'])
    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('judgement_id', sa.Integer(), nullable=False),
    sa.Column('answer_position', sa.Integer(), nullable=False),
    sa.Column('helpfulness', sa.Integer(), nullable=True),
    sa.Column('accuracy', sa.Integer(), nullable=True),
    sa.Column('safety', sa.Integer(), nullable=True),
    sa.CheckConstraint('accuracy BETWEEN 1 AND 5', name='ck_ratings_accuracy'),
    sa.CheckConstraint('helpfulness BETWEEN 1 AND 5', name='ck_ratings_helpfulness'),
    sa.CheckConstraint('safety BETWEEN 1 AND 5', name='ck_ratings_safety'),
    sa.ForeignKeyConstraint(['judgement_id'], ['judgements.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('judgement_id', 'answer_position')
    )
    op.create_index('ix_ratings_judgement_id', 'ratings', ['judgement_id'])



def downgrade() -> None:
    op.drop_index('ix_ratings_judgement_id', table_name='ratings')
    op.drop_table('ratings')
    op.drop_index('ix_judgements_reviewer_id', table_name='judgements')
    op.drop_index('ix_judgements_item_id', table_name='judgements')
    op.drop_index('ix_judgements_created', table_name='judgements')
    op.drop_table('judgements')
    op.drop_index('ix_assignments_reviewer_id', table_name='assignments')
    op.drop_index('ix_assignments_item_id', table_name='assignments')
    op.drop_table('assignments')
    op.drop_index('ix_answers_item_id', table_name='answers')
    op.drop_table('answers')
    op.drop_index('ix_served_feedback_response_id', table_name='served_feedback')
    op.drop_index('ix_served_feedback_created', table_name='served_feedback')
    op.drop_table('served_feedback')
    op.drop_index('ix_items_campaign_id', table_name='items')
    op.drop_table('items')
    op.drop_table('settings')
    op.drop_table('served_responses')
    op.drop_table('reviewers')
    op.drop_table('campaigns')
