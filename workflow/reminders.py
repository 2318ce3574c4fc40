"""Reminders: who is told, on which channels, in what words; written to the outbox by the sweeps.

A reminder is one outbox row per (measure, rule, window), with one target per recipient and
channel. The channels come from the person's contacts in the plan: e-mail, JSON webhooks, WeCom
and DingTalk robots; a person with none gets the log channel, so no reminder is ever dropped for
want of an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from states.policy import Due
from storage.schedule import InRound

CHANNEL_OF_SCHEME = {"json": "webhook", "jsons": "webhook", "wecombot": "wecom", "dingtalk": "dingtalk",
                     "mailto": "email"}


def channels(email: str | None, notify: Sequence[str]) -> list[tuple[str, str]]:
    """(channel, address) pairs for a person: e-mail first, then each notification URL; else the log."""
    out = [("email", email)] if email else []
    out += [(CHANNEL_OF_SCHEME.get(u.split("://", 1)[0], "webhook"), u) for u in notify]
    return out or [("log", "log")]


def shown(address: str) -> str:
    """An address fit to show: e-mail as is; a URL by its scheme only, since robot URLs carry their key."""
    return address.split("://", 1)[0] + "://…" if "://" in address else address


def recipients(item: InRound, parts: Sequence[str], unit_heads: dict[str, str | None]) -> list[str]:
    """The people who hold these parts on the measure, each once, in order."""
    m = item.measure
    holder = {"owner": m.owner, "verifier": m.verifier, "leader": m.leader,
              "unit_head": unit_heads.get(item.unit or "") if item.unit else None}
    out: list[str] = []
    for p in parts:
        h = holder.get(p)
        if h and h not in out:
            out.append(h)
    return out


def message(item: InRound, due: Due, today: date, days_left: int | None, extra: str = "") -> tuple[str, str]:
    """The subject and body of a reminder, in Chinese."""
    m = item.measure
    if due.rule == "progress":
        subject = f"【{due.label}】长期坚持措施 {m.code} 请报送本期整改进展"
    elif due.rule == "recheck":
        subject = f"【复查提醒】已销号措施 {m.code} 到期复查,请核实问题是否反弹"
    elif due.rule == "recheck_late":
        subject = f"【复查逾期】已销号措施 {m.code} 的复查尚未完成"
    elif days_left is None or days_left < 0:
        subject = f"【{due.label}】整改措施 {m.code} 已超过完成时限({m.due})"
    else:
        subject = f"【{due.label}】整改措施 {m.code} 距完成时限({m.due})还有{days_left}天"
    body = "\n".join([
        f"整改措施:{m.code} {item.title}",
        f"责任人:{m.owner}  核验人:{m.verifier}  责任领导:{m.leader}",
        f"完成时限:{m.due}  当前状态:{m.state.label}",
        f"日期:{today}",
        *([extra] if extra else []),
        "",
        "本提醒由 rectify 整改台账自动发出。",
    ])
    return subject, body


def rows(item: InRound, due: Due, today: date, now: datetime, contacts: dict[str, tuple[str | None, list[str]]],
         unit_heads: dict[str, str | None], days_left: int | None, extra: str = "") -> list[dict[str, Any]]:
    """The outbox row for one reminder a measure is owed, with a target per recipient and channel (none if it
    has no one to go to)."""
    targets = []
    for who in recipients(item, due.to, unit_heads):
        email, notify = contacts.get(who, (None, []))
        targets += [{"to": who, "channel": channel, "address": address, "status": "pending"}
                    for channel, address in channels(email, notify)]
    if not targets:
        return []
    subject, body = message(item, due, today, days_left, extra)
    return [{"measure_id": item.measure.id, "rule": due.rule, "window": due.window, "targets": targets,
             "subject": subject, "body": body, "status": "pending", "attempts": 0, "next_attempt_at": now,
             "created_at": now, "cancelled_reason": "", "last_error": ""}]
