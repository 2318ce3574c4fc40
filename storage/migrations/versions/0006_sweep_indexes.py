"""sweep indexes: no index names `overdue`; measure pages keep room for in-place updates

The partial index ix_measure_breach (on `due`, WHERE NOT overdue AND open) was not chosen by
either planner (both read candidates through ix_measure_open_due), yet flagging a breach had to
maintain it, and on PostgreSQL a column in an index predicate rules out HOT updates: every flag
wrote a new row version and an entry in each of the measure's indexes. ix_measure_problem_id
and ix_reminder_measure_id repeat the first column of ix_measure_tree and uq_reminder_key.

On PostgreSQL the measure table gets a fillfactor of 90, so an update finds room on its own page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:09:13.238762
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BREACH = "NOT overdue AND state IN ('assigned', 'in_progress', 'submitted')"


def upgrade() -> None:
    with op.batch_alter_table('measure', schema=None) as batch_op:
        batch_op.drop_index('ix_measure_breach', sqlite_where=sa.text(BREACH), postgresql_where=sa.text(BREACH))
        batch_op.drop_index('ix_measure_problem_id')

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_measure_id')

    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE measure SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE measure RESET (fillfactor)")

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_measure_id', ['measure_id'], unique=False)

    with op.batch_alter_table('measure', schema=None) as batch_op:
        batch_op.create_index('ix_measure_problem_id', ['problem_id'], unique=False)
        batch_op.create_index('ix_measure_breach', ['due'], unique=False, sqlite_where=sa.text(BREACH),
                              postgresql_where=sa.text(BREACH))
