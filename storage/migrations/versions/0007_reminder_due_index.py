"""reminder due index: (status, next_attempt_at, id), so a delivery claim reads an ordered range

A claim takes the oldest due reminders in (next_attempt_at, id) order. A sweep writes its reminders
with one next_attempt_at, so without `id` in the index the database sorted every due reminder for
each claim of 50: the cost of a claim grew with the backlog.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 14:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_due')
        batch_op.create_index('ix_reminder_due', ['status', 'next_attempt_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_due')
        batch_op.create_index('ix_reminder_due', ['status', 'next_attempt_at'], unique=False)
