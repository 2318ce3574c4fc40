"""reminder targets: one outbox row per (measure, rule, window), its recipients as targets

Until now a reminder was one row per (measure, rule, window, recipient, channel), each with its
own copy of the text: a breach told to the owner, the leader and the unit head wrote three rows
(three foreign-key checks, three entries in each index). Now the row is the occasion and its
`targets` (JSON) list who it goes to on which channel, each with its own state, so a failed
channel is still retried alone. Delivery attempts name the target they were for.

Existing reminders are merged by key: the row with the lowest id keeps its id (its attempts keep
pointing at it), the others become its targets and their attempts move to it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 16:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OLD_KEY = ['measure_id', 'rule', 'window', 'recipient', 'channel']


def _when(value: Any) -> str | None:
    """A stored time as ISO text (SQLite hands back text, PostgreSQL a datetime)."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, 'isoformat') else str(value)


def _merged(rows: list[Any]) -> tuple[dict[int, dict[str, Any]], dict[int, int]]:
    """The old per-recipient rows grouped by key: the kept row's new values by its id, and old id → kept id."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.measure_id, r.rule, r.window), []).append(r)
    kept: dict[int, dict[str, Any]] = {}
    moved: dict[int, int] = {}
    for group in groups.values():
        group.sort(key=lambda r: r.id)
        first = group[0]
        targets = []
        for r in group:
            moved[r.id] = first.id
            state = 'pending' if r.status in ('pending', 'sending') else r.status
            t: dict[str, Any] = {'to': r.recipient, 'channel': r.channel, 'address': r.address, 'status': state,
                                 'attempts': r.attempts}
            if r.status == 'sent':
                t['at'] = _when(r.sent_at)
            if r.last_error:
                t['error'] = r.last_error
            if r.status == 'cancelled':
                t['reason'] = r.cancelled_reason
            targets.append(t)
        states = {t['status'] for t in targets}
        status = 'pending' if 'pending' in states else 'sent' if 'sent' in states else 'cancelled'
        sent = [r.sent_at for r in group if r.sent_at is not None]
        kept[first.id] = {
            'targets': json.dumps(targets, ensure_ascii=False), 'status': status,
            'attempts': max(r.attempts for r in group), 'next_attempt_at': min(r.next_attempt_at for r in group),
            'sent_at': max(sent) if status == 'sent' and sent else None,
            'last_error': next((r.last_error for r in reversed(group) if r.last_error), ''),
            'cancelled_reason': first.cancelled_reason if status == 'cancelled' else '',
        }
    return kept, moved


def upgrade() -> None:
    conn = op.get_bind()
    rows = list(conn.execute(sa.text('SELECT * FROM reminder ORDER BY id')))
    kept, moved = _merged(rows)

    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default=''))
    by_id = {r.id: r for r in rows}
    for old, new in moved.items():
        conn.execute(sa.text('UPDATE delivery_attempt SET reminder_id = :new, recipient = :to, channel = :ch '
                             'WHERE reminder_id = :old'),
                     {'new': new, 'old': old, 'to': by_id[old].recipient, 'ch': by_id[old].channel})
    gone = [old for old, new in moved.items() if old != new]
    for i in range(0, len(gone), 500):
        conn.execute(sa.text('DELETE FROM reminder WHERE id IN (%s)' % ', '.join(map(str, gone[i:i + 500]))))

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('targets', sa.JSON(), nullable=False, server_default='[]'))
    for rid, values in kept.items():
        cast = 'CAST(:targets AS JSON)' if conn.dialect.name == 'postgresql' else ':targets'
        conn.execute(sa.text(f'UPDATE reminder SET targets = {cast}, status = :status, attempts = :attempts, '
                             'next_attempt_at = :next_attempt_at, sent_at = :sent_at, last_error = :last_error, '
                             'cancelled_reason = :cancelled_reason, claimed_by = NULL, claimed_until = NULL '
                             'WHERE id = :id'), {**values, 'id': rid})

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.alter_column('targets', server_default=None)
        batch_op.drop_constraint('uq_reminder_key', type_='unique')
        batch_op.create_unique_constraint('uq_reminder_key', ['measure_id', 'rule', 'window'])
        batch_op.drop_column('recipient')
        batch_op.drop_column('channel')
        batch_op.drop_column('address')
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.alter_column('recipient', server_default=None)
        batch_op.alter_column('channel', server_default=None)


def downgrade() -> None:
    """Back to one row per target: the first target keeps the reminder's id, the others get new rows."""
    conn = op.get_bind()
    rows = list(conn.execute(sa.text('SELECT * FROM reminder ORDER BY id')))
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.drop_constraint('uq_reminder_key', type_='unique')
    for r in rows:
        targets = r.targets if isinstance(r.targets, list) else json.loads(r.targets or '[]')
        for i, t in enumerate(targets):
            # a target still pending of a reminder cancelled as a whole was cancelled with it
            state = 'cancelled' if t['status'] == 'pending' and r.status == 'cancelled' else t['status']
            values = {'recipient': t['to'], 'channel': t['channel'], 'address': t['address'], 'status': state,
                      'attempts': t.get('attempts', 0), 'last_error': t.get('error', ''),
                      'subject': t.get('subject', r.subject), 'body': t.get('body', r.body),
                      'cancelled_reason': t.get('reason', r.cancelled_reason if state == 'cancelled' else '')}
            if i == 0:
                conn.execute(sa.text('UPDATE reminder SET recipient = :recipient, channel = :channel, '
                                     'address = :address, status = :status, attempts = :attempts, '
                                     'subject = :subject, body = :body, '
                                     'last_error = :last_error, cancelled_reason = :cancelled_reason, '
                                     'claimed_by = NULL, claimed_until = NULL WHERE id = :id'), {**values, 'id': r.id})
                continue
            conn.execute(sa.text(
                'INSERT INTO reminder (measure_id, rule, "window", recipient, channel, address, subject, body, '
                'status, attempts, next_attempt_at, created_at, sent_at, cancelled_reason, last_error, targets) '
                'VALUES (:measure_id, :rule, :window, :recipient, :channel, :address, :subject, :body, :status, '
                ':attempts, :next_attempt_at, :created_at, :sent_at, :cancelled_reason, :last_error, :targets)'),
                {**values, 'measure_id': r.measure_id, 'rule': r.rule, 'window': r.window,
                 'next_attempt_at': r.next_attempt_at, 'created_at': r.created_at,
                 'sent_at': t.get('at') if state == 'sent' else None, 'targets': '[]'})
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.alter_column('recipient', server_default=None)
        batch_op.alter_column('channel', server_default=None)
        batch_op.alter_column('address', server_default=None)
        batch_op.create_unique_constraint('uq_reminder_key', _OLD_KEY)
        batch_op.drop_column('targets')
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_column('channel')
        batch_op.drop_column('recipient')
